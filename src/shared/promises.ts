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
