/**
 * Verified backups, restore drills and their schedules on the lab, for real: deployctl, a
 * worker in its own process (killed on purpose), the Temporal dev server, SSH to lab-1 (the
 * staging database) and lab-2 (the drill host), PostgreSQL, pg_restore on the worker and the
 * worker's backup store on disk. Fails (never skips) when the lab is not up.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { underPolicy } from '../shared/underPolicy';
import { parse, stringify } from 'yaml';
import { createBackupActivities, type HostDump } from '../../src/activities/backups';
import { runLocal } from '../../src/activities/localCommand';
import { psql, tableChecksum } from '../../src/commands/database';
import { pgRestoreList } from '../../src/commands/database';
import type { HostConfig } from '../../src/config/schema';
import { withHost } from '../../src/remote/executor';
import type { BackupReport, StoredBackup } from '../../src/shared/backups';
import type { DrillReport } from '../../src/shared/drills';
import type { EmergencyDeployReport } from '../../src/shared/emergency';
import type { OperationStatus } from '../../src/shared/operations';
import { operationStatusQuery } from '../../src/shared/messages';
import { sha256File } from '../../src/store/backupStore';
import { LocalBackupStore } from '../../src/store/localStore';
import { BackupStores } from '../../src/store/stores';
import { startOrAttach } from '../../src/client/deploy';
import type { OperationOutcome } from '../../src/client/operations';
import { readReleaseRecord } from '../../src/activities/plan';
import { createFreshHost } from '../../lab/fresh';
import {
  LAB_CONFIG_DIR,
  reportedReleases,
  requireLab,
  runDeployctl,
  spawnWorker,
  startHarness,
  type Harness,
} from './harness';

const lab = requireLab();
const staging = lab.staging;
const dbHost = staging.hosts[0];
const drillHost = staging.drills?.host as HostConfig;
const secret = lab.workerEnv.LAB_DB_PASSWORD ?? '';
const stamp = Date.now().toString(36);

let harness: Harness;
let worker: ReturnType<typeof spawnWorker>;
let store: LocalBackupStore;

async function onDbHost(sql: string): Promise<string> {
  const r = await withHost(dbHost, (h) =>
    h.run(psql(staging, sql), { timeoutMs: 60_000, secrets: [secret] }),
  );
  return r.stdout.trim();
}

/** deployctl --json prints one JSON document; anything before it (progress) is skipped. */
function jsonOf<T>(out: string): T {
  const start = out.indexOf('{');
  if (start < 0) throw new Error(`no JSON in deployctl output:\n${out}`);
  return JSON.parse(out.slice(start)) as T;
}

