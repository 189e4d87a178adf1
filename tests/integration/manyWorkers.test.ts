/**
 * Three workers on one task queue, each with its own empty worker-local backup directory, and
 * lab-staging's backups kept on a store host of their own (lab-5, real sshd, over SFTP). A
 * deploy, a backup and a drill run with their activities spread over the workers; the worker
 * that copied the backup into the store is then killed, so the drill's restore reads the
 * store from another worker. Nothing may land in any worker's own directory. Uses lab-1 (the
 * staging stack), lab-2 (its drill host, under a scratch project) and lab-5. Fails (never
 * skips) when the lab is not up.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startOrAttach } from '../../src/client/deploy';
import type { OperationOutcome } from '../../src/client/operations';
import { pgRestoreList } from '../../src/commands/database';
import { loadEnvironment } from '../../src/config/load';
import type { BackupStoreConfig, HostConfig } from '../../src/config/schema';
import { withHost } from '../../src/remote/executor';
import type { BackupReport, StoredBackup } from '../../src/shared/backups';
import type { DrillReport } from '../../src/shared/drills';
import { SftpBackupStore } from '../../src/store/sftpStore';
import { createFreshHost } from '../../lab/fresh';
import {
  freshBackupRoot,
  labConfigCopy,
  requireLab,
  runDeployctl,
  spawnWorker,
  startHarness,
  type Harness,
} from './harness';

const lab = requireLab();
const stamp = Date.now().toString(36);

let harness: Harness;
let workers: (ReturnType<typeof spawnWorker> & { backupRoot: string })[] = [];
let storeConfig: BackupStoreConfig;
let store: SftpBackupStore;

/** deployctl --json prints one JSON document; anything before it (progress) is skipped. */
function jsonOf<T>(out: string): T {
  const start = out.indexOf('{');
  if (start < 0) throw new Error(`no JSON in deployctl output:\n${out}`);
  return JSON.parse(out.slice(start)) as T;
}

/** Which worker identity ran each activity of a workflow (activity type → identities). */
async function activityWorkers(workflowId: string): Promise<Map<string, string[]>> {
  const history = await harness.env.client.workflow.getHandle(workflowId).fetchHistory();
  const typeOf = new Map<string, string>();
  const out = new Map<string, string[]>();
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) typeOf.set(String(event.eventId), scheduled.activityType?.name ?? '?');
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const type = typeOf.get(String(started.scheduledEventId)) ?? '?';
      out.set(type, [...(out.get(type) ?? []), started.identity ?? '?']);
    }
  }
  return out;
}

