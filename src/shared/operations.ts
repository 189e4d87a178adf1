import type { StepState } from './deployment';

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
