import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { ExitCode } from '../../src/client/exitCodes';
import { workflowIdFor } from '../../src/shared/deployment';
import { startLocalTemporal } from './testEnv';

/**
 * `deployctl deploy` against a real Temporal server with no worker on its task queue: it says
 * so after --worker-wait, exits 9 and starts nothing, instead of waiting for its timeout.
 */

const ROOT = join(__dirname, '..', '..');
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await startLocalTemporal();
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

function deployctl(
  taskQueue: string,
  args: string[],
): Promise<{ code: number | null; out: string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/client.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, TEMPORAL_ADDRESS: env.address, DEPLOY_TASK_QUEUE: taskQueue },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      out += d;
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, stdout, stderr });
    });
  });
}

const deployArgs = (release: string) => [
  'deploy',
  '--env',
  'staging',
  '--release',
  release,
  '--image',
  'api=v2',
  '--by',
  'ci',
];

test('no worker on the task queue: exit 9 after --worker-wait, naming the queue, nothing started', async () => {
  const taskQueue = `nobody-${randomUUID()}`;
  const release = 'r-no-worker';
  const started = Date.now();
  const { code, out } = await deployctl(taskQueue, [...deployArgs(release), '--worker-wait', '2']);
  expect(out).toContain(`waiting up to 2 s for a worker on task queue "${taskQueue}"`);
  expect(out).toContain(`no worker polls task queue "${taskQueue}" in namespace "default"`);
  expect(out).toContain('nothing was started');
  expect(code).toBe(ExitCode.noWorker);
  console.log(`deployctl gave up after ${((Date.now() - started) / 1000).toFixed(1)} s (--worker-wait 2)`);
  await expect(env.client.workflow.getHandle(workflowIdFor('staging', release)).describe()).rejects.toThrow(
    WorkflowNotFoundError,
  );
}, 90_000);

test('with a worker polling, the same command starts the deployment', async () => {
  const taskQueue = `somebody-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../src/workflows'),
  });
  await worker.runUntil(async () => {
    const { code, out } = await deployctl(taskQueue, [
      ...deployArgs('r-worker'),
      '--worker-wait',
      '20',
      '--no-wait',
    ]);
    expect(out).toContain(`started ${workflowIdFor('staging', 'r-worker')}`);
    expect(code).toBe(ExitCode.succeeded);

    // --json: stdout is one JSON document, the progress goes to stderr (this worker runs no
    // activity, so the deployment stays at its first step until deployctl stops waiting).
    const json = await deployctl(taskQueue, [...deployArgs('r-json'), '--json', '--timeout', '3']);
    expect(json.code).toBe(ExitCode.stillRunning);
    expect(JSON.parse(json.stdout)).toMatchObject({ workflowId: workflowIdFor('staging', 'r-json') });
    expect(json.stderr).toMatch(/^ {2}running +validate$/m);
  });
}, 120_000);