async function operationStage(
  handle: { query: (q: typeof operationStatusQuery) => Promise<OperationStatus> },
  steps: string[],
  timeoutMs = 120_000,
): Promise<OperationStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: OperationStatus | undefined;
  for (;;) {
    try {
      last = await handle.query(operationStatusQuery);
      if (last.steps.some((s) => steps.includes(s.name) && s.status === 'running')) return last;
    } catch {
      // no worker to answer yet
    }
    if (Date.now() > deadline)
      throw new Error(`never reached ${steps.join('/')}: ${JSON.stringify(last?.steps)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * What a scratch stack could leave on a host: containers of its project or of its colours
 * (`<project>-blue`, `<project>-green`), its network, and its folder.
 */
async function scratchLeftovers(
  host: HostConfig,
  project: string,
): Promise<{ containers: string[]; networks: string[]; folder: boolean }> {
  const ours = (name: string) => name === project || name.startsWith(`${project}-`);
  return withHost(host, async (h) => {
    const ps = await h.run(
      ['docker', 'ps', '-a', '--format', '{{.Label "com.docker.compose.project"}} {{.Names}}'],
      { timeoutMs: 30_000 },
    );
    const networks = await h.run(['docker', 'network', 'ls', '--format', '{{.Name}}'], {
      timeoutMs: 30_000,
    });
    const dir = await h.run(['test', '-e', `${host.baseDir}/${project}`], {
      timeoutMs: 30_000,
      okCodes: [0, 1],
    });
    return {
      containers: lines(ps.stdout).filter((l) => ours(l.split(' ')[0])),
      networks: lines(networks.stdout).filter(ours),
      folder: dir.code === 0,
    };
  });
}

const lines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

/** Nothing half-written in the store: every record's copy matches it, no partial or unrecorded copies. */
async function expectStoreConsistent(): Promise<StoredBackup[]> {
  const backups = await store.listBackups(staging.name);
  for (const b of backups) expect(await sha256File(b.location)).toBe(b.sha256);
  expect(store.unrecordedCopies(staging.name)).toEqual([]);
  const dir = join(store.root, staging.name, 'backups');
  expect(readdirSync(dir).filter((n) => n.endsWith('.partial') || n.endsWith('.tmp'))).toEqual([]);
  return backups;
}

beforeAll(async () => {
  harness = await startHarness({ workerEnv: lab.workerEnv, inProcessWorker: false });
  store = new LocalBackupStore(harness.settings.backupRoot);
  worker = spawnWorker(harness.settings, lab.workerEnv);
  // A backup records the live release: make sure staging runs one (earlier tests usually deployed it).
  if (!(await readReleaseRecord(staging))) {
    const { handle } = await startOrAttach(harness.env.client, harness.settings, {
      environment: staging.name,
      release: `recovery-${stamp}`,
      images: { site: 'v2', saas: 'v2', api: 'v2' },
      requestedBy: 'recovery-test',
      commit: 'v2',
    });
    await handle.result();
  }
  await onDbHost('create table if not exists dr_probe (id serial primary key, note text not null)');
  await onDbHost(`insert into dr_probe (note) select '${stamp}-' || g from generate_series(1, 500) g`);
}, 300_000);

afterAll(async () => {
  await worker?.kill();
  await harness?.stop();
});

let firstBackup: StoredBackup;

test('deployctl backup: dump, copy off the host, verify, record — rows and checksums as they were', async () => {
  const liveRows = Number(await onDbHost('select count(*) from dr_probe'));
  const liveSum = (
    await withHost(dbHost, (h) =>
      h.run(tableChecksum(staging, 'dr_probe'), { timeoutMs: 60_000, secrets: [secret] }),
    )
  ).stdout.trim();

  const { code, out } = await runDeployctl(harness.settings, ['backup', '--env', staging.name, '--json']);
  expect({ code, out }).toMatchObject({ code: 0 });
  const backup = (jsonOf<OperationOutcome<BackupReport>>(out).report as BackupReport).backup;
  firstBackup = backup;
  console.log(
    `backup of the lab database: ${backup.sizeBytes} bytes in ${backup.durationMs} ms (dump ${backup.steps.dumpMs} ms, copy ${backup.steps.copyMs} ms, verify ${backup.steps.verifyMs} ms)`,
  );

  expect(backup.location.startsWith(store.root)).toBe(true);
  expect(await sha256File(backup.location)).toBe(backup.sha256);
  expect(backup.release?.release).toBe((await readReleaseRecord(staging))?.release);
  expect(backup.tables).toContainEqual({ table: 'public.dr_probe', rows: liveRows, md5: liveSum });
  expect(backup.verification.pgRestoreListEntries).toBeGreaterThan(0);
  const list = await runLocal(pgRestoreList(backup.location), { timeoutMs: 60_000 });
  expect(list.stdout).toMatch(/TABLE DATA public dr_probe/);
  // The copy is the backup: the dump left the database host.
  const onHost = await withHost(dbHost, (h) =>
    h.run(['test', '-e', backup.source.path], { timeoutMs: 30_000, okCodes: [0, 1] }),
  );
  expect(onHost.code).toBe(1);
  expect((await store.findBackup(staging.name))?.id).toBe(backup.id);
  await expectStoreConsistent();
});

test('deployctl drill: the backup restores into a scratch stack on lab-2 with equal rows and checksums, answers, and is torn down', async () => {
  const { code, out } = await runDeployctl(harness.settings, ['drill', '--env', staging.name, '--json']);
  expect({ code, out }).toMatchObject({ code: 0 });
  const report = jsonOf<OperationOutcome<DrillReport>>(out).report as DrillReport;
  console.log(
    `drill on the lab: RPO ${report.rpoSeconds} s, RTO ${report.rtoSeconds} s (targets ${report.targets.rpoSeconds} s / ${report.targets.rtoSeconds} s)`,
  );
  expect(report.passed).toBe(true);
  expect(report.backupId).toBe(firstBackup.id);
  expect(report.drillHost).toBe(drillHost.name);
  // Every table of the backup, dr_probe included, has the rows and md5 recorded at backup time.
  expect(report.dataCheck).toEqual({ matched: true, tables: firstBackup.tables.length, mismatches: [] });
  expect(report.rtoSeconds).toBeGreaterThan(0);
  expect(report.rpoSeconds).toBeLessThanOrEqual(report.targets.rpoSeconds);
  expect(report.teardown).toBe('done');
  expect(await scratchLeftovers(drillHost, report.scratchProject as string)).toEqual({
    containers: [],
    networks: [],
    folder: false,
  });
});

test('a truncated copy fails verification and is never recorded; a drill on a damaged backup fails with the reason', async () => {
  // Verification, as the backup workflow runs it, on a copy cut short in transit.
  const truncatedId = `${staging.name}-truncated-${stamp}`;
  store.ensureDir(staging.name);
  copyFileSync(firstBackup.location, store.dumpPath(staging.name, truncatedId));
  truncateSync(store.dumpPath(staging.name, truncatedId), Math.floor(firstBackup.sizeBytes / 2));
  const activities = createBackupActivities({
    configDir: LAB_CONFIG_DIR,
    workerEnv: lab.workerEnv,
    stores: new BackupStores(store.root, LAB_CONFIG_DIR),
  });
  const dump: HostDump = {
    host: dbHost.name,
    path: firstBackup.source.path,
    sha256: firstBackup.sha256,
    sizeBytes: firstBackup.sizeBytes,
    createdAt: firstBackup.createdAt,
    durationMs: 1,
    tables: firstBackup.tables,
  };
  const error = await underPolicy('verifyStoredBackup')
    .run(activities.verifyStoredBackup, { environment: staging, backupId: truncatedId, dump, copyMs: 1 })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(error).toBeInstanceOf(ApplicationFailure);
  expect((error as ApplicationFailure).type).toBe('BackupCorrupt');
  expect((error as ApplicationFailure).message).toMatch(/bytes, the dump on lab-1 had \d+ \(truncated\?\)/);
  expect(await store.findBackup(staging.name, truncatedId)).toBeUndefined();
  expect(existsSync(store.dumpPath(staging.name, truncatedId))).toBe(false);

  // A verified backup that rotted in the store afterwards (one byte flipped, same size).
  const rottenId = `${staging.name}-rotten-${stamp}`;
  const bytes = readFileSync(firstBackup.location);
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  writeFileSync(store.dumpPath(staging.name, rottenId), bytes);
  await store.writeBackupRecord({
    ...firstBackup,
    id: rottenId,
    location: store.dumpPath(staging.name, rottenId),
  });
  const { code, out } = await runDeployctl(harness.settings, [
    'drill',
    '--env',
    staging.name,
    '--backup',
    rottenId,
    '--json',
  ]);
  expect(code).toBe(8);
  const report = jsonOf<OperationOutcome<DrillReport>>(out).report as DrillReport;
  expect(report.passed).toBe(false);
  expect(report.failures.join(' ')).toMatch(
    new RegExp(
      `backup ${rottenId} is corrupt: .* has sha256 [0-9a-f]{64}, ${firstBackup.sha256} was verified`,
    ),
  );
  expect(report.teardown).toBe('not-needed');
  await store.deleteBackup(staging.name, rottenId);
});

test('killing the worker during a backup while the app writes: the backup completes from one snapshot, nothing half-written is recorded', async () => {
  // A writer commits a row every 0.1 s for the whole backup (bounded: 3000 rows, cancelled below).
  const rowsBefore = Number(await onDbHost('select count(*) from dr_probe'));
  const writer = withHost(dbHost, (h) =>
    h.run(
      psql(
        staging,
        `DO $writer$ BEGIN FOR i IN 1..3000 LOOP INSERT INTO dr_probe (note) VALUES ('writer-' || i); COMMIT; PERFORM pg_sleep(0.1); END LOOP; END $writer$`,
      ),
      { timeoutMs: 400_000, okCodes: [0, 1], secrets: [secret] },
    ),
  );
  const handle = await harness.env.client.workflow.start('backupEnvironment', {
    taskQueue: harness.settings.taskQueue,
    workflowId: `backup-${staging.name}-kill-${stamp}`,
    args: [{ environment: staging.name, requestedBy: 'recovery-test' }],
  });
  await operationStage(handle, ['dump', 'copy']);
  await worker.kill();
  const killedAt = Date.now();
  worker = spawnWorker(harness.settings, lab.workerEnv);
  // The interrupted attempt is not retried before the heartbeat timeout: nothing of it is a backup yet.
  const ids = async () => (await store.listBackups(staging.name)).map((b) => b.id);
  expect(await ids()).toEqual([firstBackup.id]);
  let report: BackupReport;
  try {
    report = (await handle.result()) as BackupReport;
  } finally {
    await onDbHost("select pg_cancel_backend(pid) from pg_stat_activity where query like 'DO $writer$%'");
    await writer;
  }
  const rowsAfter = Number(await onDbHost('select count(*) from dr_probe'));
  console.log(`backup resumed after a worker kill: done ${Date.now() - killedAt} ms after the kill`);
  expect(await ids()).toContain(report.backup.id);
  // Taken in the middle of the writes: its fingerprint is one snapshot (the next drill restores and compares it).
  const probe = report.backup.tables.find((t) => t.table === 'public.dr_probe');
  expect(probe?.rows).toBeGreaterThan(rowsBefore);
  expect(probe?.rows).toBeLessThan(rowsAfter);
  const onHost = await withHost(dbHost, (h) =>
    h.run(['test', '-e', report.backup.source.path], { timeoutMs: 30_000, okCodes: [0, 1] }),
  );
  expect(onHost.code).toBe(1);
  await expectStoreConsistent();
});

test('killing the worker during a drill with an impossible RTO target: the drill fails loudly and no scratch stack is left', async () => {
  const handle = await harness.env.client.workflow.start('drDrill', {
    taskQueue: harness.settings.taskQueue,
    workflowId: `drill-${staging.name}-kill-${stamp}`,
    args: [{ environment: staging.name, requestedBy: 'recovery-test', targets: { rtoSeconds: 1 } }],
  });
  await operationStage(handle, ['restore', 'start'], 180_000);
  await worker.kill();
  worker = spawnWorker(harness.settings, lab.workerEnv);
  const error = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const cause = (error as WorkflowFailedError).cause as ApplicationFailure;
  expect(cause.type).toBe('DrillFailed');
  const report = cause.details?.[0] as DrillReport;
  expect(report.failures).toContainEqual(expect.stringMatching(/^RTO [\d.]+ s exceeds the target of 1 s$/));
  // The backup taken under writes restores to exactly the rows and checksums it recorded.
  expect(report.backupId).toBe((await store.findBackup(staging.name))?.id);
  expect(report.dataCheck?.matched).toBe(true);
  expect(report.teardown).toBe('done');
  expect(await scratchLeftovers(drillHost, report.scratchProject as string)).toEqual({
    containers: [],
    networks: [],
    folder: false,
  });
});

test('deployctl drills shows every drill, newest first, with RPO/RTO and the trend', async () => {
  const json = await runDeployctl(harness.settings, ['drills', '--env', staging.name, '--json']);
  expect(json.code).toBe(0);
  const { drills } = jsonOf<{ drills: DrillReport[] }>(json.out);
  expect(drills.map((d) => d.passed)).toEqual([false, false, true]);
  const text = await runDeployctl(harness.settings, ['drills', '--env', staging.name]);
  expect(text.code).toBe(0);
  expect(text.out).toMatch(/RTO/);
  expect(text.out).toContain(drills[2].backupId);
});

test('schedules: applying twice leaves one schedule each; a short interval fires and produces a verified backup', async () => {
  const configDir = mkdtempSync(join(tmpdir(), 'schedules-'));
  for (const name of ['lab-staging', 'lab-production']) {
    const doc = parse(readFileSync(join(LAB_CONFIG_DIR, `${name}.yaml`), 'utf8')) as {
      backups: { schedule: object };
    };
    if (name === 'lab-staging') doc.backups.schedule = { every: '5s' };
    writeFileSync(join(configDir, `${name}.yaml`), stringify(doc));
  }
  const env = { DEPLOY_CONFIG_DIR: configDir };
  const client = harness.env.client;
  try {
    const first = await runDeployctl(harness.settings, ['schedules', 'apply', '--json'], env);
    expect(first.code).toBe(0);
    const second = await runDeployctl(harness.settings, ['schedules', 'apply', '--json'], env);
    expect(second.code).toBe(0);
    expect(second.out).not.toMatch(/"(created|updated)"/);
    const listed = await runDeployctl(harness.settings, ['schedules', 'list', '--json'], env);
    expect(listed.code).toBe(0);
    const ids = [...listed.out.matchAll(/"id": "((?:backup|drill)-lab-[a-z-]+)"/g)].map((m) => m[1]).sort();
    expect(ids).toEqual([
      'backup-lab-production',
      'backup-lab-staging',
      'drill-lab-production',
      'drill-lab-staging',
    ]);

    const schedule = client.schedule.getHandle('backup-lab-staging');
    const deadline = Date.now() + 60_000;
    let workflowId: string | undefined;
    while (!workflowId && Date.now() < deadline) {
      workflowId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
      if (!workflowId) await new Promise((r) => setTimeout(r, 500));
    }
    expect(workflowId).toMatch(/^backup-lab-staging-/);
    await schedule.pause('one run is enough for the test');
    const report = (await client.workflow.getHandle(workflowId as string).result()) as BackupReport;
    expect((await store.findBackup(staging.name, report.backup.id))?.sha256).toBe(report.backup.sha256);
    await expectStoreConsistent();
  } finally {
    for (const id of [
      'backup-lab-staging',
      'drill-lab-staging',
      'backup-lab-production',
      'drill-lab-production',
    ])
      await client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
  }
});

test('emergency deploy onto a brand-new lab host: the last good release answers there with the restored data', async () => {
  // A live server is refused before anything touches it: the restore would overwrite its data.
  const liveHostFile = join(mkdtempSync(join(tmpdir(), 'live-host-')), 'lab-1.yaml');
  writeFileSync(liveHostFile, stringify(dbHost));
  const refused = await runDeployctl(harness.settings, [
    'emergency-deploy',
    '--env',
    staging.name,
    '--host-file',
    liveHostFile,
  ]);
  expect(refused.code).toBe(2);
  expect(refused.out).toMatch(/is lab-1 \(127\.0\.0\.2:2222\) of environment "lab-(staging|production)"/);

  const fresh = await createFreshHost();
  const latest = (await store.findBackup(staging.name)) as StoredBackup;
  const { code, out } = await runDeployctl(harness.settings, [
    'emergency-deploy',
    '--env',
    staging.name,
    '--host-file',
    fresh.hostFile,
    '--json',
  ]);
  expect({ code, out }).toMatchObject({ code: 0 });
  const report = jsonOf<OperationOutcome<EmergencyDeployReport>>(out).report as EmergencyDeployReport;
  console.log(
    `emergency deploy onto ${fresh.host.name} (host created in ${fresh.seconds} s): ${(report.totalMs / 1000).toFixed(1)} s total; ` +
      report.steps.map((s) => `${s.name} ${((s.durationMs ?? 0) / 1000).toFixed(1)} s`).join(', '),
  );
  expect(report.backupId).toBe(latest.id);
  expect(report.release).toBe(latest.release?.release);
  expect(report.setup.find((s) => s.step === 'directories')?.result).toBe('done');
  expect(report.dataCheck).toEqual({ matched: true, tables: latest.tables.length, mismatches: [] });

  // The app answers on the new host with the release recorded in the backup...
  const onFresh = { ...staging, hosts: [fresh.host] };
  expect(Object.values(await reportedReleases(onFresh))).toEqual(staging.services.map(() => report.release));
  // ...against the restored rows, checksum for checksum.
  const probe = await withHost(fresh.host, (h) =>
    h.run(tableChecksum(onFresh, 'dr_probe'), { timeoutMs: 60_000, secrets: [secret] }),
  );
  expect(latest.tables).toContainEqual(
    expect.objectContaining({ table: 'public.dr_probe', md5: probe.stdout.trim() }),
  );
});
