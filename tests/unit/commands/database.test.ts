import { spawnSync } from 'node:child_process';
import { EXEC_IN_SERVICE_SCRIPT } from '../../../src/commands/compose';
import {
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  utimesSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BACKUP_SCRIPT,
  DUMP_IF_TABLES_SCRIPT,
  NO_USER_TABLES,
  NO_USER_TABLES_MARKER,
  backupDatabaseArgv,
  backupPaths,
  databaseReady,
  databaseUp,
  DEFAULT_HOST_DUMPS_KEPT,
  missingStackFile,
  dumpIfTables as dumpIfTablesArgv,
  pgRestore,
  PRUNE_DUMPS_SCRIPT,
  pruneHostDumps,
  RESTORE_REFUSED,
  RESTORE_SCRIPT,
  VERIFY_HOST_COPY_SCRIPT,
  HOST_COPY_DAMAGED,
  verifyHostCopy,
  restoreDatabaseArgv,
  runMigrationsArgv,
  SNAPSHOT_DUMP_SCRIPT,
  snapshotBackup,
  FINGERPRINT_SQL,
  tableChecksum,
} from '../../../src/commands/database';
import {
  failureText,
  parseBackupLine,
  parseMigrationOutput,
  parsePendingMigrations,
} from '../../../src/activities/database';
import { loadEnvironment } from '../../../src/config/load';
import { environmentSchema } from '../../../src/config/schema';
import { shellLine } from '../../../src/remote/executor';
import { STAGING_COMPOSE_BASE, stagingFixture } from '../helpers';

const plain = stagingFixture();
const env = environmentSchema.parse({ ...plain, database: {}, migrations: {} });
const host = env.hosts[0];
const base = STAGING_COMPOSE_BASE;
const exec = ['sh', '-c', EXEC_IN_SERVICE_SCRIPT, 'exec-in-service', 'shop', 'db'];
const SHA = 'a'.repeat(64);

describe('config', () => {
  test('both sections are optional: existing configs stay valid and have none', () => {
    expect(plain.database).toBeUndefined();
    expect(plain.migrations).toBeUndefined();
  });
  test('empty sections take the defaults', () => {
    expect(env.database).toEqual({ service: 'db', user: 'app', name: 'app' });
    expect(env.migrations).toEqual({ service: 'api', command: ['node', 'server.js', 'migrate'] });
  });
  test.each([
    [{ database: { user: 'app; drop table x' } }, 'database.user'],
    [{ database: { name: 'App' } }, 'database.name'],
    [{ database: { service: '' } }, 'database.service'],
    [{ database: { password: 'x' } }, 'database'],
    [{ database: { dumpCompression: 10 } }, 'database.dumpCompression'],
    [{ database: { dumpCompression: 1.5 } }, 'database.dumpCompression'],
    [{ migrations: { command: ['sh', '-c', 'echo $HOME'] } }, 'migrations.command.2'],
    [{ migrations: { command: ['node', 'a b'] } }, 'migrations.command.1'],
    [{ migrations: { command: [] } }, 'migrations.command'],
    [{ migrations: { service: 'API' } }, 'migrations.service'],
    [{ migrations: { phases: { pending: ['x'], expand: ['x'] } } }, 'migrations.phases.contract'],
    [
      { migrations: { phases: { pending: ['x'], expand: ['x'], contract: ['a;b'] } } },
      'migrations.phases.contract.0',
    ],
  ])('%j is refused at %s', (extra, path) => {
    const r = environmentSchema.safeParse({ ...plain, ...extra });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain(path);
  });
});

