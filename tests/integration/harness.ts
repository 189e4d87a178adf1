import { pathToFileURL } from 'node:url';
import { closeIdleConnections } from '../../src/remote/executor';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { createWorker } from '../../src/worker';
import { exportHistories } from './historyExport';
import { readLabSecrets } from '../../lab/config';
import { parse, stringify } from 'yaml';
import { isEnvironmentFile, loadEnvironment } from '../../src/config/load';
import { expandUrl } from '../../src/config/urls';
import type { EnvironmentConfig } from '../../src/config/schema';
import { resolveTemporalCli } from '../../src/devserver/binaries';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/shared/searchAttributes';
import type { Settings } from '../../src/shared/settings';
import type { DeploymentStatus } from '../../src/shared/deployment';
import { deploymentStatusQuery } from '../../src/shared/messages';

/**
 * The real parts for integration tests: the lab (must already be up: `npm run lab -- up`),
 * a real Temporal dev server from the installed CLI, and a worker with the real activities.
 */

export const PROJECT_ROOT = resolve(__dirname, '..', '..');
export const LAB_DIR = process.env.LAB_DIR ? resolve(process.env.LAB_DIR) : join(PROJECT_ROOT, '.lab');
export const LAB_CONFIG_DIR = join(LAB_DIR, 'config');

/** Fail loudly (never skip) when the lab is not there. */
export function requireLab(): {
  staging: EnvironmentConfig;
  production: EnvironmentConfig;
  workerEnv: NodeJS.ProcessEnv;
} {
  const secretsFile = join(LAB_DIR, 'secrets.env');
  for (const needed of [
    join(LAB_CONFIG_DIR, 'lab-staging.yaml'),
    join(LAB_CONFIG_DIR, 'lab-production.yaml'),
    secretsFile,
  ]) {
    if (!existsSync(needed)) {
      throw new Error(
        `the lab is not up: ${needed} is missing. Run "npm run lab -- up" first (npm test does).`,
      );
    }
  }
  const workerEnv: NodeJS.ProcessEnv = { ...process.env, ...readLabSecrets(secretsFile) };
  return {
    staging: loadEnvironment(LAB_CONFIG_DIR, 'lab-staging'),
    production: loadEnvironment(LAB_CONFIG_DIR, 'lab-production'),
    workerEnv,
  };
}

/**
 * A config dir of the test's own under .data: the lab's environment files, with `envName`'s
 * edited by `edit` (its parsed YAML, changed in place). `edit` may be called again later
 * through the returned `rewrite`, on the file as it then is.
 */
export function labConfigCopy(
  prefix: string,
  envName: string,
  edit: (raw: Record<string, unknown>) => void,
): { dir: string; file: string; rewrite: (edit: (raw: Record<string, unknown>) => void) => void } {
  const dir = mkdtempSync(join(PROJECT_ROOT, '.data', `${prefix}-`));
  for (const file of readdirSync(LAB_CONFIG_DIR).filter(isEnvironmentFile))
    copyFileSync(join(LAB_CONFIG_DIR, file), join(dir, file));
  const file = join(dir, `${envName}.yaml`);
  const rewrite = (change: (raw: Record<string, unknown>) => void) => {
    const raw = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    change(raw);
    writeFileSync(file, stringify(raw));
  };
  rewrite(edit);
  return { dir, file, rewrite };
}

/** `deployctl deploy` of the demo app's three services, all at image tag `tag` (its commit too). */
export function demoDeployArgs(envName: string, release: string, tag = 'v2'): string[] {
  return [
    'deploy',
    '--env',
    envName,
    '--release',
    release,
    ...['site', 'saas', 'api'].flatMap((service) => ['--image', `${service}=${tag}`]),
    '--commit',
    tag,
  ];
}

let runtimeInstalled = false;

export interface Harness {
  env: TestWorkflowEnvironment;
  settings: Settings;
  stop(): Promise<void>;
}

/**
 * A real Temporal dev server and, unless `inProcessWorker` is false (tests that kill workers
 * spawn their own with spawnWorker), a worker with the real activities on a fresh task queue.
 */
export async function startHarness(opts: {
  configDir?: string;
  /** The worker's backup store; a fresh temporary one by default. */
  backupRoot?: string;
  workerEnv: NodeJS.ProcessEnv;
  inProcessWorker?: boolean;
}): Promise<Harness> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: resolveTemporalCli() },
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      ip: '127.0.0.1',
    },
  });
  const settings: Settings = {
    temporalAddress: env.address,
    namespace: env.namespace ?? 'default',
    taskQueue: `it-${randomUUID()}`,
    uiUrl: 'http://127.0.0.1:0',
    configDir: opts.configDir ?? LAB_CONFIG_DIR,
    workspaceRoot: join(PROJECT_ROOT, '.data', 'workspaces'),
    backupRoot: opts.backupRoot ?? freshBackupRoot(),
  };
  let stopWorker = async () => undefined as void;
  if (opts.inProcessWorker !== false) {
    const worker = await createWorker(settings, env.nativeConnection, opts.workerEnv);
    const running = worker.run();
    stopWorker = async () => {
      worker.shutdown();
      await running;
    };
  }
  return {
    env,
    settings,
    async stop() {
      try {
        await stopWorker();
        // Only a test's histories are swept for secrets; a benchmark (no jest) keeps none.
        if (typeof expect !== 'undefined')
          await exportHistories(env.client, expect.getState().testPath ?? 'unknown');
      } finally {
        // Whatever failed above, the dev server goes: a leaked one keeps eating the lab's CPU.
        await env.teardown();
        // The worker's pooled SSH connections end with it, not 15 s into the next test file.
        closeIdleConnections();
      }
    },
  };
}

