import type { ReleaseRecord } from './deployment';

/**
 * Verified backups: what the backup workflow takes and reports, and what the worker's backup
 * store keeps. A backup is "verified" once its copy in the store matched the checksum taken on
 * the database host and `pg_restore --list` read it; nothing else is ever written as a backup
 * record.
 */

/** Rows and content of one table at backup time: a drill's restore must reproduce both. */
export interface TableFingerprint {
  /** schema.table */
  table: string;
  rows: number;
  /**
   * The table's content hash, `hash64:<decimal>` (FingerprintScheme, src/commands/database.ts);
   * older backups hold `sum60:<decimal>` or md5 over the rows in order ('' for an empty table).
   */
  md5: string;
}

export interface StoredBackup {
  /** `<environment>-<UTC stamp>-<run id prefix>`; names the files in the store. */
  id: string;
  environment: string;
  /** When pg_dump finished on the database host (ISO 8601); RPO is measured from here. */
  createdAt: string;
  sizeBytes: number;
  sha256: string;
  /** Dump + copy + verify. */
  durationMs: number;
  steps: { dumpMs: number; copyMs: number; verifyMs: number };
  /** The copy on the worker's side (absolute path in the backup store). */
  location: string;
  /** Where the dump was taken. */
  source: { host: string; path: string };
  /** The release that was live when the backup was taken (undefined: nothing deployed yet). */
  release?: ReleaseRecord;
  tables: TableFingerprint[];
  verification: { verifiedAt: string; pgRestoreListEntries: number };
}

export interface RetentionResult {
  kept: string[];
  deleted: string[];
}

export interface BackupInput {
  environment: string;
  /** "schedule" when a Temporal Schedule started it, else who asked. */
  requestedBy: string;
}

export interface BackupReport {
  backup: StoredBackup;
  retention: RetentionResult;
}

export const backupWorkflowId = (environment: string, stamp: string) => `backup-${environment}-${stamp}`;
/** One backup schedule per environment. */
export const backupScheduleId = (environment: string) => `backup-${environment}`;
