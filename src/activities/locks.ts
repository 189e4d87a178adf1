import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';

/** How often the lock looks whether its holder is still running. */
const LOOK_EVERY_MS = 1_000;

export interface WatchedRun {
  workflowId: string;
  runId: string;
}

/** One look at a run: its status (RUNNING, COMPLETED, TERMINATED, ...), or NOT_FOUND when it is gone. */
async function runStatus(run: WatchedRun): Promise<string> {
  try {
    const { status } = await Context.current()
      .client.workflow.getHandle(run.workflowId, run.runId)
      .describe();
    return status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'NOT_FOUND';
    throw err;
  }
}

/**
 * The environment lock's watch on its holder: returns once that run is no longer running
 * (completed, failed, terminated, timed out, or gone), so a holder that died without letting
 * go of the lock cannot keep it. Uses the worker's own Temporal client; heartbeats on each look,
 * so a dead worker's watch moves to another worker; cancelled when the holder lets go.
 */
async function awaitWorkflowClosed(run: WatchedRun): Promise<string> {
  const ctx = Context.current();
  for (;;) {
    const status = await runStatus(run);
    if (status !== 'RUNNING') return status;
    ctx.heartbeat();
    await ctx.sleep(LOOK_EVERY_MS);
  }
}

/** One look: is that run still running? (The lock asks before it refuses a request.) */
async function workflowRunning(run: WatchedRun): Promise<boolean> {
  return (await runStatus(run)) === 'RUNNING';
}

export function createLockActivities() {
  return { awaitWorkflowClosed, workflowRunning };
}
