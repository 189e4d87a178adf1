import {
  DEFAULT_CANARY_THRESHOLDS,
  analyseStep,
  deltaSnapshot,
  quantileFromHistogram,
  roundTo,
} from '../../../src/traffic/analysis';
import type { ServiceSnapshot } from '../../../src/traffic/analysis';
import { parsePrometheusText, serviceSnapshot } from '../../../src/traffic/metrics';

/** The bucket layout configured for Traefik in these tests (3 s, the p95 limit, is a bound). */
const BOUNDS = [0.1, 0.3, 1, 3, 5, 10];
const GREEN = ['api-green@file', 'site-green@file'];

interface Series {
  service: string;
  code: number;
  /** Duration of each request, seconds. */
  durations: number[];
}

const times = (count: number, seconds: number): number[] => Array<number>(count).fill(seconds);

/** What Traefik v3 serves on GET /metrics for these requests (labels in Traefik's order, plus noise). */
function traefikText(series: Series[]): string {
  const lines = [
    '# HELP traefik_config_reloads_total Config reloads',
    '# TYPE traefik_config_reloads_total counter',
    'traefik_config_reloads_total 3',
    '# HELP traefik_entrypoint_requests_total How many HTTP requests processed on an entrypoint, partitioned by status code, protocol, and method.',
    '# TYPE traefik_entrypoint_requests_total counter',
    'traefik_entrypoint_requests_total{code="200",entrypoint="web",method="GET",protocol="http"} 123456',
    '# HELP traefik_service_requests_total How many HTTP requests processed on a service, partitioned by status code, protocol, and method.',
    '# TYPE traefik_service_requests_total counter',
  ];
  const labels = (s: Series) => `code="${s.code}",method="GET",protocol="http",service="${s.service}"`;
  for (const s of series) lines.push(`traefik_service_requests_total{${labels(s)}} ${s.durations.length}`);
  lines.push(
    '# HELP traefik_service_request_duration_seconds How long it took to process the request on a service, partitioned by status code, protocol, and method.',
    '# TYPE traefik_service_request_duration_seconds histogram',
  );
  for (const s of series) {
    for (const bound of BOUNDS) {
      const count = s.durations.filter((d) => d <= bound).length;
      lines.push(`traefik_service_request_duration_seconds_bucket{${labels(s)},le="${bound}"} ${count}`);
    }
    lines.push(
      `traefik_service_request_duration_seconds_bucket{${labels(s)},le="+Inf"} ${s.durations.length}`,
    );
    const sum = s.durations.reduce((a, b) => a + b, 0);
    lines.push(`traefik_service_request_duration_seconds_sum{${labels(s)}} ${sum}`);
    lines.push(`traefik_service_request_duration_seconds_count{${labels(s)}} ${s.durations.length}`);
  }
  return lines.join('\n') + '\n';
}

const snapshotOf = (series: Series[]): ServiceSnapshot =>
  serviceSnapshot(parsePrometheusText(traefikText(series)), GREEN);

/** Counters before the step: some earlier green traffic, and the blue release doing badly (ignored). */
const EARLIER: Series[] = [
  { service: 'api-green@file', code: 200, durations: times(10, 0.05) },
  { service: 'api-blue@file', code: 500, durations: times(500, 8) },
];

/** Snapshots at the start and at the end of a step whose green traffic is `step`. */
function step(stepSeries: Series[]): { before: ServiceSnapshot; after: ServiceSnapshot } {
  const after = EARLIER.map((s) => ({ ...s }));
  for (const s of stepSeries) {
    const same = after.find((a) => a.service === s.service && a.code === s.code);
    if (same) same.durations = [...same.durations, ...s.durations];
    else after.push(s);
  }
  return { before: snapshotOf(EARLIER), after: snapshotOf(after) };
}

const thresholds = DEFAULT_CANARY_THRESHOLDS;

