/**
 * How a pre-deploy dump ended, read from what really runs: BACKUP_SCRIPT around
 * DUMP_IF_TABLES_SCRIPT (stand-ins for psql and pg_dump) under the host lock, in a real sh
 * with the real flock.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpOutcome } from '../../../src/activities/database';
import { BACKUP_SCRIPT, DUMP_IF_TABLES_SCRIPT, NO_USER_TABLES } from '../../../src/commands/database';
import { HOST_LOCK_BUSY, underHostLock } from '../../../src/commands/hostLock';
import { shellLine } from '../../../src/remote/executor';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dump-outcome-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  // psql prints the table count the test asks for; pg_dump prints a dump.
  writeFileSync(join(bin, 'psql'), '#!/bin/sh\nprintf "%s\\n" "$TABLES"\n', { mode: 0o755 });
  writeFileSync(join(bin, 'pg_dump'), '#!/bin/sh\nprintf DUMP\n', { mode: 0o755 });
});
afterEach(() => {
  chmodSync(dir, 0o755);
  rmSync(dir, { recursive: true, force: true });
});

/** The backup of a database with `tables` user tables, holding `lockFile`'s lock. */
function backup(tables: string, lockFile = join(dir, 'app', '.steps.lock'), waitSeconds = 5) {
  const argv = underHostLock(lockFile, waitSeconds, [
    'sh',
    '-c',
    BACKUP_SCRIPT,
    'backup',
    join(dir, 'app', 'backups', 'd.dump'),
    'sh',
    '-c',
    DUMP_IF_TABLES_SCRIPT,
    'dump-if-tables',
    'app',
    'app',
    'select 1',
    '1',
  ]);
  const r = spawnSync('sh', ['-c', shellLine(argv)], {
    encoding: 'utf8',
    env: { ...process.env, TABLES: tables, PATH: `${join(dir, 'bin')}:${process.env.PATH}` },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('a database with tables is dumped; an empty one has nothing to back up', () => {
  expect(dumpOutcome(backup('3'))).toBe('dumped');
  rmSync(join(dir, 'app', 'backups'), { recursive: true });
  const empty = backup('0');
  expect(empty.code).toBe(NO_USER_TABLES);
  expect(dumpOutcome(empty)).toBe('no-tables');
});

test("a failure before the dump fails the backup; the 'no tables' code alone never skips it", () => {
  // A lock path under a regular file: the lock's directory cannot be made.
  writeFileSync(join(dir, 'afile'), '');
  const r = backup('3', join(dir, 'afile', '.steps.lock'));
  expect(r.code).not.toBe(0);
  expect(dumpOutcome(r)).toBe('failed');
  // flock exits 66 when it cannot open its lock file: without the script's marker that is a failure.
  expect(dumpOutcome({ code: NO_USER_TABLES, stdout: '', stderr: 'flock: cannot open lock file' })).toBe(
    'failed',
  );
});

test('a lock still held by an earlier attempt is told apart; a full disk too', async () => {
  const lockFile = join(dir, 'app', '.steps.lock');
  mkdirSync(join(dir, 'app'), { recursive: true });
  // An earlier attempt's command, still running on the host with the lock.
  const holder = spawn('flock', [lockFile, 'sleep', '30'], { stdio: 'ignore' });
  try {
    const deadline = Date.now() + 10_000;
    while (spawnSync('flock', ['-n', lockFile, 'true']).status === 0) {
      if (Date.now() > deadline) throw new Error('the lock holder never took the lock');
      await new Promise((r) => setTimeout(r, 20));
    }
    const busy = backup('3', lockFile, 1);
    expect(busy.code).toBe(HOST_LOCK_BUSY);
    expect(dumpOutcome(busy)).toBe('lock-busy');
  } finally {
    holder.kill('SIGKILL');
  }
  expect(dumpOutcome({ code: 1, stdout: '', stderr: 'OSError: [Errno 28] No space left on device' })).toBe(
    'disk-full',
  );
  expect(dumpOutcome({ code: 1, stdout: '', stderr: 'pg_dump: error: connection refused' })).toBe('failed');
});
