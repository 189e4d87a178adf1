/**
 * Load one http:// URL on a loopback host and print the summary (src/load/loadGenerator.ts).
 *
 *   npx tsx scripts/load.ts --url http://127.0.0.1:8080/ --rate 50 --duration 10
 *   npx tsx scripts/load.ts --url http://127.0.0.1:8080/ --connections 4 --duration 10 --json
 *
 * --rate is an open loop (a fixed schedule, latency from the due time); --connections a closed
 * loop (each connection waits for its answer). Ctrl-C stops early and still prints the summary.
 * Exit codes: 0 the run happened (whatever it measured); 1 unexpected error; 2 bad input.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  LoadOptionsError,
  startLoad,
  summarize,
  type LoadOptions,
  type LoadResult,
  type LoadSummary,
} from '../src/load/loadGenerator';

interface Flags {
  url: string;
  rate?: number;
  connections?: number;
  duration: number;
  maxInFlight?: number;
  maxRequests?: number;
  timeout?: number;
  header: Record<string, string>;
  releaseHeader?: string;
  failStatus: number[];
  allowHost: string[];
  json?: boolean;
}

/** Which flag sets each LoadOptions field, to name the flag when the module refuses a value. */
const FLAG_OF_FIELD: Record<string, string> = {
  url: '--url <url>',
  durationMs: '--duration <seconds>',
  ratePerSecond: '--rate <per-second>',
  connections: '--connections <n>',
  maxInFlight: '--max-in-flight <n>',
  maxRequests: '--max-requests <n>',
  timeoutMs: '--timeout <ms>',
  headers: '--header <name:value>',
  releaseHeader: '--release-header <name>',
};

function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('must be a positive number');
  return n;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function statusCode(value: string, previous: number[] = []): number[] {
  const n = Number(value);
  if (!/^\d{3}$/.test(value) || n < 100 || n > 599)
    throw new InvalidArgumentError('must be an HTTP status code (100-599)');
  return [...previous, n];
}

function header(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new InvalidArgumentError('must be NAME:VALUE (e.g. x-preview:1)');
  return { ...previous, [value.slice(0, colon).trim()]: value.slice(colon + 1).trim() };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function loadOptions(flags: Flags): LoadOptions {
  return {
    url: flags.url,
    mode:
      flags.connections !== undefined
        ? { kind: 'closed', connections: flags.connections }
        : { kind: 'open', ratePerSecond: flags.rate!, maxInFlight: flags.maxInFlight },
    durationMs: flags.duration * 1000,
    maxRequests: flags.maxRequests,
    timeoutMs: flags.timeout,
    headers: flags.header,
    releaseHeader: flags.releaseHeader,
    allowHosts: flags.allowHost,
  };
}

const ms = (value: number | undefined) => (value === undefined ? '-' : `${value.toFixed(1)} ms`);
const percent = (fraction: number) => `${(fraction * 100).toFixed(1)}%`;
const listing = (entries: Record<string, number>, show: (n: number) => string) =>
  Object.entries(entries)
    .sort(([, a], [, b]) => b - a)
    .map(([key, n]) => `${key} ${show(n)}`)
    .join(', ') || '-';

function summaryTable(summary: LoadSummary, result: LoadResult): string {
  const failedShare = summary.total === 0 ? 0 : summary.failed / summary.total;
  const rows: [string, string][] = [
    ['requests', `${summary.total} in ${(result.durationMs / 1000).toFixed(2)} s`],
    ['failed', `${summary.failed} (${percent(failedShare)})`],
    ['failed by', listing(summary.failedByReason, String)],
    ['error window', ms(summary.errorWindowMs)],
    ['latency', `p50 ${ms(summary.p50)}   p95 ${ms(summary.p95)}   p99 ${ms(summary.p99)}`],
    ['releases', listing(summary.releaseShares, percent)],
  ];
  return rows.map(([name, value]) => `${name.padEnd(13)} ${value}`).join('\n');
}

async function run(flags: Flags, program: Command): Promise<void> {
  if (flags.rate !== undefined && flags.connections !== undefined)
    program.error("error: options '--rate' and '--connections' exclude each other: open loop or closed loop");
  if (flags.rate === undefined && flags.connections === undefined)
    program.error(
      "error: one of '--rate <per-second>' (open loop) or '--connections <n>' (closed loop) is required",
    );
  if (flags.maxInFlight !== undefined && flags.connections !== undefined)
    program.error("error: option '--max-in-flight' applies to the open loop (--rate) only");
  let load;
  try {
    load = startLoad(loadOptions(flags));
  } catch (err) {
    if (!(err instanceof LoadOptionsError)) throw err;
    const flag = FLAG_OF_FIELD[err.field.split('.')[0]] ?? err.field;
    program.error(`error: option '${flag}' argument ${JSON.stringify(err.value)} is invalid. ${err.rule}`);
  }
  process.once('SIGINT', () => load.stop());
  const result = await load.result;
  const summary = summarize(result.records, { alsoFailStatuses: flags.failStatus });
  const { startedAt, durationMs } = result;
  console.log(
    flags.json
      ? JSON.stringify({ startedAt, durationMs, ...summary }, null, 2)
      : summaryTable(summary, result),
  );
}

const program = new Command()
  .name('npx tsx scripts/load.ts')
  .description('Send HTTP load to one loopback URL and summarize failures, latency and releases.')
  .requiredOption('--url <url>', 'http:// URL on 127.0.0.0/8, localhost or ::1 (others need --allow-host)')
  .addOption(new Option('--rate <per-second>', 'open loop: requests per second').argParser(positiveNumber))
  .addOption(
    new Option('--connections <n>', 'closed loop: concurrent connections').argParser(positiveInteger),
  )
  .addOption(new Option('--duration <seconds>', 'how long to send').argParser(positiveNumber).default(10))
  .addOption(
    new Option('--max-in-flight <n>', 'open loop: pending requests at most').argParser(positiveInteger),
  )
  .addOption(new Option('--max-requests <n>', 'stop after this many requests').argParser(positiveInteger))
  .addOption(new Option('--timeout <ms>', 'per-request timeout').argParser(positiveNumber).default(5000))
  .option('--header <name:value>', 'extra request header (repeatable)', header, {})
  .option('--release-header <name>', 'response header naming the release (else the JSON body field)')
  .option(
    '--fail-status <code>',
    'also count this status as failed; 5xx always are (repeatable)',
    statusCode,
    [],
  )
  .option('--allow-host <host>', 'non-loopback host that may receive load (repeatable)', collect, [])
  .option('--json', 'print the summary as JSON')
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program.action((flags: Flags) => run(flags, program));

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
