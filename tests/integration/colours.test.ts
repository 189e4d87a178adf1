/**
 * Blue-green and canary end to end on lab-2 (the production host, so
 * they run alongside the files that cut lab-1's SSH): the real worker and Temporal, real SSH, real podman, the
 * demo images, Traefik in front, and a load generator that records every request while the
 * deployments run. A release moves traffic without a failed request; a release that never gets
 * ready leaves the old one at 100 % with no failed request; a rollback inside the switch-back
 * window is one routing write to the colour that still runs; a canary moves traffic in the
 * configured steps, and a canary of a faulty release (errors, slow answers) is aborted at its
 * first analysis with the stable release answering again. Its own project, network, base
 * directory, address and ports. Fails (never skips) when the lab is not up.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { stringify } from 'yaml';
import { follow, startOrAttach } from '../../src/client/deploy';
import type { EnvironmentConfig } from '../../src/config/schema';
import type { DeployRequest } from '../../src/config/request';
import { sharesPerWindow, startLoad, summarize, type LoadRun } from '../../src/load/loadGenerator';
import { colourEnvironment, destroyColourEnvironment } from '../../lab/colourEnvironment';
import { demoRequest, releaseAnswering } from './colourHelpers';
import { requireLab, startHarness, type Harness } from './harness';

const lab = requireLab();
const stamp = Date.now().toString(36);
const BIND = '127.0.0.69';
const PROXY = `http://${BIND}:18580`;
const envName = 'lab-bg';
const environment: EnvironmentConfig = colourEnvironment({
  name: envName,
  project: `bg${stamp}`,
  host: lab.production.hosts[0],
  bindAddress: BIND,
  proxyPort: 18580,
  adminPort: 18590,
  canary: { steps: [10, 50, 100], dwellSeconds: 6, minRequests: 20 },
});
const host = environment.hosts[0];

let harness: Harness;
let client: Client;

beforeAll(async () => {
  const configDir = mkdtempSync(join(tmpdir(), 'bluegreen-config-'));
  writeFileSync(join(configDir, `${envName}.yaml`), stringify(environment, { lineWidth: 0 }));
  harness = await startHarness({ configDir, workerEnv: lab.workerEnv });
  client = harness.env.client;
});

afterAll(async () => {
  await harness?.stop();
  await destroyColourEnvironment(environment);
}, 300_000);

async function deploy(tag: string, extra: Partial<DeployRequest> = {}, workflowId?: string) {
  const request = demoRequest(envName, tag, stamp, 'bluegreen-test', extra);
  const { handle } = await startOrAttach(client, harness.settings, request, workflowId);
  return follow(handle, harness.settings, { timeoutMs: 240_000 });
}

/**
 * Load on the api and the site through the proxy, as users send it, for as long as `during` runs:
 * open loop (a fixed rate whatever the answers), so a slow release cannot hold the load back.
 */
async function underLoad<T>(during: () => Promise<T>) {
  const runs: LoadRun[] = ['api', 'site'].map((service) =>
    startLoad({
      url: `${PROXY}/${service}/version`,
      mode: { kind: 'open', ratePerSecond: 150, maxInFlight: 400 },
      durationMs: 240_000,
      maxRequests: 200_000,
      releaseHeader: 'x-app-release',
      allowHosts: [BIND],
    }),
  );
  try {
    const outcome = await during();
    return { outcome, runs };
  } finally {
    for (const r of runs) r.stop();
  }
}

const answering = () => releaseAnswering(PROXY);

test('the first release goes to blue and takes all traffic', async () => {
  const outcome = await deploy('v1');
  expect(outcome.status?.outcome).toBe('succeeded');
  expect(outcome.status?.colours).toEqual(expect.objectContaining({ target: 'blue', live: 'blue' }));
  expect(await answering()).toBe(`v1-${stamp}`);
}, 300_000);

test('v2 moves every user to green under load without a failed request', async () => {
  const { outcome, runs } = await underLoad(() => deploy('v2'));
  expect(outcome.status?.outcome).toBe('succeeded');
  expect(outcome.status?.colours).toEqual(
    expect.objectContaining({ strategy: 'blue-green', stable: 'blue', target: 'green', live: 'green' }),
  );
  // v2's one new migration declares itself backward compatible: an expand, run before the switch.
  expect(outcome.status?.pendingMigrations).toEqual([{ id: '002_visits_referrer', phase: 'expand' }]);
  expect(outcome.status?.migrations).toEqual([{ id: '002_visits_referrer', backwardCompatible: true }]);
  const steps = outcome.status!.steps.map((s) => s.name);
  expect(steps.indexOf('migrate (expand)')).toBeLessThan(steps.indexOf(`route to green ${host.name}`));
  for (const [i, run] of runs.entries()) {
    const { records } = await run.result;
    const summary = summarize(records);
    console.log(
      `blue-green v1 -> v2 (${i === 0 ? 'api' : 'site'}): ${summary.total} requests, ${summary.failed} failed ${JSON.stringify(summary.failedByReason)}, p50 ${summary.p50} ms, p99 ${summary.p99} ms, shares ${JSON.stringify(summary.releaseShares)}`,
    );
    expect(summary.failedByReason).toEqual({});
    expect(Object.keys(summary.releaseShares).sort()).toEqual([`v1-${stamp}`, `v2-${stamp}`]);
    expect(records.slice(-10).every((r) => r.release === `v2-${stamp}`)).toBe(true);
  }
}, 300_000);