describe('parsePrometheusText', () => {
  test('samples of a realistic Traefik exposition, in order, comments and blank lines skipped', () => {
    const text = [
      '# HELP traefik_config_reloads_total Config reloads',
      '# TYPE traefik_config_reloads_total counter',
      'traefik_config_reloads_total 1.5e+06',
      '',
      '# HELP traefik_open_connections How many open connections exist.',
      '# TYPE traefik_open_connections gauge',
      'traefik_open_connections{entrypoint="traefik",protocol="TCP"} 2',
      '   ',
      'traefik_service_requests_total{service="api-green@file",method="GET",code="500",protocol="http"} 3',
      'traefik_service_request_duration_seconds_bucket{le="+Inf",code="200",method="GET",protocol="http",service="api-green@file"} 45',
      'traefik_service_request_duration_seconds_sum{code="200",method="GET",protocol="http",service="api-green@file"} 12.5',
      'traefik_router_requests_total{code="200",router="we\\"ird\\\\name\\nx@file",} 7 1712345678000',
      'go_gc_duration_seconds{quantile="1"} NaN',
      'process_max_fds  -Inf',
      'traefik_tls_certs_not_after{cn="a.example",sans=""} \t1.7e9\r',
      '# EOF',
    ].join('\n');
    expect(parsePrometheusText(text)).toEqual([
      { name: 'traefik_config_reloads_total', labels: {}, value: 1500000 },
      { name: 'traefik_open_connections', labels: { entrypoint: 'traefik', protocol: 'TCP' }, value: 2 },
      {
        name: 'traefik_service_requests_total',
        labels: { service: 'api-green@file', method: 'GET', code: '500', protocol: 'http' },
        value: 3,
      },
      {
        name: 'traefik_service_request_duration_seconds_bucket',
        labels: { le: '+Inf', code: '200', method: 'GET', protocol: 'http', service: 'api-green@file' },
        value: 45,
      },
      {
        name: 'traefik_service_request_duration_seconds_sum',
        labels: { code: '200', method: 'GET', protocol: 'http', service: 'api-green@file' },
        value: 12.5,
      },
      {
        name: 'traefik_router_requests_total',
        labels: { code: '200', router: 'we"ird\\name\nx@file' },
        value: 7,
      },
      { name: 'go_gc_duration_seconds', labels: { quantile: '1' }, value: NaN },
      { name: 'process_max_fds', labels: {}, value: -Infinity },
      { name: 'traefik_tls_certs_not_after', labels: { cn: 'a.example', sans: '' }, value: 1700000000 },
    ]);
  });

  test('empty text, only comments', () => {
    expect(parsePrometheusText('')).toEqual([]);
    expect(parsePrometheusText('# HELP x y\n\n# TYPE x counter\n')).toEqual([]);
  });

  test('a malformed line: its number, what is wrong, and the line', () => {
    const text = 'traefik_config_reloads_total 1\n\ntraefik_service_requests_total{code="200" 5\n';
    expect(() => parsePrometheusText(text)).toThrow(
      new Error(
        'malformed metrics line 3 (expected "," or "}" after label code): traefik_service_requests_total{code="200" 5',
      ),
    );
  });

  test('a long malformed line is quoted cut to 200 characters', () => {
    const line = `traefik_service_requests_total{service="${'x'.repeat(300)}"} twelve`;
    expect(() => parsePrometheusText(line)).toThrow(
      new Error(`malformed metrics line 1 (invalid value "twelve"): ${line.slice(0, 199)}…`),
    );
  });

  test.each([
    ['0abc 1', 'expected a metric name'],
    ['foo-bar 1', 'unexpected "-" after metric name foo'],
    ['foo', 'missing value'],
    ['foo{a="b"}', 'missing value'],
    ['foo 0x10', 'invalid value "0x10"'],
    ['foo 1 12.5', 'invalid timestamp "12.5"'],
    ['foo 1 12 x', 'unexpected text after the timestamp'],
    ['foo{a="b",a="c"} 1', 'duplicate label a'],
    ['foo{a=b} 1', 'expected a quoted value for label a'],
    ['foo{a "b"} 1', 'expected "=" after label a'],
    ['foo{a="b} 1', 'unterminated value of label a'],
    ['foo{a="b\\t"} 1', 'invalid escape in the value of label a'],
    ['foo{a="b",', 'unterminated label set'],
    ['foo{,} 1', 'expected a label name at column 5'],
  ])('%s: %s', (line, reason) => {
    expect(() => parsePrometheusText(line)).toThrow(
      new Error(`malformed metrics line 1 (${reason}): ${line}`),
    );
  });
});

