import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Command } from 'commander';
import { doraReport, type DeploymentRecord, type Distribution, type DoraReport } from '../report/dora';
import type { DeploymentMemo, DeploymentStatus } from '../shared/deployment';
import { loadSettings, type Settings } from '../shared/settings';
import { parseSince } from './auditCommand';
import { withClient } from './connect';
import { ExitCode } from './exitCodes';
import {
  formatSpan,
  formatTime,
  historyQuery,
  historyUiLink,
  toHistoryRow,
  type ListedExecution,
} from './history';
import { parseEnvFlag } from './operationInput';

/** A window holds at most this many deployments; a busier one is reported on its newest. */
export const REPORT_MAX_DEPLOYMENTS = 2_000;

/** The record the figures need: visibility's status and times, and the deployment's own report. */
export function deploymentRecord(
  info: ListedExecution,
  settings: Settings,
  now: Date,
  report: DeploymentMemo | undefined,
): DeploymentRecord {
  const row = toHistoryRow(info, settings, now);
  return {
    workflowId: row.workflowId,
    status: row.status,
    startTime: row.startTime,
    ...(row.closeTime ? { closeTime: row.closeTime } : {}),
    rollback: report?.rollback === true,
    ...(typeof report?.committedAt === 'string' ? { committedAt: report.committedAt } : {}),
    ...(typeof report?.changedHosts === 'boolean' ? { changedHosts: report.changedHosts } : {}),
  };
}

/**
 * A finished deployment's report, from its result or its failure's details (one read of the
 * close event); undefined for a running one, one from before reports, or one Temporal ended.
 */
async function reportOf(client: Client, info: ListedExecution): Promise<DeploymentMemo | undefined> {
  if (!info.closeTime) return undefined;
  const handle = client.workflow.getHandle(info.workflowId, info.runId);
  const status = await handle.result().then(
    (result: unknown) => result as DeploymentStatus,
    (err: unknown) =>
      err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure
        ? (err.cause.details?.[0] as DeploymentStatus | undefined)
        : undefined,
  );
  return status?.report;
}

/** Reads at once while listing: enough to be quick, few enough to spare the server. */
const CONCURRENT_READS = 8;

/** The environment's deployments started since `since`, from Temporal visibility and their results. */
export async function listDeploymentRecords(
  client: Client,
  settings: Settings,
  environment: string,
  since: string,
  now = new Date(),
): Promise<{ query: string; records: DeploymentRecord[]; truncated: boolean }> {
  // `since` is parseSince's ISO time and the environment passed nameSchema: nothing else reaches the query.
  const query = `${historyQuery(environment)} AND StartTime >= '${since}'`;
  const listed: ListedExecution[] = [];
  let truncated = false;
  for await (const info of client.workflow.list({ query, pageSize: 1000 })) {
    if (listed.length >= REPORT_MAX_DEPLOYMENTS) {
      truncated = true;
      break;
    }
    listed.push(info);
  }
  const records: DeploymentRecord[] = [];
  for (let i = 0; i < listed.length; i += CONCURRENT_READS) {
    const batch = listed.slice(i, i + CONCURRENT_READS);
    const reports = await Promise.all(batch.map((info) => reportOf(client, info)));
    batch.forEach((info, j) => records.push(deploymentRecord(info, settings, now, reports[j])));
  }
  return { query, records, truncated };
}

function spread(d: Distribution): string {
  return d.medianSeconds === undefined
    ? 'none'
    : `median ${formatSpan(d.medianSeconds * 1000)}, p90 ${formatSpan(d.p90Seconds! * 1000)}`;
}

export function reportLines(r: DoraReport): string[] {
  const statuses = Object.entries(r.deployments.byStatus)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  return [
    `${r.environment}: ${formatTime(r.since)} to ${formatTime(r.until)} (${r.days} days)`,
    `  deployments:           ${r.deployments.total} (${r.deployments.changes} changes, ${r.deployments.rollbacks} rollbacks)${statuses ? `: ${statuses}` : ''}`,
    `  deployment frequency:  ${r.deploymentFrequencyPerDay} per day`,
    `  lead time:             ${spread(r.leadTime)} (commit to live; ${r.leadTime.count} measured, ${r.leadTime.withoutCommitTime} without a commit time)`,
    `  change failure rate:   ${r.changeFailureRate === null ? 'none ended yet' : `${(r.changeFailureRate * 100).toFixed(1)} % (${r.changeFailures.failed} of ${r.changeFailures.of} changes failed or were rolled back)`}`,
    `  time to restore:       ${spread(r.timeToRestore)} (${r.timeToRestore.count} restored, ${r.timeToRestore.unrestored} not yet)`,
  ];
}

async function reportCommand(opts: { env: string; since: string; json: boolean }): Promise<ExitCode> {
  const environment = parseEnvFlag(opts.env, 'nothing was read');
  const now = new Date();
  const since = parseSince(opts.since, now);
  const settings = loadSettings();
  return withClient(settings, async (client) => {
    const { query, records, truncated } = await listDeploymentRecords(
      client,
      settings,
      environment,
      since,
      now,
    );
    const report = doraReport(environment, records, { since, until: now.toISOString() });
    if (opts.json) {
      console.log(JSON.stringify({ ...report, truncated, query }, null, 2));
      return ExitCode.succeeded;
    }
    for (const line of reportLines(report)) console.log(line);
    if (truncated)
      console.log(`  (only the first ${REPORT_MAX_DEPLOYMENTS} deployments listed: give a shorter --since)`);
    console.log(`Temporal UI: ${historyUiLink(settings, query)}`);
    return ExitCode.succeeded;
  });
}

/** `deployctl report`: DORA figures of an environment from its deployments. */
export function addReportCommand(program: Command): void {
  program
    .command('report')
    .description(
      'DORA figures of an environment: deployment frequency, lead time, change failure rate, time to restore (from Temporal visibility)',
    )
    .requiredOption('-e, --env <name>', 'environment name')
    .option('--since <when>', 'the window: 30m, 12h, 7d, or a date or time (2026-12-01T08:00:00Z)', '30d')
    .option('--json', 'print JSON: the figures, the counts and the visibility query', false)
    .addHelpText(
      'after',
      `
Lead time needs commit times: the environment's repository or gates.repository. Rollbacks are not changes; aborts
are not failures. See README "Reports".

Exit codes: 0 reported (also when there were no deployments), 2 invalid input, 4 Temporal unreachable.`,
    )
    .action(async (opts) => {
      process.exitCode = await reportCommand(opts);
    });
}
