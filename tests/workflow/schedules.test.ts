import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScheduleNotFoundError } from '@temporalio/client';
import type { TypedSearchAttributes } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadEnvironment } from '../../src/config/load';
import type { EnvironmentConfig } from '../../src/config/schema';
import { applySchedules, type ApplyResult } from '../../src/schedules/apply';
import { listSchedules, type ScheduleRow } from '../../src/schedules/list';
import { CliExit } from '../../src/client/cliExit';
import { ExitCode } from '../../src/client/exitCodes';
import { readCatalog } from '../../src/client/operations';
import { loadSettings } from '../../src/shared/settings';
import { DEPLOY_ENVIRONMENT, DEPLOY_STAGE, DEPLOY_STATUS } from '../../src/shared/searchAttributes';
import { startLocalTemporal } from './testEnv';

/**
 * `schedules apply` and `schedules list` against a real Temporal server. No worker runs: the
 * schedules only have to exist with the right definition, and none is due during the test.
 */

const FIXTURES = join(__dirname, '..', 'fixtures', 'environments');
const settings = { taskQueue: 'schedules-test' };
const database = { service: 'db', user: 'app', name: 'app' };
const retention = { keepLast: 7, dailyDays: 7, weeklyWeeks: 4 };
const drills = { env: {}, targets: { rpoSeconds: 86_400, rtoSeconds: 900 } };

function configured(name: string, backupEvery = '6h'): EnvironmentConfig {
  return {
    ...loadEnvironment(FIXTURES, 'staging'),
    name,
    database,
    backups: { schedule: { every: backupEvery }, retention },
    drills: { ...drills, schedule: { cron: '0 4 * * 1' } },
  };
}

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await startLocalTemporal();
});

afterAll(async () => {
  await env?.teardown();
});

const byId = (results: ApplyResult[]) => Object.fromEntries(results.map((r) => [r.id, r.action]));

/** Listing is eventually consistent: wait (with a deadline) until it shows exactly these ids. */
async function listUntil(ids: string[]): Promise<ScheduleRow[]> {
  const deadline = Date.now() + 15_000;
  let rows: ScheduleRow[] = [];
  while (Date.now() < deadline) {
    rows = await listSchedules(env.client);
    if (JSON.stringify(rows.map((r) => r.id)) === JSON.stringify(ids)) return rows;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`listed ${JSON.stringify(rows.map((r) => r.id))}, expected ${JSON.stringify(ids)}`);
}

