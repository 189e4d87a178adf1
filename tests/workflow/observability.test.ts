/**
 * What the real worker process reports (src/worker/telemetry.ts): a Prometheus endpoint with
 * the SDK runtime's metrics and the pipeline's own (deployments by environment and outcome,
 * step durations by environment, step and outcome), and JSON log lines that carry the
 * workflow id, run id and step. The worker runs as `src/worker.ts` against a real local
 * Temporal; the deployment asks for an environment that has no config, so it fails at its
 * first step without any host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { findFreePort } from '../../src/devserver/ports';
import { startLocalTemporal } from './testEnv';

const ROOT = resolve(__dirname, '..', '..');
const TASK_QUEUE = `observability-${randomUUID()}`;
const DORA_ENV = `dora-${randomUUID().slice(0, 6)}`;
let env: TestWorkflowEnvironment;
let worker: ChildProcess | undefined;
let output = '';
let metricsAddress: string;

beforeAll(async () => {
  env = await startLocalTemporal();
  metricsAddress = `127.0.0.1:${await findFreePort()}`;
  const dir = mkdtempSync(join(tmpdir(), 'observability-'));
  // No profile file of the machine's user is read; no environment is configured.
  writeFileSync(join(dir, 'empty.toml'), '');
  mkdirSync(join(dir, 'environments'));
  // One configured environment (never reached: its deployment is refused at validate), for the DORA gauges.
  const fixture = readFileSync(join(ROOT, 'tests', 'fixtures', 'environments', 'staging.yaml'), 'utf8');
  writeFileSync(
    join(dir, 'environments', `${DORA_ENV}.yaml`),
    fixture.replace(/^name: staging$/m, `name: ${DORA_ENV}`),
  );
  const childEnv: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_'))),
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_CONFIG_FILE: join(dir, 'empty.toml'),
    DEPLOY_TASK_QUEUE: TASK_QUEUE,
    DEPLOY_CONFIG_DIR: join(dir, 'environments'),
    DEPLOY_METRICS_ADDRESS: metricsAddress,
    DEPLOY_LOG_FORMAT: 'json',
    DEPLOY_DORA_REFRESH_SECONDS: '1',
  };
  worker = spawn(
    process.execPath,
    ['--import', pathToFileURL(require.resolve('tsx')).href, 'src/worker.ts'],
    {
      cwd: ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  worker.stdout?.on('data', (d) => (output += d));
  worker.stderr?.on('data', (d) => (output += d));
  const deadline = Date.now() + 60_000;
  while (!output.includes('worker: task queue')) {
    if (worker.exitCode !== null || Date.now() > deadline)
      throw new Error(`the worker did not start: ${output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 120_000);

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    const exited = new Promise((r) => worker!.once('exit', r));
    worker.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (worker.exitCode === null) worker.kill('SIGKILL');
  }
  await env?.teardown();
});

/** The samples of one metric family whose labels include `labels`, as [labels text, value]. */
function samples(text: string, name: RegExp, labels: Record<string, string>): [string, number][] {
  return text
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && name.test(m[1]))
    .filter((m) => Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`)))
    .map((m) => [`${m[1]}${m[2] ?? ''}`, Number(m[3])]);
}

test('a failed deployment is counted, its step timed, and its log lines name the workflow and the step', async () => {
  const environment = `nope-${randomUUID().slice(0, 6)}`;
  const handle = await env.client.workflow.start('deployEnvironment', {
    taskQueue: TASK_QUEUE,
    workflowId: `deploy-${environment}`,
    args: [{ environment, release: 'r1', images: {}, requestedBy: 'ci' }],
  });
  const failure = await handle.result().then(
    () => undefined,
    (err: Error) => (err.cause as Error | undefined)?.message,
  );
  expect(failure).toMatch(/failed at "validate"/);
  const { runId } = await handle.describe();

  // Metrics reach the endpoint on the runtime's export interval: look for a while.
  let text = '';
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    text = await fetch(`http://${metricsAddress}/metrics`).then((r) => r.text());
    if (samples(text, /deployctl_deployments_total$/, { environment }).length > 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  expect(samples(text, /deployctl_deployments_total$/, { environment, outcome: 'failed' })).toEqual([
    [expect.any(String), 1],
  ]);
  const validate = samples(text, /deployctl_step_duration(_seconds)?_count$/, {
    environment,
    step: 'validate',
    outcome: 'failed',
  });
  expect(validate).toEqual([[expect.any(String), 1]]);
  // The SDK runtime's own: workflow completions and task slots, for the same worker.
  expect(samples(text, /^temporal_workflow_failed/, { task_queue: TASK_QUEUE }).length).toBeGreaterThan(0);
  expect(
    samples(text, /^temporal_worker_task_slots_available$/, { task_queue: TASK_QUEUE }).length,
  ).toBeGreaterThan(0);

  // Workflow log lines reach the worker's logger through a sink, after the workflow task.
  const logDeadline = Date.now() + 10_000;
  while (!output.includes('"step":"validate"') && Date.now() < logDeadline)
    await new Promise((r) => setTimeout(r, 200));
  const lines = output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const stepLine = lines.find((l) => l.workflowId === handle.workflowId && l.step === 'validate');
  if (!stepLine) throw new Error(`no log line of step validate; the worker printed:\n${output.slice(-3000)}`);
  expect(stepLine).toMatchObject({
    level: 'INFO',
    runId,
    workflowType: 'deployEnvironment',
    environment,
    step: 'validate',
    outcome: 'failed',
  });
  expect(typeof stepLine?.seconds).toBe('number');
  expect(Date.parse(String(stepLine?.time))).not.toBeNaN();
});

