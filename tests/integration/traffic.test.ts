/**
 * Colours behind a real Traefik on lab-2 (lab-1's SSH is cut by
 * files that run at the same time): the routing file the pipeline builds, written over
 * SSH by the switchTraffic activity and confirmed through Traefik's API, moves live traffic
 * between two colours of the demo api under load without a failed request; a canary split is
 * served as configured; Traefik's metrics count each colour's answers; a broken routing file
 * leaves Traefik on the last good routing. Its own project, network, base directory and
 * address, so nothing else on the host is touched. Fails (never skips) when the lab is not up.
 */
import { posix, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { underPolicy } from '../shared/underPolicy';
import { createTrafficActivities, ROUTING_REFUSED, type SwitchReport } from '../../src/activities/traffic';
import {
  buildColourOverride,
  colourDown,
  colourLayout,
  colourUp,
  routingDir,
} from '../../src/commands/colours';
import { environmentSchema, type Colour, type EnvironmentConfig } from '../../src/config/schema';
import { withHost } from '../../src/remote/executor';
import type { DeployPlan } from '../../src/shared/deployment';
import { deltaSnapshot } from '../../src/traffic/analysis';
import { allOn, split, type Weights } from '../../src/traffic/colours';
import type { ServiceSnapshot } from '../../src/traffic/metrics';
import { runLoad, summarize } from '../../src/load/loadGenerator';
import { demoImage, ROLE_IMAGES } from '../../lab/paths';
import { PROJECT_ROOT, requireLab } from './harness';

const lab = requireLab();
const stamp = Date.now().toString(36);
const labHost = lab.production.hosts[0];
// Addresses and ports of its own: the lab's own stacks keep theirs.
const BIND = '127.0.0.68';
const PROXY = `http://${BIND}:18480`;
const project = `zdt${stamp}`;
const environment: EnvironmentConfig = environmentSchema.parse({
  name: 'traffic-test',
  project,
  composeCommand: ['docker-compose'],
  composeFiles: ['tests/fixtures/compose/traffic-shared.yml'],
  strategy: 'blue-green',
  traffic: {
    composeFiles: ['tests/fixtures/compose/traffic-web.yml'],
    network: `${project}-edge`,
    adminUrl: 'http://{host}:{PROXY_ADMIN_PORT}',
  },
  hosts: [
    {
      ...labHost,
      address: labHost.address,
      baseDir: posix.join(labHost.baseDir, `traffic-${stamp}`),
      env: { BIND_ADDRESS: BIND },
    },
  ],
  services: [
    {
      name: 'api',
      image: demoImage('api'),
      rule: 'PathPrefix(`/api`)',
      readinessUrl: `${PROXY}/api/health/live`,
    },
  ],
  env: { PROXY_PORT: '18480', PROXY_ADMIN_PORT: '18490' },
});
// The worker probes Traefik's admin entrypoint on the test's own address, not the host's.
const adminEnvironment: EnvironmentConfig = {
  ...environment,
  traffic: { ...environment.traffic!, adminUrl: `http://${BIND}:18490` },
};
const host = environment.hosts[0];
const appDir = posix.join(host.baseDir, project);
const sharedCompose = [
  'docker-compose',
  '--project-name',
  project,
  '--project-directory',
  appDir,
  '--env-file',
  `${appDir}/.env`,
  '--file',
  `${appDir}/traffic-shared.yml`,
];
const releaseOf: Record<Colour, string> = { blue: `blue-${stamp}`, green: `green-${stamp}` };

const plan: DeployPlan = {
  deploymentId: `traffic-test-${stamp}`,
  request: {
    environment: environment.name,
    release: releaseOf.green,
    images: { api: 'v2' },
    requestedBy: 'traffic-test',
  },
  environment: adminEnvironment,
  images: { api: demoImage('api', 'v2') },
};
const traffic = createTrafficActivities();
const onHost = { plan, hostName: host.name };
const switchTo = (weights: Weights, p: DeployPlan = plan): Promise<SwitchReport> =>
  underPolicy('switchTraffic').run(traffic.switchTraffic, { plan: p, hostName: host.name, weights });
const scrape = (colour: Colour): Promise<ServiceSnapshot> =>
  underPolicy('scrapeColourMetrics').run(traffic.scrapeColourMetrics, { ...onHost, colour });

async function remote(argv: readonly string[], timeoutMs = 180_000): Promise<string> {
  return (await withHost(host, (h) => h.run(argv, { timeoutMs }))).stdout.trim();
}
async function upload(path: string, content: string): Promise<void> {
  await withHost(host, (h) => h.writeFile(path, content, { timeoutMs: 30_000 }));
}

/** A colour as the pipeline lays it out: its compose file, env file and network override. */
async function startColour(colour: Colour, tag: string): Promise<void> {
  const layout = colourLayout(environment, host, colour);
  await upload(
    layout.composeFiles[0],
    readFileSync(join(PROJECT_ROOT, environment.traffic!.composeFiles[0]), 'utf8'),
  );
  await upload(layout.envFile, `API_IMAGE=${demoImage('api', tag)}\nAPP_RELEASE=${releaseOf[colour]}\n`);
  await upload(layout.overrideFile, buildColourOverride(environment, colour, '3.7'));
  await remote(colourUp(environment, host, colour));
}

/** Poll a URL until `check` passes (bounded), returning the last body. */
async function until(
  url: string,
  headers: Record<string, string>,
  check: (status: number, body: string) => boolean,
) {
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(2_000) });
      last = `${res.status} ${await res.text()}`;
      if (check(res.status, last)) return last;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} never passed its check; last answer: ${last}`);
}

const load = (durationMs: number, headers: Record<string, string> = {}) =>
  runLoad({
    url: `${PROXY}/api/version`,
    mode: { kind: 'closed', connections: 4 },
    durationMs,
    maxRequests: 20_000,
    releaseHeader: 'x-app-release',
    headers,
    allowHosts: [BIND],
  });

beforeAll(async () => {
  await remote(['mkdir', '-p', appDir, routingDir(environment, host)]);
  await upload(
    `${appDir}/traffic-shared.yml`,
    readFileSync(join(PROJECT_ROOT, environment.composeFiles[0]), 'utf8'),
  );
  await upload(
    `${appDir}/.env`,
    `PROXY_IMAGE=${ROLE_IMAGES.traefik}\nBIND_ADDRESS=${BIND}\nPROXY_PORT=18480\nPROXY_ADMIN_PORT=18490\nEDGE_NETWORK=${project}-edge\n`,
  );
  await remote([...sharedCompose, 'up', '--detach']);
  await startColour('blue', 'v1');
  await startColour('green', 'v2');
}, 300_000);

afterAll(async () => {
  for (const colour of ['blue', 'green'] as const)
    await remote(colourDown(environment, host, colour)).catch(() => undefined);
  await remote([...sharedCompose, 'down', '--timeout', '5']).catch(() => undefined);
  await remote(['rm', '-rf', '--', host.baseDir]).catch(() => undefined);
}, 300_000);

test('the first routing write is confirmed by Traefik; previews reach each colour by header', async () => {
  expect(await underPolicy('readRouting').run(traffic.readRouting, onHost)).toBeUndefined();
  const report = await switchTo(allOn('blue'));
  expect(report).toEqual(expect.objectContaining({ weights: allOn('blue'), written: true }));
  expect(await underPolicy('readRouting').run(traffic.readRouting, onHost)).toEqual(allOn('blue'));
  await until(`${PROXY}/api/version`, {}, (s, b) => s === 200 && b.includes(releaseOf.blue));
  await until(
    `${PROXY}/api/version`,
    { 'X-Deploy-Colour': 'green' },
    (s, b) => s === 200 && b.includes(releaseOf.green),
  );
  // A retry of the same write finds it done and confirms it again.
  expect((await switchTo(allOn('blue'))).written).toBe(false);
});

test('switching blue to green under load fails no request, and Traefik counts what each colour served', async () => {
  await switchTo(allOn('blue'));
  const before = await scrape('green');
  const running = load(6_000);
  await new Promise((r) => setTimeout(r, 2_000));
  const switched = await switchTo(allOn('green'));
  const result = await running;
  const after = await scrape('green');
  const summary = summarize(result.records);
  console.log(
    `blue -> green under load: ${summary.total} requests, ${summary.failed} failed, confirmed after ${switched.confirmedAfterMs} ms, shares ${JSON.stringify(summary.releaseShares)}`,
  );
  expect(summary.total).toBeGreaterThan(50);
  expect(summary.failedByReason).toEqual({});
  expect(summary.failed).toBe(0);
  // Both colours answered: the switch happened during the run, and only these two releases.
  expect(Object.keys(summary.releaseShares).sort()).toEqual([releaseOf.blue, releaseOf.green].sort());
  // The last requests all went to green.
  expect(result.records.slice(-20).every((r) => r.release === releaseOf.green)).toBe(true);
  const greenAnswers = result.records.filter((r) => r.release === releaseOf.green).length;
  const delta = deltaSnapshot(before, after);
  expect(delta.reset).toBe(false);
  expect(delta.requests).toBe(greenAnswers);
  expect(delta.errors).toBe(0);
});

test('a canary split is served as configured', async () => {
  await switchTo(split('green', 25));
  const result = await load(3_000);
  const summary = summarize(result.records);
  console.log(`canary 25 %: ${summary.total} requests, shares ${JSON.stringify(summary.releaseShares)}`);
  expect(summary.failed).toBe(0);
  expect(Math.abs((summary.releaseShares[releaseOf.green] ?? 0) - 0.25)).toBeLessThanOrEqual(0.03);
});

test('a broken routing file leaves Traefik on the last good routing; the next write repairs it', async () => {
  await switchTo(allOn('blue'));
  await upload(
    `${routingDir(environment, host)}/${environment.name}.yml`,
    'http:\n  routers: [this is not\n',
  );
  // Traefik rejects the file and keeps serving blue: nothing fails.
  const summary = summarize((await load(2_000)).records);
  expect(summary.failed).toBe(0);
  expect(Object.keys(summary.releaseShares)).toEqual([releaseOf.blue]);
  await expect(underPolicy('readRouting').run(traffic.readRouting, onHost)).rejects.toThrow(
    /is not valid YAML/,
  );
  await switchTo(allOn('green'));
  await until(`${PROXY}/api/version`, {}, (s, b) => s === 200 && b.includes(releaseOf.green));
});

test('a write Traefik never confirms is put back to the last confirmed routing and fails clearly', async () => {
  await switchTo(allOn('green'));
  // An admin address nothing answers on: the new file cannot be confirmed.
  const blind: DeployPlan = {
    ...plan,
    environment: {
      ...adminEnvironment,
      traffic: { ...adminEnvironment.traffic!, adminUrl: `http://${BIND}:18491` },
    },
  };
  const err = await underPolicy('switchTraffic')
    .run(traffic.switchTraffic, {
      plan: blind,
      hostName: host.name,
      weights: allOn('blue'),
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).type).toBe(ROUTING_REFUSED);
  expect((err as ApplicationFailure).message).toMatch(
    /did not answer: ECONNREFUSED.*put back to the last routing Traefik confirmed/,
  );
  expect(await underPolicy('readRouting').run(traffic.readRouting, onHost)).toEqual(allOn('green'));
  await until(`${PROXY}/api/version`, {}, (s, b) => s === 200 && b.includes(releaseOf.green));
}, 60_000);
