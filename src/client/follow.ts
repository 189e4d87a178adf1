import type { QueryDefinition, WorkflowHandle } from '@temporalio/client';

/** How a followed workflow ended, as far as this client saw it, with the last status it read. */
export type FollowEnd<S, R> =
  | { ended: 'completed'; result: R; last?: S }
  | { ended: 'stopped-waiting'; message: string; last?: S }
  | { ended: 'failed'; error: unknown; last?: S };

class StoppedWaiting extends Error {}

/**
 * The one "follow a workflow until it ends" of every verb: wait for the result while polling
 * its status query, calling `onChange` when `changeKey` of the answer changes, so the caller
 * prints progress. Every poll is best effort; the whole wait has a deadline, after which the
 * workflow goes on and the caller says so (`stoppedMessage`).
 */
export async function followWorkflow<S, R>(
  handle: WorkflowHandle,
  opts: {
    query: QueryDefinition<S>;
    changeKey: (status: S) => string;
    onChange?: (status: S) => void;
    timeoutMs: number;
    pollMs?: number;
    stoppedMessage: string;
  },
): Promise<FollowEnd<S, R>> {
  let done = false;
  // Ends the poller's pause at once when the result is in: the caller (CI) does not wait out a poll.
  let wake = () => undefined as void;
  let last: S | undefined;
  let lastKey = '';
  const poll = async () => {
    while (!done) {
      try {
        const status = await handle.query(opts.query);
        last = status;
        const key = opts.changeKey(status);
        if (key !== lastKey) {
          lastKey = key;
          opts.onChange?.(status);
        }
      } catch {
        // Not picked up by a worker yet, or closed between polls: the result decides.
      }
      // The result may have come in while the query ran: no pause then.
      if (done) break;
      await new Promise<void>((resolve) => {
        const pause = setTimeout(resolve, opts.pollMs ?? 1000);
        wake = () => {
          clearTimeout(pause);
          resolve();
        };
      });
    }
  };
  const poller = poll();
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = (await Promise.race([
      handle.result(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new StoppedWaiting(opts.stoppedMessage)), opts.timeoutMs);
      }),
    ])) as R;
    return { ended: 'completed', result, last };
  } catch (err) {
    if (err instanceof StoppedWaiting) return { ended: 'stopped-waiting', message: err.message, last };
    return { ended: 'failed', error: err, last };
  } finally {
    done = true;
    clearTimeout(timer);
    wake();
    await poller;
  }
}
