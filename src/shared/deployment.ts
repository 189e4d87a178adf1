import type { EnvironmentConfig } from '../config/schema';
import type { DeployRequest } from '../config/request';

/** What a host records about the release it runs: rollback reads it, nobody types a version. */
export interface ReleaseRecord {
  release: string;
  images: Record<string, string>;
  deployedAt: string;
  deployedBy: string;
  deploymentId: string;
}

/** Everything the activities need, resolved once by the validate step and then fixed for the run. */
export interface DeployPlan {
  deploymentId: string;
  request: DeployRequest;
  environment: EnvironmentConfig;
  /** Full image reference per service, for every service of the environment. */
  images: Record<string, string>;
  /** The release the hosts ran before this deployment, if any. */
  previous?: ReleaseRecord;
}

export type StepStatus = 'running' | 'succeeded' | 'failed' | 'compensated';

export interface StepState {
  name: string;
  status: StepStatus;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  detail?: string;
}

export type DeploymentOutcome = 'running' | 'succeeded' | 'rolled-back' | 'failed';

export interface DeploymentStatus {
  deploymentId: string;
  environment: string;
  release: string;
  requestedBy: string;
  stage: string;
  outcome: DeploymentOutcome;
  steps: StepState[];
  /** Set once the deployment failed: which step, why. */
  failure?: { step: string; message: string };
  /** Set after compensation: what was restored and whether it is healthy. */
  rollback?: { restoredRelease?: string; healthy: boolean; actions: string[] };
}

export const workflowIdFor = (environment: string, release: string) => `deploy-${environment}-${release}`;
