import { Context } from '@temporalio/activity';
import { HEARTBEAT_INTERVAL_MS } from '../shared/heartbeats';

/**
 * Heartbeat on a timer for as long as the activity runs, whatever it awaits (a remote command,
 * an HTTP probe with its own timeout), so only a dead worker misses the heartbeat timeout.
 * Returns the function that stops it.
 */
export function keepAlive(details: () => unknown = () => undefined): () => void {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(details()), HEARTBEAT_INTERVAL_MS);
  return () => clearInterval(timer);
}
