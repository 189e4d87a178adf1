/**
 * Pure summaries of load-generator records: failure counts by reason, latency percentiles and
 * which release answered, over the whole run or over time windows (one per canary step).
 * No I/O here, so benchmarks and tests can summarize recorded or hand-written records alike.
 */

/** One request as the load generator saw it. */
export interface LoadRecord {
  /** ms since the start of the run when the request was sent (open loop: when it was scheduled). */
  t: number;
  /** ms from `t` until the answer was complete or the request failed (0 for EOVERLOAD: never sent). */
  latencyMs: number;
  /** HTTP status, when a response head arrived. */
  status?: number;
  /** Error code (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EOVERLOAD, ...), when the exchange did not complete. */
  error?: string;
  /** The release that answered (response header or the JSON body's `release` field). */
  release?: string;
}

/** Code recorded for open-loop requests that were due but not sent because `maxInFlight` were pending. */
export const OVERLOAD_ERROR = 'EOVERLOAD';
/** Key of `releaseShares` for successful answers that did not say which release they came from. */
export const UNKNOWN_RELEASE = '(unknown)';

export interface FailureRule {
  /** Statuses below 500 that also count as failures (e.g. [404, 429]); 5xx always do. */
  alsoFailStatuses?: readonly number[];
}

export interface SummaryOptions extends FailureRule {
  /** Only records with `t >= from` (ms since start). */
  from?: number;
  /** Only records with `t < to` (ms since start). */
  to?: number;
}

export interface LoadSummary {
  total: number;
  failed: number;
  /** Failures by reason: the error code, or `HTTP <status>`. */
  failedByReason: Record<string, number>;
  /** `t` of the last failed request minus `t` of the first; undefined when nothing failed. */
  errorWindowMs?: number;
  /** Nearest-rank latency percentiles (ms) over every request that was sent; undefined without any. */
  p50?: number;
  p95?: number;
  p99?: number;
  /** Fraction (0..1) of the successful answers that each release gave. */
  releaseShares: Record<string, number>;
}

export interface Window {
  label: string;
  /** ms since start, inclusive. */
  from: number;
  /** ms since start, exclusive. */
  to: number;
}

export interface WindowShares extends Window {
  total: number;
  successful: number;
  releaseShares: Record<string, number>;
}

/**
 * The nearest-rank percentile: the smallest value such that at least p% of the values are less
 * than or equal to it, i.e. sorted[ceil(p/100 * n) - 1] (p = 0 gives the minimum). It always
 * returns an observed latency, never an interpolation between two. Undefined for no values.
 */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (!Number.isFinite(p) || p < 0 || p > 100) throw new RangeError(`percentile ${p} is not within 0..100`);
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** Why a record counts as failed, or undefined when it succeeded. */
export function failureReason(record: LoadRecord, rule: FailureRule = {}): string | undefined {
  if (record.error !== undefined) return record.error;
  if (record.status === undefined) return 'NO_STATUS';
  const failing = record.status >= 500 || (rule.alsoFailStatuses ?? []).includes(record.status);
  return failing ? `HTTP ${record.status}` : undefined;
}

export function summarize(records: readonly LoadRecord[], options: SummaryOptions = {}): LoadSummary {
  const inWindow = records.filter((r) => within(r.t, options.from, options.to));
  const failures = inWindow.filter((r) => failureReason(r, options) !== undefined);
  const successes = inWindow.filter((r) => failureReason(r, options) === undefined);
  // Dropped requests never went out: their 0 ms would make the percentiles look better than the service.
  const latencies = inWindow.filter((r) => r.error !== OVERLOAD_ERROR).map((r) => r.latencyMs);
  return {
    total: inWindow.length,
    failed: failures.length,
    failedByReason: countBy(failures, (r) => failureReason(r, options)!),
    errorWindowMs: errorWindow(failures),
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    releaseShares: shares(successes),
  };
}

/** Observed release shares per window, e.g. one window per canary step. */
export function sharesPerWindow(
  records: readonly LoadRecord[],
  windows: readonly Window[],
  rule: FailureRule = {},
): WindowShares[] {
  return windows.map((window) => {
    const inWindow = records.filter((r) => within(r.t, window.from, window.to));
    const successes = inWindow.filter((r) => failureReason(r, rule) === undefined);
    return {
      ...window,
      total: inWindow.length,
      successful: successes.length,
      releaseShares: shares(successes),
    };
  });
}

function within(t: number, from = -Infinity, to = Infinity): boolean {
  return t >= from && t < to;
}

function errorWindow(failures: readonly LoadRecord[]): number | undefined {
  if (failures.length === 0) return undefined;
  // A loop rather than Math.max(...times): a long run has more records than a call has arguments.
  let first = Infinity;
  let last = -Infinity;
  for (const { t } of failures) {
    first = Math.min(first, t);
    last = Math.max(last, t);
  }
  return last - first;
}

function shares(successes: readonly LoadRecord[]): Record<string, number> {
  const counts = countBy(successes, (r) => r.release ?? UNKNOWN_RELEASE);
  return Object.fromEntries(Object.entries(counts).map(([release, n]) => [release, n / successes.length]));
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}