describe('migrations in expand/contract form', () => {
  const phases = {
    pending: ['node', 'server.js', 'migrate', '--pending'],
    expand: ['node', 'server.js', 'migrate', '--phase=expand'],
    contract: ['node', 'server.js', 'migrate', '--phase=contract'],
  };
  const phased = environmentSchema.parse({ ...plain, migrations: { phases } });
  const run = [...base, 'run', '--rm', '--no-deps', '-T', 'api'];
  test('each phase runs its own argv in the one-off container; "all" stays the plain command', () => {
    expect(runMigrationsArgv(phased, host, 'pending')).toEqual([...run, ...phases.pending]);
    expect(runMigrationsArgv(phased, host, 'expand')).toEqual([...run, ...phases.expand]);
    expect(runMigrationsArgv(phased, host, 'contract')).toEqual([...run, ...phases.contract]);
    expect(runMigrationsArgv(phased, host)).toEqual([...run, 'node', 'server.js', 'migrate']);
  });
  test('without phases only "all" can be built', () => {
    expect(() => runMigrationsArgv(env, host, 'expand')).toThrow(
      'migrations.phases is needed to run "expand"',
    );
  });
  test('pending list: JSON lines with an id; a missing or odd phase is "undeclared"', () => {
    const stdout = [
      'Creating shop_migrate_run ... done',
      '{"id":"002_add","phase":"expand"}',
      '{"id":"003_drop","phase":"contract"}',
      '{"id":"004_rename","phase":"breaking"}',
      '{"id":"005_old"}',
      '{"id":"006_x","phase":"expand; rm -rf /"}',
      '{"phase":"expand"}',
      'not json',
    ].join('\n');
    expect(parsePendingMigrations(stdout)).toEqual([
      { id: '002_add', phase: 'expand' },
      { id: '003_drop', phase: 'contract' },
      { id: '004_rename', phase: 'breaking' },
      { id: '005_old', phase: 'undeclared' },
      { id: '006_x', phase: 'undeclared' },
    ]);
  });
  test('blue-green or canary with migrations needs the phases; recreate does not', () => {
    // The production fixture releases as canary behind Traefik.
    const withColours = loadEnvironment(
      join(__dirname, '..', '..', 'fixtures', 'environments'),
      'production',
    );
    const r = environmentSchema.safeParse({ ...withColours, strategy: 'blue-green', migrations: {} });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toContain(
      'migrations.phases: is needed by strategy "blue-green" (the old release serves while migrations run): the pending, expand and contract commands; or use strategy "recreate"',
    );
    expect(
      environmentSchema.safeParse({ ...withColours, strategy: 'canary', migrations: { phases } }).success,
    ).toBe(true);
    expect(
      environmentSchema.safeParse({ ...withColours, strategy: 'recreate', migrations: {} }).success,
    ).toBe(true);
  });
});

