import { createHash } from 'node:crypto';
import { createReadStream, renameSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { RemoteHost } from '../remote/executor';
import type { StoredBackup } from '../shared/backups';
import type { DrillReport } from '../shared/drills';

/**
 * A backup store: verified copies of database dumps, off the database host, and the reports of
 * restore drills. Two kinds share one layout under their root:
 *
 *   <environment>/backups/<id>.dump          the copy
 *   <environment>/backups/<id>.json          its record, written last: only verified copies have one
 *   <environment>/backups/<id>.dump.partial  a copy in progress (never read as a backup)
 *   <environment>/drills/<id>.json           one report per drill
 *
 * - the worker's own directory (DEPLOY_BACKUP_DIR, src/store/localStore.ts): enough for one worker;
 * - a store host reached over SSH/SFTP (`backups.store` of an environment, src/store/sftpStore.ts):
 *   what every worker of a task queue reaches, so a copy, its verification and a later restore
 *   may each run on a different worker.
 *
 * Checksums and pg_restore listings run where the copy lives. Records are written to a temporary
 * name and renamed, so a killed worker leaves either no record or a whole one.
 */
export interface BackupStore {
  /** Where the store is, in words for messages: a directory, or a host and its directory. */
  readonly description: string;
  /** Where a backup's copy lives, as its record states it. */
  locationOf(environment: string, id: string): string;
  /** The copy's size and sha256, computed where it lives; undefined when there is no copy. */
  checkCopy(environment: string, id: string): Promise<CopyCheck | undefined>;
  /** pg_restore --list of the copy, run where it lives (exit code 0 when it reads the dump). */
  listDumpContents(environment: string, id: string, timeoutMs: number): Promise<ListingResult>;
  /**
   * Brings `remotePath` on `from` into the store as the backup's copy: as a partial copy first,
   * renamed into place only when its sha256 is `sha256`. A mismatch removes the partial copy and
   * throws (a transfer error: the caller's retry copies again).
   */
  receiveCopy(
    environment: string,
    id: string,
    from: { host: RemoteHost; path: string; sha256: string },
    opts: TransferOptions,
  ): Promise<void>;
  /** The backup's copy to `remotePath` on `to`, atomically (a temporary name, then a rename). */
  sendCopy(backup: StoredBackup, to: RemoteHost, remotePath: string, opts: TransferOptions): Promise<void>;
  /** Verified backups, newest first. A record whose copy is gone is not listed. */
  listBackups(environment: string): Promise<StoredBackup[]>;
  /** The named verified backup, or the newest one. */
  findBackup(environment: string, id?: string): Promise<StoredBackup | undefined>;
  writeBackupRecord(record: StoredBackup): Promise<void>;
  /** The record goes first: a crash between the two leaves an unlisted file, never a record without its copy. */
  deleteBackup(environment: string, id: string): Promise<void>;
  listDrills(environment: string): Promise<DrillReport[]>;
  writeDrillReport(report: DrillReport): Promise<void>;
}

export interface CopyCheck {
  sizeBytes: number;
  sha256: string;
}

export interface ListingResult {
  /** null when the command was ended by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface TransferOptions {
  timeoutMs: number;
  onProgress?: (bytes: number, total: number) => void;
}

/** Ids name files: a safe alphabet and no "..", so no id can point outside the store. */
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function checkId(kind: string, id: string): string {
  if (!ID.test(id) || id.includes('..')) {
    throw new Error(`${kind} id ${JSON.stringify(id)} must be letters, digits, ".", "_" and "-" (no "..")`);
  }
  return id;
}

/** The backup `id` among an environment's verified backups, or the newest one when no id is given. */
export async function findListedBackup(
  store: Pick<BackupStore, 'listBackups'>,
  environment: string,
  id?: string,
): Promise<StoredBackup | undefined> {
  if (id !== undefined) checkId('backup', id);
  const all = await store.listBackups(environment);
  return id === undefined ? all[0] : all.find((b) => b.id === id);
}

/** Where each file of the layout is under a store's root (POSIX paths: local or on the store host). */
export class StoreLayout {
  constructor(readonly root: string) {}

  dir(environment: string, kind: 'backups' | 'drills'): string {
    return posix.join(this.root, checkId('environment', environment), kind);
  }

  dumpPath(environment: string, id: string): string {
    return posix.join(this.dir(environment, 'backups'), `${checkId('backup', id)}.dump`);
  }

  partialPath(environment: string, id: string): string {
    return `${this.dumpPath(environment, id)}.partial`;
  }

  recordPath(environment: string, id: string): string {
    return posix.join(this.dir(environment, 'backups'), `${checkId('backup', id)}.json`);
  }

  drillPath(environment: string, id: string): string {
    return posix.join(this.dir(environment, 'drills'), `${checkId('drill', id)}.json`);
  }
}

/** A record file's text as a record; undefined for a file that is not a whole record. */
export function parseRecord<T>(text: string): T | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' ? (value as T) : undefined;
  } catch {
    return undefined; // records are renamed into place whole: anything else is not one
  }
}

export const newestBackupsFirst = (a: StoredBackup, b: StoredBackup) =>
  b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);

export const newestDrillsFirst = (a: DrillReport, b: DrillReport) => b.startedAt.localeCompare(a.startedAt);

export function recordText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, recordText(value), { mode: 0o600 });
  renameSync(tmp, path);
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
