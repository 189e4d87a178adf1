import { appendFileSync } from 'node:fs';
import type { DeploymentStatus, StepState } from '../shared/deployment';
import { ExitCode } from './exitCodes';
import { formatDuration, summaryLine } from './format';
import type { DeployOutcome } from './deploy';

/**
 * What deployctl adds to its output inside a GitHub Actions job (GITHUB_ACTIONS=true): each
 * finished step in a collapsible `::group::` with its details, an `::error::` (or
 * `::warning::`) annotation naming how the deployment ended, and a job summary with the step
 * table and the Temporal UI link. Pure text builders; the caller prints them.
 */
export function inGithubActions(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GITHUB_ACTIONS === 'true';
}

/** A workflow command's message: %, CR and LF would end or corrupt the command. */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A workflow command's property value (title=...): also , and :, which separate properties. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/**
 * A step that finished, as a group whose title is the usual progress line and whose body is
 * its detail and, for gates and checks, each one's verdict (a gate's with its output's tail).
 */
export function stepGroup(step: StepState, status: DeploymentStatus): string[] {
  const title = `${step.status.padEnd(11)} ${step.name} ${formatDuration(step.durationMs)}`.trimEnd();
  const body: string[] = [];
  if (step.detail) body.push(step.detail);
  if (step.name === 'gates') {
    for (const gate of status.gates ?? []) {
      body.push(
        `gate ${gate.name}: ${gate.verdict} (exit ${gate.exitCode ?? '-'}) in ${formatDuration(gate.durationMs)}`,
      );
      if (gate.outputTail) body.push(...gate.outputTail.split('\n').map((line) => `  ${line}`));
    }
  }
  if (step.name === 'checks') {
    for (const check of status.checks ?? [])
      body.push(`${check.ok ? 'ok    ' : 'FAILED'} ${check.name} on ${check.host}: ${check.detail}`);
  }
  // Workflow commands in a step's own text must not act: the runner skips lines between these.
  return [`::group::${escapeData(title)}`, ...neutralised(body), '::endgroup::'];
}

/** Lines that would start a workflow command are shown with a leading space instead. */
function neutralised(lines: string[]): string[] {
  return lines.map((line) => (line.startsWith('::') ? ` ${line}` : line));
}

const ANNOTATIONS: Partial<Record<ExitCode, { level: 'error' | 'warning'; title: string }>> = {
  [ExitCode.rolledBack]: { level: 'error', title: 'Deployment failed, rolled back' },
  [ExitCode.invalidInput]: { level: 'error', title: 'Invalid input' },
  [ExitCode.aborted]: { level: 'warning', title: 'Not deployed' },
  [ExitCode.temporalUnreachable]: { level: 'error', title: 'Temporal unreachable' },
  [ExitCode.failedUnhealthy]: { level: 'error', title: 'Environment needs attention' },
  [ExitCode.refused]: { level: 'error', title: 'Refused' },
  [ExitCode.stillRunning]: { level: 'warning', title: 'Still running' },
  [ExitCode.operationFailed]: { level: 'error', title: 'Operation failed' },
  [ExitCode.noWorker]: { level: 'error', title: 'No worker' },
};

/** The annotation for an exit code (none for success), with the message and the UI link. */
export function annotation(exitCode: ExitCode, message: string, uiLink?: string): string | undefined {
  const kind = ANNOTATIONS[exitCode];
  if (!kind) return undefined;
  const text = uiLink ? `${message} ${uiLink}` : message;
  return `::${kind.level} title=${escapeProperty(`${kind.title} (exit ${exitCode})`)}::${escapeData(text)}`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Markdown for the job summary: what ended how, the steps as a table, the UI link. */
export function jobSummary(outcome: DeployOutcome): string {
  const { status } = outcome;
  const heading = status
    ? `### ${status.release} to ${status.environment}: ${status.outcome} (exit ${outcome.exitCode})`
    : `### ${outcome.workflowId}: exit ${outcome.exitCode}`;
  const lines = [heading, ''];
  if (status) {
    lines.push(cell(summaryLine(status)), '', '| step | status | duration |', '| --- | --- | ---: |');
    for (const s of status.steps)
      lines.push(`| ${cell(s.name)} | ${s.status} | ${formatDuration(s.durationMs)} |`);
    lines.push('');
  } else if (outcome.error) {
    lines.push(cell(outcome.error), '');
  }
  lines.push(`[Temporal UI](${outcome.uiLink})`, '');
  return `${lines.join('\n')}\n`;
}

/** Append to the job summary file the runner names; nothing outside a job. */
export function appendJobSummary(markdown: string, env: NodeJS.ProcessEnv = process.env): void {
  if (env.GITHUB_STEP_SUMMARY) appendFileSync(env.GITHUB_STEP_SUMMARY, markdown);
}
