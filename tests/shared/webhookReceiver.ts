import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ReceivedRequest } from '../../lab/webhookReceiver';
import { startListening } from './labProcess';

const ROOT = resolve(__dirname, '..', '..');

export interface WebhookReceiver {
  /** http://127.0.0.1:<port> */
  base: string;
  /** What it has recorded so far, in arrival order. */
  received(): ReceivedRequest[];
  /** Waits until `done(received)` holds; fails after the deadline with what did arrive. */
  waitFor(
    what: string,
    done: (r: ReceivedRequest[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedRequest[]>;
  stop(): Promise<void>;
}

/**
 * The lab's webhook receiver (lab/webhookReceiver.ts) as a process of its own, recording into
 * a fresh file under .data. `secrets` holds its token and signing key variables.
 */
export async function startWebhookReceiver(secrets: NodeJS.ProcessEnv): Promise<WebhookReceiver> {
  const dir = mkdtempSync(join(ROOT, '.data', 'webhooks-'));
  const record = join(dir, 'received.jsonl');
  const { address: base, stop } = await startListening(
    'the webhook receiver',
    ['lab/webhookReceiver.ts', '--record', record],
    secrets,
    /^listening on (http:\/\/\S+)$/,
  );
  const received = (): ReceivedRequest[] => {
    let text = '';
    try {
      text = readFileSync(record, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as ReceivedRequest);
  };
  return {
    base,
    received,
    async waitFor(what, done, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = received();
        if (done(r)) return r;
        if (Date.now() > deadline)
          throw new Error(
            `webhook receiver: ${what} did not arrive within ${timeoutMs} ms; got ${JSON.stringify(r.map((x) => [x.route, x.event, x.status]))}`,
          );
        await new Promise((t) => setTimeout(t, 100));
      }
    },
    stop,
  };
}

/**
 * A receiver for one test file's describe block: fresh token and signing key, started before
 * its tests and stopped after them. `receiver` is there once the block's tests run.
 */
export function useWebhookReceiver(): {
  secrets: { LAB_WEBHOOK_TOKEN: string; LAB_WEBHOOK_SIGNING_KEY: string };
  readonly receiver: WebhookReceiver;
} {
  const secrets = {
    LAB_WEBHOOK_TOKEN: randomUUID().replace(/-/g, ''),
    LAB_WEBHOOK_SIGNING_KEY: randomUUID(),
  };
  let started: WebhookReceiver | undefined;
  beforeAll(async () => {
    started = await startWebhookReceiver(secrets);
  });
  afterAll(async () => {
    await started?.stop();
  });
  return {
    secrets,
    get receiver() {
      if (!started) throw new Error('the webhook receiver has not started (use it inside a test)');
      return started;
    },
  };
}
