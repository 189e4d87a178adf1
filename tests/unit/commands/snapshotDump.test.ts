/**
 * A verified backup's dump script as it runs, in a real sh with stand-ins for psql (the
 * snapshot session: it exports a snapshot, then scans for the fingerprints) and pg_dump: the
 * scan runs beside the dump, and a failure on either side ends the script with its reason and
 * ends the other side's work.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FINGERPRINT_SQL, SNAPSHOT_DUMP_SCRIPT } from '../../../src/commands/database';

// Python, not sh: a background job of a script starts with SIGINT ignored, which sh cannot trap;
// psql, like this stand-in, installs its own handler (it cancels the running query).
const PSQL = `#!/usr/bin/env python3
import os, signal, sys, time
marks = os.environ['MARKS']
def cancelled(*_):
    open(os.path.join(marks, 'cancelled'), 'w').close()
    sys.exit(130)
signal.signal(signal.SIGINT, cancelled)
for line in sys.stdin:
    if 'pg_export_snapshot' in line:
        print('SNAP-1', flush=True)
    elif 'order by schemaname, tablename;' in line:
        open(os.path.join(marks, 'scan-started'), 'w').close()
        if os.environ.get('FAIL_SCAN'):
            print('ERROR:  scan failed on public.a', file=sys.stderr, flush=True)
            sys.exit(3)
        time.sleep(int(os.environ.get('SCAN_TENTHS', '0')) / 10)
        print('public.a|1|hash64:1', flush=True)
`;

const PG_DUMP = `#!/bin/sh
case "$*" in *--snapshot=SNAP-1*) ;; *) echo "pg_dump: not given the snapshot" >&2; exit 2 ;; esac
case "$*" in *"-Fc -Z 3 app") ;; *) echo "pg_dump: not the custom format at level 3: $*" >&2; exit 2 ;; esac
i=0
while [ ! -e "$MARKS/scan-started" ]; do
  i=$((i + 1))
  [ "$i" -le 50 ] || { echo "pg_dump: the fingerprint scan never started beside the dump" >&2; exit 4; }
  sleep 0.1
done
if [ -n "\${PG_DUMP_FAIL:-}" ]; then echo "pg_dump: error: connection to server lost" >&2; exit 1; fi
printf DUMP
`;

let dir: string;
let marks: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'snapshot-dump-'));
  marks = join(dir, 'marks');
  mkdirSync(marks);
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'psql'), PSQL, { mode: 0o755 });
  writeFileSync(join(dir, 'bin', 'pg_dump'), PG_DUMP, { mode: 0o755 });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function dump(env: Record<string, string> = {}) {
  const started = Date.now();
  const r = spawnSync(
    'sh',
    ['-c', SNAPSHOT_DUMP_SCRIPT, 'snapshot-dump', 'app', 'app', FINGERPRINT_SQL, '3'],
    {
      encoding: 'utf8',
      timeout: 20_000,
      env: {
        ...process.env,
        ...env,
        MARKS: marks,
        TMPDIR: dir,
        PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
      },
    },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

async function eventually(condition: () => boolean, ms = 3_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

test('the dump of the exported snapshot on stdout, the fingerprints of the same snapshot on stderr, read beside it', () => {
  // pg_dump (the stand-in) fails unless the scan began before it ended: they run side by side.
  const r = dump({ SCAN_TENTHS: '5' });
  expect({ code: r.code, stderr: r.stderr }).toEqual({
    code: 0,
    stderr: 'fingerprint public.a|1|hash64:1\n',
  });
  expect(r.stdout).toBe('DUMP');
});

test('a failed pg_dump fails the script with its reason and cancels the scan still running', async () => {
  const r = dump({ SCAN_TENTHS: '300', PG_DUMP_FAIL: '1' });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('pg_dump: error: connection to server lost');
  expect(r.stderr).toContain('pg_dump failed');
  // The scan would take 30 s: the session was told to cancel it, not left holding the snapshot.
  expect(await eventually(() => existsSync(join(marks, 'cancelled')))).toBe(true);
  expect(r.ms).toBeLessThan(15_000);
});

test('a failed fingerprint scan fails the script with the database error, not a broken pipe', () => {
  const r = dump({ FAIL_SCAN: '1' });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('ERROR:  scan failed on public.a');
});
