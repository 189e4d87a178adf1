/**
 * Backup, migrations and restore on the lab for real: the activities run (in a
 * MockActivityEnvironment) over real SSH against lab-2's engine, a real PostgreSQL and the
 * demo images from the local registry. Its own compose project in its own base directory, so
 * the `demo` project the deploy test uses on the same host is never touched.
 * Fails (never skips) when the lab is not up.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { join, posix } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { MockActivityEnvironment } from '@temporalio/testing';
import { underPolicy, type PolicyName } from '../shared/underPolicy';
import { createDatabaseActivities } from '../../src/activities/database';
import type { HostStepInput } from '../../src/activities/hostStep';
import { createReleaseActivities } from '../../src/activities/release';
import { SourceCache } from '../../src/activities/sourceCache';
import { composeBase, composeDown, composeUpService } from '../../src/commands/compose';
import { tableChecksum, tableFingerprints, type FingerprintScheme } from '../../src/commands/database';
import { parseFingerprints } from '../../src/activities/backups';
import { remoteLayout } from '../../src/commands/layout';
import type { EnvironmentConfig } from '../../src/config/schema';
import { withHost } from '../../src/remote/executor';
import type { BackupRecord, DeployPlan } from '../../src/shared/deployment';
import { COMPOSE_FILE, MIGRATE_COMPOSE_FILE } from '../../lab/config';
import { demoImage } from '../../lab/paths';
import { PROJECT_ROOT, getJson, requireLab } from './harness';

const lab = requireLab();
const stamp = Date.now().toString(36);
const labHost = lab.production.hosts[0];
// An address of its own for the one web service this test starts (the deploy test uses the host's).
const BIND = '127.0.0.67';
// The demo app in one recreate project (the lab's environments release as colours): the web
// service this test starts shares the project with the database.
const environment: EnvironmentConfig = {
  ...lab.staging,
  strategy: 'recreate',
  traffic: undefined,
  composeFiles: [COMPOSE_FILE, MIGRATE_COMPOSE_FILE],
  project: `dbtest${stamp}`,
  hosts: [
    { ...labHost, baseDir: posix.join(labHost.baseDir, `dbtest-${stamp}`), env: { BIND_ADDRESS: BIND } },
  ],
};
const host = environment.hosts[0];
const deploymentId = `dbtest-${stamp}`;
const secret = lab.workerEnv.LAB_DB_PASSWORD ?? '';

function plan(tag: string): DeployPlan {
  const images = { site: demoImage('site', tag), saas: demoImage('saas', tag), api: demoImage('api', tag) };
  return {
    deploymentId,
    request: {
      environment: environment.name,
      release: `${tag}-${stamp}`,
      images: { site: tag, saas: tag, api: tag },
      requestedBy: 'database-test',
    },
    environment,
    images,
  };
}

const release = createReleaseActivities({
  projectRoot: PROJECT_ROOT,
  workerEnv: lab.workerEnv,
  sources: new SourceCache(join(os.tmpdir(), 'database-test-sources')),
});
const database = createDatabaseActivities({ workerEnv: lab.workerEnv });
const heartbeats: unknown[] = [];
function activityEnv(activity: PolicyName): MockActivityEnvironment {
  const mock = underPolicy(activity);
  mock.on('heartbeat', (d: unknown) => heartbeats.push(d));
  return mock;
}
const input = (tag: string) => ({ plan: plan(tag), hostName: host.name });

/** Upload the compose files and env file naming `tag`'s images, and pull them (what precedes migrations). */
async function stage(tag: string): Promise<void> {
  await activityEnv('uploadRelease').run(release.uploadRelease, input(tag));
  await activityEnv('pullImages').run(release.pullImages, input(tag));
}

async function remote(argv: readonly string[]): Promise<string> {
  return (await withHost(host, (h) => h.run(argv, { timeoutMs: 120_000, secrets: [secret] }))).stdout.trim();
}
const sql = (query: string) =>
  remote([
    ...composeBase(environment, host),
    'exec',
    '-T',
    'db',
    'psql',
    '-X',
    '-At',
    '-v',
    'ON_ERROR_STOP=1',
    '-U',
    'app',
    '-d',
    'app',
    '-c',
    query,
  ]);
