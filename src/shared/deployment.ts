import type { Colour, EnvironmentConfig, Strategy } from '../config/schema';
import type { StepVerdict } from '../traffic/analysis';
import type { DeployRequest } from '../config/request';

/** What a host records about the release it runs: rollback reads it, nobody types a version. */
export interface ReleaseRecord {
  release: string;
  images: Record<string, string>;
  deployedAt: string;
  deployedBy: string;
  deploymentId: string;
  /** The app repository's commit its compose files were read at (environments with a repository). */
  commit?: string;
}

/**
 * Where a release's compose files come from: the app's repository at `commit` when the
 * environment has one, else the worker's files dir. Absent in plans from before per-release files.
 */
export interface ReleaseFiles {
  /** The release these files belong to; an undo that returns to another release uses that one's kept files. */
  release: string;
  repository?: string;
  commit?: string;
}

/** What `deployctl report` needs of each deployment beyond visibility's status and times. */
export interface DeploymentFacts {
  /** A rollback returns to an earlier release: not a change of its own. */
  rollback?: boolean;
  commit?: string;
  /** When that commit was made: lead time runs from here to live. */
  committedAt?: string;
  /** Set when a deployment fails: whether it had changed a host (a refusal or failed gate had not). */
  changedHosts?: boolean;
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
  /** How the release reaches users (the request's, else the environment's); absent in old plans: recreate. */
  strategy?: Strategy;
  /** Where this release's compose files come from. */
  files?: ReleaseFiles;
  /** Kept in the deployment's status and result, for reports. */
  report?: DeploymentFacts;
  /** What was closed when --override-freeze let this deployment through (a freeze or the weekly windows). */
  windowOverridden?: string;
}

/** One quality gate's verdict at the release's commit. */
export interface GateResult {
  name: string;
  commit: string;
  verdict: 'passed' | 'failed' | 'timed-out';
  exitCode: number | null;
  durationMs: number;
  outputTail: string;
}

/** One post-deploy check on one host. */
export interface CheckResult {
  name: string;
  host: string;
  ok: boolean;
  detail: string;
  latencyMs?: number;
  /** Failed for want of an answer (a resolver or host that did not respond), not for what it said. */
  transient?: boolean;
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

export type DeploymentOutcome = 'running' | 'succeeded' | 'rolled-back' | 'failed' | 'aborted';

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
  rollback?: {
    restoredRelease?: string;
    healthy: boolean;
    actions: string[];
    /** From the failure to the restored release answering its health checks again. */
    answeringAfterMs?: number;
  };
  approval?: ApprovalState;
  gates?: GateResult[];
  /** Post-deploy checks, after the health wait. */
  checks?: CheckResult[];
  /** This deployment's pre-deploy backup (undefined when there was no database yet). */
  backup?: BackupRecord;
  /** Migrations this deployment applied. */
  migrations?: AppliedMigration[];
  /**
   * A rolling release whose contract migrations failed once every host had the new release:
   * the release stands (nothing is undone) and the next deployment runs them again.
   */
  contractError?: string;
  /** Blue-green and canary: the pending migrations found before any ran, with their phases. */
  pendingMigrations?: PendingMigration[];
  /** Who aborted, when and why. */
  abort?: Decision;
  /** Signals that could not be used (malformed argument), so an operator sees why nothing happened. */
  ignoredSignals: string[];
  /** What `deployctl report` reads of a finished deployment (absent in those from before reports). */
  report?: DeploymentFacts;
  /** Blue-green and canary: which colour was live, which one this release runs in, which is live now. */
  colours?: ColourState;
  /** Canary: every analysed step with its figures and verdict, and the operators' controls. */
  canary?: CanaryState;
}

/** One analysed canary step: the verdict with its figures, the weight it ran at, failed probes. */
export interface CanaryStepRecord extends StepVerdict {
  /** Percent of user traffic on the new colour during the step. */
  weight: number;
  /** The last failed probes of the step. */
  failedProbes: string[];
}

export interface CanaryState {
  /** The configured weights, in percent. */
  plan: number[];
  /** The weight users see now. */
  weight: number;
  steps: CanaryStepRecord[];
  paused?: Decision;
  promoted?: Decision;
}

export interface ColourState {
  strategy: Strategy;
  /** Live when the deployment started (none on the first deployment with colours). */
  stable?: Colour;
  /** The colour this release runs in. */
  target: Colour;
  /** The colour users reach now. */
  live?: Colour;
  /** The target already ran this release (a switch-back): nothing was started. */
  reused?: boolean;
  /** When the old colour is stopped, unless a switch-back comes first. */
  retireAt?: string;
  /** Why the old colour's retirement was not scheduled (it then keeps running). */
  retireError?: string;
}

export interface Decision {
  by: string;
  comment?: string;
  at: string;
}

export interface ApprovalState {
  state: 'waiting' | 'approved' | 'aborted' | 'expired';
  /** When waiting stops with an automatic abort. */
  deadline: string;
  decision?: Decision;
}

export const workflowIdFor = (environment: string, release: string) => `deploy-${environment}-${release}`;

/** The pre-deploy backup of one host's database: a custom-format pg_dump and its checksum. */
export interface BackupRecord {
  /** `<appDir>/backups/<deploymentId>.dump` on the host; `<path>.sha256` next to it. */
  path: string;
  sha256: string;
  sizeBytes: number;
  /** How long this attempt took (a retry that found the dump done reports its own short time). */
  durationMs: number;
  /** When the dump file was written (ISO 8601). */
  createdAt: string;
  /** A retry found this deployment's dump already made: the database was not read this time. */
  reused?: true;
}

export interface AppliedMigration {
  id: string;
  /** Declared by the migration; false means a rollback must restore the database. */
  backwardCompatible: boolean;
}

/** A migration the new release would apply, as its `phases.pending` command declared it. */
export interface PendingMigration {
  id: string;
  /** "expand" or "contract"; anything else is not compatible with colours. */
  phase: string;
}

/** Migrations applied by this run, in order (empty when none were pending). */
export interface MigrationReport {
  applied: AppliedMigration[];
}
