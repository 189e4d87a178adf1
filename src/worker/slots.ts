/**
 * How many activities and workflow tasks one worker runs at once. Deployments spend most of
 * their time waiting on SSH commands, pulls and health probes, so a worker's slots, not its
 * CPU, decide how many environments it deploys side by side. The defaults are the SDK's own,
 * spelled out so the worker's start line (and the fleet benchmark) can say what ran.
 */
export interface WorkerSlots {
  /** DEPLOY_MAX_ACTIVITIES: activities at once (SSH steps, transfers, probes). */
  activities: number;
  /** DEPLOY_MAX_WORKFLOW_TASKS: workflow tasks at once. */
  workflowTasks: number;
}

export const DEFAULT_WORKER_SLOTS: WorkerSlots = { activities: 100, workflowTasks: 40 };

export class SlotConfigError extends Error {}

function slotCount(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = /^\d{1,5}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!(n >= min && n <= 10_000))
    throw new SlotConfigError(`${name} ${JSON.stringify(raw)} must be a whole number from ${min} to 10000`);
  return n;
}

export function workerSlots(env: NodeJS.ProcessEnv): WorkerSlots {
  return {
    activities: slotCount(env, 'DEPLOY_MAX_ACTIVITIES', DEFAULT_WORKER_SLOTS.activities, 1),
    // The SDK polls workflow tasks with at least two pollers, each needing a slot.
    workflowTasks: slotCount(env, 'DEPLOY_MAX_WORKFLOW_TASKS', DEFAULT_WORKER_SLOTS.workflowTasks, 2),
  };
}

export function describeSlots(slots: WorkerSlots): string {
  return `${slots.activities} activities and ${slots.workflowTasks} workflow tasks at once`;
}
