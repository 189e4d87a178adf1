/**
 * Failure modes of colour releases on lab-2 (beside, not on, lab-1,
 * whose SSH other files cut): the real worker (its own process, killed with SIGKILL),
 * real Temporal, real SSH, Traefik in front and a load generator on the environment's own address.
 * A worker killed while a blue-green release routes traffic, or while a canary step is analysed,
 * is replaced and the release finishes with every request served and one colour live; a routing
 * file broken on the host stops the next deploy with a message naming it while Traefik keeps
 * serving the live release; Traefik restarted during a canary step costs the step its data, not
 * the healthy release its promotion. Its own project, network, base directory, address and ports.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startOrAttach, follow } from '../../src/client/deploy';
import { colourRunningContainers, lastGoodRoutingFile } from '../../src/commands/colours';
import { composeBase, runningServicesOf } from '../../src/commands/compose';
import type { EnvironmentConfig } from '../../src/config/schema';
import type { DeployRequest } from '../../src/config/request';
import {
  failureReason,
  startLoad,
  summarize,
  type LoadRecord,
  type LoadRun,
} from '../../src/load/loadGenerator';
import type { StepState } from '../../src/shared/deployment';
import { withHost } from '../../src/remote/executor';
import { colourEnvironment, destroyColourEnvironment } from '../../lab/colourEnvironment';
import { demoRequest, releaseAnswering, routingOnHost } from './colourHelpers';
import {
  requireLab,
  runningActivity,
  spawnWorker,
  startHarness,
  waitForStatus,
  type Harness,
} from './harness';

const lab = requireLab();
const stamp = Date.now().toString(36);
const BIND = '127.0.0.71';
const PROXY = `http://${BIND}:18780`;
const envName = 'lab-cf';
const environment: EnvironmentConfig = colourEnvironment({
  name: envName,
  project: `cf${stamp}`,
  host: lab.production.hosts[0],
  bindAddress: BIND,
  proxyPort: 18780,
  adminPort: 18790,
  canary: { steps: [10, 100], dwellSeconds: 6, minRequests: 20 },
});
const host = environment.hosts[0];

let harness: Harness;
let worker: ReturnType<typeof spawnWorker> | undefined;

beforeAll(async () => {
  const configDir = mkdtempSync(join(tmpdir(), 'colour-failures-config-'));
  writeFileSync(join(configDir, `${envName}.yaml`), stringify(environment, { lineWidth: 0 }));
  harness = await startHarness({ configDir, workerEnv: lab.workerEnv, inProcessWorker: false });
  worker = spawnWorker(harness.settings, lab.workerEnv);
});

afterAll(async () => {
  await worker?.kill();
  await harness?.stop();
  await destroyColourEnvironment(environment);
}, 300_000);

async function start(tag: string, extra: Partial<DeployRequest> = {}) {
  const request = demoRequest(envName, tag, stamp, 'colour-failures-test', extra);
  return (await startOrAttach(harness.env.client, harness.settings, request)).handle;
}

type Handle = Awaited<ReturnType<typeof start>>;

const finish = (handle: Handle) => follow(handle, harness.settings, { timeoutMs: 240_000 });

/**
 * Kill the worker once the step runs, start a new one; the seconds it took to finish. A step of
 * a second or two (a routing write) is found by its activity, which Temporal reports without a
 * worker; a longer one (a canary analysis, mostly a timer) by its name in the status.
 */
async function killDuring(handle: Handle, during: { step: string } | { activity: string }) {
  let killedIn: string;
  if ('activity' in during) {
    const running = await runningActivity(handle, { type: during.activity, timeoutMs: 120_000 });
    killedIn = `${running.type}, attempt ${running.attempt}`;
  } else {
    const seen = await waitForStatus(handle, (s) =>
      s.steps.some((x) => x.name.startsWith(during.step) && x.status === 'running'),
    );
    killedIn = seen.steps.find((x) => x.name.startsWith(during.step) && x.status === 'running')!.name;
  }
  await worker!.kill();
  expect(() => process.kill(worker!.child.pid!, 0)).toThrow();
  const killedAt = Date.now();
  worker = spawnWorker(harness.settings, lab.workerEnv);
  const outcome = await finish(handle);
  return { outcome, killedIn, afterKillSeconds: (Date.now() - killedAt) / 1000 };
}

/** Bounded open-loop load on the api through the proxy (this environment's address only). */
/**
 * Each failed request with the deployment step that was running when it was sent: what a failed
 * "no request fails" needs to be read (the load's `t` counts from `loadStartedAt`).
 */
