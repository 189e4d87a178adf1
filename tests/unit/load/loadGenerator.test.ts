import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  checkTarget,
  isLoopbackHost,
  LoadOptionsError,
  percentile,
  releaseFromBody,
  runLoad,
  sharesPerWindow,
  startLoad,
  summarize,
  validateLoadOptions,
  type LoadOptions,
  type LoadRecord,
} from '../../../src/load/loadGenerator';

/**
 * Pure helpers are checked on fixed inputs with exact values. The generator runs against real
 * node:http servers on 127.0.0.1 started here; its assertions are on counts and classification,
 * which do not depend on timing, and only lower bounds on latency, which a slow machine cannot break.
 */

describe('percentile (nearest rank)', () => {
  test('the textbook example: sorted[ceil(p/100 * n) - 1]', () => {
    const values = [15, 20, 35, 40, 50];
    expect([0, 5, 30, 40, 50, 100].map((p) => percentile(values, p))).toEqual([15, 15, 20, 20, 35, 50]);
  });
  test('ten values, unsorted input, which it does not reorder', () => {
    const values = [16, 3, 8, 20, 7, 13, 8, 6, 15, 10];
    expect([25, 50, 75, 95, 100].map((p) => percentile(values, p))).toEqual([7, 8, 15, 20, 20]);
    expect(values).toEqual([16, 3, 8, 20, 7, 13, 8, 6, 15, 10]);
  });
  test('one value is every percentile; no value has none', () => {
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeUndefined();
  });
  test('p outside 0..100 is a programming error', () => {
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
    expect(() => percentile([1], NaN)).toThrow(RangeError);
  });
});

describe('summarize', () => {
  const records: LoadRecord[] = [
    { t: 0, latencyMs: 10, status: 200, release: 'r1' },
    { t: 100, latencyMs: 20, status: 200, release: 'r1' },
    { t: 200, latencyMs: 30, status: 502 },
    { t: 300, latencyMs: 40, error: 'ECONNRESET' },
    { t: 400, latencyMs: 50, status: 200, release: 'r2' },
    { t: 500, latencyMs: 0, error: 'EOVERLOAD' },
    { t: 600, latencyMs: 60, status: 404, release: 'r2' },
    { t: 700, latencyMs: 70, status: 200 },
  ];

  test('whole run: failures by reason, their window, percentiles without dropped requests, shares', () => {
    expect(summarize(records)).toEqual({
      total: 8,
      failed: 3,
      failedByReason: { 'HTTP 502': 1, ECONNRESET: 1, EOVERLOAD: 1 },
      errorWindowMs: 300,
      p50: 40,
      p95: 70,
      p99: 70,
      releaseShares: { r1: 0.4, r2: 0.4, '(unknown)': 0.2 },
    });
  });
  test('other statuses count as failed only when asked', () => {
    const summary = summarize(records, { alsoFailStatuses: [404] });
    expect(summary.failed).toBe(4);
    expect(summary.failedByReason).toEqual({ 'HTTP 502': 1, ECONNRESET: 1, EOVERLOAD: 1, 'HTTP 404': 1 });
    expect(summary.errorWindowMs).toBe(400);
    expect(summary.releaseShares).toEqual({ r1: 0.5, r2: 0.25, '(unknown)': 0.25 });
  });
  test('a window takes from <= t < to', () => {
    expect(summarize(records, { from: 100, to: 400 })).toEqual({
      total: 3,
      failed: 2,
      failedByReason: { 'HTTP 502': 1, ECONNRESET: 1 },
      errorWindowMs: 100,
      p50: 30,
      p95: 40,
      p99: 40,
      releaseShares: { r1: 1 },
    });
  });
  test('no failure: no error window; no record: no percentiles', () => {
    const clean = summarize(records, { to: 200 });
    expect(clean.failed).toBe(0);
    expect(clean.failedByReason).toEqual({});
    expect(clean.errorWindowMs).toBeUndefined();
    expect(summarize([])).toEqual({ total: 0, failed: 0, failedByReason: {}, releaseShares: {} });
  });
});

