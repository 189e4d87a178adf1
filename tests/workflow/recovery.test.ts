import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { DeployActivities } from '../../src/activities';
import type { HostDump } from '../../src/activities/backups';
import { loadEnvironment } from '../../src/config/load';
import type { EnvironmentConfig } from '../../src/config/schema';
import type { BackupReport, StoredBackup } from '../../src/shared/backups';
import type { DrillReport } from '../../src/shared/drills';
import type { DeployPlan } from '../../src/shared/deployment';
import { saveHistory, startLocalTemporal } from './testEnv';
import { createNotificationActivities } from '../../src/activities/notifications';
import type { WebhookConfig } from '../../src/config/schema';
import type { Notification } from '../../src/shared/notifications';
import { useWebhookReceiver } from '../shared/webhookReceiver';
import { createRecoveryActivities } from '../../src/activities/recovery';
import { readCatalog } from '../../src/client/operations';
import { loadSettings } from '../../src/shared/settings';
import { LocalBackupStore } from '../../src/store/localStore';
import { BackupStores } from '../../src/store/stores';

/**
 * Every branch of backupEnvironment and drDrill against a real Temporal server with the
 * activities stubbed: each stub records its call, so the tests assert what ran and what was
 * cleaned up (the lab tests run the real activities).
 */

const base = loadEnvironment(join(__dirname, '..', 'fixtures', 'environments'), 'staging');
const environment: EnvironmentConfig = {
  ...base,
  database: { service: 'db', user: 'app', name: 'app' },
  backups: { schedule: { every: '6h' }, retention: { keepLast: 3, dailyDays: 7, weeklyWeeks: 4 } },
  drills: { schedule: { cron: '0 4 * * 1' }, env: {}, targets: { rpoSeconds: 3600, rtoSeconds: 300 } },
};

interface Script {
  /** verifyStoredBackup fails as BackupCorrupt. */
  corruptCopy?: boolean;
  /** pickBackup fails as BackupCorrupt (a copy that rotted in the store). */
  corruptStore?: boolean;
  /** The restored data differs from the backup's fingerprints. */
  dataMismatch?: boolean;
  /** Health takes this long (ms of real time), to exceed a tiny RTO target. */
  slowHealthMs?: number;
  /** Health never passes. */
  unhealthy?: boolean;
  /** The environment has colours behind Traefik (a traffic section). */
  colours?: boolean;
  /** Notify this webhook through the real sendWebhook activity. */
  webhook?: { config: WebhookConfig; workerEnv: NodeJS.ProcessEnv };
  /** Runs once the workflow ended, while the worker still runs (notifications are delivered then). */
  afterwards?: (workflowId: string) => Promise<void>;
}

const withColours: EnvironmentConfig = {
  ...environment,
  strategy: 'blue-green',
  traffic: loadEnvironment(join(__dirname, '..', 'fixtures', 'environments'), 'production').traffic,
};

const tables = [{ table: 'public.visits', rows: 3, md5: 'abc' }];
const dump: HostDump = {
  host: 'web-1',
  path: '/srv/apps/shop/backups/x.dump',
  sha256: 'a'.repeat(64),
  sizeBytes: 100,
  createdAt: new Date().toISOString(),
  durationMs: 10,
  tables,
};

function stored(id: string): StoredBackup {
  return {
    id,
    environment: 'staging',
    createdAt: new Date().toISOString(),
    sizeBytes: 100,
    sha256: 'a'.repeat(64),
    durationMs: 30,
    steps: { dumpMs: 10, copyMs: 10, verifyMs: 10 },
    location: `/store/staging/backups/${id}.dump`,
    source: { host: 'web-1', path: dump.path },
    release: {
      release: 'r1',
      images: { site: 'ghcr.io/acme/site:v1', api: 'ghcr.io/acme/api:v1' },
      deployedAt: '2026-01-01T00:00:00.000Z',
      deployedBy: 'ci',
      deploymentId: 'deploy-staging-r1',
    },
    tables,
    verification: { verifiedAt: new Date().toISOString(), pgRestoreListEntries: 10 },
  };
}

