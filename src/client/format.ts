import type {
  CanaryState,
  CanaryStepRecord,
  ColourState,
  Decision,
  DeploymentStatus,
  StepState,
} from '../shared/deployment';

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

/**
 * Which colour the release runs in and which one users reach, e.g.
 * "colours: blue → green, live: green (blue-green); old colour retired at 2026-05-01T12:30:00.000Z".
 */
export function coloursLine(colours: ColourState): string {
  const { stable, target, live, strategy } = colours;
  const move = stable === target ? `${target} (in place)` : `${stable ?? 'none'} → ${target}`;
  let line = `colours: ${move}, live: ${live ?? 'none'} (${strategy})`;
  if (colours.reused) line += `; switch-back: ${target} still ran this release`;
  if (colours.retireAt) line += `; old colour retired at ${colours.retireAt}`;
  else if (colours.retireError) line += `; retirement not scheduled: ${colours.retireError}`;
  return line;
}

function decided(what: string, decision: Decision | undefined): string {
  if (!decision) return '';
  return `; ${what} by ${decision.by} at ${decision.at}${decision.comment ? ` (${decision.comment})` : ''}`;
}

/** The canary's weight now, its plan and the operators' controls, e.g. "canary: 25 % now, steps 10, 25, 50, 100 %". */
export function canaryLine(canary: CanaryState): string {
  return (
    `canary: ${canary.weight} % now, steps ${canary.plan.join(', ')} %` +
    decided('paused', canary.paused) +
    decided('promoted', canary.promoted)
  );
}

const percent = (share: number | null) => (share === null ? '-' : (share * 100).toFixed(2));

/**
 * A fixed-width table of the analysed canary steps: weight, verdict, requests, error rate,
 * p95, availability (the figures the verdict was taken on) and why it did not pass.
 */
export function canaryTable(steps: CanaryStepRecord[]): string {
  const header = ['WEIGHT %', 'VERDICT', 'REQUESTS', 'ERROR RATE %', 'P95 S', 'AVAILABILITY %', 'REASONS'];
  const rows = [
    header,
    ...steps.map((s) => [
      String(s.weight),
      s.verdict,
      String(s.requests),
      percent(s.errorRate),
      s.p95Seconds === null ? '-' : s.p95Seconds.toFixed(3),
      percent(s.availability),
      [
        ...s.reasons,
        ...(s.countersReset ? ['Traefik counters were reset during the step'] : []),
        // Older records (before these were counted) have no such field.
        ...(s.proxyUnreachableProbes
          ? [`${s.proxyUnreachableProbes} probes found no proxy (not counted)`]
          : []),
      ].join('; ') || '-',
    ]),
  ];
  const left = new Set([1, 6]);
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => (left.has(i) ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * What a status adds, when present: the colours line, the canary line and table, and a rolling
 * release's failed contract migrations.
 */
export function releaseDetails(status: DeploymentStatus): string[] {
  const lines: string[] = [];
  if (status.contractError) lines.push(`warning: ${status.contractError}`);
  if (status.colours) lines.push(coloursLine(status.colours));
  if (status.canary) {
    lines.push(canaryLine(status.canary));
    if (status.canary.steps.length) lines.push(canaryTable(status.canary.steps));
  }
  return lines;
}

export function summaryLine(status: DeploymentStatus): string {
  switch (status.outcome) {
    case 'succeeded':
      return `release ${status.release} is live on ${status.environment}`;
    case 'rolled-back':
      return `release ${status.release} failed at "${status.failure?.step}" and was rolled back${
        status.rollback?.restoredRelease ? ` to ${status.rollback.restoredRelease}` : ''
      }${
        status.rollback?.answeringAfterMs !== undefined
          ? `, answering again ${(status.rollback.answeringAfterMs / 1000).toFixed(1)} s after the failure`
          : ''
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
