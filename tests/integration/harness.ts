import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { loadEnvironment } from '../../src/config/load';
import type { EnvironmentConfig } from '../../src/config/schema';
import { resolveTemporalCli } from '../../src/devserver/binaries';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/shared/searchAttributes';
import type { Settings } from '../../src/shared/settings';

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
  const workerEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const line of readFileSync(secretsFile, 'utf8').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) workerEnv[m[1]] = m[2];
  }
  return {
    staging: loadEnvironment(LAB_CONFIG_DIR, 'lab-staging'),
    production: loadEnvironment(LAB_CONFIG_DIR, 'lab-production'),
    workerEnv,
  };
}

export interface Harness {
  env: TestWorkflowEnvironment;
  worker: Worker;
  settings: Settings;
  running: Promise<void>;
  stop(): Promise<void>;
}

let runtimeInstalled = false;

export async function startHarness(opts: {
  configDir?: string;
  workerEnv: NodeJS.ProcessEnv;
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
  const taskQueue = `it-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../src/workflows'),
    activities: createActivities({
      configDir: opts.configDir ?? LAB_CONFIG_DIR,
      projectRoot: PROJECT_ROOT,
      workerEnv: opts.workerEnv,
      workspaceRoot: join(PROJECT_ROOT, '.data', 'workspaces'),
    }),
  });
  const running = worker.run();
  const settings: Settings = {
    temporalAddress: env.address,
    namespace: env.namespace ?? 'default',
    taskQueue,
    uiUrl: 'http://127.0.0.1:0',
    configDir: opts.configDir ?? LAB_CONFIG_DIR,
    workspaceRoot: join(PROJECT_ROOT, '.data', 'workspaces'),
  };
  return {
    env,
    worker,
    settings,
    running,
    async stop() {
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
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
      const url = service.versionUrl.split('{host}').join(host.address);
      out[`${host.name}/${service.name}`] = ((await getJson(url)).body as { release?: unknown }).release;
    }
  }
  return out;
}
