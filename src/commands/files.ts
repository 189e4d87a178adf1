import type { Argv } from './argv';

export function makeDirectory(dir: string): Argv {
  return ['mkdir', '-p', dir];
}

/** Atomic replace: content is uploaded to a temporary name first, then renamed over the target. */
export function moveIntoPlace(tmp: string, target: string): Argv {
  return ['mv', '-f', tmp, target];
}

export function restrictToOwner(path: string): Argv {
  return ['chmod', '600', path];
}

/** Print a file if it exists, nothing (exit 0) if it does not. Values travel as arguments, never as script text. */
export function readOptionalFile(path: string): Argv {
  return ['sh', '-c', 'if [ -f "$1" ]; then cat "$1"; fi', 'read-optional', path];
}

/** Print the first of the files that does not exist and exit 1; exit 0 when all do. */
export function firstMissingFile(paths: string[]): Argv {
  return [
    'sh',
    '-c',
    'for f in "$@"; do [ -f "$f" ] || { printf "%s\\n" "$f"; exit 1; }; done',
    'stack-files',
    ...paths,
  ];
}

/** The names in a directory, newest first; nothing (exit 0) when it does not exist. */
export function listNewestFirst(dir: string): Argv {
  return ['sh', '-c', 'if [ -d "$1" ]; then ls -1t -- "$1"; fi', 'list-newest-first', dir];
}

/**
 * Free space, in KiB, of the filesystem holding `path` (or its nearest existing parent, on a
 * host not yet set up): the "Available" column of POSIX df.
 */
export function freeDiskKib(path: string): Argv {
  return [
    'sh',
    '-c',
    'd=$1; while [ ! -d "$d" ]; do d=${d%/*}; d=${d:-/}; done; df -Pk -- "$d" | awk \'NR == 2 { print $4 }\'',
    'free-disk',
    path,
  ];
}

/** Keep the old record before writing a new one (no-op when there is none yet). */
export function copyIfExists(from: string, to: string): Argv {
  return ['sh', '-c', 'if [ -f "$1" ]; then cp -f "$1" "$2"; fi', 'copy-if-exists', from, to];
}

/**
 * Append one line to the audit log, creating its directory on a fresh host. The line is an
 * argument, so its content is never interpreted.
 */
export function appendAuditLine(file: string, line: string): Argv {
  return ['sh', '-c', 'mkdir -p "${2%/*}" && printf "%s\\n" "$1" >> "$2"', 'audit', line, file];
}

/** Delete a directory tree (a scratch stack's folder after its teardown). */
export function removeDirectory(dir: string): Argv {
  const segments = dir.split('/').filter(Boolean);
  if (!dir.startsWith('/') || segments.some((s) => s === '..' || s === '.') || segments.length < 2)
    throw new Error(
      `refusing to remove ${JSON.stringify(dir)}: not an absolute path at least two levels deep`,
    );
  return ['rm', '-rf', '--', dir];
}

/** The last `lines` lines of a file, nothing when it does not exist (a host never deployed). */
export function tailOptionalFile(path: string, lines: number): Argv {
  if (!Number.isInteger(lines) || lines < 1)
    throw new Error(`lines must be a positive whole number, not ${lines}`);
  return ['sh', '-c', 'if [ -f "$1" ]; then tail -n "$2" -- "$1"; fi', 'tail-optional', path, String(lines)];
}
