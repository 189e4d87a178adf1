import type { Client } from '@temporalio/client';
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  deploymentsQuery,
  deploymentStatusOf,
  InvalidEnvironmentName,
  type ListedExecution,
} from '../report/records';
import { DEPLOY_RELEASE } from '../shared/searchAttributes';
import { loadSettings, workflowUiLink, type Settings } from '../shared/settings';
import type { LiveReleases } from '../shared/liveReleases';
import { WorkflowType } from '../shared/messages';
import { CliExit } from './cliExit';
import { connect } from './connect';
import { ExitCode } from './exitCodes';
import { readThroughWorker } from './workerRead';

export const HISTORY_DEFAULT_LIMIT = 20;
export const HISTORY_MAX_LIMIT = 1000;

/** The visibility query for one environment's deployments; a bad name exits 2, naming it. */
export function historyQuery(environment: string): string {
  try {
    return deploymentsQuery(environment);
  } catch (err) {
    if (err instanceof InvalidEnvironmentName) throw new CliExit(ExitCode.invalidInput, err.message);
    throw err;
  }
}

export function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n < 1 || n > HISTORY_MAX_LIMIT)
    throw new CliExit(
      ExitCode.invalidInput,
      `--limit: value ${JSON.stringify(value)} must be a whole number from 1 to ${HISTORY_MAX_LIMIT}`,
    );
  return n;
}

export interface HistoryRow {
  workflowId: string;
  runId: string;
  release: string;
  /** The DeployStatus search attribute; the run's own status when it closed without setting one. */
  status: string;
  /** Temporal's status of the run: RUNNING, COMPLETED, FAILED, TERMINATED... */
  runStatus: string;
  startTime: string;
  closeTime?: string;
  /** Close minus start; for a running deployment, until now. */
  durationMs: number;
  uiLink: string;
}

export type { ListedExecution };

export function toHistoryRow(info: ListedExecution, settings: Settings, now: Date): HistoryRow {
  const attrs = info.typedSearchAttributes;
  const runStatus = info.status.name;
  const status = deploymentStatusOf(info);
  const end = info.closeTime ?? now;
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    release: attrs.get(DEPLOY_RELEASE) ?? '?',
    status,
    runStatus,
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime?.toISOString(),
    durationMs: Math.max(0, end.getTime() - info.startTime.getTime()),
    uiLink: workflowUiLink(settings, info.workflowId, info.runId),
  };
}

/** Newest start first; ties broken by workflow id so the order is stable. */
export function newestFirst(rows: HistoryRow[]): HistoryRow[] {
  return [...rows].sort(
    (a, b) => b.startTime.localeCompare(a.startTime) || a.workflowId.localeCompare(b.workflowId),
  );
}

