import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { ReceivedRequest } from '../../lab/webhookReceiver';

const ROOT = resolve(__dirname, '..', '..');
const START_DEADLINE_MS = 30_000;

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
  const child = spawn(
    join(ROOT, 'node_modules', '.bin', 'tsx'),
    ['lab/webhookReceiver.ts', '--record', record],
    {
      cwd: ROOT,
      env: { ...process.env, ...secrets },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const base = await new Promise<string>((done, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`the webhook receiver did not start within ${START_DEADLINE_MS} ms`)),
      START_DEADLINE_MS,
    );
    child.on('exit', (code) => fail(new Error(`the webhook receiver exited (${code}) before it listened`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        done(m[1]);
      }
    });
  });
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
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((t) => setTimeout(t, 5_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
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
