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
   * (--on-busy fail), its hosts disagree on the live colour, a host's free disk is below
   * the environment's minFreeDiskMb, or its deploy windows are closed (a freeze, or outside
   * the weekly windows) and the deploy did not say --override-freeze.
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

/** InvalidInput ends before anything was done (as for deploy); every other failure is exit 8. */
export function operationExitCode(failureType: string | undefined): ExitCode {
  return failureType === 'InvalidInput' ? ExitCode.invalidInput : ExitCode.operationFailed;
}

/**
 * What each exit code means, in one line: deployctl's help prints exactly this and the README's
 * table says the same (with code formatting); tests/unit/client/exitCodes.test.ts holds them together.
 */
export const EXIT_CODE_MEANINGS: Record<ExitCode, string> = {
  0: 'succeeded (approve/abort/canary: sent; history: listed)',
  1: 'deployment failed; the previous release was restored and is healthy',
  2: 'invalid input, or no such running deployment; nothing was started or sent',
  3: 'aborted by an operator, or the approval deadline passed; nothing stays changed',
  4: 'Temporal unreachable',
  5: 'deployment failed (or was aborted) and the environment is not known to be healthy',
  6:
    'refused before any host was touched: a quality gate failed, the environment was busy, its hosts ' +
    'disagree on the live colour, a host has less free disk than minFreeDiskMb, or the deploy window is closed',
  7: 'deployctl stopped waiting (--timeout); the deployment goes on',
  8: "a backup, restore drill, emergency deploy or server setup failed (or their catalog, or a host's audit log, could not be read)",
  9:
    'no worker polls the task queue (deploy, rollback: waited --worker-wait, 30 s by default); ' +
    'nothing was started',
};

/** The "Exit codes:" block of deployctl's help: each meaning wrapped under its code. */
export function exitCodesHelp(width = 96): string {
  const lines = ['Exit codes:'];
  for (const [code, meaning] of Object.entries(EXIT_CODE_MEANINGS)) {
    let line = `  ${code}  `;
    for (const word of meaning.split(' ')) {
      if (line.trim().length > 1 && line.length + word.length + 1 > width) {
        lines.push(line.trimEnd());
        line = '     ';
      }
      line += `${word} `;
    }
    lines.push(line.trimEnd());
  }
  return lines.join('\n');
}