describe('schedules apply / list', () => {
  const envs = [configured('staging'), configured('production', '1d')];
  const ids = ['backup-production', 'backup-staging', 'drill-production', 'drill-staging'];

  test('first apply creates, the second finds everything unchanged; one backup and one drill per environment', async () => {
    expect(byId(await applySchedules(env.client, settings, envs))).toEqual({
      'backup-production': 'created',
      'backup-staging': 'created',
      'drill-production': 'created',
      'drill-staging': 'created',
    });
    expect(byId(await applySchedules(env.client, settings, envs))).toEqual({
      'backup-production': 'unchanged',
      'backup-staging': 'unchanged',
      'drill-production': 'unchanged',
      'drill-staging': 'unchanged',
    });

    const rows = await listUntil(ids);
    for (const name of ['staging', 'production']) {
      const mine = rows.filter((r) => r.environment === name);
      expect(mine.map((r) => r.kind).sort()).toEqual(['backup', 'drill']);
    }
    const now = Date.now();
    for (const row of rows) {
      expect(row.paused).toBe(false);
      expect(row.taskQueue).toBe('schedules-test');
      expect(row.nextRuns.length).toBeGreaterThan(1);
      for (const t of row.nextRuns) expect(Date.parse(t)).toBeGreaterThan(now);
      expect(row.lastRun).toBeUndefined();
    }
    const staging = rows.find((r) => r.id === 'backup-staging')!;
    expect(staging).toMatchObject({ kind: 'backup', spec: 'every 6h', workflowType: 'backupEnvironment' });
    // Intervals count from the epoch: every 6h fires on 00:00, 06:00, 12:00 and 18:00 UTC.
    expect(Date.parse(staging.nextRuns[1]) - Date.parse(staging.nextRuns[0])).toBe(6 * 3_600_000);
    expect(new Date(staging.nextRuns[0]).getUTCHours() % 6).toBe(0);
    const drill = rows.find((r) => r.id === 'drill-staging')!;
    expect(drill).toMatchObject({ kind: 'drill', spec: 'cron 0 4 * * 1 (UTC)', workflowType: 'drDrill' });
    for (const t of drill.nextRuns) {
      const at = new Date(t);
      expect([at.getUTCDay(), at.getUTCHours(), at.getUTCMinutes()]).toEqual([1, 4, 0]);
    }

    const described = await env.client.schedule.getHandle('drill-production').describe();
    expect(described.policies).toEqual({ overlap: 'SKIP', catchupWindow: 60_000, pauseOnFailure: false });
    expect(described.action).toMatchObject({
      workflowType: 'drDrill',
      workflowId: 'drill-production',
      taskQueue: 'schedules-test',
      args: [{ environment: 'production', requestedBy: 'schedule' }],
    });
    expect(described.typedSearchAttributes.get(DEPLOY_ENVIRONMENT)).toBe('production');
    // Described actions come back as TypedSearchAttributes (the type also allows the pairs given at create).
    const actionAttributes = described.action.typedSearchAttributes as TypedSearchAttributes;
    expect([DEPLOY_ENVIRONMENT, DEPLOY_STAGE, DEPLOY_STATUS].map((key) => actionAttributes.get(key))).toEqual(
      ['production', 'queued', 'running'],
    );
  });

  test('a changed interval updates that schedule only, and an operator pause survives it', async () => {
    await env.client.schedule.getHandle('backup-staging').pause('investigating disk usage');
    const changed = [configured('staging', '2h'), configured('production', '1d')];
    const results = await applySchedules(env.client, settings, changed);
    expect(byId(results)).toEqual({
      'backup-production': 'unchanged',
      'backup-staging': 'updated',
      'drill-production': 'unchanged',
      'drill-staging': 'unchanged',
    });
    expect(results.find((r) => r.id === 'backup-staging')?.reasons).toEqual([
      'spec changed: every 6h -> every 2h',
      'intervals is [{"every":21600000,"offset":0}], wanted [{"every":7200000,"offset":0}]',
    ]);
    const described = await env.client.schedule.getHandle('backup-staging').describe();
    expect(described.spec.intervals).toEqual([{ every: 2 * 3_600_000, offset: 0 }]);
    expect(described.state).toMatchObject({ paused: true, note: 'investigating disk usage' });
    expect(byId(await applySchedules(env.client, settings, changed))['backup-staging']).toBe('unchanged');
  });

  test('a hand edit in Temporal (another task queue) is found and put back', async () => {
    const handle = env.client.schedule.getHandle('drill-staging');
    await handle.update((previous) => ({
      ...previous,
      action: { ...previous.action, taskQueue: 'elsewhere' },
    }));
    const changed = [configured('staging', '2h'), configured('production', '1d')];
    const results = await applySchedules(env.client, settings, changed);
    expect(results.find((r) => r.id === 'drill-staging')).toMatchObject({
      action: 'updated',
      reasons: ['task queue is "elsewhere", wanted "schedules-test"'],
    });
    expect((await handle.describe()).action.taskQueue).toBe('schedules-test');
  });

  test('an environment no longer configured: orphaned without --prune, deleted with it; others are never touched', async () => {
    // Same prefix, but it starts some other workflow: not ours, so never reported or deleted.
    await env.client.schedule.create({
      scheduleId: 'backup-legacy',
      spec: { intervals: [{ every: '1d' }] },
      action: { type: 'startWorkflow', workflowType: 'legacyBackup', taskQueue: 'legacy', args: [] },
    });
    const onlyStaging = [configured('staging', '2h')];
    expect(byId(await applySchedules(env.client, settings, onlyStaging))).toEqual({
      'backup-staging': 'unchanged',
      'drill-staging': 'unchanged',
      'backup-production': 'orphaned',
      'drill-production': 'orphaned',
    });
    await env.client.schedule.getHandle('backup-production').describe();

    const pruned = await applySchedules(env.client, settings, onlyStaging, { prune: true });
    expect(byId(pruned)).toEqual({
      'backup-staging': 'unchanged',
      'drill-staging': 'unchanged',
      'backup-production': 'deleted',
      'drill-production': 'deleted',
    });
    expect(pruned.find((r) => r.id === 'backup-production')?.reasons).toEqual([
      'environment production is not configured',
    ]);
    await expect(env.client.schedule.getHandle('backup-production').describe()).rejects.toBeInstanceOf(
      ScheduleNotFoundError,
    );
    await env.client.schedule.getHandle('backup-legacy').describe();
    await listUntil(['backup-staging', 'drill-staging']);
  });

  test('deployctl schedules apply and list, as an operator runs them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'envs-'));
    const fixture = readFileSync(join(FIXTURES, 'staging.yaml'), 'utf8');
    writeFileSync(
      join(dir, 'staging.yaml'),
      `${fixture}database: {}\nbackups:\n  schedule: { every: 2h }\ndrills:\n  schedule: { cron: '0 4 * * 1' }\n`,
    );
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/client.ts', ...args], {
        cwd: join(__dirname, '..', '..'),
        env: { ...process.env, TEMPORAL_ADDRESS: env.address, DEPLOY_TASK_QUEUE: 'schedules-test' },
        encoding: 'utf8',
        timeout: 30_000,
      });
    const applied = run(['schedules', 'apply', '--config-dir', dir, '--json']);
    expect(applied.stderr).toBe('');
    expect(applied.status).toBe(0);
    expect(
      (JSON.parse(applied.stdout).results as ApplyResult[]).map((r) => [r.id, r.action, r.spec]),
    ).toEqual([
      ['backup-staging', 'unchanged', 'every 2h'],
      ['drill-staging', 'unchanged', 'cron 0 4 * * 1 (UTC)'],
    ]);
    const listed = run(['schedules', 'list']);
    expect(listed.status).toBe(0);
    const lines = listed.stdout.split('\n');
    expect(lines[0]).toMatch(/^SCHEDULE\s+ENVIRONMENT\s+KIND\s+SPEC\s+STATE\s+NEXT RUNS\s+LAST RUN$/);
    expect(lines[1]).toMatch(/^backup-staging\s+staging\s+backup\s+every 2h\s+paused\s+\d{4}-\d\d-\d\d /);
    expect(lines[2]).toMatch(/^drill-staging\s+staging\s+drill\s+cron 0 4 \* \* 1 \(UTC\)\s+active\s+\d{4}-/);
    expect(listed.stdout).toContain('Temporal UI: ');
  }, 60_000);
});

describe('deployctl backups / drills without a worker', () => {
  test('reading the catalog ends at its deadline with exit 8 and a message saying what to check', async () => {
    const settings = loadSettings({ DEPLOY_TASK_QUEUE: 'no-worker-here' });
    const started = Date.now();
    const err = await readCatalog(
      env.client,
      settings,
      { environment: 'staging', kind: 'drills', limit: 5 },
      2000,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CliExit);
    expect((err as CliExit).code).toBe(ExitCode.operationFailed);
    expect((err as CliExit).message).toMatch(
      /^no worker read the drills of staging within 2 s: is a worker running on task queue "no-worker-here"\? \(http:.*\/workflows\/catalog-staging-drills-[0-9a-f]{8}\)$/,
    );
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
