import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { DeployActivities } from '../../src/activities';
import { createLockActivities } from '../../src/activities/locks';
import { createNotificationActivities } from '../../src/activities/notifications';
import type { WebhookConfig } from '../../src/config/schema';
import { signature } from '../../src/notifications/webhook';
import { notificationWorkflowId, type Notification } from '../../src/shared/notifications';
import { useWebhookReceiver, type WebhookReceiver } from '../shared/webhookReceiver';
import type { HealthInput } from '../../src/activities/health';
import type { DecisionRecord } from '../../src/activities/decisions';
import type { HostStepInput } from '../../src/activities/release';
import { loadEnvironment } from '../../src/config/load';
import type { DeployRequest } from '../../src/config/request';
import type {
  DeploymentStatus,
  DeployPlan,
  PendingMigration,
  ReleaseRecord,
} from '../../src/shared/deployment';
import { rolloutWaves } from '../../src/workflows/deploy/waves';
import { HEARTBEAT_THROTTLE } from '../../src/worker';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  deploymentStatusQuery,
  type DecisionInput,
} from '../../src/shared/messages';
import { DEPLOY_ENVIRONMENT, DEPLOY_STATUS } from '../../src/shared/searchAttributes';
import { startOrAttach } from '../../src/client/deploy';
import type { Settings } from '../../src/shared/settings';
import {
  corpusFiles,
  endLocks,
  HISTORIES,
  recordedWorkflowIds,
  saveHistory,
  startLocalTemporal,
} from './testEnv';

/**
 * Histories are recorded with RECORD_HISTORIES=1 and committed; replaying them catches a
 * change to the workflow that would break deployments already running.
 *
 * Every branch of deployEnvironment against a real Temporal server, with activities
 * stubbed: each stub records its call so the tests assert what the saga did, in order.
 */

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
  /** Require approval with this deadline. */
  approvalSeconds?: number;
  /** Only these may approve (approval.approvers). */
  approvers?: string[];
  /** Health waits (until cancelled) for these releases, to abort mid-step. */
  hangingHealth?: string[];
  /** A cancelled health wait takes this long to stop (a command still finishing on the host). */
  stopTakesMs?: number;
  lockWaitSeconds?: number;
  gates?: 'pass' | 'fail';
  /** Configure a database: backups and migrations run; the migration behaves as named. */
  migration?: 'backward-compatible' | 'breaking' | 'fails-after-breaking' | 'phased';
  /** With migration 'phased': the contract migrations fail. */
  failContract?: boolean;
  /** With migration 'phased': what listPendingMigrations finds (default: one expand, one contract). */
  pending?: PendingMigration[];
  /** Post-deploy checks fail for these releases. */
  failingChecks?: string[];
  /**
   * A second host, web-2. web-1's pull takes 200 ms; web-2's ends only once the backup has
   * started (it fails if the two never overlap), or fails after it with `failSecondPull`.
   */
  twoHosts?: boolean;
  failSecondPull?: boolean;
  /**
   * web-1 … web-N, released with this rollout; health calls name their hosts. A start of the
   * new release waits (up to 5 s) until as many starts run at once as the rollout allows, so
   * a wave started one host after another fails; `startsAtOnce` records the most seen.
   */
  rolling?: {
    hosts: number;
    rollout: { batchSize?: number; batchPercent?: number; maxUnavailable?: number; pauseSeconds: number };
    startsAtOnce?: { now: number; most: number };
    /** The undo's starts of the previous release on these hosts wait (up to 5 s) for each other. */
    restoredTogether?: string[];
  };
  /** Health fails for the new release on this host. */
  unhealthyHost?: string;
  /** Collects what each post-deploy checks call was given. */
  checksInputs?: { configuredServices?: Record<string, string[]> }[];
  /** Notify these webhooks through the real sendWebhook activity, reading secrets from workerEnv. */
  webhooks?: { config: WebhookConfig[]; workerEnv: NodeJS.ProcessEnv };
}