test('a rollback inside the switch-back window is one routing write back to blue', async () => {
  const started = Date.now();
  let answeredAfterMs: number | undefined;
  const watch = (async () => {
    while (Date.now() - started < 60_000) {
      if ((await answering().catch(() => '')) === `v1-${stamp}`) {
        answeredAfterMs = Date.now() - started;
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const outcome = await deploy('rollback', { rollback: true, images: {} }, `rollback-${envName}-${stamp}`);
  await watch;
  console.log(
    `switch-back: v1 answered ${answeredAfterMs} ms after the rollback started; steps: ${outcome.status?.steps
      .map((s) => `${s.name} ${s.durationMs} ms`)
      .join(', ')}`,
  );
  expect(outcome.status?.outcome).toBe('succeeded');
  expect(outcome.status?.colours).toEqual(
    expect.objectContaining({ stable: 'green', target: 'blue', live: 'blue', reused: true }),
  );
  // Nothing was started: blue still ran v1.
  expect(outcome.status?.steps.map((s) => s.name)).not.toContain(`start blue ${host.name}`);
  expect(answeredAfterMs).toBeDefined();
}, 300_000);

test('a release that never gets ready leaves the live colour at 100 % and fails no request', async () => {
  const { outcome, runs } = await underLoad(() => deploy('v3-unready'));
  expect(outcome.status?.outcome).toBe('rolled-back');
  expect(outcome.status?.failure?.step).toBe('health');
  expect(outcome.status?.colours).toEqual(expect.objectContaining({ target: 'green', live: 'blue' }));
  for (const run of runs) {
    const summary = summarize((await run.result).records);
    expect(summary.failedByReason).toEqual({});
    expect(Object.keys(summary.releaseShares)).toEqual([`v1-${stamp}`]);
  }
  expect(await answering()).toBe(`v1-${stamp}`);
}, 300_000);

test('a release with a migration that is not backward compatible is refused before the backup', async () => {
  // v5-breaking drops a column v1 still reads: neither expand nor contract.
  const outcome = await deploy('v5-breaking');
  expect(outcome.status?.outcome).toBe('rolled-back');
  expect(outcome.status?.failure?.step).toBe('pending migrations');
  expect(outcome.status?.failure?.message).toContain(
    'migrations: 003_drop_visits_service (phase "breaking") is neither expand nor contract; blue-green keeps the old release serving',
  );
  expect(outcome.status?.failure?.message).toContain('--strategy recreate');
  const steps = outcome.status!.steps.map((s) => s.name);
  expect(steps).not.toContain('backup');
  expect(steps.filter((s) => s.startsWith('migrate'))).toEqual([]);
  expect(await answering()).toBe(`v1-${stamp}`);
}, 300_000);

describe('canary', () => {
  /** Its own release id: v2 was already deployed (blue-green) under the default one. */
  const canaryRelease = `v2-canary-${stamp}`;

  /** The canary steps' windows in the load run's clock: from a step's route write to its analysis' end. */
  const windows = (steps: { name: string; startedAt: string; endedAt?: string }[], loadStart: number) =>
    steps
      .filter((s) => s.name.startsWith('analyse '))
      .map((s) => {
        const weight = Number(/analyse (\d+) %/.exec(s.name)![1]);
        return {
          label: `${weight}`,
          from: Date.parse(s.startedAt) - loadStart,
          to: Date.parse(s.endedAt!) - loadStart,
        };
      });

  test('a good release moves through 10 and 50 % with passing analyses to 100 %, under load, failing nothing', async () => {
    const { outcome, runs } = await underLoad(() =>
      deploy('v2', { strategy: 'canary', release: canaryRelease }),
    );
    expect(outcome.status?.outcome).toBe('succeeded');
    const canary = outcome.status?.canary;
    expect(canary?.steps.map((s) => [s.weight, s.verdict])).toEqual([
      [10, 'passed'],
      [50, 'passed'],
    ]);
    expect(canary?.weight).toBe(100);
    const { records, startedAt } = await runs[0].result;
    const summary = summarize(records);
    const shares = sharesPerWindow(records, windows(outcome.status!.steps, startedAt));
    const shareOf = (w: (typeof shares)[number]) => w.releaseShares[canaryRelease] ?? 0;
    console.log(
      `canary v1 -> v2: ${summary.total} requests, ${summary.failed} failed; analyses ${JSON.stringify(canary?.steps.map((s) => ({ weight: s.weight, requests: s.requests, errorRate: s.errorRate, p95: s.p95Seconds, availability: s.availability })))}; observed shares of v2 per step ${JSON.stringify(shares.map((w) => [w.label, shareOf(w)]))}`,
    );
    expect(summary.failedByReason).toEqual({});
    for (const w of shares) expect(Math.abs(shareOf(w) * 100 - Number(w.label))).toBeLessThanOrEqual(3);
    expect(await answering()).toBe(canaryRelease);
  }, 300_000);

  test.each([
    ['v6-errors', /error rate/],
    ['v7-slow', /p95/],
  ])(
    'a canary of %s is aborted at its first analysis; the stable release answers again',
    async (tag, reason) => {
      const { outcome, runs } = await underLoad(() => deploy(tag, { strategy: 'canary' }));
      expect(outcome.status?.outcome).toBe('rolled-back');
      expect(outcome.status?.failure?.step).toBe('analyse 10 %');
      expect(outcome.status?.failure?.message).toMatch(reason);
      const [first] = outcome.status?.canary?.steps ?? [];
      expect(first).toEqual(expect.objectContaining({ weight: 10, verdict: 'failed' }));
      const summary = summarize((await runs[0].result).records);
      console.log(
        `canary ${tag}: ${summary.total} requests, ${summary.failed} failed (${((100 * summary.failed) / summary.total).toFixed(2)} %), analysis ${JSON.stringify(first)}`,
      );
      expect(summary.failed / summary.total).toBeLessThan(0.01);
      expect(await answering()).toBe(canaryRelease);
    },
    300_000,
  );
});
