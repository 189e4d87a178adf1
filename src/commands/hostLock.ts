import { posix } from 'node:path';
import type { Argv } from './argv';
import type { RemoteLayout } from './layout';

/** flock's exit code when the lock stayed held past the wait: an earlier attempt still runs. */
export const HOST_LOCK_BUSY = 75;

/**
 * The lock every step that changes a project's containers or data holds on the host. A worker
 * killed mid-step leaves its command running there (nothing hangs it up); the retry waits for
 * that orphan to end instead of running beside it.
 */
export function hostLockFile(layout: RemoteLayout): string {
  return posix.join(layout.appDir, '.steps.lock');
}

/**
 * Run argv holding the host lock, waiting at most `waitSeconds` for it. The lock is flock's on
 * an open file, inherited by the command, so it is held exactly as long as the command (or a
 * child it leaves) lives, and released by the kernel however that ends. Values travel as
 * arguments, never as script text.
 */
export function underHostLock(lockFile: string, waitSeconds: number, argv: Argv): Argv {
  return [
    'sh',
    '-c',
    [
      'lock=$1; wait=$2; shift 2',
      'mkdir -p -- "${lock%/*}" || exit 1',
      `flock -w "$wait" -E ${HOST_LOCK_BUSY} "$lock" "$@"`,
      'rc=$?',
      `[ "$rc" -ne ${HOST_LOCK_BUSY} ] || echo "an earlier attempt of this step still runs on this host: it has held $lock for over $wait s" >&2`,
      'exit "$rc"',
    ].join('\n'),
    'host-lock',
    lockFile,
    String(waitSeconds),
    ...argv,
  ];
}

/** The host has flock (util-linux), which every step that changes containers or data runs under. */
export function hostLockVersion(): Argv {
  return ['flock', '--version'];
}
