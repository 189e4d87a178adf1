import type { Command } from 'commander';
import { doraReport, type Distribution, type DoraReport } from '../report/dora';
import { listDeploymentRecords, REPORT_MAX_DEPLOYMENTS } from '../report/records';
import { loadSettings } from '../shared/settings';
import { parseSince } from './auditCommand';
import { withClient } from './connect';
import { ExitCode } from './exitCodes';
import { formatSpan, formatTime, historyUiLink } from './history';
import { parseEnvFlag } from './operationInput';

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
    const { query, records, truncated } = await listDeploymentRecords(client, environment, since);
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
Lead time needs commit times: the environment's repository or gates.repository.
Rollbacks are not changes; aborts are not failures. See README "Reports".

Exit codes: 0 reported (also when there were no deployments), 2 invalid input, 4 Temporal unreachable.`,
    )
    .action(async (opts) => {
      process.exitCode = await reportCommand(opts);
    });
}