/** 850 ms, 12.3 s, 4m 05s, 2h 03m. */
export function formatSpan(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** "2026-05-01 12:03:04Z": UTC, second precision, fixed width. */
export function formatTime(iso: string | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z` : '-';
}

export function historyTable(rows: HistoryRow[]): string {
  const table = [
    ['WORKFLOW ID', 'RELEASE', 'STATUS', 'STARTED', 'CLOSED', 'DURATION'],
    ...rows.map((r) => [
      r.workflowId,
      r.release,
      r.status,
      formatTime(r.startTime),
      formatTime(r.closeTime),
      r.closeTime ? formatSpan(r.durationMs) : `${formatSpan(r.durationMs)} so far`,
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  return table
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The UI's workflow list filtered by the same query. */
export function historyUiLink(settings: Settings, query: string): string {
  return `${settings.uiUrl}/namespaces/${encodeURIComponent(settings.namespace)}/workflows?query=${encodeURIComponent(query)}`;
}

/**
 * Up to `limit` deployments of an environment from Temporal visibility, newest first. The
 * iteration stops at the limit, so a long history costs at most ceil(limit / pageSize) pages.
 */
export async function listHistory(
  client: Client,
  settings: Settings,
  environment: string,
  limit: number,
  now = new Date(),
): Promise<{ query: string; rows: HistoryRow[] }> {
  const query = historyQuery(environment);
  const rows: HistoryRow[] = [];
  for await (const info of client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
    rows.push(toHistoryRow(info, settings, now));
    if (rows.length >= limit) break;
  }
  return { query, rows: newestFirst(rows) };
}

/** What an environment runs by the record of its deployments: the last that succeeded, and any running. */
export function environmentNow(rows: HistoryRow[]): { lastSucceeded?: HistoryRow; running: HistoryRow[] } {
  const lastSucceeded = rows
    .filter((r) => r.status === 'succeeded' && r.closeTime)
    .sort((a, b) => (b.closeTime ?? '').localeCompare(a.closeTime ?? ''))[0];
  return { lastSucceeded, running: rows.filter((r) => r.runStatus === 'RUNNING') };
}

/** How long `status --env` waits for a worker to read the hosts' records. */
export const LIVE_READ_TIMEOUT_MS = 20_000;

/** One line per host: the release it runs by its own record, its images, who deployed it when. */
export function liveLines(live: LiveReleases): string[] {
  return live.hosts.map((h) => {
    if (h.error) return `  ${h.host}: NOT READ: ${h.error}`;
    if (!h.live) return `  ${h.host}: nothing deployed`;
    const images = Object.entries(h.live.images)
      .map(([service, image]) => `${service}=${image}`)
      .join(' ');
    return `  ${h.host}: release ${h.live.release}, deployed by ${h.live.deployedBy} at ${h.live.deployedAt} (${h.live.deploymentId}); ${images}`;
  });
}

/**
 * `status --env E` without a release: what every host runs by its own record (read by a
 * worker), the release of the last deployment that succeeded (a rollback included) and the
 * deployments running now, from Temporal visibility. Exit 8 when a host's record could not be
 * read (the rest is shown).
 */
export async function environmentStatusCommand(opts: { env: string; json: boolean }): Promise<ExitCode> {
  const query = historyQuery(opts.env);
  const settings = loadSettings();
  const client = await connect(settings);
  try {
    const [{ rows }, live] = await Promise.all([
      listHistory(client, settings, opts.env, 200),
      readThroughWorker<{ environment: string }, LiveReleases>(client, settings, {
        workflowType: WorkflowType.liveReleases,
        what: `the live release records of ${opts.env}`,
        environment: opts.env,
        idPrefix: `live-${opts.env}`,
        input: { environment: opts.env },
        timeoutMs: LIVE_READ_TIMEOUT_MS,
      }).catch((err: unknown) => {
        // The hosts' view is missing, visibility's is still worth showing.
        if (err instanceof CliExit && err.code === ExitCode.operationFailed) return err.message;
        throw err;
      }),
    ]);
    const { lastSucceeded, running } = environmentNow(rows);
    const hostsRead = typeof live !== 'string' && !live.hosts.some((h) => h.error);
    if (opts.json) {
      console.log(
        JSON.stringify(
          {
            environment: opts.env,
            hosts: typeof live === 'string' ? null : live.hosts,
            ...(typeof live === 'string' ? { hostsError: live } : {}),
            lastSucceeded: lastSucceeded ?? null,
            running,
          },
          null,
          2,
        ),
      );
      return hostsRead ? ExitCode.succeeded : ExitCode.operationFailed;
    }
    console.log(`${opts.env}: live on its hosts:`);
    for (const line of typeof live === 'string' ? [`  NOT READ: ${live}`] : liveLines(live))
      console.log(line);
    console.log(
      lastSucceeded
        ? `last succeeded: release ${lastSucceeded.release} (${lastSucceeded.workflowId}, finished ${lastSucceeded.closeTime})`
        : 'last succeeded: no deployment has succeeded yet',
    );
    if (running.length === 0) console.log('running now: none');
    for (const r of running)
      console.log(`running now: ${r.workflowId} (release ${r.release}, since ${r.startTime})`);
    console.log(`Temporal UI: ${historyUiLink(settings, query)}`);
    return hostsRead ? ExitCode.succeeded : ExitCode.operationFailed;
  } finally {
    await client.connection.close();
  }
}

function cliArg<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      if (err instanceof CliExit) throw new InvalidArgumentError(err.message.replace(/^--\w+: /, ''));
      throw err;
    }
  };
}

async function historyCommand(opts: { env: string; limit: number; json: boolean }): Promise<ExitCode> {
  // Validated before connecting, and before any query string exists.
  const query = historyQuery(opts.env);
  const settings = loadSettings();
  const client = await connect(settings);
  try {
    const { rows } = await listHistory(client, settings, opts.env, opts.limit);
    if (opts.json) {
      console.log(JSON.stringify({ environment: opts.env, query, deployments: rows }, null, 2));
    } else {
      console.log(rows.length ? historyTable(rows) : `no deployments of ${opts.env} yet`);
      console.log(`Temporal UI: ${historyUiLink(settings, query)}`);
    }
    return ExitCode.succeeded;
  } finally {
    await client.connection.close();
  }
}

/** Registers history on the program. */
export function addHistoryCommand(program: Command): void {
  program
    .command('history')
    .description('list the deployments of an environment, newest first (from Temporal visibility)')
    .requiredOption('-e, --env <name>', 'environment name')
    .addOption(
      new Option('--limit <n>', 'show at most this many (1-1000)')
        .default(HISTORY_DEFAULT_LIMIT)
        .argParser(cliArg(parseLimit)),
    )
    .option('--json', 'print JSON', false)
    .addHelpText(
      'after',
      '\nExit codes: 0 listed (also when there are none), 2 invalid input, 4 Temporal unreachable.',
    )
    .action(async (opts) => {
      process.exitCode = await historyCommand(opts);
    });
}
