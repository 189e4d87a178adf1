/**
 * An HTTP load generator for the integration tests and the deployment-strategy benchmark: it sends
 * GET requests to one http:// URL for a bounded time (and at most a bounded number of requests)
 * and records every request, so a summary can tell whether a release was zero-downtime and which
 * release answered when.
 *
 * - open loop: requests are due on a fixed schedule (`ratePerSecond`) whatever the answers do, and
 *   latency counts from the due time, so a stalled server is charged for the requests it delayed
 *   (no coordinated omission). At most `maxInFlight` are pending; a due request beyond that is
 *   recorded as EOVERLOAD instead of queueing (and hiding) it.
 * - closed loop: `connections` loops, each sends, waits for the answer and sends again.
 *
 * Only loopback hosts unless `allowHosts` names the host: a mistyped URL must not load-test a
 * machine somebody else owns.
 */
import * as http from 'node:http';
import { isIPv4 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { OVERLOAD_ERROR, type LoadRecord } from './summary';

export * from './summary';

export interface OpenLoop {
  kind: 'open';
  ratePerSecond: number;
  /** Pending requests at most; default 256. */
  maxInFlight?: number;
}

export interface ClosedLoop {
  kind: 'closed';
  connections: number;
}

export interface LoadOptions {
  /** http:// URL on a loopback host (or a host listed in allowHosts). */
  url: string;
  mode: OpenLoop | ClosedLoop;
  /** No request is sent (open loop: due) at or after this many ms since the start. */
  durationMs: number;
  /** At most this many records; default 1,000,000 (keeps a runaway closed loop from filling memory). */
  maxRequests?: number;
  /** Per request, from send to the end of the body; default 5000. */
  timeoutMs?: number;
  /** Extra request headers, e.g. a preview header that routes to the new release. */
  headers?: Record<string, string>;
  /** Response header naming the release (e.g. 'x-app-release'); else a JSON body's `release` field. */
  releaseHeader?: string;
  /** Non-loopback hostnames that may receive load (exact match, case-insensitive). */
  allowHosts?: readonly string[];
}

export interface LoadResult {
  /** Every request, ordered by `t`. */
  records: LoadRecord[];
  /** Epoch ms at the start. */
  startedAt: number;
  /** Wall time from the start until the last pending request ended. */
  durationMs: number;
}

export interface LoadRun {
  /** Resolves once sending ended (duration, maxRequests or stop()) and pending requests ended. */
  readonly result: Promise<LoadResult>;
  /** Send nothing more; pending requests still complete (or time out) and are recorded. */
  stop(): void;
}

/** An option that breaks a rule; `field` and `value` say which, `rule` what it must be. */
export class LoadOptionsError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly rule: string,
  ) {
    super(`${field} ${JSON.stringify(value)}: ${rule}`);
    this.name = 'LoadOptionsError';
  }
}

export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_IN_FLIGHT = 256;
export const DEFAULT_MAX_REQUESTS = 1_000_000;
/** Bodies are read up to this size for the `release` field; the rest is drained unread. */
export const MAX_BODY_BYTES = 64 * 1024;

/** 127.0.0.0/8, localhost and ::1 (with or without the brackets a URL puts around IPv6). */
export function isLoopbackHost(hostname: string): boolean {
  const host = bareHost(hostname);
  if (host === 'localhost' || host === '::1') return true;
  return isIPv4(host) && host.startsWith('127.');
}

/** The URL the generator would load, or a LoadOptionsError saying why it refuses it. */
export function checkTarget(url: string, allowHosts: readonly string[] = []): URL {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new LoadOptionsError('url', url, 'must be an absolute http:// URL');
  }
  if (target.protocol !== 'http:')
    throw new LoadOptionsError('url', url, `scheme ${target.protocol} is not supported: only http://`);
  const host = bareHost(target.hostname);
  const allowed = allowHosts.some((h) => bareHost(h) === host);
  if (!isLoopbackHost(host) && !allowed)
    throw new LoadOptionsError(
      'url',
      url,
      `refusing to send load to ${host}: not a loopback host (127.0.0.0/8, localhost, ::1) and not in allowHosts`,
    );
  return target;
}

