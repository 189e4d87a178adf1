import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';

/**
 * A remote codec endpoint (Temporal's codec server protocol): POST /decode and /encode take
 * `{"payloads": [{"metadata": {k: base64}, "data": base64}]}` and answer the same shape. The
 * Web UI calls it from the operator's browser (so CORS admits the UI's origin) and the
 * `temporal` CLI with `--codec-endpoint` (with `--codec-auth "Bearer <token>"` when a token is
 * set). Keys never leave the process that runs it.
 */
export interface CodecServerOptions {
  codec: PayloadCodec;
  host: string;
  port: number;
  /** Origins whose browsers may call it (the Web UI's), exactly as the browser sends them. */
  origins: string[];
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
}

export interface RunningCodecServer {
  url: string;
  close(): Promise<void>;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function fromJson(body: unknown): Payload[] {
  const payloads = (body as { payloads?: unknown } | null)?.payloads;
  if (!Array.isArray(payloads)) throw new BadRequest(400, 'body must be {"payloads": [...]}');
  return payloads.map((p: JsonPayload, i) => {
    const metadata = p?.metadata ?? {};
    const data = p?.data ?? '';
    if (typeof metadata !== 'object' || typeof data !== 'string' || !BASE64.test(data))
      throw new BadRequest(400, `payloads[${i}] must have base64 "data" and a "metadata" object`);
    return {
      metadata: Object.fromEntries(
        Object.entries(metadata).map(([k, v]) => {
          if (typeof v !== 'string' || !BASE64.test(v))
            throw new BadRequest(400, `payloads[${i}].metadata.${k} must be base64`);
          return [k, new Uint8Array(Buffer.from(v, 'base64'))];
        }),
      ),
      data: new Uint8Array(Buffer.from(data, 'base64')),
    };
  });
}

function toJson(payloads: Payload[]): { payloads: JsonPayload[] } {
  return {
    payloads: payloads.map((p) => ({
      metadata: Object.fromEntries(
        Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
      ),
      data: Buffer.from(p.data ?? []).toString('base64'),
    })),
  };
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Drained, not destroyed: the 413 answer still reaches the caller.
        req.removeAllListeners('data');
        req.resume();
        reject(new BadRequest(413, `body over ${limit} bytes`));
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function startCodecServer(o: CodecServerOptions): Promise<RunningCodecServer> {
  const limit = o.maxBodyBytes ?? 16 * 1024 * 1024;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const origin = req.headers.origin;
    const allowed = !!origin && o.origins.includes(origin);
    if (allowed) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
    }
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'OPTIONS') {
      if (!allowed) return reply(403, { error: `origin ${origin ?? '(none)'} is not allowed` });
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': 'Content-Type, X-Namespace, Authorization',
        'Access-Control-Max-Age': '600',
      });
      return res.end();
    }
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || (path !== '/decode' && path !== '/encode'))
      return reply(404, { error: 'POST /decode or /encode' });
    if (origin && !allowed) return reply(403, { error: `origin ${origin} is not allowed` });
    if (o.token && !tokenMatches(req.headers.authorization, o.token))
      return reply(401, { error: 'missing or wrong Authorization: Bearer token' });
    try {
      const payloads = fromJson(JSON.parse(await readBody(req, limit)));
      const out = path === '/decode' ? await o.codec.decode(payloads) : await o.codec.encode(payloads);
      return reply(200, toJson(out));
    } catch (err) {
      if (err instanceof BadRequest) return reply(err.status, { error: err.message });
      if (err instanceof SyntaxError) return reply(400, { error: 'body is not JSON' });
      // The codec's own message (an unknown key id, a payload that fails its tag) names no key.
      return reply(422, { error: (err as Error).message });
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.requestTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      const { port } = server.address() as AddressInfo;
      const host = o.host.includes(':') ? `[${o.host}]` : o.host;
      resolve({
        url: `http://${host}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
