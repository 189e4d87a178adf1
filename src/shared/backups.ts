import type { SetupStep } from './setup';
import type { HostConfig } from '../config/schema';
import type { ReleaseRecord, StepState } from './deployment';

/**
 * Verified backups, restore drills and emergency deploys: what the workflows take and report,
 * and what the worker's backup store keeps. A backup is "verified" once its copy in the store
 * matched the checksum taken on the database host and `pg_restore --list` read it; nothing
 * else is ever written as a backup record.
 */

/** Rows and content of one table at backup time: a drill's restore must reproduce both. */
export interface TableFingerprint {
  /** schema.table */
  table: string;
  rows: number;
  /** md5 over the table's rows in a stable order ('' for an empty table). */
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

export interface DrillTargets {
  rpoSeconds: number;
  rtoSeconds: number;
}

export interface DrillInput {
  environment: string;
  requestedBy: string;
  /** A backup id from the store; the latest verified one when absent. */
  backupId?: string;
  /** Overrides of the environment's targets for this drill only. */
  targets?: Partial<DrillTargets>;
}

export interface DrillReport {
  /** `drill-<environment>-<UTC stamp>-<run id prefix>`: names its report and scratch files. */
  id: string;
  environment: string;
  requestedBy: string;
  startedAt: string;
  finishedAt: string;
  passed: boolean;
  /** Every reason the drill failed, in plain words (empty when it passed). */
  failures: string[];
  backupId?: string;
  /** The release started against the restored data (live at backup time). */
  release?: string;
  drillHost?: string;
  /** Compose project of the scratch stack (torn down before the report). */
  scratchProject?: string;
  /** Age of the backup when the drill started. */
  rpoSeconds?: number;
  /** From the start of the restore to the app answering. */
  rtoSeconds?: number;
  targets: DrillTargets;
  dataCheck?: { matched: boolean; tables: number; mismatches: string[] };
  steps: StepState[];
  teardown: 'done' | 'failed' | 'not-needed';
}

export interface EmergencyDeployInput {
  environment: string;
  requestedBy: string;
  /** The brand-new server: reachable over SSH, nothing of the app on it yet. */
  host: HostConfig;
  /** A backup id from the store; the latest verified one when absent. */
  backupId?: string;
}

export interface EmergencyDeployReport {
  /** `emergency-<environment>-<UTC stamp>-<run id prefix>`: names its files on the host. */
  id: string;
  environment: string;
  host: string;
  release: string;
  backupId: string;
  startedAt: string;
  finishedAt: string;
  totalMs: number;
  setup: SetupStep[];
  steps: StepState[];
  dataCheck: { matched: boolean; tables: number; mismatches: string[] };
}

/** What the catalog workflow returns to `deployctl backups` / `deployctl drills`. */
export interface CatalogInput {
  environment: string;
  kind: 'backups' | 'drills';
  /** How many records the caller wants in all (newest first), over every page. */
  limit: number;
  /** Where this page starts (0, or the previous page's nextOffset). */
  offset?: number;
}

/**
 * One page of the catalog: records up to about CATALOG_PAGE_BYTES of JSON, so a page stays far
 * below Temporal's 2 MB payload limit however large the records; nextOffset when more follow.
 */
export type CatalogResult = (
  { kind: 'backups'; backups: StoredBackup[] } | { kind: 'drills'; drills: DrillReport[] }
) & { nextOffset?: number };

export const CATALOG_PAGE_BYTES = 512 * 1024;

/**
 * The records of one page: from `offset`, while the total stays within `limit` and the page
 * within `maxBytes` of JSON (always at least one record, so paging moves on).
 */
export function catalogPage<T>(
  records: T[],
  offset: number,
  limit: number,
  maxBytes = CATALOG_PAGE_BYTES,
): { items: T[]; nextOffset?: number } {
  const end = Math.min(records.length, limit);
  const items: T[] = [];
  let bytes = 0;
  for (let i = offset; i < end; i++) {
    const size = new TextEncoder().encode(JSON.stringify(records[i])).length;
    if (items.length > 0 && bytes + size > maxBytes) break;
    items.push(records[i]);
    bytes += size;
  }
  const next = offset + items.length;
  return next < end ? { items, nextOffset: next } : { items };
}

/** Progress of a backup, drill or emergency deploy, exposed by the workflows' status query. */
export interface OperationStatus {
  id: string;
  kind: 'backup' | 'drill' | 'emergency-deploy';
  environment: string;
  stage: string;
  outcome: 'running' | 'succeeded' | 'failed';
  steps: StepState[];
  failure?: string;
}

export const backupWorkflowId = (environment: string, stamp: string) => `backup-${environment}-${stamp}`;
export const drillWorkflowId = (environment: string, stamp: string) => `drill-${environment}-${stamp}`;
export const emergencyWorkflowId = (environment: string, stamp: string) =>
  `emergency-${environment}-${stamp}`;
/** Schedule ids: one backup and one drill schedule per environment. */
export const backupScheduleId = (environment: string) => `backup-${environment}`;
export const drillScheduleId = (environment: string) => `drill-${environment}`;

/** Failure types the backup, drill and emergency workflows end with. */
export const OperationFailureType = {
  /** The store copy or the host dump does not match its checksum, or pg_restore cannot read it. */
  backupCorrupt: 'BackupCorrupt',
  /** No verified backup of the environment exists (or the named one is not in the store). */
  noVerifiedBackup: 'NoVerifiedBackup',
  /** A drill ran but missed a target or its data did not match. */
  drillFailed: 'DrillFailed',
  /** The environment has no backups/drills/database section this operation needs. */
  notConfigured: 'NotConfigured',
  /** The server-setup script failed on the new host. */
  serverSetupFailed: 'ServerSetupFailed',
} as const;