test('a bad DEPLOY_METRICS_ADDRESS stops the worker before it connects, naming the variable, the value and the rule', async () => {
  const child = spawn(
    process.execPath,
    ['--import', pathToFileURL(require.resolve('tsx')).href, 'src/worker.ts'],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: env.address,
        DEPLOY_METRICS_ADDRESS: '0.0.0.0:99999;rm -rf /',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  expect(code).toBe(2);
  expect(out).toContain(
    'DEPLOY_METRICS_ADDRESS is "0.0.0.0:99999;rm -rf /": it must be host:port with a port from 1 to 65535',
  );
  expect(out).not.toContain('worker: task queue');
});

test('the DORA gauges of each configured environment follow its deployments; a refusal is no change failure', async () => {
  const scrape = async (what: string, done: (text: string) => boolean): Promise<string> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const text = await fetch(`http://${metricsAddress}/metrics`).then((r) => r.text());
      if (done(text)) return text;
      if (Date.now() > deadline) throw new Error(`${what} never showed on /metrics:\n${text.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const deployments = (text: string) =>
    samples(text, /deployctl_dora_deployments$/, { environment: DORA_ENV }).map(([, v]) => v);
  await scrape('the gauges of an environment without deployments', (t) => deployments(t).length > 0);
  // Refused at validate (canary without a traffic section): before any host is contacted.
  const handle = await env.client.workflow.start('deployEnvironment', {
    taskQueue: TASK_QUEUE,
    workflowId: `deploy-${DORA_ENV}-r1`,
    args: [{ environment: DORA_ENV, release: 'r1', images: {}, requestedBy: 'ci', strategy: 'canary' }],
  });
  await handle.result().catch(() => undefined);
  const text = await scrape('the refused deployment', (t) => deployments(t).includes(1));
  expect(samples(text, /deployctl_dora_deployment_frequency_per_day$/, { environment: DORA_ENV })).toEqual([
    [expect.any(String), 0],
  ]);
  expect(samples(text, /deployctl_dora_change_failure_rate$/, { environment: DORA_ENV })).toEqual([]);
});