/** Whether `condition` held within `ms` (checked every 10 ms). */
async function holdsWithin(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

const defaultPending: PendingMigration[] = [
  { id: '002_add_column', phase: 'expand' },
  { id: '003_drop_old_column', phase: 'contract' },
];

/** web-1's step waits (up to 5 s) for web-2's to begin: the two run at once, or the step fails. */
async function bothHostsAt(step: string, calls: string[]): Promise<void> {
  if (!(await holdsWithin(() => calls.some((c) => c.startsWith(`${step} web-2@`)), 5_000)))
    throw ApplicationFailure.nonRetryable(`web-1's ${step} ran without web-2's beside it`, 'Test');
}

function stubActivities(script: Script, calls: string[]): Partial<DeployActivities> {
  const planOf = (input: { request: DeployRequest; deploymentId: string }): DeployPlan => ({
    deploymentId: input.deploymentId,
    request: input.request,
    environment: {
      ...environment,
      // The request names the environment (staging, production, ...); the fixture gives its shape.
      name: input.request.environment,
      ...(script.approvalSeconds
        ? {
            approval: {
              required: true,
              timeoutSeconds: script.approvalSeconds,
              ...(script.approvers ? { approvers: script.approvers } : {}),
            },
          }
        : {}),
      ...(script.migration
        ? {
            database: { service: 'db', user: 'app', name: 'app' },
            migrations: {
              service: 'api',
              command: ['node', 'server.js', 'migrate'],
              ...(script.migration === 'phased'
                ? {
                    phases: {
                      pending: ['node', 'server.js', 'migrate', '--pending'],
                      expand: ['node', 'server.js', 'migrate', '--phase=expand'],
                      contract: ['node', 'server.js', 'migrate', '--phase=contract'],
                    },
                  }
                : {}),
            },
          }
        : {}),
      ...(script.gates
        ? {
            gates: {
              repository: '/srv/git/app',
              checks: [{ name: 'unit', command: ['npm', 'test'], timeoutSeconds: 60 }],
            },
          }
        : {}),
      ...(script.webhooks ? { notifications: { webhooks: script.webhooks.config } } : {}),
      ...(script.twoHosts
        ? { hosts: [...environment.hosts, { ...environment.hosts[0]!, name: 'web-2' }] }
        : {}),
      ...(script.rolling
        ? {
            rollout: script.rolling.rollout,
            hosts: Array.from({ length: script.rolling.hosts }, (_, n) => ({
              ...environment.hosts[0]!,
              name: `web-${n + 1}`,
            })),
          }
        : {}),
      ...(script.lockWaitSeconds !== undefined
        ? { deadlines: { ...environment.deadlines, lockWaitSeconds: script.lockWaitSeconds } }
        : {}),
    },
    images: {
      site: `ghcr.io/acme/site:${input.request.images.site}`,
      api: `ghcr.io/acme/api:${input.request.images.api}`,
    },
    previous: script.previous,
  });
  const tag = (i: HostStepInput) => `${i.hostName}@${i.plan.request.release}`;
  return {
    ...createLockActivities(),
    async auditDecision(i: HostStepInput & DecisionRecord) {
      const comment = i.decision.comment ? `: ${i.decision.comment}` : '';
      calls.push(`audit ${i.kind} by ${i.decision.by} at ${i.step} on ${i.hostName}${comment}`);
    },
    async resolvePlan(input) {
      calls.push('resolvePlan');
      if (script.invalid) {
        throw ApplicationFailure.nonRetryable(
          'deploy request is invalid:\n  images.web: unknown service',
          'InvalidInput',
        );
      }
      // The real activity reads previous.json on the host; the stub knows it is r1.
      if (input.request.rollback) {
        return planOf({
          ...input,
          request: { ...input.request, release: 'r1', images: { site: 'v1', api: 'v1' } },
        });
      }
      return planOf(input);
    },
    async runQualityGates(i: { plan: DeployPlan }) {
      calls.push(`gates ${i.plan.request.release}`);
      const result = { name: 'unit', commit: 'c0ffee', exitCode: 0, durationMs: 5, outputTail: 'ok' };
      if (script.gates === 'fail') {
        const failed = { ...result, verdict: 'failed', exitCode: 1, outputTail: '1 test failed' };
        throw ApplicationFailure.nonRetryable(
          'quality gate unit failed (exit 1) at c0ffee: 1 test failed',
          'GateFailed',
          [failed],
        );
      }
      return [{ ...result, verdict: 'passed' }];
    },
    async uploadRelease(i) {
      calls.push(`upload ${tag(i)} ${Object.values(i.plan.images).join(',')}`);
      if (script.twoHosts && i.hostName === 'web-1' && i.plan.request.release === request.release)
        await bothHostsAt('upload', calls);
    },
    async pullImages(i) {
      calls.push(`pull ${tag(i)}`);
      if (script.twoHosts && i.hostName === 'web-1') {
        await new Promise((r) => setTimeout(r, 200));
        calls.push(`pulled ${tag(i)}`);
      } else if (script.twoHosts) {
        if (!(await holdsWithin(() => calls.some((c) => c.startsWith('backup ')), 5_000)))
          throw ApplicationFailure.nonRetryable(
            "the backup never started while web-2's images pulled",
            'Test',
          );
        if (script.failSecondPull) throw ApplicationFailure.nonRetryable('manifest unknown', 'Test');
        calls.push(`pulled ${tag(i)}`);
      }
      return { configuredServices: ['api', 'db', 'site'] };
    },
    async startServices(i) {
      calls.push(`start ${tag(i)}`);
      const rolling = script.rolling;
      if (rolling && i.plan.request.release === request.release) {
        // The hosts that must start together: the wave, in turns of maxUnavailable.
        const wave = rolloutWaves(i.plan.environment)!.find((w) => w.includes(i.hostName))!;
        const turn = Math.min(rolling.rollout.maxUnavailable ?? wave.length, wave.length);
        const first = Math.floor(wave.indexOf(i.hostName) / turn) * turn;
        const together = wave.slice(first, first + turn);
        const at = (rolling.startsAtOnce ??= { now: 0, most: 0 });
        at.now++;
        at.most = Math.max(at.most, at.now);
        const met = await holdsWithin(
          () => together.every((h) => calls.includes(`start ${h}@${request.release}`)),
          5_000,
        );
        at.now--;
        if (!met)
          throw ApplicationFailure.nonRetryable(
            `${i.hostName} started without ${together.join(', ')} starting beside it`,
            'Test',
          );
      }
      const restoredTogether = rolling?.restoredTogether;
      if (restoredTogether && i.plan.request.release === previous.release) {
        const met = await holdsWithin(
          () => restoredTogether.every((h) => calls.includes(`start ${h}@${previous.release}`)),
          5_000,
        );
        if (!met) throw ApplicationFailure.nonRetryable(`${i.hostName} was restored alone`, 'Test');
      }
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
      calls.push(
        `health ${i.release}${script.rolling ? ` ${i.environment.hosts.map((h) => h.name).join(',')}` : ''}`,
      );
      if (
        script.unhealthyHost &&
        i.release === request.release &&
        i.environment.hosts.some((h) => h.name === script.unhealthyHost)
      )
        throw ApplicationFailure.nonRetryable(
          `${script.unhealthyHost}: /health/ready HTTP 503`,
          'HealthDeadlineExceeded',
        );
      if (script.hangingHealth?.includes(i.release)) {
        // Heartbeat until the workflow cancels this activity (an abort).
        const ctx = Context.current();
        try {
          for (;;) {
            ctx.heartbeat();
            await ctx.sleep(100);
          }
        } finally {
          if (script.stopTakesMs) await new Promise((r) => setTimeout(r, script.stopTakesMs));
          calls.push(`health ${i.release} stopped`);
        }
      }
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
      if (script.twoHosts && i.hostName === 'web-1') await bothHostsAt('record', calls);
      return { ...previous, release: i.plan.request.release };
    },
    async postDeployChecks(i: { plan: DeployPlan; configuredServices?: Record<string, string[]> }) {
      calls.push(`checks ${i.plan.request.release}`);
      script.checksInputs?.push({ configuredServices: i.configuredServices });
      const result = { name: 'services-running', host: 'web-1', ok: true, detail: 'running: api, db, site' };
      if (script.failingChecks?.includes(i.plan.request.release)) {
        const failed = { ...result, ok: false, detail: 'not running: api' };
        throw ApplicationFailure.nonRetryable(
          'post-deploy checks failed: services-running@web-1 not running: api',
          'PostDeployChecksFailed',
          [failed],
        );
      }
      return [result];
    },
    async backupDatabase(i) {
      calls.push(`backup ${tag(i)}`);
      return {
        path: `/srv/apps/shop/backups/${i.plan.deploymentId}.dump`,
        sha256: 'ab',
        sizeBytes: 1,
        durationMs: 1,
        createdAt: '',
      };
    },
    async listPendingMigrations(i) {
      calls.push(`pending migrations ${tag(i)}`);
      return script.pending ?? defaultPending;
    },
    async runMigrations(i) {
      calls.push(`migrate ${tag(i)}${i.phase ? ` ${i.phase}` : ''}`);
      if (script.migration === 'phased') {
        if (script.failContract && i.phase === 'contract')
          throw ApplicationFailure.nonRetryable('column "old" is still read by a view', 'MigrationFailed');
        const pending = script.pending ?? defaultPending;
        return {
          applied: pending
            .filter((m) => m.phase === i.phase)
            .map((m) => ({ id: m.id, backwardCompatible: m.phase !== 'contract' })),
        };
      }
      const compatible = { id: '002_add_column', backwardCompatible: true };
      const breaking = { id: '003_drop_column', backwardCompatible: false };
      if (script.migration === 'fails-after-breaking') {
        throw ApplicationFailure.nonRetryable(
          'migration 004_bad failed: relation "nope" does not exist',
          'MigrationFailed',
          {
            applied: [breaking],
          },
        );
      }
      return { applied: script.migration === 'breaking' ? [compatible, breaking] : [compatible] };
    },
    async restoreDatabase(i) {
      calls.push(`restore ${tag(i)}`);
    },
  } satisfies Partial<DeployActivities>;
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

/** The Web UI page the notifications link to (the worker's TEMPORAL_UI_URL in real use). */
const uiLink = (workflowId: string) => `http://ui.test/workflows/${workflowId}`;

interface Run {
  calls: string[];
  result?: DeploymentStatus;
  error?: WorkflowFailedError;
  workflowId: string;
  /** The status query, answered while the worker still runs. */
  queried?: DeploymentStatus;
}

async function run(
  script: Script,
  during?: (handle: WorkflowHandle, calls: string[]) => Promise<void>,
): Promise<Run> {
  const calls: string[] = [];
  const taskQueue = `test-${randomUUID()}`;
  const workflowId = `deploy-staging-r2-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle,
    activities: {
      ...stubActivities(script, calls),
      ...(script.webhooks
        ? createNotificationActivities({ workerEnv: script.webhooks.workerEnv, workflowLink: uiLink })
        : {}),
    },
    ...HEARTBEAT_THROTTLE,
    // A non-determinism bug fails the workflow (and the test) instead of retrying forever.
    workflowFailureErrorTypes: { '*': ['NondeterminismError', 'DeterminismViolationError'] },
  });
  const running = worker.runUntil(async () => {
    try {
      const handle = await env.client.workflow.start('deployEnvironment', {
        taskQueue,
        workflowId,
        args: [request],
      });
      await during?.(handle, calls);
      const result = (await handle.result()) as DeploymentStatus;
      const queried = await handle.query(deploymentStatusQuery);
      return { calls, result, workflowId, queried };
    } catch (err) {
      if (err instanceof WorkflowFailedError) return { calls, error: err, workflowId };
      throw err;
    }
  });
  return running.finally(() => endLocks(env, ['staging']));
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

test('a good deployment runs every step in order and records the release', async () => {
  const { calls, result, workflowId, queried } = await run({ previous });
  expect(calls).toEqual([
    'resolvePlan',
    'upload web-1@r2 ghcr.io/acme/site:v2,ghcr.io/acme/api:v2',
    'pull web-1@r2',
    'start web-1@r2',
    'health r2',
    'checks r2',
    'record web-1@r2',
  ]);
  expect(result?.outcome).toBe('succeeded');
  expect(result?.steps.map((s) => [s.name, s.status])).toEqual([
    ['validate', 'succeeded'],
    ['lock', 'succeeded'],
    ['upload web-1', 'succeeded'],
    ['pull web-1', 'succeeded'],
    ['start web-1', 'succeeded'],
    ['health', 'succeeded'],
    ['checks', 'succeeded'],
    ['record web-1', 'succeeded'],
  ]);
  const handle = env.client.workflow.getHandle(workflowId);
  expect(queried?.stage).toBe('done');
  const description = await handle.describe();
  expect(description.typedSearchAttributes.get(DEPLOY_ENVIRONMENT)).toBe('staging');
  expect(description.typedSearchAttributes.get(DEPLOY_STATUS)).toBe('succeeded');
  await saveHistory(env, 'good-deploy', workflowId);
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
    answeringAfterMs: expect.any(Number),
    actions: ['restored release r1 on web-1'],
  });
  await saveHistory(env, 'rolled-back', workflowId);
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

async function until(
  handle: WorkflowHandle,
  predicate: (s: DeploymentStatus) => boolean,
): Promise<DeploymentStatus> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const status = await handle.query(deploymentStatusQuery);
      if (predicate(status)) return status;
    } catch {
      // not started yet
    }
    if (Date.now() > deadline) throw new Error('the workflow never reached the expected state');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a rollback deploys the previous release the hosts recorded, named in status and result', async () => {
  const calls: string[] = [];
  const taskQueue = `rollback-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle,
    activities: stubActivities({ previous: { ...previous, release: 'r2' } }, calls),
  });
  const result = await worker
    .runUntil(
      env.client.workflow.execute('deployEnvironment', {
        taskQueue,
        workflowId: `rollback-staging-${randomUUID()}`,
        args: [
          { environment: 'staging', release: 'rollback', images: {}, requestedBy: 'ops', rollback: true },
        ],
      }),
    )
    .finally(() => endLocks(env, ['staging']));
  expect(result.outcome).toBe('succeeded');
  expect(result.release).toBe('r1');
  expect(calls).toContain('upload web-1@r1 ghcr.io/acme/site:v1,ghcr.io/acme/api:v1');
  expect(calls).toContain('record web-1@r1');
});