function stubActivities(script: Script, calls: string[], drills: DrillReport[]): Partial<DeployActivities> {
  const coloured = script.colours ? withColours : environment;
  const configured: EnvironmentConfig = script.webhook
    ? { ...coloured, notifications: { webhooks: [script.webhook.config] } }
    : coloured;
  const scratch = (drillId: string): DeployPlan => ({
    deploymentId: drillId,
    environment: { ...configured, project: 'shop-drill-abc' },
    images: stored('b1').release!.images,
    request: { environment: 'staging', release: 'r1', images: {}, requestedBy: 'test' },
  });
  return {
    async loadEnvironmentConfig() {
      return configured;
    },
    async dumpDatabase() {
      calls.push('dump');
      return dump;
    },
    async copyBackupToStore() {
      calls.push('copy');
      return { location: '/store/x.dump', durationMs: 5 };
    },
    async verifyStoredBackup(input) {
      calls.push('verify');
      if (script.corruptCopy)
        throw ApplicationFailure.nonRetryable('backup x failed verification: truncated', 'BackupCorrupt');
      return stored(input.backupId);
    },
    async removeHostDump() {
      calls.push('remove-host-dump');
    },
    async discardBackup() {
      calls.push('discard');
    },
    async applyRetention() {
      calls.push('retention');
      return { kept: ['b1'], deleted: ['b0'] };
    },
    async pickBackup() {
      calls.push('pick');
      if (script.corruptStore)
        throw ApplicationFailure.nonRetryable('backup b1 is corrupt: sha256 differs', 'BackupCorrupt');
      return stored('b1');
    },
    async planScratchStack(input) {
      calls.push('plan');
      drillIds.push(input.drillId);
      return scratch(input.drillId);
    },
    async uploadRelease() {
      calls.push('upload');
    },
    async pullImages() {
      calls.push('pull');
      return { configuredServices: [] };
    },
    async uploadBackupToHost() {
      calls.push('upload-backup');
      return { path: '/x.dump', sha256: 'a'.repeat(64), sizeBytes: 100, durationMs: 1, createdAt: '' };
    },
    async startDatabase() {
      calls.push('database');
      return 'started' as const;
    },
    async restoreDatabase() {
      calls.push('restore');
    },
    async checkRestoredData() {
      calls.push('data-check');
      return script.dataMismatch
        ? { matched: false, tables: 1, mismatches: ['public.visits: 2 rows, the backup had 3'] }
        : { matched: true, tables: 1, mismatches: [] };
    },
    async startServices() {
      calls.push('start');
    },
    async uploadColour({ colour }) {
      calls.push(`upload ${colour}`);
    },
    async pullColour({ colour }) {
      calls.push(`pull ${colour}`);
    },
    async startSharedStack() {
      calls.push('start shared');
    },
    async startColour({ colour }) {
      calls.push(`start ${colour}`);
    },
    async switchTraffic({ weights }) {
      calls.push(`route blue ${weights.blue} green ${weights.green}`);
      return { weights, confirmedAfterMs: 1, written: true };
    },
    async recordColour({ colour }) {
      calls.push(`record ${colour}`);
    },
    async waitForHealth() {
      calls.push('health');
      if (script.slowHealthMs) await new Promise((r) => setTimeout(r, script.slowHealthMs));
      if (script.unhealthy)
        throw ApplicationFailure.nonRetryable('health deadline passed', 'HealthDeadlineExceeded');
      return { elapsedMs: 1, attempts: 1, probes: [] };
    },
    async postDeployChecks() {
      calls.push('smoke');
      return [];
    },
    async destroyScratchStack() {
      calls.push('teardown');
    },
    async recordDrillReport({ report }) {
      calls.push('record');
      drills.push(report);
    },
  };
}

/** Ids planScratchStack was given (they name files on the drill host). */
const drillIds: string[] = [];
let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  env = await startLocalTemporal();
  workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') });
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