/** Every file under a directory (the workers' own backup directories must stay empty). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  const fresh = await createFreshHost('lab-5');
  const { name, address, port, user, privateKeyPath, hostKey } = fresh.host;
  storeConfig = {
    name,
    address,
    port,
    user,
    privateKeyPath,
    hostKey,
    dir: `${fresh.host.baseDir}/backup-store`,
  };
  store = new SftpBackupStore(storeConfig, join(freshBackupRoot(), '.transit'));

  // The lab's environments, with lab-staging's backups on the store host.
  let raw: Record<string, unknown> & { backups?: Record<string, unknown> } = {};
  const { dir: configDir } = labConfigCopy(
    'many-workers-config',
    lab.staging.name,
    (staging: Record<string, unknown>) => {
      staging.backups = { ...(staging.backups as Record<string, unknown>), store: storeConfig };
      raw = staging;
    },
  );
  expect(loadEnvironment(configDir, lab.staging.name).backups?.store?.name).toBe('lab-5');
  // The same, with a store host key that is not lab-5's: config check must say so.
  const wrongKey = {
    ...raw,
    name: 'store-wrong-key',
    backups: { ...raw.backups, store: { ...storeConfig, hostKey: lab.staging.hosts[0]?.hostKey } },
  };
  writeFileSync(join(configDir, 'store-wrong-key.yaml'), stringify(wrongKey));

  harness = await startHarness({ configDir, workerEnv: lab.workerEnv, inProcessWorker: false });
  workers = [0, 1, 2].map(() => {
    const backupRoot = freshBackupRoot();
    return { ...spawnWorker({ ...harness.settings, backupRoot }, lab.workerEnv), backupRoot };
  });
  await Promise.all(workers.map((w) => w.ready()));
}, 180_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await harness?.stop();
});

test('deployctl config check reaches the store host: pinned key, sha256sum, pg_restore, a writable directory', async () => {
  const good = await runDeployctl(harness.settings, ['config', 'check', '--env', lab.staging.name]);
  expect({ code: good.code, out: good.out }).toMatchObject({ code: 0 });
  for (const what of ['store ssh', 'store sha256sum', 'store pg_restore', 'store directory'])
    expect(good.out).toMatch(new RegExp(`^OK +${what} +lab-5 \\(root@127\\.0\\.0\\.6:2222\\) `, 'm'));

  const wrong = await runDeployctl(harness.settings, ['config', 'check', '--env', 'store-wrong-key']);
  expect(wrong.code).toBe(2);
  expect(wrong.out).toMatch(
    /^FAILED +store ssh +lab-5 .*host key of lab-5 .* does not match the pinned key/m,
  );
});

test('three workers on one task queue deploy, back up to a store host, and restore from it in a drill on another worker', async () => {
  // Deploy: its activities go to whichever worker polls first.
  const deploy = await startOrAttach(harness.env.client, harness.settings, {
    environment: lab.staging.name,
    release: `many-workers-${stamp}`,
    images: { site: 'v2', saas: 'v2', api: 'v2' },
    requestedBy: 'many-workers-test',
    commit: 'v2',
  });
  await deploy.handle.result();
  const deployedBy = new Set([...(await activityWorkers(deploy.handle.workflowId)).values()].flat());

  // Backup: dump on lab-1, copy to lab-5, checked there, recorded there.
  const backed = await runDeployctl(harness.settings, ['backup', '--env', lab.staging.name, '--json']);
  expect({ code: backed.code, out: backed.out }).toMatchObject({ code: 0 });
  const outcome = jsonOf<OperationOutcome<BackupReport>>(backed.out);
  const backup = (outcome.report as BackupReport).backup;
  const path = `${storeConfig.dir}/${lab.staging.name}/backups/${backup.id}.dump`;
  expect(backup.location).toBe(`lab-5:${path}`);
  expect(await store.checkCopy(lab.staging.name, backup.id)).toEqual({
    sizeBytes: backup.sizeBytes,
    sha256: backup.sha256,
  });
  const onStore = await withHost({ ...storeConfig, baseDir: storeConfig.dir, env: {} } as HostConfig, (h) =>
    h.run(pgRestoreList(path), { timeoutMs: 60_000 }),
  );
  expect(onStore.stdout).toMatch(/TABLE DATA public /);
  expect((await store.findBackup(lab.staging.name))?.id).toBe(backup.id);

  // The worker that made the copy goes away: what follows can only read the store host.
  const backupWorkers = await activityWorkers(outcome.workflowId);
  const copiedBy = backupWorkers.get('copyBackupToStore')?.at(-1);
  const copier = workers.find((w) => w.identity === copiedBy);
  expect(copier).toBeDefined();
  await copier?.kill();

  // The catalog and a drill (restore into a scratch stack, data compared) from the others.
  const listed = await runDeployctl(harness.settings, ['backups', '--env', lab.staging.name, '--json']);
  expect({ code: listed.code, out: listed.out }).toMatchObject({ code: 0 });
  expect(listed.stdout).toContain(backup.id);
  const drilled = await runDeployctl(harness.settings, ['drill', '--env', lab.staging.name, '--json']);
  expect({ code: drilled.code, out: drilled.out }).toMatchObject({ code: 0 });
  const drill = jsonOf<OperationOutcome<DrillReport>>(drilled.out);
  const report = drill.report as DrillReport;
  expect(report.passed).toBe(true);
  expect(report.backupId).toBe(backup.id);
  expect(report.dataCheck).toEqual({ matched: true, tables: backup.tables.length, mismatches: [] });
  const drillWorkers = await activityWorkers(drill.workflowId);
  const restoredBy = drillWorkers.get('uploadBackupToHost') ?? [];
  expect(restoredBy.length).toBeGreaterThan(0);
  expect(restoredBy).not.toContain(copiedBy);
  // The drill's report is on the store host too, where every worker finds it.
  expect((await store.listDrills(lab.staging.name)).map((d) => d.id)).toContain(report.id);

  // Every worker took part somewhere, and none kept a file of its own.
  const all = new Set([...deployedBy, ...[...backupWorkers.values(), ...drillWorkers.values()].flat()]);
  console.log(
    `three workers: deploy on ${deployedBy.size}, backup copied by ${copiedBy}, drill restored by ${restoredBy.join(', ')}; ${all.size} workers ran activities`,
  );
  expect(all.size).toBeGreaterThanOrEqual(2);
  for (const w of workers) expect(filesUnder(w.backupRoot)).toEqual([]);
});

test('a store copy that no longer matches its record is refused for a restore; a deleted backup leaves no file on the store host', async () => {
  const [latest] = await store.listBackups(lab.staging.name);
  expect(latest).toBeDefined();
  const backup = latest as StoredBackup;
  // A copy damaged on the store host after it was verified.
  const damagedId = `${lab.staging.name}-damaged-${stamp}`;
  const storeHost = { ...storeConfig, baseDir: storeConfig.dir, env: {} } as HostConfig;
  const dir = `${storeConfig.dir}/${lab.staging.name}/backups`;
  await withHost(storeHost, (h) =>
    h.run(
      [
        'sh',
        '-c',
        'head -c 100 "$1" > "$2"',
        'damage',
        `${dir}/${backup.id}.dump`,
        `${dir}/${damagedId}.dump`,
      ],
      {
        timeoutMs: 30_000,
      },
    ),
  );
  await store.writeBackupRecord({ ...backup, id: damagedId, createdAt: new Date().toISOString() });
  expect((await store.findBackup(lab.staging.name))?.id).toBe(damagedId);

  const drilled = await runDeployctl(harness.settings, [
    'drill',
    '--env',
    lab.staging.name,
    '--backup',
    damagedId,
    '--json',
  ]);
  expect(drilled.code).not.toBe(0);
  expect(drilled.out).toMatch(new RegExp(`backup ${damagedId} is corrupt: lab-5:.* has 100 bytes`));

  await store.deleteBackup(lab.staging.name, damagedId);
  expect((await store.listBackups(lab.staging.name)).map((b) => b.id)).not.toContain(damagedId);
  const left = await withHost(storeHost, (h) => h.run(['ls', '-1', dir], { timeoutMs: 30_000 }));
  expect(left.stdout).not.toContain(damagedId);
});
