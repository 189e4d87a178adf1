import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checksumToolVersion,
  makePrivateDirectories,
  MIN_PG_RESTORE_MAJOR,
  pgRestoreMajor,
  pgRestoreVersion,
  writableDirectory,
  parseSizeAndChecksum,
  removeFiles,
  sizeAndChecksum,
} from '../../../src/commands/store';
import { StoreLayout } from '../../../src/store/backupStore';

/** Runs an argv here, as the store host's shell would (values are arguments, never script text). */
function run(argv: readonly string[]): { code: number | null; stdout: string } {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout };
}

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'store-commands-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('store host commands', () => {
  test('the exact argv of each', () => {
    expect(makePrivateDirectories(['/srv/b/staging', '/srv/b/staging/backups'])).toEqual([
      'install',
      '-d',
      '-m',
      '700',
      '--',
      '/srv/b/staging',
      '/srv/b/staging/backups',
    ]);
    expect(sizeAndChecksum('/srv/b/x.dump')).toEqual([
      'sh',
      '-c',
      'if [ -f "$1" ]; then stat -c %s -- "$1" && sha256sum -- "$1"; fi',
      'size-and-checksum',
      '/srv/b/x.dump',
    ]);
    expect(removeFiles(['/srv/b/x.json', '/srv/b/x.dump'])).toEqual([
      'rm',
      '-f',
      '--',
      '/srv/b/x.json',
      '/srv/b/x.dump',
    ]);
  });

  test('size and checksum of a file, read back; nothing for no file', () => {
    const file = join(dir, 'a b$(touch pwned).dump');
    writeFileSync(file, 'pg dump bytes');
    const r = run(sizeAndChecksum(file));
    expect(r.code).toBe(0);
    expect(parseSizeAndChecksum(r.stdout)).toEqual({
      sizeBytes: 13,
      sha256: createHash('sha256').update('pg dump bytes').digest('hex'),
    });
    const none = run(sizeAndChecksum(join(dir, 'missing.dump')));
    expect(none).toEqual({ code: 0, stdout: '' });
    expect(parseSizeAndChecksum(none.stdout)).toBeUndefined();
    expect(() => parseSizeAndChecksum('12\n')).toThrow('unexpected size and checksum output "12\\n"');
  });

  test('the pg_restore major version is read from its --version line', () => {
    expect(pgRestoreMajor('pg_restore (PostgreSQL) 16.4 (Debian 16.4-1)')).toBe(16);
    expect(pgRestoreMajor('pg_restore (PostgreSQL) 13.16')).toBe(13);
    expect(pgRestoreMajor('command not found')).toBeUndefined();
    expect(MIN_PG_RESTORE_MAJOR).toBe(15);
  });

  test('what config check asks a store host', () => {
    expect(checksumToolVersion()).toEqual(['sha256sum', '--version']);
    expect(pgRestoreVersion()).toEqual(['pg_restore', '--version']);
    expect(writableDirectory('/srv/b')).toEqual([
      'sh',
      '-c',
      'd=$1; while [ ! -d "$d" ]; do d=${d%/*}; d=${d:-/}; done; printf "%s\\n" "$d"; test -w "$d"',
      'writable-directory',
      '/srv/b',
    ]);
    // A store not used yet: its nearest existing parent is what must be writable, and nothing is made.
    const r = run(writableDirectory(join(dir, 'not', 'yet')));
    expect(r).toEqual({ code: 0, stdout: `${dir}\n` });
    expect(run(['test', '-e', join(dir, 'not')]).code).toBe(1);
  });

  test('directories are made private, parents included', () => {
    const layout = new StoreLayout(join(dir, 'store'));
    const backups = layout.dir('staging', 'backups');
    expect(run(makePrivateDirectories([join(dir, 'store', 'staging'), backups])).code).toBe(0);
    expect(statSync(join(dir, 'store', 'staging')).mode & 0o777).toBe(0o700);
    expect(statSync(backups).mode & 0o777).toBe(0o700);
  });

  test.each([[[]], [['relative.dump']], [['/srv/b/../../etc/passwd']]])('removeFiles refuses %j', (paths) => {
    expect(() => removeFiles(paths)).toThrow();
  });

  test('the layout keeps every id inside the root', () => {
    const layout = new StoreLayout('/srv/b');
    expect(layout.dumpPath('staging', 'staging-20261205-ab')).toBe(
      '/srv/b/staging/backups/staging-20261205-ab.dump',
    );
    expect(layout.drillPath('staging', 'drill-1')).toBe('/srv/b/staging/drills/drill-1.json');
    expect(() => layout.recordPath('staging', '../x')).toThrow('backup id "../x" must be letters');
    expect(() => layout.dir('../etc', 'backups')).toThrow('environment id "../etc" must be letters');
  });
});
