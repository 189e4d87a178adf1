/**
 * Every promise's value once all have ended, or the first failure (in order). Unlike
 * Promise.all, nothing is still running when it returns or throws: commands sharing a host's
 * connection are all done before the connection is handed to the next activity, and a
 * workflow's undo never overlaps a step still running. Deterministic, so workflows use it too.
 */
export async function allEnded<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * `run` for every item, at most `limit` at a time, in order; after the first failure no further
 * item starts. Like allEnded, it returns or throws (the first failure in start order) only once
 * everything it started has ended. Deterministic, so workflows use it too.
 */
export async function inTurns<T>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const started: Promise<void>[] = [];
  const lane = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const attempt = run(items[next++]);
      started.push(attempt);
      try {
        await attempt;
      } catch {
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  await allEnded(started);
}
