import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Client } from '@temporalio/client';
import { PROJECT_ROOT } from '../../lab/paths';

/** Where a test file's workflow histories go, for scripts/sweep-secrets.ts to read after the run. */
export const HISTORIES_DIR = join(PROJECT_ROOT, '.data', 'histories');

/**
 * Payload bytes as text, so a secret in a payload is found as it is, not hidden in base64: the
 * history's own toJSON has already turned every payload's `data` into base64 by the time the
 * replacer sees it (its holder has `metadata` beside it).
 */
function readablePayloads(this: unknown, key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  const holder = this as { metadata?: unknown } | undefined;
  if (
    key === 'data' &&
    typeof value === 'string' &&
    holder &&
    typeof holder === 'object' &&
    'metadata' in holder
  )
    return Buffer.from(value, 'base64').toString('utf8');
  return value;
}

/**
 * Every workflow history of the test file's Temporal, written under HISTORIES_DIR with payloads
 * as text, before its in-memory server goes away. A failed export leaves a `.export-failed`
 * file naming the error, which the sweep reports as a failure: a history it could not read is
 * not a history without secrets. Bounded.
 */
export async function exportHistories(client: Client, testPath: string, timeoutMs = 60_000): Promise<void> {
  const dir = join(HISTORIES_DIR, `${basename(testPath, '.ts')}-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  try {
    for await (const execution of client.workflow.list()) {
      if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs} ms`);
      const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      const name = `${execution.workflowId.replace(/[^\w.-]/g, '_')}-${execution.runId}.json`;
      writeFileSync(join(dir, name), JSON.stringify(history, readablePayloads));
    }
  } catch (err) {
    writeFileSync(join(dir, '.export-failed'), `${(err as Error).message}\n`);
  }
}
