/**
 * Encrypted history, read by an operator in the real Web UI: a worker and a client with the
 * AES-256-GCM codec run a server setup (activities stubbed); the dev server's UI is pointed at
 * `deployctl codec-server`'s endpoint (started in-process here, as the command does), and the
 * workflow page in headless Chromium shows the decoded result. The stored history holds the
 * result only encrypted, so what the page shows came through the codec server.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { BrowserContext } from 'playwright-core';
import type { DeployActivities } from '../../src/activities';
import { dataConverterFor } from '../../src/codec/dataConverter';
import { AesGcmCodec, parseEncryptionKeys } from '../../src/codec/encryption';
import { startCodecServer, type RunningCodecServer } from '../../src/codec/server';
import { loadEnvironment } from '../../src/config/load';
import { startDevServer, stopDevServer, type StartResult } from '../../src/devserver/devServer';
import { findFreePort } from '../../src/devserver/ports';
import { WorkflowType } from '../../src/shared/messages';
import type { SetupReport } from '../../src/shared/setup';
import { loadSettings, workflowUiLink } from '../../src/shared/settings';
import { browserStep, launchBrowser, openWorkflowPage, waitForText } from './browser';

jest.setTimeout(240_000);

const ROOT = join(__dirname, '..', '..');
const fixture = loadEnvironment(join(ROOT, 'tests', 'fixtures', 'environments'), 'staging');
const keys = `k1=${randomBytes(32).toString('base64')}`;
// What only the decoded result says: the page can show it only through the codec server.
const DETAIL = `engine installed from the vendor's repository, build ${randomBytes(4).toString('hex')}`;

let dataDir: string;
let server: StartResult;
let codecServer: RunningCodecServer;
let connection: Connection;
let workerConnection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
let browser: BrowserContext;
let userDataDir: string;

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed by another test file in this process.
  }
  dataDir = mkdtempSync(join(tmpdir(), 'ui-codec-'));
  const port = await findFreePort();
  let uiPort = await findFreePort();
  while (uiPort === port) uiPort = await findFreePort();
  codecServer = await startCodecServer({
    codec: new AesGcmCodec(parseEncryptionKeys(keys, 'DEPLOY_ENCRYPTION_KEYS')),
    host: '127.0.0.1',
    port: 0,
    origins: [`http://127.0.0.1:${uiPort}`],
  });
  server = await startDevServer({
    dataDir,
    port,
    uiPort,
    ui: true,
    startTimeoutMs: 60_000,
    extraArgs: ['--ui-codec-endpoint', codecServer.url],
  });
  workerConnection = await NativeConnection.connect({ address: server.address });
  worker = await Worker.create({
    connection: workerConnection,
    namespace: 'default',
    taskQueue: 'ui-codec',
    workflowsPath: require.resolve('../../src/workflows'),
    dataConverter: dataConverterFor({ DEPLOY_ENCRYPTION_KEYS: keys }),
    activities: {
      async loadEnvironmentConfig() {
        return fixture;
      },
      async setupEnvironmentHost() {
        return [{ step: 'container engine', result: 'done', detail: DETAIL }];
      },
    } as unknown as DeployActivities,
  });
  workerRun = worker.run();
  connection = await Connection.connect({ address: server.address, connectTimeout: '10s' });
  ({ browser, userDataDir } = await launchBrowser('ui-codec'));
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  if (worker) {
    worker.shutdown();
    await workerRun.catch(() => undefined);
  }
  await workerConnection?.close().catch(() => undefined);
  await connection?.close().catch(() => undefined);
  await codecServer?.close();
  if (server) await stopDevServer({ dataDir, port: server.port, uiPort: server.uiPort ?? undefined });
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
}, 60_000);

test('the Web UI shows an encrypted result decoded through the codec server', async () => {
  const client = new Client({
    connection,
    namespace: 'default',
    dataConverter: dataConverterFor({ DEPLOY_ENCRYPTION_KEYS: keys }),
  });
  const workflowId = `setup-staging-${Date.now().toString(36)}`;
  const report = (await client.workflow.execute(WorkflowType.setup, {
    taskQueue: 'ui-codec',
    workflowId,
    args: [{ environment: 'staging', requestedBy: 'ui-codec' }],
    workflowExecutionTimeout: 60_000,
  })) as SetupReport;
  expect(report.hosts[0].steps[0].detail).toBe(DETAIL);

  // Without the codec the result is unreadable: what is stored is encrypted.
  const plain = new Client({ connection, namespace: 'default' });
  await expect(plain.workflow.getHandle(workflowId).result()).rejects.toThrow(/binary\/encrypted/);

  const settings = loadSettings({ TEMPORAL_ADDRESS: server.address, TEMPORAL_UI_URL: server.uiUrl! });
  const page = await browser.newPage();
  await browserStep(page, 'open-workflow', () =>
    openWorkflowPage(page, workflowUiLink(settings, workflowId), workflowId),
  );
  await browserStep(page, 'decoded-result', () =>
    waitForText(page, [new RegExp(DETAIL.replace(/[.*+?^${}()|[\]\\']/g, '\\$&'))], 60_000),
  );
});
