/**
 * Idle connections kept for the next caller with the same key. A connection serves one caller
 * at a time: callers never share sessions (sshd's MaxSessions) nor see each other's failures.
 * Nothing here knows SSH: the executor supplies how to connect, close and judge a connection.
 */

export interface PoolPolicy<T> {
  /** Ends a connection the pool gives up; must not throw (it runs while an error propagates). */
  close(connection: T): void;
  /** True once the connection can carry nothing more (closed, ended, failed). */
  isBroken(connection: T): boolean;
  /** Whether a connection whose user threw `err` may serve another caller. */
  survives(err: unknown): boolean;
  /** How long an unused connection stays open. */
  idleMs: number;
  /** Idle connections kept per key: a burst of parallel callers leaves no more than this open. */
  maxIdlePerKey: number;
}

interface Idle<T> {
  connection: T;
  timer: NodeJS.Timeout;
}

export class ConnectionPool<T> {
  private readonly idle = new Map<string, Idle<T>[]>();

  constructor(private readonly policy: PoolPolicy<T>) {}

  /**
   * `fn` on an idle connection for `key`, or on a new one from `connect`; afterwards the
   * connection waits for the next caller unless it broke or `fn` threw what it may not survive.
   */
  async use<R>(key: string, connect: () => Promise<T>, fn: (connection: T) => Promise<R>): Promise<R> {
    const connection = this.take(key) ?? (await connect());
    let reusable = false;
    try {
      const result = await fn(connection);
      reusable = true;
      return result;
    } catch (err) {
      reusable = this.policy.survives(err);
      throw err;
    } finally {
      if (reusable) this.giveBack(key, connection);
      else this.close(connection);
    }
  }

  /** Close every idle connection (worker shutdown); connections in use are closed or kept when returned. */
  closeIdle(): void {
    const all = [...this.idle.values()].flat();
    this.idle.clear();
    for (const entry of all) {
      clearTimeout(entry.timer);
      this.close(entry.connection);
    }
  }

  /** Idle connections for `key`, or for all keys. */
  idleCount(key?: string): number {
    if (key !== undefined) return this.idle.get(key)?.length ?? 0;
    let count = 0;
    for (const list of this.idle.values()) count += list.length;
    return count;
  }

  private take(key: string): T | undefined {
    const list = this.idle.get(key);
    // Most recently used first: the rest time out instead of being kept warm in turn.
    for (let entry = list?.pop(); entry; entry = list?.pop()) {
      clearTimeout(entry.timer);
      if (!this.policy.isBroken(entry.connection)) {
        if (list?.length === 0) this.idle.delete(key);
        return entry.connection;
      }
      this.close(entry.connection);
    }
    this.idle.delete(key);
    return undefined;
  }

  private giveBack(key: string, connection: T): void {
    const list = this.idle.get(key) ?? [];
    if (this.policy.isBroken(connection) || list.length >= this.policy.maxIdlePerKey) {
      this.close(connection);
      return;
    }
    const entry: Idle<T> = {
      connection,
      timer: setTimeout(() => {
        const current = this.idle.get(key);
        const at = current?.indexOf(entry) ?? -1;
        if (current && at >= 0) {
          current.splice(at, 1);
          if (current.length === 0) this.idle.delete(key);
        }
        this.close(connection);
      }, this.policy.idleMs),
    };
    // A pooled connection is an optimisation: it must never be why the process stays up.
    entry.timer.unref();
    list.push(entry);
    this.idle.set(key, list);
  }

  private close(connection: T): void {
    try {
      this.policy.close(connection);
    } catch {
      // Closing is best effort: a failure here must not replace the caller's result or error.
    }
  }
}
