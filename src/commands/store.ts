import type { Argv } from './argv';

/**
 * Commands run on a backup store host (an SSH account whose disk holds the verified copies).
 * Paths come from the store's layout (ids checked by checkId), and travel as arguments.
 */

/** The store's directories for one environment, created private (backups hold the app's data). */
export function makePrivateDirectories(dirs: string[]): Argv {
  return ['install', '-d', '-m', '700', '--', ...dirs];
}

/**
 * A file's size in bytes and its sha256, one per line; nothing (exit 0) when the file does not
 * exist, so "no copy" is an answer and not an error.
 */
export function sizeAndChecksum(path: string): Argv {
  return [
    'sh',
    '-c',
    'if [ -f "$1" ]; then stat -c %s -- "$1" && sha256sum -- "$1"; fi',
    'size-and-checksum',
    path,
  ];
}

/** Parses sizeAndChecksum's output: undefined for no file. */
export function parseSizeAndChecksum(stdout: string): { sizeBytes: number; sha256: string } | undefined {
  const lines = stdout.trim().split('\n').filter(Boolean);
  if (lines.length === 0) return undefined;
  const size = lines[0]?.trim() ?? '';
  const sha = (lines[1] ?? '').trim().split(/\s+/)[0] ?? '';
  if (lines.length !== 2 || !/^\d+$/.test(size) || !/^[0-9a-f]{64}$/.test(sha))
    throw new Error(`unexpected size and checksum output ${JSON.stringify(stdout.slice(0, 300))}`);
  return { sizeBytes: Number(size), sha256: sha };
}

export function removeFiles(paths: string[]): Argv {
  if (paths.length === 0) throw new Error('removeFiles needs at least one path');
  for (const p of paths) {
    if (!p.startsWith('/') || p.split('/').some((s) => s === '..'))
      throw new Error(`${JSON.stringify(p)} is not an absolute path without ".."`);
  }
  return ['rm', '-f', '--', ...paths];
}

/** What `deployctl config check` asks a store host: its checksum tool and pg_restore answer. */
export function checksumToolVersion(): Argv {
  return ['sha256sum', '--version'];
}

export function pgRestoreVersion(): Argv {
  return ['pg_restore', '--version'];
}

/** Backups are custom-format dumps of PostgreSQL 15 and newer: older clients cannot list them. */
export const MIN_PG_RESTORE_MAJOR = 15;

/** The major version in `pg_restore --version`'s line ("pg_restore (PostgreSQL) 16.4" gives 16). */
export function pgRestoreMajor(line: string): number | undefined {
  const major = Number(/\s(\d+)(?:\.\d+)?/.exec(line)?.[1]);
  return Number.isInteger(major) ? major : undefined;
}

/**
 * Whether the store's directory can be written: it, or its nearest existing parent (a store
 * not used yet), must be writable by the SSH user. Prints the directory it checked; exit 1 when
 * it is not writable. Changes nothing.
 */
export function writableDirectory(dir: string): Argv {
  return [
    'sh',
    '-c',
    'd=$1; while [ ! -d "$d" ]; do d=${d%/*}; d=${d:-/}; done; printf "%s\\n" "$d"; test -w "$d"',
    'writable-directory',
    dir,
  ];
}
