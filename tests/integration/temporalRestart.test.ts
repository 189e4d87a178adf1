/**
 * The Temporal server restarted in the middle of a canary step, on lab-2: the project's own dev
 * server (SQLite, so its state survives the restart), the real worker in its own process, Traefik
 * in front and a load generator on this environment's own address. The deployment resumes when
 * the server is back and the canary is promoted, with every request served throughout.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { stringify } from 'yaml';
import { Client, Connection } from '@temporalio/client';
import { startOrAttach, follow } from '../../src/client/deploy';
import type { EnvironmentConfig } from '../../src/config/schema';
import type { DeployRequest } from '../../src/config/request';
import { startDevServer, stopDevServer } from '../../src/devserver/devServer';
import { findFreePort } from '../../src/devserver/ports';
import { startLoad, summarize, type LoadRun } from '../../src/load/loadGenerator';
import type { Settings } from '../../src/shared/settings';
import { colourEnvironment, destroyColourEnvironment } from '../../lab/colourEnvironment';
import { demoRequest, releaseAnswering, routingOnHost } from './colourHelpers';
import { freshBackupRoot, PROJECT_ROOT, requireLab, spawnWorker, waitForStatus } from './harness';

const lab = requireLab();
const stamp = Date.now().toString(36);
const BIND = '127.0.0.72';
const PROXY = `http://${BIND}:18800`;
const envName = 'lab-tr';
const environment: EnvironmentConfig = colourEnvironment({
  name: envName,
  project: `tr${stamp}`,
  host: lab.production.hosts[0],
  bindAddress: BIND,
  proxyPort: 18800,
  adminPort: 18810,
  canary: { steps: [10, 100], dwellSeconds: 8, minRequests: 20 },
});
const dataDir = mkdtempSync(join(tmpdir(), 'temporal-restart-'));

let serverOptions: { dataDir: string; port: number; uiPort: number; ui: false; startTimeoutMs: number };
let settings: Settings;
let connection: Connection | undefined;
let client: Client;
let worker: ReturnType<typeof spawnWorker> | undefined;

beforeAll(async () => {
  const port = await findFreePort();
  let uiPort = await findFreePort();
  while (uiPort === port) uiPort = await findFreePort();
  serverOptions = { dataDir, port, uiPort, ui: false, startTimeoutMs: 60_000 };
  const server = await startDevServer(serverOptions);
  const configDir = mkdtempSync(join(tmpdir(), 'temporal-restart-config-'));
  writeFileSync(join(configDir, `${envName}.yaml`), stringify(environment, { lineWidth: 0 }));
  settings = {
    temporalAddress: server.address,
    namespace: 'default',
    taskQueue: `it-${randomUUID()}`,
    uiUrl: 'http://127.0.0.1:0',
    configDir,
    workspaceRoot: join(PROJECT_ROOT, '.data', 'workspaces'),
    backupRoot: freshBackupRoot(),
  };
  connection = await Connection.connect({ address: server.address, connectTimeout: '10s' });
  client = new Client({ connection, namespace: settings.namespace });
  worker = spawnWorker(settings, lab.workerEnv);
}, 120_000);

afterAll(async () => {
  await worker?.kill();
  await connection?.close();
  await stopDevServer(serverOptions);
  await destroyColourEnvironment(environment);
}, 300_000);

async function start(tag: string, extra: Partial<DeployRequest> = {}) {
  const request = demoRequest(envName, tag, stamp, 'temporal-restart-test', extra);
  return (await startOrAttach(client, settings, request)).handle;
}

const finish = (handle: Awaited<ReturnType<typeof start>>) =>
  follow(handle, settings, { timeoutMs: 240_000 });

const answering = () => releaseAnswering(PROXY);
const weights = async () => (await routingOnHost(environment)).weights;

test('the first release goes to blue', async () => {
  const outcome = await finish(await start('v1'));
  expect(outcome.status?.outcome).toBe('succeeded');
  expect(await weights()).toEqual({ blue: 100, green: 0 });
}, 300_000);

test('Temporal restarted during a canary analysis: the deployment resumes, the canary is promoted and no request fails', async () => {
  const release = `v2-${stamp}`;
  const run: LoadRun = startLoad({
    url: `${PROXY}/api/version`,
    mode: { kind: 'open', ratePerSecond: 100, maxInFlight: 200 },
    durationMs: 240_000,
    maxRequests: 50_000,
    releaseHeader: 'x-app-release',
    allowHosts: [BIND],
  });
  let downSeconds = 0;
  let workerSurvived = false;
  try {
    const handle = await start('v2', { strategy: 'canary' });
    await waitForStatus(handle, (s) =>
      s.steps.some((x) => x.name.startsWith('analyse 10 %') && x.status === 'running'),
    );
    const stoppedAt = Date.now();
    const stopped = await stopDevServer(serverOptions);
    expect(stopped.wasRunning).toBe(true);
    await startDevServer(serverOptions);
    downSeconds = (Date.now() - stoppedAt) / 1000;
    // The worker's connection retries on its own; a worker that gave up is a finding, shown below.
    await new Promise((r) => setTimeout(r, 2_000));
    workerSurvived = worker!.child.exitCode === null && worker!.child.signalCode === null;
    if (!workerSurvived) worker = spawnWorker(settings, lab.workerEnv);
    const outcome = await finish(handle);
    run.stop();
    const summary = summarize((await run.result).records);
    console.log(
      `Temporal down ${downSeconds.toFixed(1)} s during "analyse 10 %"; worker ${workerSurvived ? 'reconnected by itself' : `exited and was replaced: ${worker!.output().slice(-500)}`}; ${outcome.status?.outcome}; ${summary.total} requests, ${summary.failed} failed; analyses ${JSON.stringify(outcome.status?.canary?.steps.map((a) => ({ weight: a.weight, verdict: a.verdict, requests: a.requests })))}`,
    );
    expect(outcome.status?.outcome).toBe('succeeded');
    expect(summary.failedByReason).toEqual({});
    expect(await weights()).toEqual({ blue: 0, green: 100 });
    expect(await answering()).toBe(release);
    expect(workerSurvived).toBe(true);
  } finally {
    run.stop();
  }
}, 300_000);
