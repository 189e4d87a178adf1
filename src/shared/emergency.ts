import type { HostConfig } from '../config/schema';
import type { StepState } from './deployment';
import type { SetupStep } from './setup';

/** Emergency deploys: a brand-new server brought up from the last good release and a verified backup. */

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

export const emergencyWorkflowId = (environment: string, stamp: string) =>
  `emergency-${environment}-${stamp}`;
