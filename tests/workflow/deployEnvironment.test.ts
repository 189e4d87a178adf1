import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { DeployActivities } from '../../src/activities';
import type { HealthInput } from '../../src/activities/health';
import type { HostStepInput } from '../../src/activities/release';
import { loadEnvironment } from '../../src/config/load';
import type { DeployRequest } from '../../src/config/request';
import type { DeploymentStatus, DeployPlan, ReleaseRecord } from '../../src/shared/deployment';
import { deploymentStatusQuery } from '../../src/shared/messages';
import { DEPLOY_ENVIRONMENT, DEPLOY_STATUS } from '../../src/shared/searchAttributes';
import { startLocalTemporal } from './testEnv';

/**
 * Histories are recorded with RECORD_HISTORIES=1 and committed; replaying them catches a
 * change to the workflow that would break deployments already running.
 *
 * Every branch of deployEnvironment against a real Temporal server, with activities
 * stubbed: each stub records its call so the tests assert what the saga did, in order.
 */

const HISTORIES = join(__dirname, 'histories');
const environment = loadEnvironment(join(__dirname, '..', 'fixtures', 'environments'), 'staging');
const previous: ReleaseRecord = {
  release: 'r1',
  images: { site: 'ghcr.io/acme/site:v1', api: 'ghcr.io/acme/api:v1' },
  deployedAt: '2026-01-01T00:00:00.000Z',
  deployedBy: 'ci',
  deploymentId: 'deploy-staging-r1',
};
const request: DeployRequest = {
  environment: 'staging',
  release: 'r2',
  images: { site: 'v2', api: 'v2' },
  requestedBy: 'ci',
};

interface Script {
  previous?: ReleaseRecord;
  invalid?: boolean;
  /** Health fails for these releases. */
  unhealthy?: string[];
  failStartOf?: string;
  failRollback?: boolean;
}

function stubActivities(script: Script, calls: string[]): DeployActivities {
  const planOf = (input: { request: DeployRequest; deploymentId: string }): DeployPlan => ({
    deploymentId: input.deploymentId,
    request: input.request,
    environment,
    images: {
      site: `ghcr.io/acme/site:${input.request.images.site}`,
      api: `ghcr.io/acme/api:${input.request.images.api}`,
    },
    previous: script.previous,
  });
  const tag = (i: HostStepInput) => `${i.hostName}@${i.plan.request.release}`;
  return {
    async resolvePlan(input) {
      calls.push('resolvePlan');
      if (script.invalid) {
        throw ApplicationFailure.nonRetryable(
          'deploy request is invalid:\n  images.web: unknown service',
          'InvalidInput',
        );
      }
      return planOf(input);
    },
    async uploadRelease(i) {
      calls.push(`upload ${tag(i)} ${Object.values(i.plan.images).join(',')}`);
    },
    async pullImages(i) {
      calls.push(`pull ${tag(i)}`);
    },
    async startServices(i) {
      calls.push(`start ${tag(i)}`);
      if (script.failRollback && i.plan.request.release !== request.release) {
        throw ApplicationFailure.nonRetryable('compose up failed', 'Test');
      }
      if (script.failStartOf === i.plan.request.release)
        throw ApplicationFailure.nonRetryable('compose up failed', 'Test');
    },
    async stopRelease(i) {
      calls.push(`stop ${tag(i)}`);
    },
    async waitForHealth(i: HealthInput) {
      calls.push(`health ${i.release}`);
      if (script.unhealthy?.includes(i.release)) {
        throw ApplicationFailure.nonRetryable(
          `not healthy after 1 s: /health/ready HTTP 503`,
          'HealthDeadlineExceeded',
        );
      }
      return { elapsedMs: 1, attempts: 1, probes: [] };
    },
    async recordRelease(i) {
      calls.push(`record ${tag(i)}`);
      return { ...previous, release: i.plan.request.release };
    },
  } as DeployActivities;
}

let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  env = await startLocalTemporal();
  workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') });
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

interface Run {
  calls: string[];
  result?: DeploymentStatus;
  error?: WorkflowFailedError;
  workflowId: string;
  /** The status query, answered while the worker still runs. */
  queried?: DeploymentStatus;
}