describe('database commands: exact argv', () => {
  test('backup paths: one dump per deployment under <appDir>/backups', () => {
    expect(backupPaths(env, host, 'deploy-staging-abc123')).toEqual({
      dir: '/srv/apps/shop/backups',
      dump: '/srv/apps/shop/backups/deploy-staging-abc123.dump',
      checksum: '/srv/apps/shop/backups/deploy-staging-abc123.dump.sha256',
    });
  });
  test.each(['../etc/passwd', 'a/b', '', '.hidden', 'x..y', 'a b'])(
    'deployment id %j cannot name a backup file',
    (id) => {
      expect(() => backupPaths(env, host, id)).toThrow('cannot name a backup file');
    },
  );
  test('database up: that service only, never recreated', () => {
    expect(databaseUp(env, host)).toEqual([...base, 'up', '--detach', '--no-recreate', 'db']);
  });
  test('stack files present: env file and every compose file, as arguments', () => {
    expect(missingStackFile(env, host)).toEqual([
      'sh',
      '-c',
      'for f in "$@"; do [ -f "$f" ] || { printf "%s\\n" "$f"; exit 1; }; done',
      'stack-files',
      '/srv/apps/shop/.env',
      '/srv/apps/shop/docker-compose.yml',
    ]);
  });
  test('readiness: pg_isready inside the container', () => {
    expect(databaseReady(env)).toEqual([...exec, 'pg_isready', '--quiet', '-U', 'app', '-d', 'app']);
  });
  test('pg_restore: clean, if exists, one transaction', () => {
    expect(pgRestore(env)).toEqual([
      ...exec,
      'pg_restore',
      '--clean',
      '--if-exists',
      '--single-transaction',
      '-U',
      'app',
      '-d',
      'app',
    ]);
  });
  test('verified backup: the snapshot dump script with user, database, fingerprint SQL and level', () => {
    const tight = { ...env, database: { ...env.database!, dumpCompression: 9 } };
    expect(snapshotBackup(tight, host, 'backup-staging-1')).toEqual([
      'sh',
      '-c',
      BACKUP_SCRIPT,
      'backup',
      '/srv/apps/shop/backups/backup-staging-1.dump',
      ...exec,
      'sh',
      '-c',
      SNAPSHOT_DUMP_SCRIPT,
      'snapshot-dump',
      'app',
      'app',
      FINGERPRINT_SQL,
      '9',
    ]);
  });
  test('backup: constant script, dump path and the dump-if-tables argv as arguments', () => {
    expect(backupDatabaseArgv(env, host, 'deploy-staging-r1')).toEqual([
      'sh',
      '-c',
      BACKUP_SCRIPT,
      'backup',
      '/srv/apps/shop/backups/deploy-staging-r1.dump',
      ...exec,
      'sh',
      '-c',
      DUMP_IF_TABLES_SCRIPT,
      'dump-if-tables',
      'app',
      'app',
      "select count(*) from pg_catalog.pg_tables where schemaname not in ('pg_catalog', 'information_schema')",
      '1',
    ]);
    expect(
      backupDatabaseArgv({ ...env, database: { ...env.database!, dumpCompression: 0 } }, host, 'r1').at(-1),
    ).toBe('0');
  });
  test('restore: constant script, dump path, recorded checksum, pg_restore argv', () => {
    expect(restoreDatabaseArgv(env, '/srv/apps/shop/backups/d.dump', SHA)).toEqual([
      'sh',
      '-c',
      RESTORE_SCRIPT,
      'restore',
      '/srv/apps/shop/backups/d.dump',
      SHA,
      ...exec,
      'pg_restore',
      '--clean',
      '--if-exists',
      '--single-transaction',
      '-U',
      'app',
      '-d',
      'app',
    ]);
  });
  test('restore refuses a value that is not a sha256', () => {
    expect(() => restoreDatabaseArgv(env, '/x.dump', 'abc')).toThrow('is not a sha256 checksum');
  });
  test('migrations: one-off container of the service, no deps, no TTY', () => {
    expect(runMigrationsArgv(env, host)).toEqual([
      ...base,
      'run',
      '--rm',
      '--no-deps',
      '-T',
      'api',
      'node',
      'server.js',
      'migrate',
    ]);
  });
  test('table checksum: the order-free sum of the md5 prefixes of the rows, streamed', () => {
    expect(tableChecksum(env, 'visits')).toEqual([
      ...exec,
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
      'select \'hash64:\' || coalesce(sum(hashtextextended(fingerprinted_row::text collate "C", 0)), 0) from visits fingerprinted_row',
    ]);
  });
  test.each(['visits; drop table x', 'Visits', 'a.b', ''])('table name %j is refused', (table) => {
    expect(() => tableChecksum(env, table)).toThrow('is not a plain table name');
  });
  test('an environment without the sections cannot build these commands', () => {
    expect(() => dumpIfTablesArgv(plain)).toThrow('has no database section');
    expect(() => runMigrationsArgv(plain, host)).toThrow('has no migrations section');
  });
});

