import type { BackupReport, StoredBackup } from '../shared/backups';
import type { DrillReport } from '../shared/drills';
import type { EmergencyDeployReport } from '../shared/emergency';
import type { OperationStatus } from '../shared/operations';
import type { StepState } from '../shared/deployment';
import { formatDuration, stepTable } from './format';
import { formatSpan, formatTime } from './history';

/** 512 B, 1.5 KiB, 12.3 MiB, 1.02 GiB: binary units, three significant digits at most. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${units[unit]}`;
}

export function formatSeconds(seconds: number | undefined): string {
  return seconds === undefined ? '-' : formatSpan(Math.round(seconds * 1000));
}

/** Fixed-width columns; the columns named in `right` (numbers, durations) are right-aligned. */
export function table(rows: string[][], right: number[] = []): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => (right.includes(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The line printed when a step finishes, as deploy prints its steps. */
export function finishedStepLine(step: StepState): string {
  const duration = step.durationMs === undefined ? '' : ` ${formatDuration(step.durationMs)}`;
  return `  ${step.status.padEnd(11)} ${step.name}${duration}${step.detail ? `: ${step.detail}` : ''}`;
}

/**
 * Prints each step once, when it is no longer running. Called with every new status, and at the
 * end with the final steps, so a step that finished between two polls is still printed.
 */
export function stepPrinter(print: (line: string) => void): (steps: StepState[]) => void {
  const printed = new Map<string, string>();
  return (steps) => {
    for (const step of steps) {
      if (step.status === 'running' || printed.get(step.name) === step.status) continue;
      printed.set(step.name, step.status);
      print(finishedStepLine(step));
    }
  };
}

function tablesText(backup: StoredBackup): string {
  const rows = backup.tables.reduce((sum, t) => sum + t.rows, 0);
  return `${backup.tables.length} (${rows} rows)`;
}

export function backupSummary(report: BackupReport): string {
  const b = report.backup;
  const { kept, deleted } = report.retention;
  return [
    `backup ${b.id} of ${b.environment} is verified`,
    `  created     ${formatTime(b.createdAt)}`,
    `  size        ${formatBytes(b.sizeBytes)} (${b.sizeBytes} bytes)`,
    `  duration    ${formatSpan(b.durationMs)} (dump ${formatSpan(b.steps.dumpMs)}, copy ${formatSpan(b.steps.copyMs)}, verify ${formatSpan(b.steps.verifyMs)})`,
    `  sha256      ${b.sha256}`,
    `  location    ${b.location} (dumped on ${b.source.host}: ${b.source.path})`,
    `  release     ${b.release ? `${b.release.release} was live` : 'none deployed yet'}`,
    `  tables      ${tablesText(b)}`,
    `  retention   kept ${kept.length}, deleted ${deleted.length}${deleted.length ? `: ${deleted.join(', ')}` : ''}`,
  ].join('\n');
}

export function backupsTable(backups: StoredBackup[]): string {
  return table(
    [
      ['ID', 'CREATED', 'SIZE', 'DURATION', 'RELEASE', 'TABLES'],
      ...backups.map((b) => [
        b.id,
        formatTime(b.createdAt),
        formatBytes(b.sizeBytes),
        formatSpan(b.durationMs),
        b.release?.release ?? '-',
        tablesText(b),
      ]),
    ],
    [2, 3],
  );
}

function versus(measured: number | undefined, target: number): string {
  if (measured === undefined) return `not measured (target ${formatSeconds(target)})`;
  return `${formatSeconds(measured)} (target ${formatSeconds(target)}: ${measured <= target ? 'met' : 'MISSED'})`;
}

export function drillReportText(report: DrillReport): string {
  const lines = [
    `drill ${report.id} of ${report.environment} ${report.passed ? 'PASSED' : 'FAILED'}`,
    `  backup      ${report.backupId ?? '-'}${report.release ? ` (release ${report.release})` : ''}`,
    `  drill host  ${report.drillHost ?? '-'}${report.scratchProject ? ` (project ${report.scratchProject})` : ''}`,
    `  RPO         ${versus(report.rpoSeconds, report.targets.rpoSeconds)}`,
    `  RTO         ${versus(report.rtoSeconds, report.targets.rtoSeconds)}`,
    `  data check  ${
      report.dataCheck
        ? report.dataCheck.matched
          ? `${report.dataCheck.tables} tables match the backup`
          : `MISMATCH in ${report.dataCheck.mismatches.join(', ')}`
        : 'not run'
    }`,
    `  teardown    ${report.teardown}`,
  ];
  if (report.failures.length) lines.push('  failures:', ...report.failures.map((f) => `    - ${f}`));
  return lines.join('\n');
}

export function drillsTable(drills: DrillReport[]): string {
  return table(
    [
      ['WHEN', 'BACKUP', 'RELEASE', 'RPO', 'RTO', 'TARGETS (RPO/RTO)', 'RESULT'],
      ...drills.map((d) => [
        formatTime(d.startedAt),
        d.backupId ?? '-',
        d.release ?? '-',
        formatSeconds(d.rpoSeconds),
        formatSeconds(d.rtoSeconds),
        `${formatSeconds(d.targets.rpoSeconds)} / ${formatSeconds(d.targets.rtoSeconds)}`,
        d.passed ? 'passed' : 'failed',
      ]),
    ],
    [3, 4],
  );
}

export interface DrillTrend {
  drills: number;
  passed: number;
  /** With an RTO measured, oldest first. */
  rtoSeconds: number[];
  rto?: { min: number; median: number; max: number };
  /**
   * The mean RTO of the newer half of the drills against the older half (the middle one left
   * out when odd): more than 10 % apart is rising or falling, else steady.
   */
  direction: 'rising' | 'falling' | 'steady' | 'unknown';
  olderMeanSeconds?: number;
  newerMeanSeconds?: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Trend over drills listed newest first, as the catalog returns them. */
export function drillTrend(drills: DrillReport[]): DrillTrend {
  const chronological = [...drills].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  const rtoSeconds = chronological.flatMap((d) => (d.rtoSeconds === undefined ? [] : [d.rtoSeconds]));
  const trend: DrillTrend = {
    drills: drills.length,
    passed: drills.filter((d) => d.passed).length,
    rtoSeconds,
    direction: 'unknown',
  };
  if (rtoSeconds.length === 0) return trend;
  const sorted = [...rtoSeconds].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  trend.rto = {
    min: sorted[0],
    median: sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2,
    max: sorted[sorted.length - 1],
  };
  if (rtoSeconds.length < 2) return trend;
  const half = Math.floor(rtoSeconds.length / 2);
  const older = mean(rtoSeconds.slice(0, half));
  const newer = mean(rtoSeconds.slice(rtoSeconds.length - half));
  trend.olderMeanSeconds = older;
  trend.newerMeanSeconds = newer;
  trend.direction = newer > older * 1.1 ? 'rising' : newer < older * 0.9 ? 'falling' : 'steady';
  return trend;
}

export function trendLine(trend: DrillTrend): string {
  if (trend.drills === 0) return 'no drills yet';
  const pct = Math.round((trend.passed / trend.drills) * 100);
  const passRate = `passed ${trend.passed} of ${trend.drills} (${pct}%)`;
  if (!trend.rto) return `${passRate}; no RTO measured`;
  const n = trend.rtoSeconds.length;
  const rto = `RTO of the last ${n}: min ${formatSeconds(trend.rto.min)}, median ${formatSeconds(trend.rto.median)}, max ${formatSeconds(trend.rto.max)}`;
  const direction =
    trend.direction === 'unknown'
      ? 'one drill: no trend yet'
      : `RTO ${trend.direction} (older half mean ${formatSeconds(trend.olderMeanSeconds)}, newer half ${formatSeconds(trend.newerMeanSeconds)})`;
  return `${rto}; ${passRate}; ${direction}`;
}

export function emergencySummary(report: EmergencyDeployReport): string {
  const setup = report.setup.map(
    (s) => `  ${s.result.padEnd(8)} ${s.step}${s.detail ? `: ${s.detail}` : ''}`,
  );
  const data = report.dataCheck.matched
    ? `${report.dataCheck.tables} tables match backup ${report.backupId}`
    : `MISMATCH in ${report.dataCheck.mismatches.join(', ')}`;
  return [
    `release ${report.release} of ${report.environment} runs on ${report.host}, restored from backup ${report.backupId}`,
    'server setup:',
    ...(setup.length ? setup : ['  (no setup steps reported)']),
    '',
    stepTable(report.steps),
    '',
    `data check: ${data}`,
    `total time: ${formatSpan(report.totalMs)} (${formatTime(report.startedAt)} to ${formatTime(report.finishedAt)})`,
  ].join('\n');
}

/** What a failed operation prints: which step, why, and the steps as far as they got. */
export function operationFailureText(status: OperationStatus | undefined, error: string | undefined): string {
  const lines: string[] = [];
  if (status?.steps.length) lines.push(stepTable(status.steps), '');
  const failedStep = status?.steps.find((s) => s.status === 'failed');
  lines.push(
    `${status ? `${status.kind} ${status.id}` : 'it'} failed${failedStep ? ` at "${failedStep.name}"` : ''}: ${
      status?.failure ?? error ?? 'unknown reason'
    }`,
  );
  return lines.join('\n');
}