async function run<T>(
  workflowType: 'backupEnvironment' | 'drDrill',
  input: object,
  script: Script,
  workflowId = `${workflowType}-${randomUUID()}`,
): Promise<{
  calls: string[];
  drills: DrillReport[];
  result?: T;
  failure?: ApplicationFailure;
  workflowId: string;
}> {
  const calls: string[] = [];
  const drills: DrillReport[] = [];
  const taskQueue = `test-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle,
    activities: {
      ...stubActivities(script, calls, drills),
      ...(script.webhook
        ? createNotificationActivities({
            workerEnv: script.webhook.workerEnv,
            workflowLink: (id) => `http://ui.test/workflows/${id}`,
          })
        : {}),
    },
    workflowFailureErrorTypes: { '*': ['NondeterminismError', 'DeterminismViolationError'] },
  });
  return worker.runUntil(async () => {
    try {
      const result = await env.client.workflow.execute(workflowType, {
        taskQueue,
        workflowId,
        args: [input],
      });
      await script.afterwards?.(workflowId);
      return { calls, drills, result: result as T, workflowId };
    } catch (err) {
      if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
        await script.afterwards?.(workflowId);
        return { calls, drills, failure: err.cause, workflowId };
      }
      throw err;
    }
  });
}

describe('backupEnvironment', () => {
  test('dump, copy, verify, then the host dump goes and retention runs', async () => {
    const { calls, result, workflowId } = await run<BackupReport>(
      'backupEnvironment',
      { environment: 'staging', requestedBy: 'test' },
      {},
    );
    await saveHistory(env, 'backup-verified', workflowId);
    expect(calls).toEqual(['dump', 'copy', 'verify', 'remove-host-dump', 'retention']);
    expect(result?.backup.id).toMatch(/^staging-\d{8}T\d{6}Z-[0-9a-f]{8}$/);
    expect(result?.retention).toEqual({ kept: ['b1'], deleted: ['b0'] });
  });

  test('a copy that fails verification is discarded, never recorded, and the backup fails as BackupCorrupt', async () => {
    const { calls, failure } = await run(
      'backupEnvironment',
      { environment: 'staging', requestedBy: 'test' },
      {
        corruptCopy: true,
      },
    );
    expect(calls).toEqual(['dump', 'copy', 'verify', 'discard', 'remove-host-dump']);
    expect(failure?.type).toBe('BackupCorrupt');
    expect(failure?.message).toContain('truncated');
  });
});