/** The scripts as a real sh runs them, with stand-ins for pg_dump and pg_restore. */
describe('backup and restore scripts in a real shell', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'db-scripts-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const sh = (script: string, args: string[]) =>
    spawnSync('sh', ['-c', shellLine(['sh', '-c', script, 'test', ...args])], { encoding: 'utf8' });
  const sha256 = (file: string) => spawnSync('sha256sum', [file], { encoding: 'utf8' }).stdout.split(' ')[0];

  test('creates the dump and its checksum atomically, then reuses them', () => {
    // A hostile file name: it is an argument, never script text.
    const dump = join(dir, 'backups', "d $(touch pwned) 'x'.dump");
    const first = sh(BACKUP_SCRIPT, [dump, 'printf', 'DUMPDATA']);
    expect(first.status).toBe(0);
    const created = parseBackupLine(first.stdout);
    expect(created).toMatchObject({ reused: false, sha256: sha256(dump), sizeBytes: 8 });
    expect(readFileSync(dump, 'utf8')).toBe('DUMPDATA');
    expect(readFileSync(`${dump}.sha256`, 'utf8')).toBe(`${sha256(dump)}  d $(touch pwned) 'x'.dump\n`);
    expect(statSync(dump).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    const inode = statSync(dump).ino;

    // A retry: the dump command would write something else, but it is not even run.
    const again = sh(BACKUP_SCRIPT, [dump, 'printf', 'OTHER']);
    expect(again.status).toBe(0);
    expect(parseBackupLine(again.stdout)).toEqual({ ...created, reused: true });
    expect(statSync(dump).ino).toBe(inode);
    expect(readFileSync(dump, 'utf8')).toBe('DUMPDATA');
  });

  test('a dump that does not match its checksum file is made again', () => {
    const dump = join(dir, 'd.dump');
    expect(sh(BACKUP_SCRIPT, [dump, 'printf', 'ONE']).status).toBe(0);
    writeFileSync(dump, 'TRUNCATED');
    const r = sh(BACKUP_SCRIPT, [dump, 'printf', 'TWO']);
    expect(parseBackupLine(r.stdout).reused).toBe(false);
    expect(readFileSync(dump, 'utf8')).toBe('TWO');
    expect(readFileSync(`${dump}.sha256`, 'utf8').split(' ')[0]).toBe(sha256(dump));
  });

  /** DUMP_IF_TABLES_SCRIPT with stand-ins for psql (prints `count`, or fails) and pg_dump. */
  const dumpIfTables = (count: string, psqlExit = 0) => {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'psql'), `#!/bin/sh\nprintf '%s\\n' '${count}'\nexit ${psqlExit}\n`, {
      mode: 0o755,
    });
    writeFileSync(
      join(bin, 'pg_dump'),
      '#!/bin/sh\nprintf "DUMP of %s as %s, %s %s %s" "$6" "$2" "$3" "$4" "$5"\n',
      { mode: 0o755 },
    );
    return spawnSync('sh', ['-c', DUMP_IF_TABLES_SCRIPT, 'dump-if-tables', 'app', 'shop', 'select 1', '4'], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
  };

  test('dump-if-tables: dumps a database with tables, exits NO_USER_TABLES on an empty one', () => {
    expect(dumpIfTables('2')).toMatchObject({ status: 0, stdout: 'DUMP of shop as app, -Fc -Z 4' });
    const empty = dumpIfTables('0');
    expect(empty).toMatchObject({ status: NO_USER_TABLES, stdout: '' });
    expect(empty.stderr).toContain(NO_USER_TABLES_MARKER);
  });

  test('dump-if-tables: a count that failed or is not a number fails, never reads as "no tables"', () => {
    const failed = dumpIfTables('', 2);
    expect(failed.status).toBe(1);
    expect(failed.stdout).toBe('');
    const garbled = dumpIfTables('ERROR: relation');
    expect(garbled.status).toBe(1);
    expect(garbled.stderr).toContain('the table count was not a number');
  });

  test('backup of an empty database: exit NO_USER_TABLES and no file left', () => {
    const dump = join(dir, 'backups', 'd.dump');
    const r = sh(BACKUP_SCRIPT, [dump, 'sh', '-c', `exit ${NO_USER_TABLES}`]);
    expect(r.status).toBe(NO_USER_TABLES);
    expect(readdirSync(join(dir, 'backups'))).toEqual([]);
  });

  test('a failing dump leaves nothing behind and fails', () => {
    const dump = join(dir, 'd.dump');
    const r = sh(BACKUP_SCRIPT, [dump, 'sh', '-c', 'printf partial; exit 3']);
    expect(r.status).toBe(3);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('restore streams the verified dump into the command', () => {
    const dump = join(dir, 'd.dump');
    expect(sh(BACKUP_SCRIPT, [dump, 'printf', 'DUMPDATA']).status).toBe(0);
    const out = join(dir, 'restored');
    const r = sh(RESTORE_SCRIPT, [dump, sha256(dump), 'sh', '-c', 'cat > "$1"', 'restore-stub', out]);
    expect(r.status).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('DUMPDATA');
  });

  test('restore refuses a corrupt, replaced or missing dump without running the command', () => {
    const dump = join(dir, 'd.dump');
    const out = join(dir, 'restored');
    const stub = ['sh', '-c', 'cat > "$1"', 'restore-stub', out];
    expect(sh(BACKUP_SCRIPT, [dump, 'printf', 'DUMPDATA']).status).toBe(0);
    const recorded = sha256(dump);

    writeFileSync(dump, 'DUMPDATX');
    const corrupt = sh(RESTORE_SCRIPT, [dump, recorded, ...stub]);
    expect(corrupt.status).toBe(RESTORE_REFUSED);
    expect(corrupt.stderr).toContain(`the backup recorded ${recorded} (corrupt or replaced)`);

    // Replaced together with its checksum file: the recorded checksum still refuses it.
    expect(sh(BACKUP_SCRIPT, [dump, 'printf', 'OTHER']).status).toBe(0);
    expect(sh(RESTORE_SCRIPT, [dump, recorded, ...stub]).status).toBe(RESTORE_REFUSED);

    const missing = sh(RESTORE_SCRIPT, [join(dir, 'none.dump'), recorded, ...stub]);
    expect(missing.status).toBe(RESTORE_REFUSED);
    expect(missing.stderr).toContain('does not exist');
    expect(existsSync(out)).toBe(false);
  });
});

describe('a backup copied to a host: checked once there, trusted by the restore while unchanged', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'host-copy-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const sh = (script: string, args: string[], path = process.env.PATH) =>
    spawnSync('sh', ['-c', script, 'test', ...args], {
      encoding: 'utf8',
      env: { ...process.env, PATH: path },
    });
  const sha256 = (file: string) => spawnSync('sha256sum', [file], { encoding: 'utf8' }).stdout.split(' ')[0]!;
  /** A PATH whose sha256sum fails loudly: a script that still reads the dump fails. */
  const noHashing = () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'sha256sum'), '#!/bin/sh\necho "sha256sum was run" >&2\nexit 9\n', {
      mode: 0o755,
    });
    return `${bin}:${process.env.PATH}`;
  };

  test('exact argv, and a value that is not a sha256 is refused', () => {
    expect(verifyHostCopy('/srv/d.dump', SHA)).toEqual([
      'sh',
      '-c',
      VERIFY_HOST_COPY_SCRIPT,
      'verify-host-copy',
      '/srv/d.dump',
      SHA,
    ]);
    expect(() => verifyHostCopy('/srv/d.dump', 'abc')).toThrow('is not a sha256 checksum');
  });

  test('a good copy gets its .sha256 and mark; the restore then runs without reading it again', () => {
    const dump = join(dir, 'b.dump');
    writeFileSync(dump, 'DUMPDATA');
    const want = sha256(dump);
    expect(sh(VERIFY_HOST_COPY_SCRIPT, [dump, want]).status).toBe(0);
    expect(readFileSync(`${dump}.sha256`, 'utf8')).toBe(`${want}  b.dump\n`);
    expect(readFileSync(`${dump}.verified`, 'utf8')).toMatch(
      new RegExp(`^${want} 8 [0-9]+ [0-9]+ [0-9]+\n$`),
    );
    const out = join(dir, 'restored');
    const r = sh(RESTORE_SCRIPT, [dump, want, 'sh', '-c', 'cat > "$1"', 'restore-stub', out], noHashing());
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(readFileSync(out, 'utf8')).toBe('DUMPDATA');
  });

  test('a copy replaced after its check is read again and refused; a mark for another checksum is no pass', () => {
    const dump = join(dir, 'b.dump');
    writeFileSync(dump, 'DUMPDATA');
    const want = sha256(dump);
    expect(sh(VERIFY_HOST_COPY_SCRIPT, [dump, want]).status).toBe(0);
    const stub = ['sh', '-c', 'cat > "$1"', 'restore-stub', join(dir, 'restored')];
    // Same size, a new file (inode) in its place.
    writeFileSync(`${dump}.new`, 'DUMPDATX');
    renameSync(`${dump}.new`, dump);
    const replaced = sh(RESTORE_SCRIPT, [dump, want, ...stub]);
    expect(replaced.status).toBe(RESTORE_REFUSED);
    expect(replaced.stderr).toContain('(corrupt or replaced)');
    // The mark names the file but another checksum: the restore reads the dump.
    expect(sh(VERIFY_HOST_COPY_SCRIPT, [dump, sha256(dump)]).status).toBe(0);
    expect(sh(RESTORE_SCRIPT, [dump, want, ...stub], noHashing()).stderr).toContain('sha256sum was run');
    expect(existsSync(join(dir, 'restored'))).toBe(false);
  });

  test('a damaged copy is removed with its mark, exit HOST_COPY_DAMAGED, saying both checksums', () => {
    const dump = join(dir, 'b.dump');
    writeFileSync(dump, 'DUMPDATX');
    writeFileSync(`${dump}.verified`, 'stale');
    const have = sha256(dump);
    const r = sh(VERIFY_HOST_COPY_SCRIPT, [dump, SHA]);
    expect(r.status).toBe(HOST_COPY_DAMAGED);
    expect(r.stderr).toContain(`the copy on this host has sha256 ${have},`);
    expect(r.stderr).toContain(`the backup ${SHA}: removed`);
    expect(existsSync(dump)).toBe(false);
    expect(existsSync(`${dump}.verified`)).toBe(false);
  });
});