describe('serviceSnapshot', () => {
  test('sums requests, 5xx and buckets over both green services, ignoring blue and other metrics', () => {
    const samples = parsePrometheusText(
      traefikText([
        { service: 'api-green@file', code: 200, durations: [...times(30, 0.05), ...times(10, 0.2), 2] },
        { service: 'api-green@file', code: 500, durations: times(3, 0.05) },
        { service: 'api-green@file', code: 503, durations: times(1, 12) },
        { service: 'site-green@file', code: 200, durations: [0.5, 4, 7] },
        { service: 'site-green@file', code: 404, durations: [0.05] },
        { service: 'api-blue@file', code: 500, durations: times(1000, 0.05) },
      ]),
    );
    expect(serviceSnapshot(samples, GREEN)).toEqual({
      requests: 49,
      errors: 4,
      buckets: [
        { le: 0.1, count: 34 },
        { le: 0.3, count: 44 },
        { le: 1, count: 45 },
        { le: 3, count: 46 },
        { le: 5, count: 47 },
        { le: 10, count: 48 },
        { le: null, count: 49 },
      ],
    });
  });

  test('bounds merge by numeric value, whatever their spelling or label order', () => {
    const samples = parsePrometheusText(
      [
        'traefik_service_request_duration_seconds_bucket{le="1",service="a@file",code="200"} 4',
        'traefik_service_request_duration_seconds_bucket{service="b@file",le="1.0",code="200"} 2',
        'traefik_service_request_duration_seconds_bucket{le="+Inf",service="b@file",code="200"} 3',
        'traefik_service_request_duration_seconds_bucket{le="1e-1",service="a@file",code="200"} 1',
        'traefik_service_requests_total{code="502",service="a@file"} 1.5e+01',
      ].join('\n'),
    );
    expect(serviceSnapshot(samples, ['a@file', 'b@file'])).toEqual({
      requests: 15,
      errors: 15,
      buckets: [
        { le: 0.1, count: 1 },
        { le: 1, count: 6 },
        { le: null, count: 3 },
      ],
    });
  });

  test('no series for the services yet (no request so far): zeros, no buckets', () => {
    expect(serviceSnapshot(parsePrometheusText(traefikText(EARLIER)), ['web-green@file'])).toEqual({
      requests: 0,
      errors: 0,
      buckets: [],
    });
  });

  test('a snapshot is plain JSON', () => {
    const snapshot = snapshotOf(EARLIER);
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
  });

  test('an unreadable le is an error', () => {
    const samples = parsePrometheusText(
      'traefik_service_request_duration_seconds_bucket{le="fast",service="api-green@file"} 1',
    );
    expect(() => serviceSnapshot(samples, GREEN)).toThrow(
      new Error(
        'traefik_service_request_duration_seconds_bucket of service api-green@file has an invalid le label: "fast"',
      ),
    );
  });
});

describe('deltaSnapshot', () => {
  const before: ServiceSnapshot = {
    requests: 100,
    errors: 2,
    buckets: [
      { le: 0.1, count: 60 },
      { le: 1, count: 95 },
      { le: null, count: 100 },
    ],
  };

  test('after minus before, bucket by bucket', () => {
    const after: ServiceSnapshot = {
      requests: 150,
      errors: 5,
      buckets: [
        { le: 0.1, count: 90 },
        { le: 1, count: 140 },
        { le: null, count: 150 },
      ],
    };
    expect(deltaSnapshot(before, after)).toEqual({
      requests: 50,
      errors: 3,
      buckets: [
        { le: 0.1, count: 30 },
        { le: 1, count: 45 },
        { le: null, count: 50 },
      ],
      reset: false,
    });
  });

  test('series that appeared during the step count from 0', () => {
    const after: ServiceSnapshot = {
      requests: 7,
      errors: 0,
      buckets: [
        { le: 0.1, count: 7 },
        { le: null, count: 7 },
      ],
    };
    expect(deltaSnapshot({ requests: 0, errors: 0, buckets: [] }, after)).toEqual({ ...after, reset: false });
  });

  test('a counter that went down (Traefik restarted): the counts since the restart, flagged', () => {
    const after: ServiceSnapshot = {
      requests: 30,
      errors: 0,
      buckets: [
        { le: 0.1, count: 25 },
        { le: 1, count: 30 },
        { le: null, count: 30 },
      ],
    };
    expect(deltaSnapshot(before, after)).toEqual({ ...after, reset: true });
  });

  test('a bucket alone going down is a reset too', () => {
    const after: ServiceSnapshot = {
      requests: 120,
      errors: 2,
      buckets: [
        { le: 0.1, count: 50 },
        { le: 1, count: 115 },
        { le: null, count: 120 },
      ],
    };
    expect(deltaSnapshot(before, after)).toEqual({ ...after, reset: true });
  });

  test('a bucket that vanished is a reset', () => {
    const after: ServiceSnapshot = { requests: 120, errors: 2, buckets: [{ le: null, count: 120 }] };
    expect(deltaSnapshot(before, after)).toEqual({ ...after, reset: true });
  });
});

