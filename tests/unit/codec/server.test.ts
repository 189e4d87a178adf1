import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { parseListen, parseOrigin } from '../../../src/client/codecServer';
import { AesGcmCodec } from '../../../src/codec/encryption';
import { startCodecServer, type RunningCodecServer } from '../../../src/codec/server';

const UI = 'http://127.0.0.1:8233';
const TOKEN = 'codec-token-0123456789';
const codec = new AesGcmCodec([{ id: 'k1', key: randomBytes(32) }]);
let server: RunningCodecServer;

beforeAll(async () => {
  server = await startCodecServer({
    codec,
    host: '127.0.0.1',
    port: 0,
    origins: [UI],
    token: TOKEN,
    maxBodyBytes: 64 * 1024,
  });
});
afterAll(() => server.close());

const asJson = (p: { metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null }) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

test('decode answers what the codec stored, in the protocol JSON; encode is its inverse', async () => {
  const [stored] = await codec.encode([defaultPayloadConverter.toPayload({ host: '10.0.0.7' })]);
  const decoded = await post('/decode', { payloads: [asJson(stored)] }, { Origin: UI });
  expect(decoded.status).toBe(200);
  expect(decoded.headers.get('access-control-allow-origin')).toBe(UI);
  const [payload] = decoded.body.payloads as { metadata: Record<string, string>; data: string }[];
  expect(Buffer.from(payload.metadata.encoding, 'base64').toString()).toBe('json/plain');
  expect(JSON.parse(Buffer.from(payload.data, 'base64').toString())).toEqual({ host: '10.0.0.7' });
  const encoded = await post('/encode', { payloads: [payload] });
  const back = await post('/decode', encoded.body);
  expect(back.body).toEqual(decoded.body);
});

test("the Web UI's preflight is admitted; another origin is refused, before and at the request", async () => {
  const preflight = await fetch(`${server.url}/decode`, {
    method: 'OPTIONS',
    headers: { Origin: UI, 'Access-Control-Request-Method': 'POST' },
  });
  expect(preflight.status).toBe(204);
  expect(preflight.headers.get('access-control-allow-origin')).toBe(UI);
  expect(preflight.headers.get('access-control-allow-headers')).toContain('X-Namespace');
  const other = await fetch(`${server.url}/decode`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://evil.test' },
  });
  expect(other.status).toBe(403);
  expect((await post('/decode', { payloads: [] }, { Origin: 'http://evil.test' })).status).toBe(403);
});

test('without the bearer token, or with a wrong one: 401', async () => {
  expect((await post('/decode', { payloads: [] }, { Authorization: '' })).status).toBe(401);
  expect((await post('/decode', { payloads: [] }, { Authorization: 'Bearer wrong' })).status).toBe(401);
  expect((await post('/decode', { payloads: [] })).status).toBe(200);
});

test('bad requests are named: not JSON, no payloads, bad base64, too big, unknown path, unknown key', async () => {
  expect(await post('/decode', 'not json')).toMatchObject({
    status: 400,
    body: { error: 'body is not JSON' },
  });
  expect(await post('/decode', {})).toMatchObject({
    status: 400,
    body: { error: 'body must be {"payloads": [...]}' },
  });
  expect(await post('/decode', { payloads: [{ data: '!!' }] })).toMatchObject({
    status: 400,
    body: { error: 'payloads[0] must have base64 "data" and a "metadata" object' },
  });
  expect((await post('/decode', { payloads: [{ data: 'A'.repeat(100_000) }] })).status).toBe(413);
  expect((await post('/other', { payloads: [] })).status).toBe(404);
  const [foreign] = await new AesGcmCodec([{ id: 'k9', key: randomBytes(32) }]).encode([
    defaultPayloadConverter.toPayload('x'),
  ]);
  expect(await post('/decode', { payloads: [asJson(foreign)] })).toMatchObject({
    status: 422,
    body: { error: expect.stringContaining('key id "k9", which is not among the configured keys (k1)') },
  });
});

test('deployctl codec-server flags: --listen and --ui-origin are checked and named', () => {
  expect(parseListen('127.0.0.1:8888')).toEqual({ host: '127.0.0.1', port: 8888 });
  expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
  expect(() => parseListen('8888')).toThrow('--listen: value "8888" must be HOST:PORT, e.g. 127.0.0.1:8888');
  expect(() => parseListen('h:99999')).toThrow('--listen: value "h:99999" must be HOST:PORT');
  expect(parseOrigin('http://127.0.0.1:8233/')).toBe('http://127.0.0.1:8233');
  expect(() => parseOrigin('http://127.0.0.1:8233/namespaces')).toThrow(
    '--ui-origin: value "http://127.0.0.1:8233/namespaces" must be the Web UI\'s origin',
  );
  expect(() => parseOrigin('ui.internal')).toThrow('--ui-origin: value "ui.internal"');
});
