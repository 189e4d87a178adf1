/**
 * The stage of the approval tests (uiApproval, hostileInput): a real Temporal dev server and a
 * worker running the real workflows with stubbed activities, where every deployment waits for
 * approval and then succeeds at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { DeployActivities } from '../../src/activities';
import { createLockActivities } from '../../src/activities/locks';
import { loadEnvironment } from '../../src/config/load';
import type { DeployRequest } from '../../src/config/request';
import { startDevServer, stopDevServer, type StartResult } from '../../src/devserver/devServer';
import { findFreePort } from '../../src/devserver/ports';
import type { DeployPlan } from '../../src/shared/deployment';
import { loadSettings, type Settings } from '../../src/shared/settings';

const fixture = loadEnvironment(join(__dirname, '..', 'fixtures', 'environments'), 'staging');

/** Every activity the pipeline may call, stubbed: the plan requires approval (from `approvers` when given); all else succeeds. */
function stubActivities(approvers?: string[]): DeployActivities {
  const stubs = {
    async resolvePlan(input: { request: DeployRequest; deploymentId: string }): Promise<DeployPlan> {
      return {
        deploymentId: input.deploymentId,
        request: input.request,
        environment: {
          ...fixture,
          name: input.request.environment,
          approval: { required: true, timeoutSeconds: 600, ...(approvers ? { approvers } : {}) },
        },
        images: Object.fromEntries(
          Object.entries(input.request.images).map(([service, tag]) => [
            service,
            `ghcr.io/acme/${service}:${tag}`,
          ]),
        ),
      };
    },
    ...createLockActivities(),
    async auditDecision() {},
    async uploadRelease() {},
    async pullImages() {},
    async startServices() {},
    async stopRelease() {},
    async waitForHealth() {
      return { elapsedMs: 1, attempts: 1, probes: [] };
    },
    async postDeployChecks() {
      return [{ name: 'services-running', host: 'web-1', ok: true, detail: 'running' }];
    },
    async recordRelease(i: { plan: DeployPlan }) {
      return {
        release: i.plan.request.release,
        images: i.plan.images,
        deployedAt: new Date().toISOString(),
        deployedBy: i.plan.request.requestedBy,
        deploymentId: i.plan.deploymentId,
      };
    },
  };
  return stubs as unknown as DeployActivities;
}

export interface ApprovalStack {
  server: StartResult;
  settings: Settings;
  client: Client;
  stop(): Promise<void>;
}

/** Starts the server (with its Web UI when `ui`) and the worker on a task queue named after `name`. */
export async function startApprovalStack(opts: {
  name: string;
  ui?: boolean;
  approvers?: string[];
}): Promise<ApprovalStack> {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed by another test file in this process.
  }
  const dataDir = mkdtempSync(join(tmpdir(), `${opts.name}-`));
  const port = await findFreePort();
  let uiPort = opts.ui ? await findFreePort() : undefined;
  while (uiPort === port) uiPort = await findFreePort();
  const server = await startDevServer({
    dataDir,
    port,
    ...(uiPort ? { uiPort, ui: true } : {}),
    startTimeoutMs: 60_000,
  });
  const taskQueue = `${opts.name}-${process.pid}`;
  const settings = loadSettings({
    TEMPORAL_ADDRESS: server.address,
    DEPLOY_TASK_QUEUE: taskQueue,
    ...(server.uiUrl ? { TEMPORAL_UI_URL: server.uiUrl } : {}),
  });
  const connection = await Connection.connect({ address: server.address, connectTimeout: '10s' });
  const client = new Client({ connection, namespace: settings.namespace });
  const workerConnection = await NativeConnection.connect({ address: server.address });
  const worker = await Worker.create({
    connection: workerConnection,
    namespace: settings.namespace,
    taskQueue,
    workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') }),
    activities: stubActivities(opts.approvers),
    workflowFailureErrorTypes: { '*': ['NondeterminismError', 'DeterminismViolationError'] },
  });
  const workerRun = worker.run();
  return {
    server,
    settings,
    client,
    async stop() {
      worker.shutdown();
      await workerRun.catch(() => undefined);
      await workerConnection.close().catch(() => undefined);
      await connection.close().catch(() => undefined);
      await stopDevServer({ dataDir, port: server.port, uiPort: server.uiPort ?? undefined });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