describe('quantileFromHistogram', () => {
  const buckets = [
    { le: 0.1, count: 50 },
    { le: 0.3, count: 90 },
    { le: 1, count: 100 },
    { le: null, count: 100 },
  ];

  test('linear interpolation within the bucket holding the rank', () => {
    // 0.3 + (0.95 * 100 - 90) / (100 - 90) * (1 - 0.3)
    expect(quantileFromHistogram(buckets, 0.95)).toBeCloseTo(0.65, 12);
    expect(roundTo(quantileFromHistogram(buckets, 0.95)!, 3)).toBe(0.65);
    expect(quantileFromHistogram(buckets, 0.99)).toBeCloseTo(0.93, 12);
    expect(quantileFromHistogram(buckets, 0.9)).toBe(0.3);
    expect(quantileFromHistogram(buckets, 0.7)).toBeCloseTo(0.2, 12);
  });

  test('the first bucket starts at 0', () => {
    expect(quantileFromHistogram(buckets, 0.5)).toBe(0.1);
    expect(quantileFromHistogram(buckets, 0.25)).toBe(0.05);
    expect(quantileFromHistogram(buckets, 0)).toBe(0);
  });

  test('a rank in the +Inf bucket gives the largest finite bound', () => {
    const slow = [
      { le: 0.1, count: 0 },
      { le: 1, count: 5 },
      { le: null, count: 100 },
    ];
    expect(quantileFromHistogram(slow, 0.95)).toBe(1);
    expect(quantileFromHistogram(slow, 0.05)).toBe(1);
    expect(quantileFromHistogram(slow, 0.04)).toBeCloseTo(0.82, 12);
  });

  test('order, duplicates and non-monotonic counts as Prometheus handles them', () => {
    const shuffled = [
      { le: null, count: 100 },
      { le: 1, count: 100 },
      { le: 0.1, count: 20 },
      { le: 0.3, count: 90 },
      { le: 0.1, count: 30 },
    ];
    expect(quantileFromHistogram(shuffled, 0.95)).toBeCloseTo(0.65, 12);
    const dip = [
      { le: 0.1, count: 50 },
      { le: 0.3, count: 40 },
      { le: 1, count: 100 },
      { le: null, count: 100 },
    ];
    expect(quantileFromHistogram(dip, 0.5)).toBe(0.1);
    expect(quantileFromHistogram(dip, 0.75)).toBeCloseTo(0.65, 12);
  });

  test('undefined without observations, without a +Inf bucket or without a finite one', () => {
    expect(quantileFromHistogram([], 0.95)).toBeUndefined();
    expect(
      quantileFromHistogram(
        [
          { le: 1, count: 0 },
          { le: null, count: 0 },
        ],
        0.95,
      ),
    ).toBeUndefined();
    expect(quantileFromHistogram([{ le: 1, count: 10 }], 0.95)).toBeUndefined();
    expect(quantileFromHistogram([{ le: null, count: 10 }], 0.95)).toBeUndefined();
  });

  test('q outside [0, 1] is a programming error', () => {
    expect(() => quantileFromHistogram(buckets, 1.5)).toThrow(
      new RangeError('quantile must be within [0, 1], got 1.5'),
    );
    expect(() => quantileFromHistogram(buckets, NaN)).toThrow(RangeError);
  });
});

