import type { Client } from '@temporalio/client';
import { Option, type Command } from 'commander';
import { wholeNumberIn } from './options';
import { nameSchema } from '../config/schema';
import { WorkflowType } from '../shared/messages';
import {
  FollowedLog,
  LOG_LINES_MAX,
  splitTimestamp,
  type ServiceLogs,
  type ServiceLogsInput,
} from '../shared/serviceLogs';
import { loadSettings, type Settings } from '../shared/settings';
import { parseSince } from './auditCommand';
import { withClient } from './connect';
import { ExitCode } from './exitCodes';
import { invalidFlag, parseEnvFlag } from './operationInput';
import { readThroughWorker } from './workerRead';

/** How long one read waits for a worker. */
export const LOGS_TIMEOUT_MS = 60_000;
/** --follow reads again this often, for at most --for seconds. */
export const FOLLOW_EVERY_MS = 3_000;
export const FOLLOW_MAX_SECONDS = 3_600;

export function parseService(value: string): string {
  const parsed = nameSchema.safeParse(value);
  if (!parsed.success)
    throw invalidFlag(
      '--service',
      value,
      parsed.error.issues[0]?.message ?? 'is invalid',
      'nothing was read',
    );
  return parsed.data;
}

export function readServiceLogs(
  client: Client,
  settings: Settings,
  input: ServiceLogsInput,
  timeoutMs = LOGS_TIMEOUT_MS,
): Promise<ServiceLogs> {
  return readThroughWorker(client, settings, {
    workflowType: WorkflowType.serviceLogs,
    what: `the logs of ${input.service} in ${input.environment}`,
    environment: input.environment,
    idPrefix: `logs-${input.environment}-${input.service}`,
    input,
    timeoutMs,
  });
}

/** A heading per container, then its lines; hosts that could not be read, and projects without the service, say so. */
export function logLines(logs: ServiceLogs, opts: { timestamps: boolean; headings: boolean }): string[] {
  const out: string[] = [];
  for (const s of logs.sections) {
    const where = `${s.host} (project ${s.project})`;
    if (s.error) out.push(`== ${where}: NOT READ: ${s.error}`);
    else if (s.missing) {
      if (opts.headings) out.push(`== ${where}: no container of ${logs.service}`);
    } else {
      if (opts.headings) out.push(`== ${where}`);
      for (const line of s.lines) out.push(opts.timestamps ? line : splitTimestamp(line).text);
    }
  }
  return out;
}

interface LogsFlags {
  env: string;
  service: string;
  tail: number;
  since?: string;
  follow: boolean;
  for: number;
  timestamps: boolean;
  json: boolean;
}

async function logsCommand(opts: LogsFlags): Promise<ExitCode> {
  const base: ServiceLogsInput = {
    environment: parseEnvFlag(opts.env, 'nothing was read'),
    service: parseService(opts.service),
    tail: opts.tail,
    ...(opts.since !== undefined ? { since: parseSince(opts.since) } : {}),
    timestamps: true,
  };
  if (opts.follow && opts.json)
    throw invalidFlag('--json', 'true', 'cannot be combined with --follow', 'nothing was read');
  const settings = loadSettings();
  return withClient(settings, async (client) => {
    const first = await readServiceLogs(client, settings, base);
    const failed = () => first.sections.some((s) => s.error);
    if (opts.json) {
      console.log(JSON.stringify(first, null, 2));
      return failed() ? ExitCode.operationFailed : ExitCode.succeeded;
    }
    const followed = new Map<string, FollowedLog>();
    const show = (logs: ServiceLogs, headings: boolean) => {
      for (const s of logs.sections) {
        const key = `${s.host}/${s.project}`;
        if (!followed.has(key)) followed.set(key, new FollowedLog());
        s.lines = followed.get(key)!.fresh(s.lines);
      }
      for (const line of logLines(logs, { timestamps: opts.timestamps, headings })) console.log(line);
    };
    show(first, true);
    if (!opts.follow) return failed() ? ExitCode.operationFailed : ExitCode.succeeded;
    // Bounded: --for seconds at most, one short read every FOLLOW_EVERY_MS.
    const until = Date.now() + opts.for * 1000;
    let stopped = false;
    const stop = () => (stopped = true);
    process.once('SIGINT', stop);
    try {
      while (!stopped && Date.now() + FOLLOW_EVERY_MS < until) {
        await new Promise((r) => setTimeout(r, FOLLOW_EVERY_MS));
        const sinces = [...followed.values()].map((f) => f.since).filter((s): s is string => !!s);
        const since = sinces.sort()[0] ?? base.since;
        const next = await readServiceLogs(client, settings, {
          ...base,
          tail: LOG_LINES_MAX,
          ...(since ? { since } : {}),
        });
        show(next, false);
      }
    } finally {
      process.removeListener('SIGINT', stop);
    }
    return ExitCode.succeeded;
  });
}

/** `deployctl logs`: a service's container logs on every host of an environment. */
export function addLogsCommand(program: Command): void {
  program
    .command('logs')
    .description(
      "a service's container logs on every host of an environment (each colour's in blue-green or canary), read by a worker over SSH",
    )
    .requiredOption('-e, --env <name>', 'environment name')
    .requiredOption('-s, --service <name>', 'compose service, e.g. api')
    .addOption(
      new Option('--tail <n>', `lines from the end of each container's log (at most ${LOG_LINES_MAX})`)
        .default(100)
        .argParser(wholeNumberIn(1, LOG_LINES_MAX)),
    )
    .option('--since <when>', 'only lines since then: 30m, 12h, 7d, or a date or time (2026-12-01T08:00:00Z)')
    .option(
      '-f, --follow',
      `keep reading new lines every ${FOLLOW_EVERY_MS / 1000} s until --for passes or Ctrl-C`,
      false,
    )
    .addOption(
      new Option('--for <seconds>', `with --follow: stop after this long (at most ${FOLLOW_MAX_SECONDS})`)
        .default(300)
        .argParser(wholeNumberIn(1, FOLLOW_MAX_SECONDS)),
    )
    .option('-t, --timestamps', 'start each line with its time', false)
    .option('--json', 'print JSON: per host and project, the lines (with their times) or the error', false)
    .addHelpText(
      'after',
      `
Exit codes: 0 shown, 2 invalid input or unknown environment, 4 Temporal unreachable, 8 a host
could not be read (the others' lines are shown) or no worker answered within ${LOGS_TIMEOUT_MS / 1000} s.`,
    )
    .action(async (opts) => {
      process.exitCode = await logsCommand(opts);
    });
}