const checksum = () => remote(tableChecksum(environment, 'visits'));
const ledger = async () => (await sql('select name from schema_migrations order by name')).split('\n');

async function expectFailure(p: Promise<unknown>, type: string): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApplicationFailure)) throw new Error(`expected ${type}, got ${String(err)}`);
  expect(err.type).toBe(type);
  expect(err.nonRetryable).toBe(true);
  return err;
}

async function waitReady(want: 200 | 503, deadlineMs = 60_000): Promise<unknown> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const r = await getJson(`http://${BIND}:18083/health/ready`);
      last = r;
      if (r.status === want) return r.body;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `/health/ready on ${BIND}:18083 did not answer ${want} within ${deadlineMs} ms; last: ${JSON.stringify(last)}`,
  );
}

async function backupOf(tag: string): Promise<BackupRecord> {
  const record = await activityEnv('backupDatabase').run<
    [HostStepInput],
    BackupRecord | undefined,
    typeof database.backupDatabase
  >(database.backupDatabase, input(tag));
  if (!record) throw new Error('backupDatabase reported "no database yet" for a database with rows');
  return record;
}

let backup: BackupRecord;
let atBackup: string;

afterAll(async () => {
  await withHost(host, async (h) => {
    await h.run([...composeDown(environment, host), '--volumes', '--timeout', '5'], {
      timeoutMs: 180_000,
      okCodes: [0, 1],
    });
    await h.run(['rm', '-rf', host.baseDir], { timeoutMs: 60_000 });
  }).catch((e: Error) => console.error(`teardown of ${environment.project} failed: ${e.message}`));
});

test('a host the stack was never deployed to has no database to back up; nothing is started', async () => {
  expect(await activityEnv('backupDatabase').run(database.backupDatabase, input('v1'))).toBeUndefined();
  const audit = await remote(['cat', remoteLayout(environment, host).auditLog]);
  expect(audit).toContain('no database yet: nothing to back up (the stack was never deployed on this host)');
  expect(await remote(['ls', '-A', remoteLayout(environment, host).appDir])).toBe('audit.log');
});

test('a first deploy (files uploaded, empty database) has nothing to back up; the database is left up', async () => {
  await stage('v1');
  const t0 = Date.now();
  expect(await activityEnv('backupDatabase').run(database.backupDatabase, input('v1'))).toBeUndefined();
  console.log(`first backup (db created, nothing to dump) took ${Date.now() - t0} ms`);
  expect(await sql('select 1')).toBe('1');
  const audit = await remote(['cat', remoteLayout(environment, host).auditLog]);
  expect(audit).toContain('no database yet: nothing to back up');
});

test("v1's migrations: 001, backward compatible", async () => {
  const report = await activityEnv('runMigrations').run(database.runMigrations, input('v1'));
  expect(report).toEqual({ applied: [{ id: '001_visits', backwardCompatible: true }] });
  // Already applied: a second run applies nothing.
  expect(await activityEnv('runMigrations').run(database.runMigrations, input('v1'))).toEqual({
    applied: [],
  });
});

test('backup: dump and checksum file on the host, and a retry is a no-op', async () => {
  await sql(
    "insert into visits (service, at) select 'svc-' || (i % 3), timestamptz '2026-01-01' + i * interval '1 minute' from generate_series(1, 10000) i",
  );
  atBackup = await checksum();
  expect(atBackup).toMatch(/^hash64:-?[1-9][0-9]*$/);

  backup = await backupOf('v1');
  expect(backup).toMatchObject({
    path: posix.join(remoteLayout(environment, host).appDir, 'backups', `${deploymentId}.dump`),
  });
  console.log(
    `backup of the lab DB (10000 rows): ${backup.durationMs} ms, dump ${backup.sizeBytes} bytes, sha256 ${backup.sha256}`,
  );
  const [sum] = (await remote(['sha256sum', backup.path])).split(' ');
  expect(sum).toBe(backup.sha256);
  expect(await remote(['cat', `${backup.path}.sha256`])).toBe(`${backup.sha256}  ${deploymentId}.dump`);
  expect(Number(await remote(['stat', '-c', '%s', backup.path]))).toBe(backup.sizeBytes);
  expect(await remote(['stat', '-c', '%a', backup.path])).toBe('600');
  const inode = await remote(['stat', '-c', '%i', backup.path]);

  const retry = await backupOf('v1');
  expect({ ...retry, durationMs: 0 }).toEqual({ ...backup, durationMs: 0, reused: true });
  expect(await remote(['stat', '-c', '%i', backup.path])).toBe(inode);
  const audit = await remote(['cat', remoteLayout(environment, host).auditLog]);
  expect(audit).toContain(`"detail":"reused ${backup.path} sha256=${backup.sha256}`);
});

