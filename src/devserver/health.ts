import { request } from 'node:http';
import { Connection } from '@temporalio/client';

/**
 * One readiness probe: connect and describe the namespace (proves the frontend, persistence and
 * the namespace are all there). Resolves with an error message instead of throwing.
 */
export async function probeServer(
  address: string,
  namespace: string,
  timeoutMs = 2_000,
): Promise<string | null> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    await connection.withDeadline(Date.now() + timeoutMs, () =>
      connection!.workflowService.describeNamespace({ namespace }),
    );
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** HTTP GET; resolves with the status code, or null when nothing answers. */
export function httpStatus(url: string, timeoutMs = 2_000): Promise<number | null> {
  return new Promise((resolvePromise) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolvePromise(res.statusCode ?? null);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolvePromise(null));
    req.end();
  });
}