describe('roundTo', () => {
  test('fixed precision, half away from zero, binary noise removed, never -0', () => {
    expect(roundTo(0.6499999999999999, 3)).toBe(0.65);
    expect(roundTo(1.0005, 3)).toBe(1.001);
    expect(roundTo(2 / 3, 4)).toBe(0.6667);
    expect(roundTo(-0.00001, 3)).toBe(0);
    expect(Object.is(roundTo(-0.00001, 3), 0)).toBe(true);
  });
});

describe('analyseStep', () => {
  const healthyStep: Series[] = [
    { service: 'api-green@file', code: 200, durations: [...times(50, 0.05), ...times(10, 0.2)] },
    {
      service: 'site-green@file',
      code: 200,
      durations: [...times(30, 0.05), ...times(5, 0.2), ...times(5, 0.5)],
    },
  ];

  test('passed: enough requests, few errors, fast, probes answered', () => {
    expect(analyseStep({ ...step(healthyStep), probes: { ok: 30, failed: 0 }, thresholds })).toEqual({
      verdict: 'passed',
      requests: 100,
      errors: 0,
      errorRate: 0,
      p95Seconds: 0.3,
      availability: 1,
      reasons: [],
      countersReset: false,
      proxyUnreachableProbes: 0,
    });
  });

  test('probes that never reached Traefik are left out of availability, and counted', () => {
    expect(
      analyseStep({ ...step(healthyStep), probes: { ok: 20, failed: 0, proxyUnreachable: 8 }, thresholds }),
    ).toEqual({
      verdict: 'passed',
      requests: 100,
      errors: 0,
      errorRate: 0,
      p95Seconds: 0.3,
      availability: 1,
      reasons: [],
      countersReset: false,
      proxyUnreachableProbes: 8,
    });
    // Traefik down for the whole step: no probe says anything about the canary.
    expect(
      analyseStep({ ...step(healthyStep), probes: { ok: 0, failed: 0, proxyUnreachable: 30 }, thresholds }),
    ).toMatchObject({ verdict: 'inconclusive', availability: null, reasons: ['no readiness probes'] });
    // Probes the canary answered badly still fail it, whatever the proxy did meanwhile.
    expect(
      analyseStep({ ...step(healthyStep), probes: { ok: 10, failed: 10, proxyUnreachable: 5 }, thresholds }),
    ).toMatchObject({
      verdict: 'failed',
      availability: 0.5,
      reasons: ['availability 50.0 % < 95.0 %'],
      proxyUnreachableProbes: 5,
    });
  });

  test('Traefik restarted during the step: an availability breach is inconclusive when excused, failed otherwise', () => {
    const restarted = {
      ...step(healthyStep),
      probes: { ok: 16, failed: 4, proxyUnreachable: 3 },
      thresholds,
    };
    expect(analyseStep({ ...restarted, excuseProxyRestarts: true })).toMatchObject({
      verdict: 'inconclusive',
      availability: 0.8,
      reasons: ['availability 80.0 % < 95.0 % while Traefik restarted'],
      proxyUnreachableProbes: 3,
    });
    // Replays of histories recorded before the excuse existed judge as they did then.
    expect(analyseStep(restarted)).toMatchObject({
      verdict: 'failed',
      reasons: ['availability 80.0 % < 95.0 %'],
    });
    // Without any sign of a restart, failed probes fail the canary even when excused.
    expect(
      analyseStep({
        ...step(healthyStep),
        probes: { ok: 16, failed: 4, proxyUnreachable: 0 },
        thresholds,
        excuseProxyRestarts: true,
      }),
    ).toMatchObject({ verdict: 'failed', reasons: ['availability 80.0 % < 95.0 %'] });
  });

  test('failed on errors: 10 % of answers are 500', () => {
    const errors: Series[] = [
      { service: 'api-green@file', code: 200, durations: times(90, 0.05) },
      { service: 'api-green@file', code: 500, durations: times(10, 0.05) },
    ];
    expect(analyseStep({ ...step(errors), probes: { ok: 20, failed: 0 }, thresholds })).toEqual({
      verdict: 'failed',
      requests: 100,
      errors: 10,
      errorRate: 0.1,
      p95Seconds: 0.095,
      availability: 1,
      reasons: ['error rate 10.0 % > 5.0 %'],
      countersReset: false,
      proxyUnreachableProbes: 0,
    });
  });

  test('failed on p95: v7-slow answers every request in 3.5 s (bucket (3, 5], interpolated 4.9)', () => {
    const slow: Series[] = [{ service: 'api-green@file', code: 200, durations: times(50, 3.5) }];
    expect(analyseStep({ ...step(slow), probes: { ok: 20, failed: 0 }, thresholds })).toEqual({
      verdict: 'failed',
      requests: 50,
      errors: 0,
      errorRate: 0,
      p95Seconds: 4.9,
      availability: 1,
      reasons: ['p95 4.90 s > 3.00 s'],
      countersReset: false,
      proxyUnreachableProbes: 0,
    });
  });

  test('p95 exactly at the limit passes; just over it is shown with one more decimal', () => {
    const atLimit: Series[] = [
      { service: 'api-green@file', code: 200, durations: [...times(95, 2), ...times(5, 4)] },
    ];
    expect(analyseStep({ ...step(atLimit), probes: { ok: 20, failed: 0 }, thresholds })).toMatchObject({
      verdict: 'passed',
      p95Seconds: 3,
    });
    const before: ServiceSnapshot = { requests: 0, errors: 0, buckets: [] };
    const after: ServiceSnapshot = {
      requests: 1000,
      errors: 0,
      buckets: [
        { le: 3, count: 949 },
        { le: 4, count: 1000 },
        { le: null, count: 1000 },
      ],
    };
    const strict = { ...thresholds, maxP95Seconds: 3.015 };
    expect(analyseStep({ before, after, probes: { ok: 20, failed: 0 }, thresholds: strict })).toMatchObject({
      verdict: 'failed',
      p95Seconds: 3.02,
      reasons: ['p95 3.020 s > 3.015 s'],
    });
  });

  test('error rate exactly at the limit passes; just over it is shown with one more decimal', () => {
    const before: ServiceSnapshot = { requests: 0, errors: 0, buckets: [] };
    const fast = (n: number) => [
      { le: 0.1, count: n },
      { le: null, count: n },
    ];
    const probes = { ok: 20, failed: 0 };
    expect(
      analyseStep({
        before,
        after: { requests: 10000, errors: 500, buckets: fast(10000) },
        probes,
        thresholds,
      }),
    ).toMatchObject({ verdict: 'passed', errorRate: 0.05, reasons: [] });
    expect(
      analyseStep({
        before,
        after: { requests: 10000, errors: 501, buckets: fast(10000) },
        probes,
        thresholds,
      }),
    ).toMatchObject({ verdict: 'failed', errorRate: 0.0501, reasons: ['error rate 5.01 % > 5.00 %'] });
  });

  test('failed on availability: 2 of 10 probes failed', () => {
    expect(analyseStep({ ...step(healthyStep), probes: { ok: 8, failed: 2 }, thresholds })).toEqual({
      verdict: 'failed',
      requests: 100,
      errors: 0,
      errorRate: 0,
      p95Seconds: 0.3,
      availability: 0.8,
      reasons: ['availability 80.0 % < 95.0 %'],
      countersReset: false,
      proxyUnreachableProbes: 0,
    });
  });

  test('failed on availability even with too few requests', () => {
    const few: Series[] = [{ service: 'api-green@file', code: 200, durations: times(4, 0.05) }];
    expect(analyseStep({ ...step(few), probes: { ok: 0, failed: 6 }, thresholds })).toEqual({
      verdict: 'failed',
      requests: 4,
      errors: 0,
      errorRate: 0,
      p95Seconds: 0.095,
      availability: 0,
      reasons: ['availability 0.0 % < 95.0 %'],
      countersReset: false,
      proxyUnreachableProbes: 0,
    });
  });

  test('inconclusive on few requests, even when they look bad', () => {
    const few: Series[] = [
      { service: 'site-green@file', code: 200, durations: times(2, 0.05) },
      { service: 'site-green@file', code: 502, durations: times(2, 4) },
    ];
    expect(analyseStep({ ...step(few), probes: { ok: 10, failed: 0 }, thresholds })).toEqual({
      verdict: 'inconclusive',
      requests: 4,
      errors: 2,
      errorRate: 0.5,
      p95Seconds: 4.8,
      availability: 1,
      reasons: ['only 4 requests < 20 minimum'],
      countersReset: false,
      proxyUnreachableProbes: 0,
    });
  });

  test('inconclusive without probes', () => {
    expect(analyseStep({ ...step(healthyStep), probes: { ok: 0, failed: 0 }, thresholds })).toEqual({
      verdict: 'inconclusive',
      requests: 100,
      errors: 0,
      errorRate: 0,
      p95Seconds: 0.3,
      availability: null,
      reasons: ['no readiness probes'],
      countersReset: false,
      proxyUnreachableProbes: 0,
    });
  });

  test('inconclusive with nothing at all: every missing piece named', () => {
    expect(analyseStep({ ...step([]), probes: { ok: 0, failed: 0 }, thresholds })).toEqual({
      verdict: 'inconclusive',
      requests: 0,
      errors: 0,
      errorRate: null,
      p95Seconds: null,
      availability: null,
      reasons: ['only 0 requests < 20 minimum', 'no readiness probes'],
      countersReset: false,
      proxyUnreachableProbes: 0,
    });
    const one = analyseStep({
      ...step([{ service: 'api-green@file', code: 200, durations: [0.05] }]),
      probes: { ok: 1, failed: 0 },
      thresholds,
    });
    expect(one.reasons).toEqual(['only 1 request < 20 minimum']);
    const none = analyseStep({
      ...step([]),
      probes: { ok: 1, failed: 0 },
      thresholds: { ...thresholds, minRequests: 0 },
    });
    expect(none).toMatchObject({ verdict: 'inconclusive', reasons: ['no requests'] });
  });

  test('inconclusive when requests came without any latency histogram', () => {
    const before: ServiceSnapshot = { requests: 0, errors: 0, buckets: [] };
    const after: ServiceSnapshot = { requests: 40, errors: 0, buckets: [] };
    expect(analyseStep({ before, after, probes: { ok: 5, failed: 0 }, thresholds })).toEqual({
      verdict: 'inconclusive',
      requests: 40,
      errors: 0,
      errorRate: 0,
      p95Seconds: null,
      availability: 1,
      reasons: ['no latency histogram for 40 requests'],
      countersReset: false,
      proxyUnreachableProbes: 0,
    });
  });

  test('every breach is a reason', () => {
    const bad: Series[] = [
      { service: 'api-green@file', code: 200, durations: times(80, 3.5) },
      { service: 'site-green@file', code: 500, durations: times(20, 0.05) },
    ];
    expect(analyseStep({ ...step(bad), probes: { ok: 1, failed: 2 }, thresholds })).toEqual({
      verdict: 'failed',
      requests: 100,
      errors: 20,
      errorRate: 0.2,
      p95Seconds: 4.875,
      availability: 0.3333,
      reasons: ['error rate 20.0 % > 5.0 %', 'p95 4.88 s > 3.00 s', 'availability 33.3 % < 95.0 %'],
      countersReset: false,
      proxyUnreachableProbes: 0,
    });
  });

  test('Traefik restarted during the step: judged on the counts since the restart, flagged', () => {
    const before = snapshotOf([{ service: 'api-green@file', code: 200, durations: times(1000, 0.05) }]);
    const after = snapshotOf([{ service: 'api-green@file', code: 200, durations: times(40, 0.05) }]);
    expect(analyseStep({ before, after, probes: { ok: 10, failed: 0 }, thresholds })).toEqual({
      verdict: 'passed',
      requests: 40,
      errors: 0,
      errorRate: 0,
      p95Seconds: 0.095,
      availability: 1,
      reasons: [],
      countersReset: true,
      proxyUnreachableProbes: 0,
    });
  });

  test('the verdict is plain JSON and the same on every call', () => {
    const input = { ...step(healthyStep), probes: { ok: 8, failed: 2 }, thresholds };
    const verdict = analyseStep(input);
    expect(JSON.parse(JSON.stringify(verdict))).toEqual(verdict);
    expect(analyseStep(JSON.parse(JSON.stringify(input)))).toEqual(verdict);
  });
});