describe('drDrill', () => {
  test('a good drill restores, checks data, answers, tears down and keeps a passing report', async () => {
    const { calls, result, drills, workflowId } = await run<DrillReport>(
      'drDrill',
      { environment: 'staging', requestedBy: 'test' },
      {},
    );
    await saveHistory(env, 'drill-passed', workflowId);
    await saveHistory(env, 'drill-database-beside-copy', workflowId);
    // The backup's copy runs beside the pull and the database's start, in either order.
    expect(calls.slice(3, 6).sort()).toEqual(['database', 'pull', 'upload-backup']);
    expect(calls.indexOf('pull')).toBeLessThan(calls.indexOf('database'));
    expect([...calls.slice(0, 3), 'beside', ...calls.slice(6)]).toEqual([
      'pick',
      'plan',
      'upload',
      'beside',
      'restore',
      'data-check',
      'start',
      'health',
      'smoke',
      'teardown',
      'record',
    ]);
    expect(result?.passed).toBe(true);
    expect(result?.teardown).toBe('done');
    expect(result?.rpoSeconds).toBeGreaterThanOrEqual(0);
    expect(result?.rtoSeconds).toBeGreaterThanOrEqual(0);
    expect(drills).toHaveLength(1);
  });

  test('with colours, the scratch stack is the shared stack plus blue, all traffic routed to it', async () => {
    const { calls, result } = await run<DrillReport>(
      'drDrill',
      { environment: 'staging', requestedBy: 'test' },
      { colours: true },
    );
    expect(calls.slice(4, 8).sort()).toEqual(['database', 'pull', 'pull blue', 'upload-backup']);
    expect(calls.indexOf('pull blue')).toBeLessThan(calls.indexOf('database'));
    expect([...calls.slice(0, 4), 'beside', ...calls.slice(8)]).toEqual([
      'pick',
      'plan',
      'upload',
      'upload blue',
      'beside',
      'restore',
      'data-check',
      'start shared',
      'start blue',
      'route blue 100 green 0',
      'record blue',
      'health',
      'smoke',
      'teardown',
      'record',
    ]);
    expect(result?.passed).toBe(true);
  });

  test('a drill started by a schedule (its workflow id carries an RFC 3339 time) names its files with a safe id', async () => {
    const scheduledId = `drill-staging-${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}-${randomUUID().slice(0, 4)}`;
    expect(scheduledId).toContain(':');
    drillIds.length = 0;
    const { result } = await run<DrillReport>(
      'drDrill',
      { environment: 'staging', requestedBy: 'schedule' },
      {},
      scheduledId,
    );
    expect(result?.passed).toBe(true);
    expect(result?.id).toMatch(/^drill-staging-\d{8}T\d{6}Z-[0-9a-f]{8}$/);
    expect(drillIds).toEqual([result?.id]);
  });

  test('an impossible RTO target fails the drill loudly, after teardown', async () => {
    const { calls, failure, drills } = await run(
      'drDrill',
      { environment: 'staging', requestedBy: 'test', targets: { rtoSeconds: 1 } },
      { slowHealthMs: 1500 },
    );
    expect(failure?.type).toBe('DrillFailed');
    expect(failure?.message).toMatch(/RTO [\d.]+ s exceeds the target of 1 s/);
    expect(calls.slice(-2)).toEqual(['teardown', 'record']);
    const report = failure?.details?.[0] as DrillReport;
    expect(report.passed).toBe(false);
    expect(drills[0].passed).toBe(false);
  });

  test('data that does not match the backup fails the drill; the stack is still torn down', async () => {
    const { calls, failure } = await run(
      'drDrill',
      { environment: 'staging', requestedBy: 'test' },
      {
        dataMismatch: true,
      },
    );
    expect(failure?.type).toBe('DrillFailed');
    expect(failure?.message).toContain('data check: public.visits: 2 rows, the backup had 3');
    expect(calls).toContain('teardown');
  });

  test('a step that fails still tears the scratch stack down and records the failure', async () => {
    const { calls, failure, drills, workflowId } = await run(
      'drDrill',
      { environment: 'staging', requestedBy: 'test' },
      { unhealthy: true },
    );
    await saveHistory(env, 'drill-failed-health', workflowId);
    expect(failure?.type).toBe('DrillFailed');
    expect(failure?.message).toContain('health: health deadline passed');
    expect(calls).not.toContain('smoke');
    expect(calls.slice(-2)).toEqual(['teardown', 'record']);
    expect(drills[0].failures[0]).toContain('health deadline passed');
  });

  test('a corrupt backup fails before any host is touched, with the reason', async () => {
    const { calls, failure, drills } = await run(
      'drDrill',
      { environment: 'staging', requestedBy: 'test' },
      {
        corruptStore: true,
      },
    );
    expect(calls).toEqual(['pick', 'record']);
    expect(failure?.type).toBe('DrillFailed');
    expect(failure?.message).toContain('backup b1 is corrupt');
    expect(drills[0].teardown).toBe('not-needed');
  });
});