test('every fingerprint scheme reads the real database: its own prefix, the same rows, stable, and a changed row shows', async () => {
  const read = async (scheme: FingerprintScheme) =>
    parseFingerprints(await remote(tableFingerprints(environment, scheme)));
  const now = await read('content-hash');
  const visits = now.find((t) => t.table === 'public.visits');
  expect(visits?.md5).toBe(await checksum());
  expect(visits!.rows).toBeGreaterThanOrEqual(10000);
  expect(now.every((t) => /^hash64:-?[0-9]+$/.test(t.md5))).toBe(true);
  expect(await read('content-hash')).toEqual(now);
  const older = await read('sum60');
  expect(older.every((t) => /^sum60:[0-9]+$/.test(t.md5))).toBe(true);
  const oldest = await read('ordered-md5');
  expect(oldest.find((t) => t.table === 'public.visits')?.md5).toMatch(/^[0-9a-f]{32}$/);
  for (const other of [older, oldest])
    expect(other.map((t) => [t.table, t.rows])).toEqual(now.map((t) => [t.table, t.rows]));

  const first = 'id = (select min(id) from visits)';
  const service = await sql(`select service from visits where ${first}`);
  expect(service).toMatch(/^svc-[0-9]$/);
  await sql(`update visits set service = 'svc-x' where ${first}`);
  try {
    expect((await read('content-hash')).find((t) => t.table === 'public.visits')?.md5).not.toBe(visits!.md5);
  } finally {
    await sql(`update visits set service = '${service}' where ${first}`);
  }
  expect(await checksum()).toBe(visits!.md5);
});

test('a full disk during a backup fails the step clearly; the backups already there are untouched', async () => {
  const dir = posix.dirname(backup.path);
  const saved = posix.join(host.baseDir, 'saved-backups');
  const [uid, gid] = [await remote(['id', '-u']), await remote(['id', '-g'])];
  await remote(['sh', '-c', 'mkdir -p "$2" && cp -p "$1"/* "$2"/', 'save', dir, saved]);
  // The backups directory on a 1 MiB filesystem of its own (the lab host's paths are this
  // machine's), holding the backup above and filled up: the next dump cannot fit.
  const mounted = spawnSync(
    'mount',
    ['-t', 'tmpfs', '-o', `size=1m,mode=0700,uid=${uid},gid=${gid}`, 'tmpfs', dir],
    {
      encoding: 'utf8',
    },
  );
  if (mounted.status !== 0)
    throw new Error(`this test needs root to mount a small tmpfs on ${dir}: ${mounted.stderr.trim()}`);
  try {
    await remote([
      'sh',
      '-c',
      'cp -p "$1"/* "$2"/ && { head -c 2000000 /dev/zero > "$2/filler" || true; }',
      'fill',
      saved,
      dir,
    ]);
    const other = { plan: { ...plan('v1'), deploymentId: `${deploymentId}-full` }, hostName: host.name };
    const err = await expectFailure(
      activityEnv('backupDatabase').run(database.backupDatabase, other),
      'BackupDiskFull',
    );
    expect(err.message).toMatch(
      new RegExp(
        `^${host.name}: the backup does not fit: no space left on the filesystem of ${dir} \\(\\d+ KiB free\\)`,
      ),
    );
    expect(err.message).toContain('the backups already there are untouched');
    // Nothing of the failed dump is left, and the earlier backup still matches its checksum.
    expect((await remote(['ls', '-A', dir])).split('\n').sort()).toEqual(
      [`${deploymentId}.dump`, `${deploymentId}.dump.sha256`, 'filler'].sort(),
    );
    expect((await remote(['sha256sum', backup.path])).split(' ')[0]).toBe(backup.sha256);
    const audit = await remote(['cat', remoteLayout(environment, host).auditLog]);
    expect(audit).toContain('the backup does not fit');
  } finally {
    const unmounted = spawnSync('umount', [dir], { encoding: 'utf8' });
    if (unmounted.status !== 0) console.error(`umount ${dir}: ${unmounted.stderr}`);
    await remote(['rm', '-rf', saved]);
  }
  // Under the mount the directory was never touched: the backup is where it was.
  expect((await remote(['sha256sum', backup.path])).split(' ')[0]).toBe(backup.sha256);
});