async function run(script: Script): Promise<Run> {
  const calls: string[] = [];
  const taskQueue = `test-${randomUUID()}`;
  const workflowId = `deploy-staging-r2-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle,
    activities: stubActivities(script, calls),
    // A non-determinism bug fails the workflow (and the test) instead of retrying forever.
    workflowFailureErrorTypes: { '*': ['NondeterminismError', 'DeterminismViolationError'] },
  });
  return worker.runUntil(async () => {
    try {
      const result = await env.client.workflow.execute('deployEnvironment', {
        taskQueue,
        workflowId,
        args: [request],
      });
      const queried = await env.client.workflow.getHandle(workflowId).query(deploymentStatusQuery);
      return { calls, result, workflowId, queried };
    } catch (err) {
      if (err instanceof WorkflowFailedError) return { calls, error: err, workflowId };
      throw err;
    }
  });
}

function failureOf(error: WorkflowFailedError | undefined): {
  type?: string | null;
  message: string;
  status: DeploymentStatus;
} {
  const cause = error?.cause;
  if (!(cause instanceof ApplicationFailure))
    throw new Error(`expected an ApplicationFailure, got ${String(cause)}`);
  return { type: cause.type, message: cause.message, status: cause.details?.[0] as DeploymentStatus };
}

async function saveHistory(name: string, workflowId: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(join(HISTORIES, `${name}.json`), historyToJSON(history));
}

test('a good deployment runs every step in order and records the release', async () => {
  const { calls, result, workflowId, queried } = await run({ previous });
  expect(calls).toEqual([
    'resolvePlan',
    'upload web-1@r2 ghcr.io/acme/site:v2,ghcr.io/acme/api:v2',
    'pull web-1@r2',
    'start web-1@r2',
    'health r2',
    'record web-1@r2',
  ]);
  expect(result?.outcome).toBe('succeeded');
  expect(result?.steps.map((s) => [s.name, s.status])).toEqual([
    ['validate', 'succeeded'],
    ['upload web-1', 'succeeded'],
    ['pull web-1', 'succeeded'],
    ['start web-1', 'succeeded'],
    ['health', 'succeeded'],
    ['record web-1', 'succeeded'],
  ]);
  const handle = env.client.workflow.getHandle(workflowId);
  expect(queried?.stage).toBe('done');
  const description = await handle.describe();
  expect(description.typedSearchAttributes.get(DEPLOY_ENVIRONMENT)).toBe('staging');
  expect(description.typedSearchAttributes.get(DEPLOY_STATUS)).toBe('succeeded');
  await saveHistory('good-deploy', workflowId);
});

test('an unhealthy release is rolled back to the previous one, which is verified healthy', async () => {
  const { calls, error, workflowId } = await run({ previous, unhealthy: ['r2'] });
  expect(calls).toEqual([
    'resolvePlan',
    'upload web-1@r2 ghcr.io/acme/site:v2,ghcr.io/acme/api:v2',
    'pull web-1@r2',
    'start web-1@r2',
    'health r2',
    'upload web-1@r1 ghcr.io/acme/site:v1,ghcr.io/acme/api:v1',
    'start web-1@r1',
    'health r1',
  ]);
  const failure = failureOf(error);
  expect(failure.type).toBe('DeploymentFailed');
  expect(failure.message).toBe(
    'deployment of r2 to staging failed at "health": not healthy after 1 s: /health/ready HTTP 503. ' +
      'Rolled back: restored release r1 on web-1; environment is healthy on release r1.',
  );
  expect(failure.status.outcome).toBe('rolled-back');
  expect(failure.status.rollback).toEqual({
    restoredRelease: 'r1',
    healthy: true,
    actions: ['restored release r1 on web-1'],
  });
  await saveHistory('rolled-back', workflowId);
});

test('a failed first deployment stops the new release: there is nothing to return to', async () => {
  const { calls, error } = await run({ unhealthy: ['r2'] });
  expect(calls.slice(-2)).toEqual(['health r2', 'stop web-1@r2']);
  const failure = failureOf(error);
  expect(failure.status.outcome).toBe('rolled-back');
  expect(failure.status.rollback?.healthy).toBe(false);
  expect(failure.message).toContain(
    'Rolled back: stopped the new release on web-1 (no previous release to return to); environment is NOT healthy.',
  );
});

test('a start that fails half-way is compensated too', async () => {
  const { calls, error } = await run({ previous, failStartOf: 'r2' });
  expect(calls.slice(3)).toEqual([
    'start web-1@r2',
    'upload web-1@r1 ghcr.io/acme/site:v1,ghcr.io/acme/api:v1',
    'start web-1@r1',
    'health r1',
  ]);
  expect(failureOf(error).status.failure).toEqual({ step: 'start web-1', message: 'compose up failed' });
});

test('invalid input fails before any host is touched', async () => {
  const { calls, error } = await run({ previous, invalid: true });
  expect(calls).toEqual(['resolvePlan']);
  const failure = failureOf(error);
  expect(failure.type).toBe('InvalidInput');
  expect(failure.message).toContain('Nothing had been changed on any host.');
  expect(failure.status.outcome).toBe('failed');
});

test('a rollback that fails leaves the outcome "failed" and says so', async () => {
  const { error } = await run({ previous, unhealthy: ['r2'], failRollback: true });
  const failure = failureOf(error);
  expect(failure.status.outcome).toBe('failed');
  expect(failure.status.rollback?.actions).toEqual([
    'NOT done (compose up failed): restored release r1 on web-1',
  ]);
  expect(failure.message).toContain('environment is NOT healthy');
});

test('recorded histories replay without non-determinism', async () => {
  const files = existsSync(HISTORIES) ? readdirSync(HISTORIES).filter((f) => f.endsWith('.json')) : [];
  expect(files.length).toBeGreaterThanOrEqual(2);
  for (const file of files) {
    const history = historyFromJSON(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')));
    await expect(Worker.runReplayHistory({ workflowBundle }, history, file)).resolves.toBeUndefined();
  }
});
