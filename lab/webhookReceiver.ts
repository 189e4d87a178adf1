/**
 * A webhook receiver for the lab: a real HTTP server on loopback that records every request it
 * gets, one JSON line each, for the notification tests to read.
 *
 *   npx tsx lab/webhookReceiver.ts --record FILE [--port N]
 *
 * Routes (POST): /hooks/<LAB_WEBHOOK_TOKEN>/<name> answers 200; /down/<name> answers 503, as a
 * receiver that is down; anything else 404. The token is a lab secret, so a record says only
 * whether it matched; the signature header is checked against LAB_WEBHOOK_SIGNING_KEY and
 * recorded as valid, invalid or absent. Prints `listening on <url>` once it accepts requests.
 */
import { createServer } from 'node:http';
import { appendFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import { Command } from 'commander';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature } from '../src/notifications/webhook';
import { WEBHOOK_KEY_ENV, WEBHOOK_TOKEN_ENV } from './config';

const MAX_BODY_BYTES = 64 * 1024;

export interface ReceivedRequest {
  at: string;
  route: string;
  status: number;
  tokenMatched: boolean;
  event?: string;
  delivery?: string;
  signature: 'valid' | 'invalid' | 'absent';
  body: unknown;
}

function main(): void {
  const opts = new Command()
    .name('webhook-receiver')
    .requiredOption('--record <file>', 'append one JSON line per request here')
    .option('--port <n>', 'port on 127.0.0.1 (0: any free one)', '0')
    .parse()
    .opts<{ record: string; port: string }>();
  const token = process.env[WEBHOOK_TOKEN_ENV];
  const key = process.env[WEBHOOK_KEY_ENV];
  if (!token || !key) {
    console.error(
      `webhook-receiver: ${WEBHOOK_TOKEN_ENV} and ${WEBHOOK_KEY_ENV} must be set (the lab's secrets.env)`,
    );
    process.exit(2);
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const parts = (req.url ?? '').split('/');
      const hook = parts[1] === 'hooks' && parts.length === 4;
      const tokenMatched = hook && parts[2] === token;
      const status =
        req.method !== 'POST' || size > MAX_BODY_BYTES
          ? 400
          : tokenMatched
            ? 200
            : parts[1] === 'down'
              ? 503
              : 404;
      const sent = req.headers[SIGNATURE_HEADER];
      const expected = signature(text, key);
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text: the test says what it expected
      }
      const record: ReceivedRequest = {
        at: new Date().toISOString(),
        route: hook
          ? `hooks/${parts[3]}`
          : parts[1] === 'hooks'
            ? 'hooks/(malformed)'
            : parts.slice(1).join('/'),
        status,
        tokenMatched,
        ...(typeof req.headers[EVENT_HEADER] === 'string' ? { event: req.headers[EVENT_HEADER] } : {}),
        ...(typeof req.headers[DELIVERY_HEADER] === 'string'
          ? { delivery: req.headers[DELIVERY_HEADER] }
          : {}),
        signature:
          typeof sent !== 'string'
            ? 'absent'
            : sent.length === expected.length && timingSafeEqual(Buffer.from(sent), Buffer.from(expected))
              ? 'valid'
              : 'invalid',
        body,
      };
      appendFileSync(opts.record, `${JSON.stringify(record)}\n`);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
    });
  });
  server.listen(Number(opts.port), '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : opts.port;
    console.log(`listening on http://127.0.0.1:${port}`);
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.on(signal, () => server.close(() => process.exit(0)));
}

main();