describe('sharesPerWindow', () => {
  /** Successful answers 100 ms apart from `from`, one per release named. */
  const answers = (from: number, releases: string[]): LoadRecord[] =>
    releases.map((release, i) => ({ t: from + i * 100, latencyMs: 5, status: 200, release }));

  test('observed shares per canary step; a record at a boundary belongs to the later step', () => {
    const records = [
      ...answers(0, ['r1', 'r1', 'r1', 'r1', 'r1', 'r1', 'r1', 'r1', 'r1', 'r2']),
      ...answers(1000, ['r1', 'r2', 'r1', 'r2']),
      { t: 1900, latencyMs: 5, status: 502 },
      ...answers(2000, ['r2', 'r2']),
    ];
    const windows = [
      { label: '10%', from: 0, to: 1000 },
      { label: '50%', from: 1000, to: 2000 },
      { label: '100%', from: 2000, to: 3000 },
      { label: 'after', from: 5000, to: 6000 },
    ];
    expect(sharesPerWindow(records, windows)).toEqual([
      { label: '10%', from: 0, to: 1000, total: 10, successful: 10, releaseShares: { r1: 0.9, r2: 0.1 } },
      { label: '50%', from: 1000, to: 2000, total: 5, successful: 4, releaseShares: { r1: 0.5, r2: 0.5 } },
      { label: '100%', from: 2000, to: 3000, total: 2, successful: 2, releaseShares: { r2: 1 } },
      { label: 'after', from: 5000, to: 6000, total: 0, successful: 0, releaseShares: {} },
    ]);
  });
});

describe('releaseFromBody', () => {
  test('only a string release field of a JSON object', () => {
    expect(releaseFromBody('{"release":"r1","ok":true}')).toBe('r1');
    expect(releaseFromBody('{"release":3}')).toBeUndefined();
    expect(releaseFromBody('["r1"]')).toBeUndefined();
    expect(releaseFromBody('null')).toBeUndefined();
    expect(releaseFromBody('release r1')).toBeUndefined();
  });
});

describe('targets: http:// on loopback only', () => {
  test('loopback hosts', () => {
    for (const host of ['127.0.0.1', '127.255.1.2', 'localhost', 'LOCALHOST', '::1', '[::1]'])
      expect(isLoopbackHost(host)).toBe(true);
    for (const host of [
      '128.0.0.1',
      '10.0.0.1',
      '0.0.0.0',
      '::2',
      'localhost.example.com',
      '127.0.0.1.nip.io',
    ])
      expect(isLoopbackHost(host)).toBe(false);
  });
  test('a non-loopback host is refused with the rule and the way out', () => {
    expect(() => checkTarget('http://10.1.2.3:8080/')).toThrow(
      new LoadOptionsError(
        'url',
        'http://10.1.2.3:8080/',
        'refusing to send load to 10.1.2.3: not a loopback host (127.0.0.0/8, localhost, ::1) and not in allowHosts',
      ),
    );
    expect(() => checkTarget('http://10.1.2.3:8080/')).toThrow(
      'url "http://10.1.2.3:8080/": refusing to send load to 10.1.2.3: not a loopback host',
    );
  });
  test('startLoad refuses before sending anything', () => {
    expect(() =>
      startLoad({ url: 'http://example.com/', mode: { kind: 'closed', connections: 1 }, durationMs: 100 }),
    ).toThrow(/refusing to send load to example.com/);
  });
  test('other schemes and non-URLs are refused', () => {
    expect(() => checkTarget('https://127.0.0.1/')).toThrow('scheme https: is not supported: only http://');
    expect(() => checkTarget('ftp://127.0.0.1/')).toThrow('scheme ftp: is not supported');
    expect(() => checkTarget('127.0.0.1:8080')).toThrow(LoadOptionsError);
  });
  test('URL spellings of loopback are normalized first; allowHosts lets a named host through', () => {
    expect(checkTarget('http://2130706433:8080/').hostname).toBe('127.0.0.1');
    expect(checkTarget('http://[::1]:8080/').hostname).toBe('[::1]');
    expect(checkTarget('http://Build-Box.internal/', ['build-box.internal']).hostname).toBe(
      'build-box.internal',
    );
  });
  test('every numeric option and header is checked, naming the option', () => {
    const base: LoadOptions = {
      url: 'http://127.0.0.1/',
      mode: { kind: 'closed', connections: 1 },
      durationMs: 1,
    };
    const refusal = (options: LoadOptions) => {
      try {
        validateLoadOptions(options);
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refusal(base)).toBe('accepted');
    expect(refusal({ ...base, durationMs: 0 })).toBe('durationMs 0: must be a positive number');
    expect(refusal({ ...base, mode: { kind: 'closed', connections: 1.5 } })).toBe(
      'connections 1.5: must be a positive integer',
    );
    expect(refusal({ ...base, mode: { kind: 'open', ratePerSecond: -5 } })).toBe(
      'ratePerSecond -5: must be a positive number',
    );
    expect(refusal({ ...base, maxRequests: 0 })).toBe('maxRequests 0: must be a positive integer');
    expect(refusal({ ...base, headers: { 'bad name': '1' } })).toBe(
      'headers "bad name": must be a valid HTTP header name',
    );
    expect(refusal({ ...base, releaseHeader: 'x:y' })).toBe(
      'releaseHeader "x:y": must be a valid HTTP header name',
    );
  });
});

interface TestServer {
  url: string;
  /** Requests the server received. */
  requests: () => number;
  /** Distinct TCP connections the server accepted. */
  connections: () => number;
}

const servers: http.Server[] = [];

/** A real server on 127.0.0.1 (random port); `handler` gets the 1-based request number. */
async function serve(
  handler: (n: number, req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<TestServer> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => handler(++requests, req, res));
  server.on('connection', (socket) => sockets.add(socket));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, requests: () => requests, connections: () => sockets.size };
}