describe('output parsing', () => {
  test('backup result line', () => {
    expect(parseBackupLine(`noise\nbackup created ${SHA} 1234 2026-01-02T03:04:05Z\n`)).toEqual({
      reused: false,
      sha256: SHA,
      sizeBytes: 1234,
      createdAt: '2026-01-02T03:04:05Z',
    });
    expect(() => parseBackupLine('nothing')).toThrow('no result line');
  });
  test('migration report: JSON lines only', () => {
    const stdout = [
      'Creating shop_api_run ... done',
      '{"id":"002_visits_referrer","backwardCompatible":true}',
      '{"id":"003_drop","backwardCompatible":false}',
      '{"unrelated":1}',
      '{not json',
      '',
    ].join('\n');
    expect(parseMigrationOutput(stdout)).toEqual([
      { id: '002_visits_referrer', backwardCompatible: true },
      { id: '003_drop', backwardCompatible: false },
    ]);
  });
  test('failure text drops compose progress lines', () => {
    expect(
      failureText(
        'Creating shop_api_run ... \nCreating shop_api_run ... done\nmigration 003 failed: ERROR: boom\n1\n',
        '',
      ),
    ).toBe('migration 003 failed: ERROR: boom');
    expect(failureText('', '')).toBe('no output');
  });
});

