import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

/** What the pid file records about a server we started: enough for status and stop. */
export interface PidRecord {
  pid: number;
  address: string;
  port: number;
  uiPort: number | null;
  uiUrl: string | null;
  ip: string;
  namespace: string;
  dbFilename: string;
  logFile: string;
  cliPath: string;
  startedAt: string;
}

export function readPidFile(path: string): PidRecord | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const record = JSON.parse(text) as PidRecord;
    if (Number.isInteger(record.pid) && record.pid > 0) return record;
  } catch {
    // fall through: a truncated or foreign file is treated as no record
  }
  return undefined;
}

export function writePidFile(path: string, record: PidRecord): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n');
  renameSync(tmp, path);
}

export function removePidFile(path: string): void {
  rmSync(path, { force: true });
}