function json(res: http.ServerResponse, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** r1 for the first `switchAfter` requests, r2 after; the release also in x-app-release, upper case. */
const switchingRelease = (switchAfter: number) =>
  serve((n, _req, res) => {
    const release = n <= switchAfter ? 'r1' : 'r2';
    json(res, { release }, { 'x-app-release': release.toUpperCase() });
  });

/** Every fourth request answers 500. */
const everyFourthFails = () =>
  serve((n, _req, res) => (n % 4 === 0 ? res.writeHead(500).end() : json(res, { release: 'r1' })));

/** Closes the connection without answering. */
const resetting = () => serve((_n, req) => req.socket.destroy());

/** Answers after 2 s, well beyond the timeouts used with it. */
const slow = () =>
  serve((_n, _req, res) => {
    const timer = setTimeout(() => json(res, { release: 'late' }), 2000);
    res.on('close', () => clearTimeout(timer));
  });

/** A port nothing listens on: a server's, once closed. */
async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/`;
}

const closedLoop = (
  url: string,
  connections: number,
  maxRequests: number,
  extra: Partial<LoadOptions> = {},
) => runLoad({ url, mode: { kind: 'closed', connections }, durationMs: 10_000, maxRequests, ...extra });

const count = (records: LoadRecord[], field: 'status' | 'error' | 'release') => {
  const counts: Record<string, number> = {};
  for (const record of records) counts[String(record[field])] = (counts[String(record[field])] ?? 0) + 1;
  return counts;
};

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe('closed loop', () => {
  test('maxRequests N records exactly N, and the release switch shows in order', async () => {
    const server = await switchingRelease(5);
    const { records, startedAt, durationMs } = await closedLoop(server.url, 1, 10);
    expect(records).toHaveLength(10);
    expect(server.requests()).toBe(10);
    expect(records.map((r) => r.release)).toEqual([
      'r1',
      'r1',
      'r1',
      'r1',
      'r1',
      'r2',
      'r2',
      'r2',
      'r2',
      'r2',
    ]);
    expect(records.every((r) => r.status === 200 && r.error === undefined && r.latencyMs >= 0)).toBe(true);
    expect(startedAt).toBeLessThanOrEqual(Date.now());
    expect(durationMs).toBeGreaterThan(0);
    expect(summarize(records)).toMatchObject({ total: 10, failed: 0, releaseShares: { r1: 0.5, r2: 0.5 } });
  });

  test('N keep-alive connections: never more sockets than connections', async () => {
    const server = await switchingRelease(1000);
    const { records } = await closedLoop(server.url, 3, 30);
    expect(records).toHaveLength(30);
    expect(server.requests()).toBe(30);
    expect(server.connections()).toBeLessThanOrEqual(3);
  });

  test('the release header wins over the body', async () => {
    const server = await switchingRelease(1000);
    const { records } = await closedLoop(server.url, 1, 3, { releaseHeader: 'X-App-Release' });
    expect(records.map((r) => r.release)).toEqual(['R1', 'R1', 'R1']);
  });

  test('extra headers are sent (a preview header)', async () => {
    const server = await serve((_n, req, res) =>
      json(res, { release: req.headers['x-preview'] === '1' ? 'preview' : 'stable' }),
    );
    const { records } = await closedLoop(server.url, 2, 4, { headers: { 'x-preview': '1' } });
    expect(count(records, 'release')).toEqual({ preview: 4 });
  });

  test('5xx answers count as failures, by status', async () => {
    const server = await everyFourthFails();
    const { records } = await closedLoop(server.url, 2, 20);
    expect(count(records, 'status')).toEqual({ 200: 15, 500: 5 });
    expect(summarize(records)).toMatchObject({ total: 20, failed: 5, failedByReason: { 'HTTP 500': 5 } });
  });

  test('a connection closed without an answer is ECONNRESET', async () => {
    const server = await resetting();
    const { records } = await closedLoop(server.url, 2, 6);
    expect(count(records, 'error')).toEqual({ ECONNRESET: 6 });
    expect(records.every((r) => r.status === undefined)).toBe(true);
  });

  test('an answer later than the timeout is ETIMEDOUT, after at least the timeout', async () => {
    const server = await slow();
    const { records } = await closedLoop(server.url, 2, 4, { timeoutMs: 200 });
    expect(count(records, 'error')).toEqual({ ETIMEDOUT: 4 });
    expect(records.every((r) => r.latencyMs >= 190)).toBe(true);
  });

  test('nothing listening is ECONNREFUSED', async () => {
    const { records } = await closedLoop(await closedPortUrl(), 1, 3);
    expect(count(records, 'error')).toEqual({ ECONNREFUSED: 3 });
  });

  test('a body over 64 KiB is not parsed for the release', async () => {
    const server = await serve((n, _req, res) =>
      json(res, { release: 'big', padding: 'x'.repeat(n === 1 ? 60 * 1024 : 70 * 1024) }),
    );
    const { records } = await closedLoop(server.url, 1, 2);
    expect(records.map((r) => [r.status, r.release])).toEqual([
      [200, 'big'],
      [200, undefined],
    ]);
  });

  test('stop() ends the run early', async () => {
    const server = await switchingRelease(1_000_000);
    const run = startLoad({ url: server.url, mode: { kind: 'closed', connections: 2 }, durationMs: 60_000 });
    setTimeout(() => run.stop(), 100);
    const { records, durationMs } = await run.result;
    expect(records.length).toBeGreaterThan(0);
    expect(durationMs).toBeLessThan(10_000);
  });
});

describe('open loop', () => {
  test('100/s for 1 s: the schedule fixes the count (exactly 100, due every 10 ms)', async () => {
    const server = await switchingRelease(1000);
    const { records, durationMs } = await runLoad({
      url: server.url,
      mode: { kind: 'open', ratePerSecond: 100 },
      durationMs: 1000,
    });
    expect(records).toHaveLength(100);
    expect(records.map((r) => r.t)).toEqual(Array.from({ length: 100 }, (_, i) => i * 10));
    expect(count(records, 'status')).toEqual({ 200: 100 });
    expect(durationMs).toBeGreaterThanOrEqual(990);
  });

  test('maxRequests bounds the open loop too', async () => {
    const server = await switchingRelease(1000);
    const { records } = await runLoad({
      url: server.url,
      mode: { kind: 'open', ratePerSecond: 1000 },
      durationMs: 60_000,
      maxRequests: 25,
    });
    expect(records).toHaveLength(25);
  });

  test('latency counts from the due time: a stalled sender is charged for the delay', async () => {
    const server = await switchingRelease(1000);
    const run = startLoad({ url: server.url, mode: { kind: 'open', ratePerSecond: 20 }, durationMs: 500 });
    // Block this process (and so the sender) for 300 ms: every request due before then goes out late.
    const stalledUntil = performance.now() + 300;
    while (performance.now() < stalledUntil);
    const { records } = await run.result;
    expect(records).toHaveLength(10);
    for (const r of records.filter((r) => r.t < 300)) expect(r.latencyMs).toBeGreaterThanOrEqual(300 - r.t);
  });

  test('requests due while maxInFlight are pending are dropped as EOVERLOAD', async () => {
    const server = await slow();
    const { records } = await runLoad({
      url: server.url,
      mode: { kind: 'open', ratePerSecond: 50, maxInFlight: 2 },
      durationMs: 200,
      timeoutMs: 1500,
    });
    expect(records.map((r) => r.error)).toEqual([
      'ETIMEDOUT',
      'ETIMEDOUT',
      ...Array.from({ length: 8 }, () => 'EOVERLOAD'),
    ]);
    expect(records.filter((r) => r.error === 'EOVERLOAD').every((r) => r.latencyMs === 0)).toBe(true);
    expect(summarize(records).failedByReason).toEqual({ ETIMEDOUT: 2, EOVERLOAD: 8 });
  });

  test('stop() ends the schedule early', async () => {
    const server = await switchingRelease(1_000_000);
    const run = startLoad({ url: server.url, mode: { kind: 'open', ratePerSecond: 50 }, durationMs: 60_000 });
    setTimeout(() => run.stop(), 200);
    const { records, durationMs } = await run.result;
    expect(records.length).toBeGreaterThan(0);
    expect(records.length).toBeLessThan(3000);
    expect(durationMs).toBeLessThan(10_000);
  });
});
