import type { Client } from '@temporalio/client';
import type { Settings } from '../shared/settings';
import { CliExit } from './cliExit';
import { ExitCode } from './exitCodes';

/** Temporal's enums, by value (TaskQueueType WORKFLOW, TaskQueueKind NORMAL). */
const WORKFLOW_TASK_QUEUE = 1;
const NORMAL_TASK_QUEUE = 1;

/**
 * A poller the server saw this recently is a live worker: a worker long-polls without pause
 * (each poll lasts up to about a minute), while the server keeps a dead worker's pollers in
 * its list for a few minutes more.
 */
export const LIVE_POLLER_MS = 90_000;

export class NoWorkerError extends Error {
  name = 'NoWorkerError';
}

/** Pollers of the task queue whose last poll is recent enough to count as a running worker. */
export function livePollers(
  pollers: {
    lastAccessTime?: { seconds?: number | { toNumber(): number } | null } | null;
    identity?: string | null;
  }[],
  now: number,
): string[] {
  return pollers
    .filter((p) => {
      const seconds = p.lastAccessTime?.seconds;
      if (seconds === undefined || seconds === null) return false;
      const at = (typeof seconds === 'number' ? seconds : seconds.toNumber()) * 1000;
      return now - at <= LIVE_POLLER_MS;
    })
    .map((p) => p.identity ?? 'unknown worker');
}

/**
 * Wait (at most `waitMs`) until a worker polls the deployments' task queue. Without one a
 * started deployment would sit queued until its caller's timeout: better to say so at once,
 * with nothing started.
 */
export async function waitForWorker(
  client: Client,
  settings: Settings,
  waitMs: number,
  onWaiting: () => void = () => undefined,
): Promise<string[]> {
  const deadline = Date.now() + waitMs;
  let told = false;
  for (;;) {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: settings.namespace,
      taskQueue: { name: settings.taskQueue, kind: NORMAL_TASK_QUEUE },
      taskQueueType: WORKFLOW_TASK_QUEUE,
    });
    const live = livePollers(pollers ?? [], Date.now());
    if (live.length) return live;
    if (Date.now() >= deadline) {
      throw new NoWorkerError(
        `no worker polls task queue "${settings.taskQueue}" in namespace "${settings.namespace}" at ${settings.temporalAddress}` +
          ` (waited ${Math.round(waitMs / 1000)} s): start one (npm run worker, with the same TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE` +
          ` and DEPLOY_TASK_QUEUE) or check DEPLOY_TASK_QUEUE here; nothing was started`,
      );
    }
    if (!told) {
      told = true;
      onWaiting();
    }
    await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now()))));
  }
}

/**
 * waitForWorker for a command: says once that it waits (through `say`, stdout or stderr as the
 * command prints), and turns "no worker" into exit 9 with nothing started.
 */
export async function requireWorker(
  client: Client,
  settings: Settings,
  waitSeconds: number,
  say: (line: string) => void,
): Promise<void> {
  await waitForWorker(client, settings, waitSeconds * 1000, () =>
    say(`waiting up to ${waitSeconds} s for a worker on task queue "${settings.taskQueue}"...`),
  ).catch((err: unknown) => {
    throw err instanceof NoWorkerError ? new CliExit(ExitCode.noWorker, err.message) : err;
  });
}
