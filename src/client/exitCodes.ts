/** Exit codes of deployctl, documented in the README; CI branches on them. */
export const ExitCode = {
  succeeded: 0,
  /** The deployment failed; compensation restored the previous release and it is healthy. */
  rolledBack: 1,
  /** The request was rejected before anything started (bad flags, unknown environment, bad image). */
  invalidInput: 2,
  /** An operator aborted it or the approval deadline passed. */
  aborted: 3,
  /** Temporal could not be reached; nothing is known to have started. */
  temporalUnreachable: 4,
  /** The deployment failed and the environment is not known to be healthy: someone must look. */
  failedUnhealthy: 5,
  /**
   * Refused before any host was touched: a quality gate failed, the environment was busy
   * (--on-busy fail), its hosts disagree on the live colour, or a host's free disk is below
   * the environment's minFreeDiskMb.
   */
  refused: 6,
  /** deployctl stopped waiting (--timeout); the deployment itself goes on: check it with status. */
  stillRunning: 7,
  /** A backup, restore drill or emergency deploy (or reading their catalog) failed; the report says why. */
  operationFailed: 8,
  /** No worker polls the task queue (deploy and rollback wait --worker-wait for one); nothing was started. */
  noWorker: 9,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