describe('database backup and migrations', () => {
  const releaseSteps = [
    'resolvePlan',
    'upload web-1@r2 ghcr.io/acme/site:v2,ghcr.io/acme/api:v2',
    'pull web-1@r2',
    'backup web-1@r2',
    'migrate web-1@r2',
  ];

  test('files and images first, then backup, then migrations in the new image, before anything new starts', async () => {
    const { calls, result } = await run({ previous, migration: 'backward-compatible' });
    expect(calls).toEqual([...releaseSteps, 'start web-1@r2', 'health r2', 'checks r2', 'record web-1@r2']);
    expect(result?.backup?.path).toMatch(/backups\/deploy-staging-r2-.*\.dump$/);
    expect(result?.migrations).toEqual([{ id: '002_add_column', backwardCompatible: true }]);
  });

  test("the database host's pull comes before the backup; the checks know the configured services from it", async () => {
    const checksInputs: { configuredServices?: Record<string, string[]> }[] = [];
    const { calls, result, workflowId } = await run({
      previous,
      migration: 'backward-compatible',
      checksInputs,
    });
    expect(calls).toEqual([...releaseSteps, 'start web-1@r2', 'health r2', 'checks r2', 'record web-1@r2']);
    expect(result?.outcome).toBe('succeeded');
    // What the pull read of the compose files spares the checks a compose call.
    expect(checksInputs).toEqual([{ configuredServices: { 'web-1': ['api', 'db', 'site'] } }]);
    await saveHistory(env, 'pulls-at-once', workflowId);
  });

  test("two hosts: the backup waits for the database host's pull, the other host's pull runs beside it", async () => {
    const { calls, result, workflowId } = await run({
      previous,
      migration: 'backward-compatible',
      twoHosts: true,
    });
    expect(result?.outcome).toBe('succeeded');
    const at = (call: string) => {
      const i = calls.indexOf(call);
      if (i < 0) throw new Error(`no "${call}" in ${JSON.stringify(calls)}`);
      return i;
    };
    expect(at('pulled web-1@r2')).toBeLessThan(at('backup web-1@r2'));
    expect(at('pull web-2@r2')).toBeLessThan(at('backup web-1@r2'));
    expect(at('backup web-1@r2')).toBeLessThan(at('pulled web-2@r2'));
    expect(at('backup web-1@r2')).toBeLessThan(at('migrate web-1@r2'));
    // Nothing new starts before every host has its images.
    expect(Math.max(at('pulled web-2@r2'), at('migrate web-1@r2'))).toBeLessThan(at('start web-1@r2'));
    // The uploads and the records ran at once (the stub holds web-1's until web-2's began).
    expect(at('upload web-2@r2 ghcr.io/acme/site:v2,ghcr.io/acme/api:v2')).toBeLessThan(at('pull web-1@r2'));
    expect(at('record web-2@r2')).toBeGreaterThan(at('checks r2'));
    await saveHistory(env, 'uploads-and-records-at-once', workflowId);
  });

  test("a host's pull that fails beside the backup undoes the deployment before anything new starts", async () => {
    const { calls, error } = await run({
      previous,
      migration: 'backward-compatible',
      twoHosts: true,
      failSecondPull: true,
    });
    const failure = failureOf(error);
    expect(failure.status.failure?.step).toBe('pull web-2');
    expect(calls.filter((c) => c.startsWith('start ') && c.endsWith('@r2'))).toEqual([]);
    expect(failure.status.rollback).toMatchObject({
      healthy: true,
      actions: ['restored release r1 on web-2', 'restored release r1 on web-1'],
    });
  });

  test('a rolling release: each wave starts at once and is checked alone before the next', async () => {
    const { calls, result, workflowId } = await run({
      previous,
      rolling: { hosts: 5, rollout: { batchPercent: 40, pauseSeconds: 1 } },
    });
    expect(result?.outcome).toBe('succeeded');
    const released = calls.filter((c) => /^(start|health) .*r2/.test(c));
    // 40 % of 5 hosts, rounded up: waves of 2, 2 and 1; inside a wave the starts may come in any order.
    const waves = [
      ['start web-1@r2', 'start web-2@r2'],
      ['start web-3@r2', 'start web-4@r2'],
      ['start web-5@r2'],
    ];
    const health = ['health r2 web-1,web-2', 'health r2 web-3,web-4', 'health r2 web-5'];
    let at = 0;
    for (const [i, wave] of waves.entries()) {
      expect(released.slice(at, at + wave.length).sort()).toEqual(wave);
      expect(released[at + wave.length]).toBe(health[i]);
      at += wave.length + 1;
    }
    expect(result?.steps.map((s) => s.name)).toContain('health (wave 3/3)');
    // The pause is a durable timer between waves: the second wave began at least 1 s after the first was healthy.
    const ended = result!.steps.find((s) => s.name === 'health (wave 1/3)')!.endedAt!;
    const next = result!.steps.find((s) => s.name === 'start web-3')!.startedAt;
    expect(Date.parse(next) - Date.parse(ended)).toBeGreaterThanOrEqual(1_000);
    await saveHistory(env, 'rolling-waves', workflowId);
  });

  test('maxUnavailable: a wave of four restarts in turns of two, each turn answering before the next starts', async () => {
    const rolling = { hosts: 4, rollout: { batchSize: 4, maxUnavailable: 2, pauseSeconds: 0 } };
    const { calls, result } = await run({ previous, rolling });
    expect(result?.outcome).toBe('succeeded');
    // The stub holds each start until its turn's other host has started too: two, never more.
    expect(rolling).toMatchObject({ startsAtOnce: { most: 2 } });
    expect(calls.filter((c) => /^(start|health) .*r2/.test(c))).toEqual([
      expect.stringMatching(/^start web-[12]@r2$/),
      expect.stringMatching(/^start web-[12]@r2$/),
      'health r2 web-1,web-2',
      expect.stringMatching(/^start web-[34]@r2$/),
      expect.stringMatching(/^start web-[34]@r2$/),
      'health r2 web-3,web-4',
    ]);
    expect(result?.steps.map((s) => s.name)).toContain('health (wave 1/1, turn 2/2)');
  });

  test('a wave that fails stops the release: the started hosts are restored together, the others get their files back', async () => {
    const { calls, error, workflowId } = await run({
      previous,
      rolling: {
        hosts: 5,
        rollout: { batchSize: 2, pauseSeconds: 0 },
        restoredTogether: ['web-1', 'web-2', 'web-3', 'web-4'],
      },
      unhealthyHost: 'web-3',
    });
    const failure = failureOf(error);
    await saveHistory(env, 'rolling-wave-failed', workflowId);
    expect(failure.status.failure?.step).toBe('health (wave 2/3)');
    expect(calls).not.toContain('start web-5@r2');
    // web-5 never ran the new release: its files go back, its containers are left alone.
    expect(calls).toContain('upload web-5@r1 ghcr.io/acme/site:v1,ghcr.io/acme/api:v1');
    expect(calls).not.toContain('start web-5@r1');
    expect(failure.status.rollback?.actions).toEqual([
      "put release r1's files back on web-5 (the release never reached its containers)",
      ...['web-4', 'web-3', 'web-2', 'web-1'].map((h) => `restored release r1 on ${h}`),
    ]);
    expect(failure.status.rollback?.healthy).toBe(true);
  });

  test('a rolling release runs expand migrations before the first wave and contract ones after the last', async () => {
    const { calls, result } = await run({
      previous,
      migration: 'phased',
      rolling: { hosts: 2, rollout: { batchSize: 1, pauseSeconds: 0 } },
    });
    expect(result?.outcome).toBe('succeeded');
    const order = calls.filter((c) => /^(pending|backup|migrate|start|health|record)/.test(c));
    expect(order).toEqual([
      'pending migrations web-1@r2',
      'backup web-1@r2',
      'migrate web-1@r2 expand',
      'start web-1@r2',
      'health r2 web-1',
      'start web-2@r2',
      'health r2 web-2',
      // The hosts record at once, in either order.
      expect.stringMatching(/^record web-[12]@r2$/),
      expect.stringMatching(/^record web-[12]@r2$/),
      'migrate web-1@r2 contract',
    ]);
    expect(result?.migrations?.map((m) => m.id)).toEqual(['002_add_column', '003_drop_old_column']);
  });

  test('a failed contract migration after the last wave is reported and undoes nothing: the release stands', async () => {
    const { calls, result } = await run({
      previous,
      migration: 'phased',
      failContract: true,
      rolling: { hosts: 2, rollout: { batchSize: 1, pauseSeconds: 0 } },
    });
    expect(result?.outcome).toBe('succeeded');
    expect(result?.contractError).toMatch(
      /^the contract migrations failed after every host took release r2 \(.*column "old" is still read.*\); the release stands/,
    );
    expect(result?.rollback).toBeUndefined();
    expect(calls.filter((c) => c.includes('@r1'))).toEqual([]);
  });

  test('a rolling release refuses a pending migration that is neither expand nor contract, before any change', async () => {
    const { calls, error } = await run({
      previous,
      migration: 'phased',
      pending: [{ id: '004_rename', phase: 'breaking' }],
      rolling: { hosts: 2, rollout: { batchSize: 1, pauseSeconds: 0 } },
    });
    const failure = failureOf(error);
    expect(failure.type).toBe('IncompatibleMigration');
    expect(failure.message).toContain('004_rename (phase "breaking")');
    expect(failure.message).toContain('a rolling release keeps the hosts of later waves on the old release');
    expect(calls.filter((c) => /^(backup|migrate|start)/.test(c) && c.includes('r2'))).toEqual([]);
  });

  test('a rollback after only backward-compatible migrations leaves the database alone', async () => {
    const { calls, error } = await run({ previous, migration: 'backward-compatible', unhealthy: ['r2'] });
    expect(calls.filter((c) => c.startsWith('restore'))).toEqual([]);
    expect(failureOf(error).status.rollback).toMatchObject({
      healthy: true,
      actions: ['restored release r1 on web-1'],
    });
  });

  test("a rollback after a breaking migration restores the database from this deployment's backup", async () => {
    const { calls, error } = await run({ previous, migration: 'breaking', unhealthy: ['r2'] });
    expect(calls.slice(releaseSteps.length)).toEqual([
      'start web-1@r2',
      'health r2',
      'restore web-1@r2',
      'upload web-1@r1 ghcr.io/acme/site:v1,ghcr.io/acme/api:v1',
      'start web-1@r1',
      'health r1',
    ]);
    const rollback = failureOf(error).status.rollback;
    expect(rollback?.actions[0]).toMatch(
      /^restored the database on web-1 from \/srv\/apps\/shop\/backups\/deploy-staging-r2-.*\.dump$/,
    );
    expect(rollback?.healthy).toBe(true);
  });

  test('a failed migration: nothing new starts, the database is restored, the old release answers', async () => {
    const { calls, error, workflowId } = await run({ previous, migration: 'fails-after-breaking' });
    await saveHistory(env, 'migration-failed-restored', workflowId);
    expect(calls).not.toContain('start web-1@r2');
    expect(calls.slice(releaseSteps.length)).toEqual([
      'restore web-1@r2',
      'upload web-1@r1 ghcr.io/acme/site:v1,ghcr.io/acme/api:v1',
      'start web-1@r1',
      'health r1',
    ]);
    const failure = failureOf(error);
    expect(failure.type).toBe('MigrationFailed');
    expect(failure.status.failure).toEqual({
      step: 'migrate',
      message: 'migration 004_bad failed: relation "nope" does not exist',
    });
    expect(failure.status.migrations).toEqual([{ id: '003_drop_column', backwardCompatible: false }]);
    expect(calls.filter((c) => c.startsWith('migrate'))).toHaveLength(1); // not retried blindly
  });
});

