import { Context } from '@temporalio/activity';
import { HEARTBEAT_INTERVAL_MS } from '../shared/heartbeats';

interface Beating {
  timer: NodeJS.Timeout;
  /** The details of each keepAlive still running, innermost last: the last one is sent. */
  details: (() => unknown)[];
}

const beatingByActivity = new WeakMap<Context, Beating>();

/**
 * Heartbeat on a timer for as long as the activity runs, whatever it awaits (a remote command,
 * an HTTP probe with its own timeout), so only a dead worker misses the heartbeat timeout.
 * Nested calls (a host step's progress inside the step) share the activity's one timer and
 * send the innermost details. Returns the function that stops it.
 */
export function keepAlive(details: () => unknown = () => undefined): () => void {
  const ctx = Context.current();
  let beating = beatingByActivity.get(ctx);
  if (!beating) {
    const started: Beating = {
      details: [],
      timer: setInterval(() => ctx.heartbeat(started.details.at(-1)?.()), HEARTBEAT_INTERVAL_MS),
    };
    beatingByActivity.set(ctx, started);
    beating = started;
  }
  const own = beating;
  own.details.push(details);
  return () => {
    const at = own.details.lastIndexOf(details);
    if (at >= 0) own.details.splice(at, 1);
    if (own.details.length === 0) {
      clearInterval(own.timer);
      if (beatingByActivity.get(ctx) === own) beatingByActivity.delete(ctx);
    }
  };
}