function failuresAlongSteps(
  records: readonly LoadRecord[],
  loadStartedAt: number,
  steps: StepState[] = [],
): string[] {
  return records.flatMap((r) => {
    const reason = failureReason(r);
    if (reason === undefined) return [];
    const at = loadStartedAt + r.t;
    const step = steps.find(
      (s) => s.startedAt && Date.parse(s.startedAt) <= at && (!s.endedAt || at <= Date.parse(s.endedAt)),
    );
    return [
      `+${(r.t / 1000).toFixed(1)} s ${reason} after ${r.latencyMs} ms, during "${step?.name ?? '(between steps)'}"`,
    ];
  });
}

async function underLoad<T>(during: () => Promise<T>) {
  const loadStartedAt = Date.now();
  const run: LoadRun = startLoad({
    url: `${PROXY}/api/version`,
    mode: { kind: 'open', ratePerSecond: 100, maxInFlight: 200 },
    durationMs: 240_000,
    maxRequests: 50_000,
    releaseHeader: 'x-app-release',
    allowHosts: [BIND],
  });
  try {
    const outcome = await during();
    run.stop();
    const { records } = await run.result;
    return { outcome, summary: summarize(records), records, loadStartedAt };
  } finally {
    run.stop();
  }
}

const answering = () => releaseAnswering(PROXY);

const onHost = (argv: readonly string[]) => withHost(host, (h) => h.run(argv, { timeoutMs: 30_000 }));

const routing = () => routingOnHost(environment);

test('the first release goes to blue', async () => {
  const outcome = await finish(await start('v1'));
  expect(outcome.status?.outcome).toBe('succeeded');
  expect((await routing()).weights).toEqual({ blue: 100, green: 0 });
  expect(await answering()).toBe(`v1-${stamp}`);
}, 300_000);

test('a worker killed while blue-green routes to green is replaced; no request fails and one colour is live', async () => {
  const { outcome, summary } = await underLoad(async () =>
    killDuring(await start('v2'), { activity: 'switchTraffic' }),
  );
  console.log(
    `killed during "${outcome.killedIn}": finished ${outcome.afterKillSeconds.toFixed(1)} s after the kill; ${summary.total} requests, ${summary.failed} failed ${JSON.stringify(summary.failedByReason)}, shares ${JSON.stringify(summary.releaseShares)}`,
  );
  expect(outcome.outcome.status?.outcome).toBe('succeeded');
  expect(outcome.outcome.status?.colours).toEqual(
    expect.objectContaining({ target: 'green', live: 'green' }),
  );
  expect(summary.failedByReason).toEqual({});
  expect(summary.total).toBeGreaterThan(100);
  expect((await routing()).weights).toEqual({ blue: 0, green: 100 });
  expect(await answering()).toBe(`v2-${stamp}`);
}, 300_000);

test('a worker killed during a canary analysis is replaced; the canary completes with no failed request', async () => {
  const release = `v2-canary-${stamp}`;
  const { outcome, summary } = await underLoad(async () =>
    killDuring(await start('v2', { strategy: 'canary', release }), { step: 'analyse 10 %' }),
  );
  const canary = outcome.outcome.status?.canary;
  console.log(
    `killed during "${outcome.killedIn}": finished ${outcome.afterKillSeconds.toFixed(1)} s after the kill; ${summary.total} requests, ${summary.failed} failed ${JSON.stringify(summary.failedByReason)}, shares ${JSON.stringify(summary.releaseShares)}; analyses ${JSON.stringify(canary?.steps)}`,
  );
  expect(outcome.outcome.status?.outcome).toBe('succeeded');
  expect(canary?.steps.map((s) => [s.weight, s.verdict])).toEqual([[10, 'passed']]);
  expect(canary?.weight).toBe(100);
  expect(summary.failedByReason).toEqual({});
  expect((await routing()).weights).toEqual({ blue: 100, green: 0 });
  expect(await answering()).toBe(release);
}, 300_000);

