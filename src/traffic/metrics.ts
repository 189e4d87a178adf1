/**
 * Traefik's Prometheus metrics, as scraped from its internal entrypoint (GET /metrics) at the start
 * and at the end of each canary step: parse the text exposition format, then sum one release's
 * services into a ServiceSnapshot. A snapshot is plain JSON data (no Infinity, no NaN, no class
 * instances) because it travels in Temporal payloads to the workflow, which compares two of them
 * (see analysis.ts). No Node imports here either: the module is safe to load in workflow code.
 */

/** One sample line: `name{label="value",...} value [timestamp]` (the timestamp is dropped). */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  /** May be NaN or ±Infinity when the exposition says so (`NaN`, `+Inf`, `-Inf`). */
  value: number;
}

/**
 * One bucket of a cumulative latency histogram, JSON-safe: the +Inf bucket has `le: null`
 * (JSON has no Infinity). Lists of buckets are sorted by `le` ascending with the +Inf bucket last.
 */
export interface HistogramBucket {
  /** Upper bound in seconds; null for +Inf. */
  le: number | null;
  /** Cumulative count: requests that took at most `le` seconds (all of them for +Inf). */
  count: number;
}

/** Counters of a set of Traefik services at one scrape, summed over every label combination. */
export interface ServiceSnapshot {
  /** Sum of `traefik_service_requests_total`. */
  requests: number;
  /** The part of `requests` whose `code` label starts with "5". */
  errors: number;
  /** `traefik_service_request_duration_seconds_bucket` merged by `le` (counts summed per bound). */
  buckets: HistogramBucket[];
}

export const REQUESTS_METRIC = 'traefik_service_requests_total';
export const DURATION_BUCKET_METRIC = 'traefik_service_request_duration_seconds_bucket';

const MAX_QUOTED_LINE = 200;
const METRIC_NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INFINITY = /^([+-]?)inf(?:inity)?$/i;
const TIMESTAMP = /^[+-]?\d+$/;
const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', n: '\n' };

/**
 * Parse Prometheus' text exposition format (version 0.0.4, what Traefik serves): one Sample per
 * sample line, in order. Blank lines and comments (`# HELP`, `# TYPE`, any `#` line) are skipped;
 * labels may come in any order; label values may hold the escapes `\\`, `\"` and `\n`; values may be
 * integers, decimals, scientific notation (`1.5e+06`), `NaN`, `+Inf` or `-Inf`; a trailing timestamp
 * is accepted and dropped.
 *
 * @throws Error naming the 1-based line number, what was wrong, and the line (cut to 200 characters),
 *   e.g. `malformed metrics line 7 (expected "=" after label code): traefik_...`.
 */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index].replace(/\r$/, '');
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const parsed = parseSampleLine(line);
    if (typeof parsed === 'string') {
      throw new Error(`malformed metrics line ${index + 1} (${parsed}): ${quoteLine(raw)}`);
    }
    samples.push(parsed);
  }
  return samples;
}

/**
 * Sum the samples of the given Traefik services (their `service` label, e.g. "api-green@file"):
 * requests, 5xx requests and the request-duration histogram merged by bucket bound. Every other
 * metric and every other service is ignored; samples whose value is not finite are skipped (a
 * counter is never NaN or infinite, and the snapshot must stay JSON). Buckets are merged by the
 * numeric value of `le` ("1" and "1.0" are one bound), which presumes every service has the same
 * bucket layout, as Traefik's single `buckets` setting guarantees.
 *
 * @throws Error on a bucket whose `le` label is missing or not a number.
 */