/** Checks every option; throws LoadOptionsError naming the first one that breaks its rule. */
export function validateLoadOptions(options: LoadOptions): URL {
  const target = checkTarget(options.url, options.allowHosts);
  requirePositive('durationMs', options.durationMs);
  if (options.timeoutMs !== undefined) requirePositive('timeoutMs', options.timeoutMs);
  if (options.maxRequests !== undefined) requirePositiveInteger('maxRequests', options.maxRequests);
  if (options.mode.kind === 'open') {
    requirePositive('ratePerSecond', options.mode.ratePerSecond);
    if (options.mode.maxInFlight !== undefined)
      requirePositiveInteger('maxInFlight', options.mode.maxInFlight);
  } else {
    requirePositiveInteger('connections', options.mode.connections);
  }
  for (const [name, value] of Object.entries(options.headers ?? {})) checkHeader(name, value);
  if (options.releaseHeader !== undefined) checkHeaderName('releaseHeader', options.releaseHeader);
  return target;
}

/** Starts a run; throws LoadOptionsError (before sending anything) when an option is invalid. */
export function startLoad(options: LoadOptions): LoadRun {
  const target = validateLoadOptions(options);
  const run = new Run(target, options);
  return { result: run.execute(), stop: () => run.stop() };
}

/** startLoad without the early stop. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return startLoad(options).result;
}

/** What one request/response exchange produced. */
interface Outcome {
  status?: number;
  error?: string;
  release?: string;
}

/** The state of one run: the clock, the request budget, the stop flag and the records. */
class Run {
  private readonly records: LoadRecord[] = [];
  private readonly agent: http.Agent;
  private readonly stopping = new AbortController();
  private readonly startMs = performance.now();
  private readonly startedAt = Date.now();
  /** Requests counted against maxRequests: sent, or (open loop) due and dropped. */
  private counted = 0;

  constructor(
    private readonly target: URL,
    private readonly options: LoadOptions,
  ) {
    const sockets = options.mode.kind === 'closed' ? options.mode.connections : maxInFlight(options.mode);
    // Keep-alive like a browser or proxy would; no more sockets than requests that may be pending,
    // so requests never wait inside the agent for a socket.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  stop(): void {
    this.stopping.abort();
  }

  async execute(): Promise<LoadResult> {
    try {
      if (this.options.mode.kind === 'open') await this.openLoop(this.options.mode);
      else await this.closedLoop(this.options.mode);
    } finally {
      this.agent.destroy();
    }
    const records = [...this.records].sort((a, b) => a.t - b.t);
    return { records, startedAt: this.startedAt, durationMs: this.elapsed() };
  }

  private async openLoop(mode: OpenLoop): Promise<void> {
    const pending = new Set<Promise<void>>();
    const limit = maxInFlight(mode);
    for (let i = 0; this.mayStart(); i++) {
      // i * 1000 < duration * rate instead of comparing i / rate: no float drift adds a request.
      if (i * 1000 >= this.options.durationMs * mode.ratePerSecond) break;
      const due = (i * 1000) / mode.ratePerSecond;
      await this.pauseUntil(due);
      if (this.stopping.signal.aborted) break;
      this.counted++;
      if (pending.size >= limit) {
        this.records.push({ t: due, latencyMs: 0, error: OVERLOAD_ERROR });
        continue;
      }
      const request = this.measure(due);
      pending.add(request);
      void request.finally(() => pending.delete(request));
    }
    await Promise.all(pending);
  }

  private async closedLoop(mode: ClosedLoop): Promise<void> {
    const connection = async () => {
      while (this.mayStart() && this.elapsed() < this.options.durationMs) {
        this.counted++;
        await this.measure(this.elapsed());
      }
    };
    await Promise.all(Array.from({ length: mode.connections }, connection));
  }

  private mayStart(): boolean {
    return !this.stopping.signal.aborted && this.counted < (this.options.maxRequests ?? DEFAULT_MAX_REQUESTS);
  }

  /** Sends one request counted from `t` (ms since start) and records it. */
  private async measure(t: number): Promise<void> {
    const outcome = await exchange(this.target, this.agent, this.options);
    this.records.push({ t, latencyMs: this.elapsed() - t, ...outcome });
  }

  private elapsed(): number {
    return performance.now() - this.startMs;
  }