test('a routing file broken on the host stops the next deploy by name while Traefik keeps serving the live release', async () => {
  const { file } = await routing();
  await withHost(host, (h) => h.writeFile(file, 'http: [this is not\n', { timeoutMs: 30_000 }));
  try {
    const { outcome, summary } = await underLoad(async () =>
      finish(await start('v1', { release: `v1-again-${stamp}` })),
    );
    console.log(
      `broken routing file: ${outcome.status?.outcome} at "${outcome.status?.failure?.step}": ${outcome.status?.failure?.message}; ${summary.total} requests, ${summary.failed} failed, shares ${JSON.stringify(summary.releaseShares)}`,
    );
    expect(outcome.status?.outcome).not.toBe('succeeded');
    expect(outcome.status?.failure?.message).toContain(file);
    expect(outcome.status?.failure?.message).toContain('not valid YAML');
    // Nothing was started on the idle colour.
    expect(outcome.status?.steps.map((s) => s.name)).not.toContain(`start green ${host.name}`);
    expect(summary.failedByReason).toEqual({});
    expect(Object.keys(summary.releaseShares)).toEqual([`v2-canary-${stamp}`]);
    expect(await answering()).toBe(`v2-canary-${stamp}`);
  } finally {
    await onHost(['cp', '--', lastGoodRoutingFile(environment, host), file]);
  }
  expect((await routing()).weights).toEqual({ blue: 100, green: 0 });
}, 300_000);

test('Traefik restarted during a canary analysis: the probes that found no proxy are not held against the canary, which is promoted', async () => {
  const release = `v1-canary-${stamp}`;
  let restartSeconds = 0;
  const { outcome, summary } = await underLoad(async () => {
    const handle = await start('v1', { strategy: 'canary', release });
    await waitForStatus(handle, (s) =>
      s.steps.some((x) => x.name.startsWith('analyse 10 %') && x.status === 'running'),
    );
    const restartedAt = Date.now();
    await withHost(host, (h) =>
      h.run([...composeBase(environment, host), 'restart', '--timeout', '5', 'proxy'], {
        timeoutMs: 120_000,
      }),
    );
    restartSeconds = (Date.now() - restartedAt) / 1000;
    return finish(handle);
  });
  const analyses = outcome.status?.canary?.steps ?? [];
  console.log(
    `proxy restarted in ${restartSeconds.toFixed(1)} s during "analyse 10 %": ${outcome.status?.outcome}${outcome.status?.failure ? ` at "${outcome.status.failure.step}": ${outcome.status.failure.message}` : ''}; ${summary.total} requests, ${summary.failed} failed while the proxy was down (${JSON.stringify(summary.failedByReason)}); analyses ${JSON.stringify(analyses.map((a) => ({ weight: a.weight, verdict: a.verdict, requests: a.requests, availability: a.availability, countersReset: a.countersReset, proxyUnreachableProbes: a.proxyUnreachableProbes, reasons: a.reasons })))}`,
  );
  // A healthy release: the proxy's own outage costs the step its data, never the release.
  expect(outcome.status?.outcome).toBe('succeeded');
  expect(analyses.every((a) => a.verdict !== 'failed')).toBe(true);
  expect(analyses.at(-1)?.verdict).toBe('passed');
  expect((await routing()).weights).toEqual({ blue: 0, green: 100 });
  expect(await answering()).toBe(release);
}, 300_000);

test('a deployment that died after starting the idle colour leaves both colours running; the next deploy replaces the idle one', async () => {
  const live = await routing();
  const liveColour = live.weights.blue === 100 ? 'blue' : 'green';
  const idle = liveColour === 'blue' ? 'green' : 'blue';
  const handle = await start('v2', { release: `v2-crashed-${stamp}` });
  await waitForStatus(handle, (s) => s.steps.some((x) => x.name === 'health' && x.status === 'running'));
  await handle.terminate('the deployment dies between starting the idle colour and routing to it');
  const running = async (colour: 'blue' | 'green') =>
    runningServicesOf((await onHost(colourRunningContainers(environment, colour))).stdout).sort();
  expect(await running('blue')).toEqual(['api', 'saas', 'site']);
  expect(await running('green')).toEqual(['api', 'saas', 'site']);
  expect((await routing()).weights).toEqual(live.weights);
  const { outcome, summary, records, loadStartedAt } = await underLoad(async () =>
    finish(await start('v2', { release: `v2-after-crash-${stamp}` })),
  );
  const failures = failuresAlongSteps(records, loadStartedAt, outcome.status?.steps);
  console.log(
    `after the crash: ${outcome.status?.outcome}, colours ${JSON.stringify(outcome.status?.colours)}; ${summary.total} requests, ${summary.failed} failed${failures.length ? ` (${failures.join('; ')})` : ''}, shares ${JSON.stringify(summary.releaseShares)}`,
  );
  expect(outcome.status?.outcome).toBe('succeeded');
  expect(outcome.status?.colours).toEqual(
    expect.objectContaining({ stable: liveColour, target: idle, live: idle }),
  );
  expect(summary.failedByReason).toEqual({});
  expect((await routing()).weights).toEqual({ [idle]: 100, [liveColour]: 0 });
  expect(await answering()).toBe(`v2-after-crash-${stamp}`);
}, 300_000);