/** An empty backup store under .data/test-backups (kept after the run for a look at failures). */
export function freshBackupRoot(): string {
  const root = join(PROJECT_ROOT, '.data', 'test-backups');
  mkdirSync(root, { recursive: true });
  return mkdtempSync(join(root, 'store-'));
}

export async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

/** What each web service of an environment reports on /version right now. */
export async function reportedReleases(environment: EnvironmentConfig): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const host of environment.hosts) {
    for (const service of environment.services) {
      if (!service.versionUrl) continue;
      const url = expandUrl(service.versionUrl, environment, host);
      out[`${host.name}/${service.name}`] = ((await getJson(url)).body as { release?: unknown }).release;
    }
  }
  return out;
}

/**
 * A worker in its own process, as in production, so a test can kill it with SIGKILL at any
 * moment (no shutdown hooks run) and start another one. `node --import tsx` keeps the worker
 * in the spawned process itself: the tsx CLI would fork a child that survives the SIGKILL.
 */
export function spawnWorker(
  settings: Settings,
  workerEnv: NodeJS.ProcessEnv,
): {
  child: ChildProcess;
  output: () => string;
  /** The worker identity Temporal records (the SDK's default: pid@hostname). */
  identity: string;
  /** Resolves once the worker has connected and is about to poll (bounded: 60 s). */
  ready: () => Promise<void>;
  kill: () => Promise<void>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    cwd: PROJECT_ROOT,
    env: {
      ...workerEnv,
      TEMPORAL_ADDRESS: settings.temporalAddress,
      TEMPORAL_NAMESPACE: settings.namespace,
      DEPLOY_TASK_QUEUE: settings.taskQueue,
      DEPLOY_CONFIG_DIR: settings.configDir,
      DEPLOY_WORKSPACE_DIR: settings.workspaceRoot,
      DEPLOY_BACKUP_DIR: settings.backupRoot,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    output: () => out,
    identity: `${child.pid}@${hostname()}`,
    ready: async () => {
      const deadline = Date.now() + 60_000;
      while (!out.includes('worker: task queue')) {
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(`the worker did not start: ${out.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Poll a deployment's status until `predicate` holds; bounded by `timeoutMs`. */
export async function waitForStatus(
  handle: { query: (q: typeof deploymentStatusQuery) => Promise<DeploymentStatus> },
  predicate: (s: DeploymentStatus) => boolean,
  timeoutMs = 120_000,
): Promise<DeploymentStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: DeploymentStatus | undefined;
  for (;;) {
    try {
      last = await handle.query(deploymentStatusQuery);
      if (predicate(last)) return last;
    } catch {
      // no worker yet to answer the query
    }
    if (Date.now() > deadline)
      throw new Error(`status never matched; last seen: ${JSON.stringify(last?.steps)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RunningActivity {
  type: string;
  attempt: number;
  worker: string;
}

export interface PendingActivity {
  activityType?: { name?: string | null } | null;
  attempt?: number | null;
  state?: number | null;
  lastWorkerIdentity?: string | null;
  lastStartedTime?: Parameters<typeof optionalTsToMs>[0];
}
export type Described = { describe(): Promise<{ raw: { pendingActivities?: PendingActivity[] | null } }> };
// temporal.api.enums.v1.PendingActivityState
export const STARTED = 2;

/**
 * The activity running now (of `type`, when given), from Temporal's own record of the workflow.
 * Unlike the status query it needs no workflow task on a worker, so a loaded machine cannot
 * make it slower than a step of a second or two and miss it.
 */
export async function runningActivity(
  handle: Described,
  { type, timeoutMs = 10_000 }: { type?: string; timeoutMs?: number } = {},
): Promise<RunningActivity> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    const started = pending.find(
      (a) => a.state === STARTED && a.lastWorkerIdentity && (!type || a.activityType?.name === type),
    );
    if (started)
      return {
        type: started.activityType?.name ?? '?',
        attempt: started.attempt ?? 1,
        worker: started.lastWorkerIdentity!,
      };
    if (Date.now() > deadline)
      throw new Error(`no ${type ?? ''} activity is running: ${JSON.stringify(pending)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Run the real CLI as CI would, against the given Temporal and task queue; bounded to 5 minutes.
 * `cwd`: where it runs (an app's repository, for init); this project's root by default.
 */
export function runDeployctl(
  settings: Settings,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  cwd: string = PROJECT_ROOT,
): Promise<{ code: number | null; out: string; stdout: string }> {
  return new Promise((resolvePromise) => {
    const tsx = pathToFileURL(require.resolve('tsx')).href;
    const child = spawn(
      process.execPath,
      ['--import', tsx, join(PROJECT_ROOT, 'src', 'client.ts'), ...args],
      {
        cwd,
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: settings.temporalAddress,
          DEPLOY_TASK_QUEUE: settings.taskQueue,
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let stdout = '';
    child.stdout?.on('data', (d) => {
      out += d;
      stdout += d;
    });
    child.stderr?.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, out, stdout });
    });
  });
}
