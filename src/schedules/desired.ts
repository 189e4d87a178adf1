import { createHash } from 'node:crypto';
import type {
  ScheduleOptions,
  ScheduleOptionsStartWorkflowAction,
  ScheduleSpec,
  ScheduleUpdateOptions,
} from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import type { EnvironmentConfig, ScheduleConfig } from '../config/schema';
import type { BackupInput } from '../shared/backups';
import type { DrillInput } from '../shared/drills';
import { backupScheduleId } from '../shared/backups';
import { drillScheduleId } from '../shared/drills';
import { WorkflowType } from '../shared/messages';
import { DEPLOY_ENVIRONMENT, DEPLOY_STAGE, DEPLOY_STATUS } from '../shared/searchAttributes';
import type { Settings } from '../shared/settings';

export type ScheduleKind = 'backup' | 'drill';

export const SCHEDULE_KINDS: Record<ScheduleKind, { workflowType: string; idFor: (env: string) => string }> =
  {
    backup: { workflowType: WorkflowType.backup, idFor: backupScheduleId },
    drill: { workflowType: WorkflowType.drill, idFor: drillScheduleId },
  };

/**
 * Key of the marker kept in the schedule action's memo. The action memo, not the schedule's own
 * memo: Temporal never changes a schedule's memo after creation (UpdateSchedule has no memo
 * field, ScheduleUpdateOptions omits it), so a hash kept there would go stale on the first update.
 */
export const MARKER_MEMO_KEY = 'deployctlSchedule';

export interface ScheduleMarker {
  /** sha256 of the desired definition (stable JSON): equal hash, nothing to update. */
  hash: string;
  environment: string;
  kind: ScheduleKind;
  /** The configured spec as written: "every 6h" or "cron 0 4 * * 1 (UTC)". */
  spec: string;
}

/** Runs started while the previous one still runs are skipped, not stacked up behind it. */
export const OVERLAP_POLICY = 'SKIP' as const;
/**
 * After a Temporal outage, a run more than this late is dropped rather than started: the next
 * regular run comes soon enough, and a burst of catch-up backups helps nobody.
 */
export const CATCHUP_WINDOW_MS = 60_000;

export type StartAction = ScheduleOptionsStartWorkflowAction<Workflow>;

export interface DesiredSchedule {
  id: string;
  environment: string;
  kind: ScheduleKind;
  marker: ScheduleMarker;
  /** For ScheduleClient.create. */
  options: ScheduleOptions<StartAction>;
  /** For ScheduleHandle.update; the paused state and note are decided against the live schedule. */
  update: Omit<ScheduleUpdateOptions<StartAction>, 'state'>;
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "6h" -> 21600000. The schema already restricted `every` to a number and one of s m h d. */
export function everyToMs(every: string): number {
  const match = /^([1-9][0-9]*)(s|m|h|d)$/.exec(every);
  if (!match) throw new Error(`schedule interval ${JSON.stringify(every)} must be a number and s, m, h or d`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** 21600000 -> "6h": the largest unit that divides the interval. */
export function msToEvery(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

export function specText(schedule: ScheduleConfig): string {
  return schedule.every !== undefined ? `every ${schedule.every}` : `cron ${schedule.cron} (UTC)`;
}

/** Intervals count from the Unix epoch, so "every 1d" fires at 00:00 UTC; cron lines are read in UTC. */
export function scheduleSpec(schedule: ScheduleConfig): ScheduleSpec {
  if (schedule.every !== undefined) return { intervals: [{ every: everyToMs(schedule.every), offset: 0 }] };
  return { cronExpressions: [schedule.cron as string], timezone: 'UTC' };
}

/** JSON with object keys sorted at every level, so equal definitions always hash the same. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function definitionHash(definition: unknown): string {
  return createHash('sha256').update(stableStringify(definition)).digest('hex');
}

/** "backup-staging" -> backup of staging; undefined for ids that are not ours. */
export function parseScheduleId(id: string): { kind: ScheduleKind; environment: string } | undefined {
  const match = /^(backup|drill)-([a-z][a-z0-9-]{0,39})$/.exec(id);
  return match ? { kind: match[1] as ScheduleKind, environment: match[2] } : undefined;
}

function desiredFor(
  environment: string,
  kind: ScheduleKind,
  schedule: ScheduleConfig,
  taskQueue: string,
): DesiredSchedule {
  const id = SCHEDULE_KINDS[kind].idFor(environment);
  const input: BackupInput | DrillInput = { environment, requestedBy: 'schedule' };
  const spec = scheduleSpec(schedule);
  const what = kind === 'backup' ? 'Verified backup' : 'Restore drill';
  const action = {
    type: 'startWorkflow' as const,
    workflowType: SCHEDULE_KINDS[kind].workflowType,
    // Temporal appends the scheduled time, so each run gets its own id: backup-staging-2026-...Z.
    workflowId: id,
    taskQueue,
    args: [input],
    staticSummary: `${what} of ${environment} (schedule ${id}, ${specText(schedule)})`,
    // The same attributes deployctl sets when it starts one by hand, so UI filters find both.
    typedSearchAttributes: [
      { key: DEPLOY_ENVIRONMENT, value: environment },
      { key: DEPLOY_STAGE, value: 'queued' },
      { key: DEPLOY_STATUS, value: 'running' },
    ],
  };
  const policies = { overlap: OVERLAP_POLICY, catchupWindow: CATCHUP_WINDOW_MS, pauseOnFailure: false };
  const typedSearchAttributes = [{ key: DEPLOY_ENVIRONMENT, value: environment }];
  const hash = definitionHash({ spec, action, policies, typedSearchAttributes });
  const marker: ScheduleMarker = { hash, environment, kind, spec: specText(schedule) };
  const actionWithMarker: StartAction = { ...action, memo: { [MARKER_MEMO_KEY]: marker } };
  return {
    id,
    environment,
    kind,
    marker,
    options: {
      scheduleId: id,
      spec,
      action: actionWithMarker,
      policies,
      typedSearchAttributes,
      memo: { [MARKER_MEMO_KEY]: marker },
      state: { note: managedNote(marker) },
    },
    update: { spec, action: actionWithMarker, policies, typedSearchAttributes },
  };
}

/** The note an operator sees on the schedule's page: where it comes from and which definition. */
export function managedNote(marker: ScheduleMarker): string {
  return `managed by deployctl schedules apply (${marker.spec}, definition ${marker.hash.slice(0, 12)})`;
}

/** The schedules the configs ask for: a backup one per `backups` section, a drill one per `drills`. */
export function desiredSchedules(
  environments: EnvironmentConfig[],
  settings: Pick<Settings, 'taskQueue'>,
): DesiredSchedule[] {
  const desired: DesiredSchedule[] = [];
  for (const env of [...environments].sort((a, b) => a.name.localeCompare(b.name))) {
    if (env.backups) desired.push(desiredFor(env.name, 'backup', env.backups.schedule, settings.taskQueue));
    if (env.drills) desired.push(desiredFor(env.name, 'drill', env.drills.schedule, settings.taskQueue));
  }
  return desired;
}
