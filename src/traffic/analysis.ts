/**
 * The verdict of one canary weight step, from two snapshots of Traefik's counters (start and end of
 * the step's dwell) and the readiness probes sent to the canary meanwhile. Pure and deterministic:
 * it runs inside Temporal workflow code, so no Node imports, no clock, no randomness, and every
 * figure is rounded to a fixed precision (rates to 4 decimals, seconds to 3) before it is compared
 * or reported, so that a replay computes exactly the same verdict.
 */
import type { HistogramBucket, ServiceSnapshot } from './metrics';

export type { HistogramBucket, ServiceSnapshot } from './metrics';

/** What happened between two snapshots: the same figures, as counts over the interval. */
export interface SnapshotDelta extends ServiceSnapshot {
  /**
   * A counter went down between the snapshots: Traefik restarted during the step and its counters
   * started again from zero. The figures are then those of `after` alone, i.e. the counts since the
   * restart (what happened before the restart within the step is lost).
   */
  reset: boolean;
}

export interface CanaryThresholds {
  /** Highest acceptable share of 5xx answers, 0..1 (e.g. 0.05). */
  maxErrorRate: number;
  /** Highest acceptable 95th percentile of request duration, in seconds (e.g. 3). */
  maxP95Seconds: number;
  /** Lowest acceptable share of successful readiness probes, 0..1 (e.g. 0.95). */
  minAvailability: number;
  /** Fewer requests than this during the step: error rate and p95 say nothing yet. */
  minRequests: number;
}

export const DEFAULT_CANARY_THRESHOLDS: CanaryThresholds = {
  maxErrorRate: 0.05,
  maxP95Seconds: 3,
  minAvailability: 0.95,
  minRequests: 20,
};

export interface StepInput {
  before: ServiceSnapshot;
  after: ServiceSnapshot;
  /**
   * Readiness probes through the canary's preview route. `proxyUnreachable` probes never reached
   * Traefik (it was restarting or stopped): they say nothing about the canary and are left out of
   * availability. Absent in observations recorded before it was counted (replays see 0).
   */
  probes: { ok: number; failed: number; proxyUnreachable?: number };
  thresholds: CanaryThresholds;
  /**
   * When Traefik restarted during the step (its counters were reset, or probes found no proxy),
   * an availability breach is inconclusive rather than failed: a restarting Traefik answers the
   * preview route with errors before it has loaded its routing again. Error rate and p95 from
   * the counters since the restart still fail the step. Off in replays of earlier histories.
   */
  excuseProxyRestarts?: boolean;
}

export interface StepVerdict {
  verdict: 'passed' | 'failed' | 'inconclusive';
  /** Requests to the canary's services during the step. */
  requests: number;
  /** The 5xx part of `requests`. */
  errors: number;
  /** errors / requests, 4 decimals; null without requests. */
  errorRate: number | null;
  /** 95th percentile of request duration from the histogram, 3 decimals; null without data. */
  p95Seconds: number | null;
  /** ok / (ok + failed) probes, 4 decimals; null without probes. */
  availability: number | null;
  /** Why the verdict is not `passed` (empty when it is), e.g. "error rate 10.0 % > 5.0 %". */
  reasons: string[];
  /** Traefik's counters were reset during the step: the figures cover the time since the restart. */
  countersReset: boolean;
  /** Probes that could not reach Traefik during the step, left out of availability. */
  proxyUnreachableProbes: number;
}

/**
 * Counter deltas `after - before`: requests, errors and each bucket (matched by `le`; a bucket
 * missing from one side counts 0 there, as Traefik only exposes a series after its first request).
 * When any of these went down, Traefik was restarted: the delta is `after` itself with `reset: true`.
 * A restart whose new counts have already overtaken the old ones cannot be told from normal growth
 * (the same limit as Prometheus' own rate()).
 */