test('failed post-deploy checks roll the release back, and the results are kept', async () => {
  const { calls, error } = await run({ previous, failingChecks: ['r2'] });
  expect(calls.slice(4)).toEqual([
    'health r2',
    'checks r2',
    'upload web-1@r1 ghcr.io/acme/site:v1,ghcr.io/acme/api:v1',
    'start web-1@r1',
    'health r1',
  ]);
  const failure = failureOf(error);
  expect(failure.status.failure).toEqual({
    step: 'checks',
    message: 'post-deploy checks failed: services-running@web-1 not running: api',
  });
  expect(failure.status.checks).toEqual([
    { name: 'services-running', host: 'web-1', ok: false, detail: 'not running: api' },
  ]);
  expect(failure.status.rollback?.healthy).toBe(true);
});

describe('quality gates', () => {
  test('passing gates are recorded and the deployment goes on', async () => {
    const { calls, result } = await run({ previous, gates: 'pass' });
    expect(calls.slice(0, 3)).toEqual([
      'resolvePlan',
      'gates r2',
      'upload web-1@r2 ghcr.io/acme/site:v2,ghcr.io/acme/api:v2',
    ]);
    expect(result?.gates).toEqual([
      { name: 'unit', commit: 'c0ffee', verdict: 'passed', exitCode: 0, durationMs: 5, outputTail: 'ok' },
    ]);
  });

  test('a failed gate stops the deployment before any host is touched, and its output is kept', async () => {
    const { calls, error, workflowId } = await run({ previous, gates: 'fail', approvalSeconds: 600 });
    await saveHistory(env, 'gate-failed', workflowId);
    expect(calls).toEqual(['resolvePlan', 'gates r2']);
    const failure = failureOf(error);
    expect(failure.type).toBe('GateFailed');
    expect(failure.message).toBe(
      'deployment of r2 to staging failed at "gates": quality gate unit failed (exit 1) at c0ffee: 1 test failed. Nothing had been changed on any host.',
    );
    expect(failure.status.gates?.[0]).toMatchObject({ verdict: 'failed', outputTail: '1 test failed' });
    // Gates come before approval: nobody is asked to approve a release that failed them.
    expect(failure.status.approval).toBeUndefined();
  });
});