describe('pre-deploy dumps on the host', () => {
  test('the command: the backups directory and the store retention keepLast (3 without a backups section)', () => {
    expect(pruneHostDumps(env, host)).toEqual([
      'sh',
      '-c',
      PRUNE_DUMPS_SCRIPT,
      'prune-dumps',
      '/srv/apps/shop/backups',
      String(DEFAULT_HOST_DUMPS_KEPT),
    ]);
    const kept5 = environmentSchema.parse({ ...env, backups: { retention: { keepLast: 5 } } });
    expect(pruneHostDumps(kept5, host).at(-1)).toBe('5');
  });

  test('the script keeps the newest deploy and rollback dumps and leaves other operations alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prune-'));
    try {
      const names = ['deploy-a', 'rollback-b', 'deploy-c', 'deploy-d with space', 'deploy-e'];
      names.forEach((name, i) => {
        for (const file of [`${name}.dump`, `${name}.dump.sha256`]) {
          writeFileSync(join(dir, file), name);
          // Oldest first: a, b, c, d, e.
          utimesSync(join(dir, file), 1_700_000_000 + i * 60, 1_700_000_000 + i * 60);
        }
      });
      writeFileSync(join(dir, 'emergency-x.dump'), 'not a deployment');
      utimesSync(join(dir, 'emergency-x.dump'), 1_600_000_000, 1_600_000_000);
      const r = spawnSync('sh', ['-c', PRUNE_DUMPS_SCRIPT, 'prune-dumps', dir, '3'], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual([
        `pruned ${dir}/deploy-a.dump`,
        `pruned ${dir}/rollback-b.dump`,
      ]);
      expect(readdirSync(dir).sort()).toEqual([
        'deploy-c.dump',
        'deploy-c.dump.sha256',
        'deploy-d with space.dump',
        'deploy-d with space.dump.sha256',
        'deploy-e.dump',
        'deploy-e.dump.sha256',
        'emergency-x.dump',
      ]);
      // Nothing to prune, or no dump at all: still a success.
      expect(spawnSync('sh', ['-c', PRUNE_DUMPS_SCRIPT, 'prune-dumps', dir, '3']).status).toBe(0);
      expect(spawnSync('sh', ['-c', PRUNE_DUMPS_SCRIPT, 'prune-dumps', join(dir, 'none'), '3']).status).toBe(
        0,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