describe('the catalog', () => {
  /** A backup record as a 300-table database makes it: about 25 KB of fingerprints. */
  function bigRecord(store: LocalBackupStore, i: number): StoredBackup {
    const id = `staging-20261201T${String(100000 + i).slice(1)}Z-abcd1234`;
    return {
      id,
      environment: 'staging',
      createdAt: new Date(Date.UTC(2026, 11, 1, 0, 0, i)).toISOString(),
      sizeBytes: 1_000_000 + i,
      sha256: 'a'.repeat(64),
      durationMs: 1000,
      steps: { dumpMs: 600, copyMs: 200, verifyMs: 200 },
      location: store.dumpPath('staging', id),
      source: { host: 'web-1', path: `/srv/backups/${id}.dump` },
      tables: Array.from({ length: 300 }, (_, t) => ({
        table: `public.table_with_a_long_name_${t}`,
        rows: 1000 + t,
        md5: 'f'.repeat(32),
      })),
      verification: {
        verifiedAt: new Date(Date.UTC(2026, 11, 1, 0, 0, i)).toISOString(),
        pgRestoreListEntries: 900,
      },
    };
  }

  test('100 backups of a 300-table database (past the 2 MB payload limit) are read in pages, all of them', async () => {
    const root = mkdtempSync(join(tmpdir(), 'catalog-'));
    const stores = new BackupStores(root, root);
    const store = stores.local;
    store.ensureDir('staging');
    for (let i = 0; i < 100; i++) {
      const record = bigRecord(store, i);
      writeFileSync(record.location, 'dump');
      await store.writeBackupRecord(record);
    }
    const onePayload = Buffer.byteLength(JSON.stringify(await store.listBackups('staging')));
    expect(onePayload).toBeGreaterThan(2 * 1024 * 1024);

    const taskQueue = `catalog-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      activities: {
        readCatalog: createRecoveryActivities({ configDir: root, projectRoot: root, workerEnv: {}, stores })
          .readCatalog,
      },
    });
    const result = await worker.runUntil(
      readCatalog(env.client, loadSettings({ DEPLOY_TASK_QUEUE: taskQueue }), {
        environment: 'staging',
        kind: 'backups',
        limit: 100,
      }),
    );
    expect(result.kind).toBe('backups');
    const ids = result.kind === 'backups' ? result.backups.map((b) => b.id) : [];
    expect(ids).toEqual((await store.listBackups('staging')).map((b) => b.id));
    expect(new Set(ids).size).toBe(100);
    expect(result).not.toHaveProperty('nextOffset');
  }, 120_000);
});

describe('notifications', () => {
  const hooks = useWebhookReceiver();
  const { secrets } = hooks;

  /** One json webhook on the receiver; `got` is filled with what it received for the workflow. */
  function watched(event: Notification['event'], got: Notification[]): Script {
    return {
      webhook: {
        config: { name: 'ops', format: 'json', url: { fromEnv: 'HOOK_OPS' } },
        workerEnv: { HOOK_OPS: `${hooks.receiver.base}/hooks/${secrets.LAB_WEBHOOK_TOKEN}/ops` },
      },
      async afterwards(workflowId) {
        const all = await hooks.receiver.waitFor(`${event} of ${workflowId}`, (r) =>
          r.some((x) => x.event === event && (x.body as Notification).workflowId === workflowId),
        );
        got.push(...all.map((x) => x.body as Notification).filter((b) => b.workflowId === workflowId));
      },
    };
  }

  test('a failed backup is told, with why and who asked', async () => {
    const got: Notification[] = [];
    const { failure } = await run(
      'backupEnvironment',
      { environment: 'staging', requestedBy: 'nightly' },
      { ...watched('backup-failed', got), corruptCopy: true },
    );
    expect(failure?.type).toBe('BackupCorrupt');
    expect(got).toEqual([
      expect.objectContaining({
        event: 'backup-failed',
        environment: 'staging',
        by: 'nightly',
        outcome: 'failed',
        summary: expect.stringMatching(
          /^backup staging-\d{8}T\d{6}Z-[0-9a-f]{8} failed at "verify" \(requested by nightly\)$/,
        ),
        detail: 'backup x failed verification: truncated',
      }),
    ]);
  });

  test('a drill tells its result with RPO and RTO against the targets; a good backup tells nothing', async () => {
    const got: Notification[] = [];
    const { result } = await run<DrillReport>(
      'drDrill',
      { environment: 'staging', requestedBy: 'weekly' },
      watched('drill-result', got),
    );
    expect(got).toEqual([
      expect.objectContaining({
        event: 'drill-result',
        outcome: 'passed',
        by: 'weekly',
        summary: `restore drill passed: RPO ${result!.rpoSeconds} s, RTO ${result!.rtoSeconds} s (targets 3600 s, 300 s)`,
      }),
    ]);
    const quiet: Notification[] = [];
    const backup = await run<BackupReport>(
      'backupEnvironment',
      { environment: 'staging', requestedBy: 'nightly' },
      { ...watched('backup-failed', quiet), afterwards: undefined },
    );
    expect(backup.result?.backup.id).toBeDefined();
    const history = await env.client.workflow.getHandle(backup.workflowId).fetchHistory();
    expect(history.events?.some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)).toBe(false);
  });
});
