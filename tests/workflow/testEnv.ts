import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/shared/searchAttributes';
import { resolveTemporalCli } from '../../src/devserver/binaries';

let runtimeInstalled = false;

/**
 * A real Temporal dev server (the installed CLI binary, never a download) with the project's
 * search attributes registered. Fails with the resolver's message when the binary is missing.
 */
export async function startLocalTemporal(): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: resolveTemporalCli() },
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      ip: '127.0.0.1',
    },
  });
}

/**
 * Ends the locks (`lock-<environment>`) a test's deployments left running: a lock serves the
 * task queue of the deployment that started it, and each test's worker has its own queue, so a
 * lock whose last release the worker did not handle before it stopped would leave the next
 * test's deployments asking a lock nobody runs.
 */
export async function endLocks(env: TestWorkflowEnvironment, environments: string[]): Promise<void> {
  for (const name of environments) {
    await env.client.workflow
      .getHandle(`lock-${name}`)
      .terminate('test over')
      .catch(() => undefined);
  }
}

/** The replay corpus: every file is replayed against the current workflow code (deployEnvironment.test.ts). */
export const HISTORIES = join(__dirname, 'histories');

/**
 * With RECORD_HISTORIES=1, adds this run to the replay corpus as `<name>.json` unless the corpus
 * already has that name: a committed file records what an older version of the workflows did,
 * which running deployments may still be replaying, so it is never overwritten (delete it to
 * record it again, knowingly).
 */
export async function saveHistory(
  env: TestWorkflowEnvironment,
  name: string,
  workflowId: string,
): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const file = join(HISTORIES, `${name}.json`);
  if (existsSync(file)) return;
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(file, historyToJSON(history));
  // Replay runs under the recorded id: children's ids derive from it (retire-<deployment>).
  const ids = recordedWorkflowIds();
  ids[`${name}.json`] = workflowId;
  writeFileSync(WORKFLOW_IDS, `${JSON.stringify(ids, null, 2)}\n`);
}

/** The workflow id each corpus file was recorded under (files recorded before this list: none). */
export const WORKFLOW_IDS = join(HISTORIES, 'workflow-ids.json');

export function recordedWorkflowIds(): Record<string, string> {
  return existsSync(WORKFLOW_IDS)
    ? (JSON.parse(readFileSync(WORKFLOW_IDS, 'utf8')) as Record<string, string>)
    : {};
}

/** The corpus's history files, without the list of their ids. */
export function corpusFiles(): string[] {
  return existsSync(HISTORIES)
    ? readdirSync(HISTORIES).filter((f) => f.endsWith('.json') && join(HISTORIES, f) !== WORKFLOW_IDS)
    : [];
}

export interface CliRun {
  code: number | null;
  /** stdout and stderr, interleaved as printed. */
  out: string;
}

/**
 * The real deployctl (src/client.ts through tsx) with `env` added to this process's environment,
 * killed after 60 s: each test names the server and task queue it talks to.
 */
export function runDeployctl(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/client.ts', ...args], {
      cwd: join(__dirname, '..', '..'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, out });
    });
  });
}