export function serviceSnapshot(samples: readonly Sample[], services: readonly string[]): ServiceSnapshot {
  const wanted = new Set(services);
  let requests = 0;
  let errors = 0;
  const byBound = new Map<number, number>();
  for (const sample of samples) {
    if (!wanted.has(sample.labels.service) || !Number.isFinite(sample.value)) continue;
    if (sample.name === REQUESTS_METRIC) {
      requests += sample.value;
      if ((sample.labels.code ?? '').startsWith('5')) errors += sample.value;
    } else if (sample.name === DURATION_BUCKET_METRIC) {
      const le = parseNumber(sample.labels.le ?? '');
      if (le === undefined || Number.isNaN(le)) {
        throw new Error(
          `${DURATION_BUCKET_METRIC} of service ${sample.labels.service} has an invalid le label: ` +
            JSON.stringify(sample.labels.le ?? null),
        );
      }
      byBound.set(le, (byBound.get(le) ?? 0) + sample.value);
    }
  }
  const buckets = [...byBound.entries()]
    .sort(([a], [b]) => a - b)
    .map(([le, count]) => ({ le: le === Infinity ? null : le, count }));
  return { requests, errors, buckets };
}

/** A Sample, or why the line is not one. */
function parseSampleLine(line: string): Sample | string {
  const name = matchAt(METRIC_NAME, line, 0);
  if (name === undefined) return 'expected a metric name';
  let pos = name.length;
  const entries: Array<[string, string]> = [];
  if (line[pos] === '{') {
    pos++;
    const seen = new Set<string>();
    for (;;) {
      pos = skipBlanks(line, pos);
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const label = matchAt(LABEL_NAME, line, pos);
      if (label === undefined) {
        return pos >= line.length ? 'unterminated label set' : `expected a label name at column ${pos + 1}`;
      }
      pos = skipBlanks(line, pos + label.length);
      if (line[pos] !== '=') return `expected "=" after label ${label}`;
      pos = skipBlanks(line, pos + 1);
      if (line[pos] !== '"') return `expected a quoted value for label ${label}`;
      pos++;
      let value = '';
      for (;;) {
        const char = line[pos];
        if (char === undefined) return `unterminated value of label ${label}`;
        pos++;
        if (char === '"') break;
        if (char === '\\') {
          const escaped = line[pos];
          const meaning = escaped === undefined ? undefined : ESCAPES[escaped];
          if (meaning === undefined) return `invalid escape in the value of label ${label}`;
          value += meaning;
          pos++;
        } else {
          value += char;
        }
      }
      if (seen.has(label)) return `duplicate label ${label}`;
      seen.add(label);
      entries.push([label, value]);
      pos = skipBlanks(line, pos);
      if (line[pos] === ',') pos++;
      else if (line[pos] !== '}') return `expected "," or "}" after label ${label}`;
    }
  } else if (pos < line.length && !isBlank(line[pos])) {
    return `unexpected "${line[pos]}" after metric name ${name}`;
  }
  const tokens = line
    .slice(pos)
    .split(/[ \t]+/)
    .filter((token) => token !== '');
  if (tokens.length === 0) return 'missing value';
  const value = parseNumber(tokens[0]);
  if (value === undefined) return `invalid value "${tokens[0]}"`;
  if (tokens.length > 1 && !TIMESTAMP.test(tokens[1])) return `invalid timestamp "${tokens[1]}"`;
  if (tokens.length > 2) return 'unexpected text after the timestamp';
  // Object.fromEntries defines own properties, so even a label named __proto__ stays a label.
  return { name, labels: Object.fromEntries(entries), value };
}

/** A Prometheus float (Go's ParseFloat syntax without hex): decimal, scientific, NaN, ±Inf. */
function parseNumber(token: string): number | undefined {
  if (DECIMAL.test(token)) return Number(token);
  const infinity = INFINITY.exec(token);
  if (infinity) return infinity[1] === '-' ? -Infinity : Infinity;
  if (/^nan$/i.test(token)) return NaN;
  return undefined;
}

function matchAt(pattern: RegExp, text: string, pos: number): string | undefined {
  pattern.lastIndex = pos;
  const match = pattern.exec(text);
  return match ? match[0] : undefined;
}

function isBlank(char: string | undefined): boolean {
  return char === ' ' || char === '\t';
}

function skipBlanks(text: string, pos: number): number {
  while (isBlank(text[pos])) pos++;
  return pos;
}

function quoteLine(line: string): string {
  return line.length <= MAX_QUOTED_LINE ? line : `${line.slice(0, MAX_QUOTED_LINE - 1)}…`;
}