  /** Waits until `t` ms since start, or less when stop() is called; returns at once when late. */
  private async pauseUntil(t: number): Promise<void> {
    // Timers count from the event loop's cached, whole-millisecond clock and can fire a little
    // early by this clock: wait again rather than send before the due time.
    while (t > this.elapsed() && !this.stopping.signal.aborted) await this.pause(t - this.elapsed());
  }

  private pause(ms: number): Promise<void> {
    const signal = this.stopping.signal;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }
}

/**
 * One GET: resolves (never rejects) when the body has ended, the connection failed, or the
 * timeout passed. The socket's idle timeout catches a silent server early on; the deadline timer
 * bounds the whole exchange, so a server trickling bytes cannot stretch a request past timeoutMs.
 */
function exchange(target: URL, agent: http.Agent, options: LoadOptions): Promise<Outcome> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve) => {
    let status: number | undefined;
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(outcome);
    };
    const timeOut = () => {
      finish({ status, error: 'ETIMEDOUT' });
      request.destroy();
    };
    const deadline = setTimeout(timeOut, timeoutMs);
    const request = http.request(target, { agent, headers: options.headers, timeout: timeoutMs });
    request.on('timeout', timeOut);
    request.on('error', (err) => finish({ status, error: errorCode(err) }));
    request.on('response', (response) => {
      status = response.statusCode;
      response.on('error', (err) => finish({ status, error: errorCode(err) }));
      // A response that closes before its end arrived lost its connection midway.
      response.on('close', () => {
        if (!response.complete) finish({ status, error: 'ECONNRESET' });
      });
      readRelease(response, options.releaseHeader).then((release) => finish(withRelease(status, release)));
    });
    request.end();
  });
}

function withRelease(status: number | undefined, release: string | undefined): Outcome {
  return release === undefined ? { status } : { status, release };
}

/** The release from the response header, else from a JSON body (read up to MAX_BODY_BYTES). */
function readRelease(
  response: http.IncomingMessage,
  header: string | undefined,
): Promise<string | undefined> {
  const fromHeader = header === undefined ? undefined : response.headers[header.toLowerCase()];
  const headerValue = Array.isArray(fromHeader) ? fromHeader[0] : fromHeader;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    response.on('data', (chunk: Buffer) => {
      if (headerValue !== undefined || truncated) return;
      // The rest of a large body is still read (and dropped) so the keep-alive socket stays usable.
      if (size + chunk.length > MAX_BODY_BYTES) truncated = true;
      else chunks.push(chunk);
      size += chunk.length;
    });
    response.on('end', () => {
      if (headerValue !== undefined) resolve(headerValue);
      else resolve(truncated ? undefined : releaseFromBody(Buffer.concat(chunks).toString('utf8')));
    });
  });
}

/** The string `release` field of a JSON object body, else undefined. */
export function releaseFromBody(body: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const release = (parsed as { release?: unknown }).release;
    return typeof release === 'string' ? release : undefined;
  } catch {
    return undefined;
  }
}

/** The error code to record: ECONNREFUSED, ECONNRESET ('socket hang up' carries it), ... */
function errorCode(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code) return code;
  // Connecting to 'localhost' may try ::1 and 127.0.0.1; when both fail Node reports an AggregateError.
  if (err instanceof AggregateError && err.errors[0] instanceof Error) return errorCode(err.errors[0]);
  return err.name || 'ERROR';
}

function bareHost(hostname: string): string {
  return hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
}

function maxInFlight(mode: OpenLoop): number {
  return mode.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
}

function requirePositive(field: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0)
    throw new LoadOptionsError(field, value, 'must be a positive number');
}

function requirePositiveInteger(field: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0)
    throw new LoadOptionsError(field, value, 'must be a positive integer');
}

function checkHeader(name: string, value: string): void {
  checkHeaderName('headers', name);
  try {
    http.validateHeaderValue(name, value);
  } catch {
    throw new LoadOptionsError(`headers.${name}`, value, 'must be a valid HTTP header value');
  }
}

function checkHeaderName(field: string, name: string): void {
  try {
    http.validateHeaderName(name);
  } catch {
    throw new LoadOptionsError(field, name, 'must be a valid HTTP header name');
  }
}
