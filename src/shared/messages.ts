import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { OperationStatus } from './operations';
import type { DeploymentStatus } from './deployment';

/** Queries, signals and updates shared by the workflows and the client: one definition each. */
export const deploymentStatusQuery = defineQuery<DeploymentStatus>('deploymentStatus');

/**
 * The one JSON argument of `approve` and `abort`, as an operator types it in the Web UI's
 * Send Signal dialog: {"by": "alice", "comment": "looks good"}.
 */
/** Who decides or deploys: the CLI's --by and the signals' "by" follow the same rule. */
export const ACTOR_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
export const ACTOR_RULE = 'a user name of letters, digits and . _ @ + - (at most 64)';

export interface DecisionInput {
  by: string;
  comment?: string;
}

/** Approve a deployment waiting for approval. Arrives early? It is kept until the step is reached. */
export const approveSignal = defineSignal<[DecisionInput]>('approve');
/** Abort a deployment: before approval it never starts; later, the current step is cancelled and undone. */
export const abortSignal = defineSignal<[DecisionInput]>('abort');

/** What a deployment answers an approve or abort sent as an Update: what it recorded and what follows. */
export interface DecisionAnswer {
  decision: 'approve' | 'abort';
  by: string;
  at: string;
  /** What happens now, in the deployment's words. */
  effect: string;
}

/**
 * approve and abort as Updates: the deployment checks them first (a validator) and answers; a
 * refused one (malformed, not allowed, nothing to decide) never enters history and the caller
 * reads why. The signals stay for older callers and the Web UI's Send Signal dialog.
 */
export const approveUpdate = defineUpdate<DecisionAnswer, [DecisionInput]>('approveDeployment');
export const abortUpdate = defineUpdate<DecisionAnswer, [DecisionInput]>('abortDeployment');

/** Canary controls: hold at the current weight after this step's analysis, go on, or go to 100 % now. */
export const pauseCanarySignal = defineSignal<[DecisionInput]>('pauseCanary');
export const resumeCanarySignal = defineSignal<[DecisionInput]>('resumeCanary');
export const promoteCanarySignal = defineSignal<[DecisionInput]>('promoteCanary');

export const SIGNAL_HELP = {
  approve: 'Approve this deployment. Argument: {"by": "<who>", "comment": "<why>"}',
  abort: 'Abort this deployment and undo what it changed. Argument: {"by": "<who>", "comment": "<reason>"}',
  pauseCanary:
    'Canary: hold at the current weight once this step is analysed. Argument: {"by": "<who>", "comment": "<why>"}',
  resumeCanary: 'Canary: go on with the next steps. Argument: {"by": "<who>", "comment": "<why>"}',
  promoteCanary:
    'Canary: send all traffic to the new release now, skipping the remaining steps. Argument: {"by": "<who>", "comment": "<why>"}',
} as const;

/** Who holds an environment's lease (the lock): enough for an operator to see who, what, since when. */
export interface LeaseHolder {
  deploymentId: string;
  release: string;
  requestedBy: string;
  since: string;
}

export const leaseHolderQuery = defineQuery<LeaseHolder>('leaseHolder');
/** Sent by the holder when it is done; the lease also ends when its holder closes in any way. */
export const releaseLeaseSignal = defineSignal('releaseLease');

/** A deployment (or a colour's retirement) asking for its environment's lock. */
export interface LockRequest extends LeaseHolder {
  /** The requester's run: the lock answers this run and watches it while it holds the lock. */
  runId: string;
  /** `fail`: refuse at once when the lock is held instead of queueing. */
  onBusy: 'wait' | 'fail';
}

/** The lock's answer to a request, sent to the requester as a signal. */
export type LockAnswer =
  | { state: 'granted' }
  | { state: 'queued'; holder: LeaseHolder; position: number }
  | { state: 'refused'; holder: LeaseHolder };

/** An operator taking the lock from a holder that still ran (`deployctl lock release`). */
export interface ForcedRelease {
  holder: LeaseHolder;
  by: string;
  reason: string;
  at: string;
}

/** Who holds an environment's lock since when, who waits for it in order, and who forced it open. */
export interface LockState {
  holder?: LockRequest & { grantedAt: string };
  waiting: LockRequest[];
  /** The last forced releases, newest last (absent on a lock none was forced). */
  forced?: ForcedRelease[];
}

/** Leaving the lock: its holder or a waiter (by run), or an operator forcing it (with who and why). */
export interface LeaveLock {
  deploymentId: string;
  runId: string;
  by?: string;
  reason?: string;
}

/** Sent to `lock-<environment>` (environmentLock) to join its queue. */
export const requestLockSignal = defineSignal<[LockRequest]>('requestLock');
/** Sent to `lock-<environment>` by a holder that is done, or by a waiter that gives up. */
export const leaveLockSignal = defineSignal<[LeaveLock]>('leaveLock');
/** Sent by the lock to a requester: granted, queued behind someone, or refused. */
export const lockAnswerSignal = defineSignal<[LockAnswer]>('lockAnswer');
export const lockStateQuery = defineQuery<LockState>('lockState');

/** Steps and outcome of a backup, restore drill or emergency deploy (backupEnvironment, drDrill, emergencyDeploy). */
export const operationStatusQuery = defineQuery<OperationStatus>('operationStatus');

/** Workflow type names the client starts by name (it never imports workflow code). */
export const WorkflowType = {
  deploy: 'deployEnvironment',
  backup: 'backupEnvironment',
  drill: 'drDrill',
  emergencyDeploy: 'emergencyDeploy',
  /** Reads the worker's backup store (backup records, drill reports) for `deployctl backups|drills`. */
  catalog: 'readCatalog',
  /** Checks an environment's config, secrets and hosts from a worker, for `deployctl config check`. */
  configCheck: 'checkEnvironment',
  /** Reads the hosts' audit logs, merged in time order, for `deployctl audit`. */
  auditTrail: 'readAuditTrail',
  /** Reads every host's live release record, for `deployctl status --env`. */
  liveReleases: 'readLiveReleases',
  /** Reads a service's container logs on every host, for `deployctl logs`. */
  serviceLogs: 'readServiceLogs',
  /** Runs the server-setup script on every host of an environment, for `deployctl setup`. */
  setup: 'setupEnvironment',
} as const;