describe('approval', () => {
  test('waits for approval, then deploys and records who approved', async () => {
    const { calls, result, workflowId } = await run(
      { previous, approvalSeconds: 600 },
      async (handle, calls) => {
        const waiting = await until(handle, (s) => s.approval?.state === 'waiting');
        expect(waiting.stage).toBe('approval');
        expect(calls).toEqual(['resolvePlan']); // no host touched while waiting
        await handle.signal(approveSignal, { by: 'alice', comment: 'ship it' });
      },
    );
    // The approval is in the host's audit log before anything changes there.
    expect(calls.slice(1, 3)).toEqual([
      'audit approved by alice at approval on web-1: ship it',
      'upload web-1@r2 ghcr.io/acme/site:v2,ghcr.io/acme/api:v2',
    ]);
    expect(result?.outcome).toBe('succeeded');
    expect(result?.approval).toMatchObject({
      state: 'approved',
      decision: { by: 'alice', comment: 'ship it' },
    });
    await saveHistory(env, 'approved', workflowId);
    await saveHistory(env, 'approved-audited', workflowId);
  });

  test('an approval sent before the workflow reaches the step is not lost', async () => {
    const { result } = await run({ previous, approvalSeconds: 600 }, async (handle) => {
      await handle.signal(approveSignal, { by: 'early-bird' });
    });
    expect(result?.outcome).toBe('succeeded');
    expect(result?.approval?.decision?.by).toBe('early-bird');
  });

  test('a malformed signal is ignored and shown, the deployment keeps waiting', async () => {
    const { result } = await run({ previous, approvalSeconds: 600 }, async (handle) => {
      await until(handle, (s) => s.approval?.state === 'waiting');
      await handle.signal(approveSignal, { comment: 'who am I' } as never);
      const status = await until(handle, (s) => s.ignoredSignals.length > 0);
      expect(status.ignoredSignals[0]).toMatch(/^approve at .*: argument must be \{"by": "<who>", \.\.\.\}$/);
      expect(status.approval?.state).toBe('waiting');
      await handle.signal(approveSignal, { by: 'bob' });
    });
    expect(result?.approval?.decision?.by).toBe('bob');
  });

  test('an approver name with a NUL byte, or a comment with control characters, is ignored and shown', async () => {
    const { result } = await run({ previous, approvalSeconds: 600 }, async (handle) => {
      await until(handle, (s) => s.approval?.state === 'waiting');
      await handle.signal(approveSignal, { by: 'ali\u0000ce' });
      await handle.signal(approveSignal, { by: 'alice', comment: 'ok\u001b[31m' });
      await handle.signal(abortSignal, { by: 'eve smith' });
      const status = await until(handle, (s) => s.ignoredSignals.length === 3);
      expect(status.ignoredSignals).toEqual([
        expect.stringMatching(
          /^approve at .*: "by" "ali\\u0000ce" must be a user name of letters, digits and \. _ @ \+ - \(at most 64\)$/,
        ),
        expect.stringMatching(
          /^approve at .*: "comment" must be text of at most 500 characters without control characters$/,
        ),
        expect.stringMatching(/^abort at .*: "by" "eve smith" must be a user name/),
      ]);
      expect(status.approval?.state).toBe('waiting');
      await handle.signal(approveSignal, { by: 'alice', comment: 'looks good\nsecond line' });
    });
    expect(result?.outcome).toBe('succeeded');
    expect(result?.approval?.decision).toMatchObject({ by: 'alice', comment: 'looks good\nsecond line' });
  });

  /** Why the deployment refused an Update (its validator's message); fails if it was accepted. */
  async function refusal(
    handle: WorkflowHandle,
    update: typeof approveUpdate,
    input: unknown,
  ): Promise<string> {
    try {
      await handle.executeUpdate(update, { args: [input as DecisionInput] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) return err.cause?.message ?? err.message;
      throw err;
    }
    throw new Error(`the update ${JSON.stringify(input)} was accepted`);
  }

  /** Update events in the deployment's history: a refused Update leaves none. */
  async function updateEvents(handle: WorkflowHandle): Promise<number> {
    const { events } = await handle.fetchHistory();
    return (events ?? []).filter((e) =>
      Object.entries(e).some(([k, v]) => /^workflowExecutionUpdate/.test(k) && v),
    ).length;
  }

  test('approve as an Update: a malformed one, an approver not in approval.approvers and a second approval are refused with the reason, leaving no trace; the allowed one is answered', async () => {
    const { result } = await run(
      { previous, approvalSeconds: 600, approvers: ['alice', 'bob'] },
      async (handle) => {
        await until(handle, (s) => s.approval?.state === 'waiting');
        expect(await refusal(handle, approveUpdate, { comment: 'who am I' })).toMatch(
          /^approve at .*: argument must be \{"by": "<who>", \.\.\.\}$/,
        );
        expect(await refusal(handle, approveUpdate, { by: 'mallory' })).toBe(
          'mallory may not approve deployments of staging (approval.approvers: alice, bob)',
        );
        expect(await updateEvents(handle)).toBe(0);
        // The signal from someone not allowed is ignored and shown, as a malformed one is.
        await handle.signal(approveSignal, { by: 'mallory' });
        const status = await until(handle, (s) => s.ignoredSignals.length > 0);
        expect(status.ignoredSignals[0]).toMatch(
          /^approve at .*: mallory may not approve deployments of staging/,
        );
        const answer = await handle.executeUpdate(approveUpdate, {
          args: [{ by: 'alice', comment: 'ship it' }],
        });
        expect(answer).toMatchObject({
          decision: 'approve',
          by: 'alice',
          effect: 'approved: the deployment goes on',
        });
        expect(await refusal(handle, approveUpdate, { by: 'bob' })).toMatch(
          /is already approved by alice$|is not waiting for approval \(approved\)$/,
        );
      },
    );
    expect(result?.outcome).toBe('succeeded');
    expect(result?.approval).toMatchObject({
      state: 'approved',
      decision: { by: 'alice', comment: 'ship it' },
    });
    expect(result?.ignoredSignals).toHaveLength(1);
  });

  test('an early approval by someone approval.approvers leaves out does not count: it is dropped and shown once the plan is known', async () => {
    const { result } = await run({ previous, approvalSeconds: 600, approvers: ['alice'] }, async (handle) => {
      await handle.signal(approveSignal, { by: 'mallory' });
      const status = await until(
        handle,
        (s) => s.approval?.state === 'waiting' && s.ignoredSignals.length > 0,
      );
      expect(status.ignoredSignals).toEqual([
        expect.stringMatching(
          /^approve at .*: mallory may not approve deployments of staging \(approval.approvers: alice\)$/,
        ),
      ]);
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
    });
    expect(result?.outcome).toBe('succeeded');
    expect(result?.approval?.decision?.by).toBe('alice');
  });

  test('approving a deployment that needs no approval is refused; abort as an Update is answered and cancels it', async () => {
    const { error } = await run({ previous, hangingHealth: ['r2'] }, async (handle) => {
      await until(handle, (s) => s.steps.some((x) => x.name === 'health' && x.status === 'running'));
      expect(await refusal(handle, approveUpdate, { by: 'alice' })).toMatch(
        /^deployment .* needs no approval \(environment staging does not require one\)$/,
      );
      const answer = await handle.executeUpdate(abortUpdate, { args: [{ by: 'carol', comment: 'freeze' }] });
      expect(answer).toMatchObject({
        decision: 'abort',
        by: 'carol',
        effect: 'aborted: the current step is cancelled and what the deployment changed is undone',
      });
      expect(await refusal(handle, abortUpdate, { by: 'dave' })).toMatch(
        /is already aborted by carol$|has ended/,
      );
    });
    const failure = failureOf(error);
    expect(failure.type).toBe('DeploymentAborted');
    expect(failure.status.abort).toMatchObject({ by: 'carol', comment: 'freeze' });
  });

  test('abort while waiting: nothing is touched, the failure says who aborted', async () => {
    const { calls, error } = await run({ previous, approvalSeconds: 600 }, async (handle) => {
      await until(handle, (s) => s.approval?.state === 'waiting');
      await handle.signal(abortSignal, { by: 'carol', comment: 'freeze' });
    });
    // Only the host's audit log is written to: who aborted, where, and why.
    expect(calls).toEqual(['resolvePlan', 'audit aborted by carol at approval on web-1: freeze']);
    const failure = failureOf(error);
    expect(failure.type).toBe('DeploymentAborted');
    expect(failure.status.outcome).toBe('aborted');
    expect(failure.status.approval).toMatchObject({
      state: 'aborted',
      decision: { by: 'carol', comment: 'freeze' },
    });
    expect(failure.message).toBe(
      'deployment of r2 to staging was aborted at "approval": aborted by carol: freeze. Nothing had been changed on any host.',
    );
  });

  test('no decision by the deadline aborts before any host is touched', async () => {
    // A real, short deadline: on the time-skipping test server this workflow did not finish
    // (it upserts custom search attributes, which that server does not register).
    const { calls, error } = await run({ previous, approvalSeconds: 2 });
    expect(calls).toEqual(['resolvePlan']);
    const failure = failureOf(error);
    expect(failure.type).toBe('ApprovalExpired');
    expect(failure.message).toMatch(
      /failed at "approval": no approval within 2 s \(deadline .*\)\. Nothing had been changed on any host\.$/,
    );
    expect(failure.status.outcome).toBe('aborted');
    expect(failure.status.approval?.state).toBe('expired');
  });

  test('abort during the health wait cancels it and rolls back', async () => {
    const { calls, error, workflowId } = await run(
      { previous, hangingHealth: ['r2'] },
      async (handle, calls) => {
        await until(handle, (s) => s.stage === 'health');
        while (!calls.includes('health r2')) await new Promise((r) => setTimeout(r, 50));
        await handle.signal(abortSignal, { by: 'dave' });
      },
    );
    await saveHistory(env, 'aborted-mid-health', workflowId);
    await saveHistory(env, 'aborted-mid-health-audited', workflowId);
    expect(calls.slice(-5)).toEqual([
      'health r2 stopped',
      'audit aborted by dave at health on web-1',
      'upload web-1@r1 ghcr.io/acme/site:v1,ghcr.io/acme/api:v1',
      'start web-1@r1',
      'health r1',
    ]);
    const failure = failureOf(error);
    expect(failure.type).toBe('DeploymentAborted');
    expect(failure.status.outcome).toBe('aborted');
    expect(failure.status.rollback).toMatchObject({ restoredRelease: 'r1', healthy: true });
  });

  test('compensation starts only once the cancelled step has stopped, however long that takes', async () => {
    const { calls, error } = await run(
      { previous, hangingHealth: ['r2'], stopTakesMs: 1500 },
      async (handle, calls) => {
        while (!calls.includes('health r2')) await new Promise((r) => setTimeout(r, 50));
        await handle.signal(abortSignal, { by: 'dave' });
      },
    );
    // Without waiting for the cancellation to complete, the undo's upload came first.
    expect(calls.slice(calls.indexOf('health r2'))).toEqual([
      'health r2',
      'health r2 stopped',
      'audit aborted by dave at health on web-1',
      'upload web-1@r1 ghcr.io/acme/site:v1,ghcr.io/acme/api:v1',
      'start web-1@r1',
      'health r1',
    ]);
    expect(failureOf(error).status.outcome).toBe('aborted');
  });
});

describe('notifications', () => {
  const hooks = useWebhookReceiver();
  const { secrets } = hooks;

  /** Webhooks on the receiver: ops-json (signed), chat (slack) and any extra routes given. */
  function webhooks(extra: { name: string; path: string; events?: WebhookConfig['events'] }[] = []) {
    const hook = (name: string) => `${hooks.receiver.base}/hooks/${secrets.LAB_WEBHOOK_TOKEN}/${name}`;
    const config: WebhookConfig[] = [
      {
        name: 'ops-json',
        format: 'json',
        url: { fromEnv: 'HOOK_OPS' },
        signingKey: { fromEnv: 'LAB_WEBHOOK_SIGNING_KEY' },
      },
      { name: 'chat', format: 'slack', url: { fromEnv: 'HOOK_CHAT' } },
      ...extra.map((e, i) => ({
        name: e.name,
        format: 'json' as const,
        url: { fromEnv: `HOOK_EXTRA_${i}` },
        ...(e.events ? { events: e.events } : {}),
      })),
    ];
    const workerEnv: NodeJS.ProcessEnv = { ...secrets, HOOK_OPS: hook('ops-json'), HOOK_CHAT: hook('chat') };
    extra.forEach((e, i) => (workerEnv[`HOOK_EXTRA_${i}`] = `${hooks.receiver.base}${e.path}`));
    return { config, workerEnv };
  }

  const of = (workflowId: string, route: string) => (r: ReturnType<WebhookReceiver['received']>) =>
    r.filter((x) => x.route === route && x.delivery?.startsWith(`${workflowId}/`));
  const events = (got: ReturnType<WebhookReceiver['received']>) => got.map((x) => x.event);

  test('an approved deployment tells each webhook it started, waits for approval (with the UI link), was approved by whom and succeeded', async () => {
    const { result, workflowId } = await run(
      { previous, approvalSeconds: 600, webhooks: webhooks() },
      async (handle) => {
        await until(handle, (s) => s.approval?.state === 'waiting');
        await hooks.receiver.waitFor('approval-waiting', (r) =>
          events(of(handle.workflowId, 'hooks/ops-json')(r)).includes('approval-waiting'),
        );
        await handle.signal(approveSignal, { by: 'alice', comment: 'ship <it> & go' });
      },
    );
    expect(result?.outcome).toBe('succeeded');
    // Delivery goes on in child workflows after the deployment ended.
    const all = await hooks.receiver.waitFor('succeeded on both webhooks', (r) =>
      ['hooks/ops-json', 'hooks/chat'].every((route) =>
        events(of(workflowId, route)(r)).includes('succeeded'),
      ),
    );
    const json = of(workflowId, 'hooks/ops-json')(all);
    expect(events(json)).toEqual(['started', 'approval-waiting', 'approved', 'succeeded']);
    expect(json.every((x) => x.tokenMatched && x.status === 200 && x.signature === 'valid')).toBe(true);
    expect(new Set(json.map((x) => x.delivery)).size).toBe(4);
    const body = (event: string) =>
      json.find((x) => x.event === event)!.body as Notification & { link: string };
    expect(body('approval-waiting')).toMatchObject({
      environment: 'staging',
      release: 'r2',
      by: 'ci',
      link: uiLink(workflowId),
      detail: `approve or abort it in the Web UI, or: deployctl approve --id ${workflowId} --by <you>`,
    });
    expect(body('approved')).toMatchObject({
      by: 'alice',
      detail: 'ship <it> & go',
      summary: 'r2 approved by alice',
    });
    expect(body('succeeded')).toMatchObject({ outcome: 'succeeded', summary: 'r2 is live (deployed by ci)' });
    // The chat webhook is unsigned, in Slack's incoming-webhook shape, with its markup escaped.
    const chat = of(workflowId, 'hooks/chat')(all);
    expect(chat.every((x) => x.signature === 'absent')).toBe(true);
    expect((chat.find((x) => x.event === 'approved')!.body as { text: string }).text).toBe(
      `*staging*: r2 approved by alice\nship &lt;it&gt; &amp; go\n<${uiLink(workflowId)}|Open in Temporal>`,
    );
  });

  test('a rolled-back deployment says so; a receiver that is down or refuses neither fails nor holds up the deployment', async () => {
    let checked = false;
    const { error } = await run(
      {
        previous,
        unhealthy: ['r2'],
        webhooks: webhooks([
          { name: 'down', path: '/down/x', events: ['started'] },
          { name: 'refused', path: '/hooks/not-the-token/x', events: ['rolled-back'] },
        ]),
      },
      // Checked while the worker runs: delivery goes on in child workflows after the deployment.
      async (handle) => {
        const workflowId = handle.workflowId;
        await handle.result().catch(() => undefined);
        const { runId } = await handle.describe();
        // The receiver that is down is retried for up to 2 minutes; the deployment did not wait.
        const startedDelivery = await env.client.workflow
          .getHandle(notificationWorkflowId(workflowId, runId, 1))
          .describe();
        expect(startedDelivery.status.name).toBe('RUNNING');
        const all = await hooks.receiver.waitFor(
          'rolled-back, and a retry of the receiver that is down',
          (r) =>
            events(of(workflowId, 'hooks/ops-json')(r)).includes('rolled-back') &&
            of(workflowId, 'down/x')(r).length >= 2,
        );
        const rolledBack = of(workflowId, 'hooks/ops-json')(all).find((x) => x.event === 'rolled-back')!;
        expect(rolledBack.body).toMatchObject({
          outcome: 'rolled-back',
          summary: expect.stringContaining('Rolled back: restored release r1 on web-1'),
        });
        // A refusal (404) is not retried; its delivery fails, naming the webhook and never its URL.
        const failed = await env.client.workflow
          .getHandle(notificationWorkflowId(workflowId, runId, 2))
          .result()
          .then(
            () => undefined,
            (err: unknown) => err as WorkflowFailedError,
          );
        const message = (failed?.cause as ApplicationFailure | undefined)?.message ?? '';
        expect(message).toBe(
          'rolled-back of staging not delivered: webhook "refused": the receiver answered HTTP 404, which a retry would not change',
        );
        expect(of(workflowId, 'hooks/x')(hooks.receiver.received())).toHaveLength(1);
        checked = true;
      },
    );
    expect(failureOf(error).status.outcome).toBe('rolled-back');
    expect(checked).toBe(true);
  });

  test('each request is signed over its exact body with the signing key', () => {
    const body = JSON.stringify({ event: 'started' });
    expect(signature(body, 'k')).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(signature(body, 'k')).not.toBe(signature(body, 'other'));
  });
});

describe('one deployment per environment', () => {
  /** Several deployments on one worker, each approved (and so released) only when the test says. */
  async function withWorker<T>(
    script: Script,
    fn: (calls: string[], taskQueue: string) => Promise<T>,
  ): Promise<T> {
    const calls: string[] = [];
    const taskQueue = `lock-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      activities: stubActivities(script, calls),
      workflowFailureErrorTypes: { '*': ['NondeterminismError', 'DeterminismViolationError'] },
    });
    return worker.runUntil(fn(calls, taskQueue));
  }
  const start = (taskQueue: string, environmentName: string, release: string, onBusy?: 'wait' | 'fail') =>
    env.client.workflow.start('deployEnvironment', {
      taskQueue,
      workflowId: `deploy-${environmentName}-${release}-${randomUUID()}`,
      args: [{ ...request, environment: environmentName, release, ...(onBusy ? { onBusy } : {}) }],
    });
  const envName = () => `env-${randomUUID().slice(0, 8)}`;

  test('a second deployment with --on-busy fail is refused while the first holds the lock', async () => {
    await withWorker({ approvalSeconds: 600 }, async (calls, taskQueue) => {
      const name = envName();
      const first = await start(taskQueue, name, 'r2');
      await until(first, (s) => s.approval?.state === 'waiting');
      const second = await start(taskQueue, name, 'r3', 'fail');
      const error = await second.result().then(
        () => undefined,
        (err) => err as WorkflowFailedError,
      );
      const failure = failureOf(error);
      expect(failure.type).toBe('EnvironmentBusy');
      expect(failure.message).toContain(
        `environment ${name} is locked by another deployment (${first.workflowId}, release r2, requested by ${request.requestedBy} at `,
      );
      expect(failure.message).toContain('); --on-busy fail was given');
      expect(failure.message).toContain('Nothing had been changed on any host.');
      expect(calls.filter((c) => c.includes('@r3'))).toEqual([]);
      await first.signal(approveSignal, { by: 'ops' });
      expect((await first.result()).outcome).toBe('succeeded');
    });
  });

  test('a second deployment waits its turn, then runs', async () => {
    await withWorker({ approvalSeconds: 600 }, async (calls, taskQueue) => {
      const name = envName();
      const first = await start(taskQueue, name, 'r2');
      await until(first, (s) => s.approval?.state === 'waiting');
      const second = await start(taskQueue, name, 'r3');
      await second.signal(approveSignal, { by: 'ops' }); // kept until it gets there
      await until(second, (s) => s.stage === 'lock (waiting for another deployment)');
      await first.signal(approveSignal, { by: 'ops' });
      expect((await first.result()).outcome).toBe('succeeded');
      expect((await second.result()).outcome).toBe('succeeded');
      await saveHistory(env, 'lock-waited', second.workflowId);
      await saveHistory(env, 'lock-queue', `lock-${name}`);
      // Nothing of r3 happened before r2 was recorded.
      expect(calls.indexOf('record web-1@r2')).toBeLessThan(
        calls.findIndex((c) => c.startsWith('upload web-1@r3')),
      );
    });
  });

  test('two environments deploy in parallel', async () => {
    await withWorker({ approvalSeconds: 600 }, async (_calls, taskQueue) => {
      const a = await start(taskQueue, envName(), 'r2', 'fail');
      const b = await start(taskQueue, envName(), 'r2', 'fail');
      // Both hold their own lock and wait for approval at the same time.
      await until(a, (s) => s.approval?.state === 'waiting');
      await until(b, (s) => s.approval?.state === 'waiting');
      await Promise.all([a.signal(approveSignal, { by: 'ops' }), b.signal(approveSignal, { by: 'ops' })]);
      expect((await a.result()).outcome).toBe('succeeded');
      expect((await b.result()).outcome).toBe('succeeded');
    });
  });

  test('a CI retry attaches to the finished deployment; once another replaced it, the same release deploys again', async () => {
    await withWorker({}, async (calls, taskQueue) => {
      const name = envName();
      const settings = { taskQueue } as Settings;
      const ask = (release: string) =>
        startOrAttach(env.client, settings, { ...request, environment: name, release });
      const first = await ask('r1');
      expect((await first.handle.result()).outcome).toBe('succeeded');
      const retry = await ask('r1');
      expect(retry).toMatchObject({ attached: true });
      expect(retry.redeploysAfter).toBeUndefined();

      const second = await ask('r2');
      expect((await second.handle.result()).outcome).toBe('succeeded');
      // Visibility learns r2's outcome a moment after it closes.
      await waitForVisibility(
        `${DEPLOY_ENVIRONMENT.name} = '${name}' AND ${DEPLOY_STATUS.name} = 'succeeded'`,
        2,
      );
      const rerun = await ask('r1');
      expect(rerun).toMatchObject({ attached: false, redeploysAfter: second.handle.workflowId });
      expect((await rerun.handle.result()).outcome).toBe('succeeded');
      expect(calls.filter((c) => c === 'record web-1@r1')).toHaveLength(2);
      // Right after the re-run, a retry of it attaches again: nothing replaced it.
      const retryOfRerun = await ask('r1');
      expect(retryOfRerun.attached).toBe(true);
    });
  });

  test('a deployment terminated by an operator leaves no stale lock', async () => {
    await withWorker({ approvalSeconds: 600 }, async (_calls, taskQueue) => {
      const name = envName();
      const first = await start(taskQueue, name, 'r2');
      await until(first, (s) => s.approval?.state === 'waiting');
      // Like a kill -9 of everything: no workflow code runs, no release signal is sent.
      await first.terminate('operator gave up');
      const second = await start(taskQueue, name, 'r3', 'fail');
      await second.signal(approveSignal, { by: 'ops' });
      expect((await second.result()).outcome).toBe('succeeded');
    });
  });
});

/** Wait (at most 10 s) until the visibility query finds at least `count` workflows. */
async function waitForVisibility(query: string, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    let found = 0;
    for await (const _ of env.client.workflow.list({ query })) found++;
    if (found >= count) return;
    if (Date.now() > deadline) throw new Error(`visibility shows ${found} < ${count} for ${query}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('recorded histories replay without non-determinism', async () => {
  const files = corpusFiles();
  expect(files.length).toBeGreaterThanOrEqual(2);
  const ids = recordedWorkflowIds();
  for (const file of files) {
    const history = historyFromJSON(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')));
    await expect(
      Worker.runReplayHistory({ workflowBundle }, history, ids[file] ?? file),
    ).resolves.toBeUndefined();
  }
});

test('the corpus replays the new side of every patch in src/workflows, and the old side where one was recorded', () => {
  const corpus = corpusFiles().map((file) => ({
    file,
    ...patchesIn(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8'))),
  }));
  const patches = patchIdsInSource(join(__dirname, '..', '..', 'src', 'workflows'));
  expect(patches).toEqual(
    expect.arrayContaining([
      'environment-lock',
      'environment-lock-queue',
      'wait-for-cancelled-activities',
      'decisions-audited',
      'forced-release-audited',
    ]),
  );
  const withoutNewSide = patches.filter((id) => !corpus.some((h) => h.patches.includes(id)));
  expect(withoutNewSide).toEqual([]);
  // The lock queue replaced a child lease that earlier deployments still replay.
  const oldLock = corpus.filter(
    (h) => h.type === 'deployEnvironment' && !h.patches.includes('environment-lock-queue'),
  );
  expect(oldLock.map((h) => h.file)).toEqual(
    expect.arrayContaining(['good-deploy.json', 'rolled-back.json']),
  );
});

/** The workflow type and the patch ids (core_patch markers) a recorded history holds. */
function patchesIn(history: {
  events: {
    workflowExecutionStartedEventAttributes?: { workflowType: { name: string } };
    markerRecordedEventAttributes?: {
      markerName: string;
      details: Record<string, { payloads: { data: string }[] }>;
    };
  }[];
}): { type: string; patches: string[] } {
  const type = history.events[0].workflowExecutionStartedEventAttributes?.workflowType.name ?? '?';
  const patches = history.events
    .map((e) => e.markerRecordedEventAttributes)
    .filter((m) => m?.markerName === 'core_patch')
    .map(
      (m) =>
        JSON.parse(Buffer.from(m!.details['patch-data'].payloads[0].data, 'base64').toString()).id as string,
    );
  return { type, patches: [...new Set(patches)] };
}

/** Every id given to patched() under `dir`, as a literal or through a constant of the same tree. */
function patchIdsInSource(dir: string): string[] {
  const sources = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(join(dir, f), 'utf8'));
  const constants = new Map<string, string>();
  for (const text of sources)
    for (const [, name, value] of text.matchAll(/const ([A-Z_]+) = '([a-z0-9-]+)'/g))
      constants.set(name, value);
  const ids = new Set<string>();
  for (const text of sources)
    for (const [, literal, constant] of text.matchAll(/patched\((?:'([a-z0-9-]+)'|([A-Z_]+))\)/g)) {
      const id = literal ?? constants.get(constant);
      if (!id) throw new Error(`patched(${constant}): no constant ${constant} in ${dir}`);
      ids.add(id);
    }
  return [...ids].sort();
}
