import type { DeploymentStatus, StepState } from '../shared/deployment';

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A fixed-width table of steps: name, status, duration. */
export function stepTable(steps: StepState[]): string {
  const rows = [
    ['STEP', 'STATUS', 'DURATION'],
    ...steps.map((s) => [s.name, s.status, formatDuration(s.durationMs)]),
  ];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) => r.map((cell, i) => (i === 2 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  '))
    .join('\n');
}

export function summaryLine(status: DeploymentStatus): string {
  switch (status.outcome) {
    case 'succeeded':
      return `release ${status.release} is live on ${status.environment}`;
    case 'rolled-back':
      return `release ${status.release} failed at "${status.failure?.step}" and was rolled back${
        status.rollback?.restoredRelease ? ` to ${status.rollback.restoredRelease}` : ''
      }: ${status.failure?.message}`;
    case 'aborted':
      return `release ${status.release} was stopped at "${status.failure?.step}" (${status.failure?.message})${
        status.rollback ? `; undone: ${status.rollback.actions.join('; ') || 'nothing to undo'}` : ''
      }`;
    case 'failed':
      return `release ${status.release} failed at "${status.failure?.step}": ${status.failure?.message}`;
    default:
      return `release ${status.release}: ${status.stage}`;
  }
}

/** The exact command an operator runs to approve a deployment. */
export function approveCommand(environment: string, release: string): string {
  return `npx deployctl approve --env ${environment} --release ${release} --by <your-name> --comment "<why>"`;
}

/**
 * What `deploy` prints once when the deployment waits for an operator: the exact approve
 * command and where to do it in the Web UI. Undefined when it does not wait.
 */
export function approvalWaitingMessage(status: DeploymentStatus, uiLink: string): string | undefined {
  if (status.approval?.state !== 'waiting') return undefined;
  return [
    `waiting for approval (until ${status.approval.deadline}, then it aborts): send approve with`,
    `  ${approveCommand(status.environment, status.release)}`,
    `or in the Temporal UI (Send a Signal "approve", argument {"by": "<your-name>", "comment": "<why>"}): ${uiLink}`,
  ].join('\n');
}