export function deltaSnapshot(before: ServiceSnapshot, after: ServiceSnapshot): SnapshotDelta {
  const previous = new Map(
    mergeDuplicates(before.buckets).map((bucket) => [bucketKey(bucket.le), bucket.count]),
  );
  const current = new Map(
    mergeDuplicates(after.buckets).map((bucket) => [bucketKey(bucket.le), bucket.count]),
  );
  const wentDown =
    after.requests < before.requests ||
    after.errors < before.errors ||
    [...previous.keys()].some((key) => (current.get(key) ?? 0) < (previous.get(key) ?? 0)) ||
    [...current.keys()].some((key) => (current.get(key) ?? 0) < (previous.get(key) ?? 0));
  if (wentDown) {
    return {
      requests: after.requests,
      errors: after.errors,
      buckets: sortBuckets([...current.entries()].map(toBucket)),
      reset: true,
    };
  }
  return {
    requests: after.requests - before.requests,
    errors: after.errors - before.errors,
    buckets: sortBuckets(
      [...new Set([...previous.keys(), ...current.keys()])].map((key) =>
        toBucket([key, (current.get(key) ?? 0) - (previous.get(key) ?? 0)]),
      ),
    ),
    reset: false,
  };
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of a cumulative histogram, with Prometheus' histogram_quantile
 * semantics: buckets are sorted by `le` (duplicates summed, counts forced monotonic), the quantile's
 * rank is q × the +Inf bucket's count, and the value is interpolated linearly within the first bucket
 * whose count reaches that rank, the first bucket starting at 0 (or returning its bound if that is
 * ≤ 0). A rank in the +Inf bucket gives the largest finite bound. Undefined when nothing was counted,
 * when there is no +Inf bucket, or when there is no finite bucket. Not rounded.
 *
 * @throws RangeError when q is not within [0, 1].
 */
export function quantileFromHistogram(buckets: readonly HistogramBucket[], q: number): number | undefined {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within [0, 1], got ${q}`);
  const sorted = sortBuckets(mergeDuplicates(buckets));
  if (sorted.length < 2 || sorted[sorted.length - 1].le !== null) return undefined;
  let highest = 0;
  const cumulative = sorted.map((bucket) => {
    highest = Math.max(highest, bucket.count);
    return { le: bucket.le ?? Infinity, count: highest };
  });
  const total = cumulative[cumulative.length - 1].count;
  if (total === 0) return undefined;
  const rank = q * total;
  const last = cumulative.length - 1;
  let b = cumulative.findIndex((bucket, index) => index < last && bucket.count >= rank);
  if (b === -1) b = last;
  if (b === last) return cumulative[last - 1].le;
  if (b === 0 && cumulative[0].le <= 0) return cumulative[0].le;
  const start = b === 0 ? 0 : cumulative[b - 1].le;
  const below = b === 0 ? 0 : cumulative[b - 1].count;
  const inBucket = cumulative[b].count - below;
  if (inBucket === 0) return start;
  return start + (cumulative[b].le - start) * ((rank - below) / inBucket);
}

/**
 * The verdict of one canary step.
 *
 * - `failed` when any figure breaches its threshold: error rate > maxErrorRate or p95 > maxP95Seconds
 *   (both judged only with at least `minRequests` requests: a few slow or failed requests are noise),
 *   availability < minAvailability (judged with at least one probe, whatever the traffic: probes
 *   that fail are a failure even on an idle canary). `reasons` lists every breach. Probes that
 *   never reached Traefik are not the canary's: a proxy restarted during a step costs that step
 *   its data (counters since the restart, fewer probes), and with `excuseProxyRestarts` an
 *   availability breach in such a step is inconclusive (the step runs again), not failed.
 * - `inconclusive` otherwise, when something needed is missing: fewer than `minRequests` requests
 *   (or none at all), no probes, or requests without any latency histogram. `reasons` names each
 *   missing piece; a step is never passed silently for lack of data.
 * - `passed` otherwise, with no reasons.
 *
 * Figures are rounded first (rates 4 decimals, seconds 3) and the thresholds compared with the
 * rounded figures, so what is reported is what was judged.
 *
 * p95 from a histogram: a 3.5 s request is only known to lie in the (3, 5] bucket, and interpolation
 * within it can report e.g. 4.9 s. The exact value is unknowable, but as long as maxP95Seconds is a
 * bucket bound (Traefik's default buckets 0.1, 0.3, 1.2, 5 do not include 3: configure
 * `buckets = [0.1, 0.3, 1, 3, 5, 10]`), "more than 5 % of requests took longer than the limit" is
 * exactly "p95 > limit": the verdict is right even if the figure is approximate.
 */
export function analyseStep(input: StepInput): StepVerdict {
  const { probes, thresholds } = input;
  const delta = deltaSnapshot(input.before, input.after);
  const { requests, errors } = delta;
  const errorRate = requests > 0 ? roundTo(errors / requests, 4) : null;
  const quantile = quantileFromHistogram(delta.buckets, 0.95);
  const p95Seconds = quantile === undefined ? null : roundTo(quantile, 3);
  const probeCount = probes.ok + probes.failed;
  const availability = probeCount > 0 ? roundTo(probes.ok / probeCount, 4) : null;
  const enoughRequests = requests > 0 && requests >= thresholds.minRequests;

  const breaches: string[] = [];
  if (enoughRequests && errorRate !== null && errorRate > thresholds.maxErrorRate) {
    breaches.push(compare('error rate', errorRate, '>', thresholds.maxErrorRate, percent));
  }
  if (enoughRequests && p95Seconds !== null && p95Seconds > thresholds.maxP95Seconds) {
    breaches.push(compare('p95', p95Seconds, '>', thresholds.maxP95Seconds, seconds));
  }
  const proxyRestarted = delta.reset || (probes.proxyUnreachable ?? 0) > 0;
  const missing: string[] = [];
  if (availability !== null && availability < thresholds.minAvailability) {
    const breach = compare('availability', availability, '<', thresholds.minAvailability, percent);
    if (input.excuseProxyRestarts && proxyRestarted) missing.push(`${breach} while Traefik restarted`);
    else breaches.push(breach);
  }

  if (!enoughRequests) {
    missing.push(
      requests === 0 && thresholds.minRequests <= 1
        ? 'no requests'
        : `only ${requests} ${requests === 1 ? 'request' : 'requests'} < ${thresholds.minRequests} minimum`,
    );
  } else if (p95Seconds === null) {
    missing.push(`no latency histogram for ${requests} requests`);
  }
  if (probeCount === 0) missing.push('no readiness probes');

  const verdict = breaches.length > 0 ? 'failed' : missing.length > 0 ? 'inconclusive' : 'passed';
  return {
    verdict,
    requests,
    errors,
    errorRate,
    p95Seconds,
    availability,
    reasons: verdict === 'failed' ? breaches : missing,
    countersReset: delta.reset,
    proxyUnreachableProbes: probes.proxyUnreachable ?? 0,
  };
}

/**
 * `value` rounded half away from zero to `decimals` places. Binary noise is removed first (12
 * significant digits) so that e.g. 0.6499999999999999 rounds to 0.65 as it would on paper.
 */
export function roundTo(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  const clean = Number(value.toPrecision(12));
  const rounded = (Math.sign(clean) * Math.round(Math.abs(clean) * factor)) / factor;
  return rounded === 0 ? 0 : rounded; // never -0
}

interface Unit {
  suffix: string;
  scale: number;
  /** Decimals shown; more (up to `maxDecimals`) when value and limit would otherwise look equal. */
  decimals: number;
  maxDecimals: number;
}

const percent: Unit = { suffix: ' %', scale: 100, decimals: 1, maxDecimals: 2 };
const seconds: Unit = { suffix: ' s', scale: 1, decimals: 2, maxDecimals: 3 };

function compare(what: string, value: number, op: '<' | '>', limit: number, unit: Unit): string {
  let decimals = unit.decimals;
  const show = (figure: number) => roundTo(figure * unit.scale, decimals).toFixed(decimals) + unit.suffix;
  while (decimals < unit.maxDecimals && show(value) === show(limit)) decimals++;
  return `${what} ${show(value)} ${op} ${show(limit)}`;
}

/** Map key of a bucket bound: the +Inf bucket (null) is Infinity while matching. */
function bucketKey(le: number | null): number {
  return le === null ? Infinity : le;
}

function bucketLe(key: number): number | null {
  return key === Infinity ? null : key;
}

function sortBuckets(buckets: HistogramBucket[]): HistogramBucket[] {
  return buckets.sort((a, b) => {
    const [x, y] = [bucketKey(a.le), bucketKey(b.le)];
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

function mergeDuplicates(buckets: readonly HistogramBucket[]): HistogramBucket[] {
  const byKey = new Map<number, number>();
  for (const bucket of buckets) {
    const key = bucketKey(bucket.le);
    byKey.set(key, (byKey.get(key) ?? 0) + bucket.count);
  }
  return [...byKey.entries()].map(toBucket);
}

function toBucket([key, count]: [number, number]): HistogramBucket {
  return { le: bucketLe(key), count };
}