test('a host missing a compose file the config names is refused: upload first', async () => {
  const extra = { ...environment, composeFiles: [...environment.composeFiles, 'compose/not-uploaded.yml'] };
  const err = await expectFailure(
    activityEnv('backupDatabase').run(database.backupDatabase, {
      plan: { ...plan('v1'), environment: extra },
      hostName: host.name,
    }),
    'StackNotUploaded',
  );
  expect(err.message).toContain('not-uploaded.yml is not on the host');
});

let afterV2: string;

test("v2's migrations: 002 applied, backward compatible", async () => {
  await stage('v2');
  const report = await activityEnv('runMigrations').run(database.runMigrations, input('v2'));
  expect(report).toEqual({ applied: [{ id: '002_visits_referrer', backwardCompatible: true }] });
  expect(await ledger()).toEqual(['001_visits', '002_visits_referrer']);
  afterV2 = await checksum();
  expect(afterV2).not.toBe(atBackup); // every row gained a (null) referrer
});

test("v4-badmigration's migration fails, is not retried, and changes nothing", async () => {
  await stage('v4-badmigration');
  const err = await expectFailure(
    activityEnv('runMigrations').run(database.runMigrations, input('v4-badmigration')),
    'MigrationFailed',
  );
  expect(err.message).toContain('003_archive_visits failed and was rolled back');
  expect(err.message).toContain('relation "visits_archive" does not exist');
  expect(err.message).not.toContain(secret);
  expect(err.details?.[0]).toMatchObject({ applied: [], host: host.name, exitCode: 1 });
  expect(await checksum()).toBe(afterV2);
  expect(await ledger()).toEqual(['001_visits', '002_visits_referrer']);
});

test('restore from the backup: the rows are as they were at backup time', async () => {
  const t0 = Date.now();
  await activityEnv('restoreDatabase').run(database.restoreDatabase, { ...input('v4-badmigration'), backup });
  console.log(`restore of the lab DB took ${Date.now() - t0} ms`);
  expect(await checksum()).toBe(atBackup);
  expect(await ledger()).toEqual(['001_visits']);
});

test('v5-breaking: its migration applies (not backward compatible), the release is unready until the database is restored', async () => {
  await stage('v5-breaking');
  const report = await activityEnv('runMigrations').run(database.runMigrations, input('v5-breaking'));
  expect(report).toEqual({
    applied: [
      { id: '002_visits_referrer', backwardCompatible: true },
      { id: '003_drop_visits_service', backwardCompatible: false },
    ],
  });
  await withHost(host, (h) =>
    h.run(composeUpService(environment, host, 'api'), { timeoutMs: 180_000, secrets: [secret] }),
  );
  const unready = (await waitReady(503)) as { detail?: string };
  expect(unready.detail).toContain('missing visits.service');

  await activityEnv('restoreDatabase').run(database.restoreDatabase, { ...input('v5-breaking'), backup });
  expect(await checksum()).toBe(atBackup);
  await waitReady(200);
});

test('a corrupted dump is refused and the database is left as it is', async () => {
  await sql("insert into visits (service) values ('after-backup')");
  const before = await checksum();
  await remote(['sh', '-c', 'printf x >> "$1"', 'corrupt', backup.path]);
  const err = await expectFailure(
    activityEnv('restoreDatabase').run(database.restoreDatabase, { ...input('v5-breaking'), backup }),
    'BackupCorrupt',
  );
  expect(err.message).toContain('(corrupt or replaced)');
  expect(await checksum()).toBe(before);
});
