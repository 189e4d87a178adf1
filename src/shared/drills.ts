import type { StepState } from './deployment';

/** Restore drills: what the drill workflow takes and reports (RPO, RTO, the data check). */

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

export const drillWorkflowId = (environment: string, stamp: string) => `drill-${environment}-${stamp}`;
/** One drill schedule per environment. */
export const drillScheduleId = (environment: string) => `drill-${environment}`;
