#!/usr/bin/env node
/**
 * The project's embedded Temporal: `npm run temporal -- start|stop|status`.
 * Exit codes: 0 ok; 1 error; 2 usage; status: 3 when stopped, 4 when running but not answering.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { MissingBinaryError } from './binaries';
import { DevServerError, devServerStatus, DevServerInfo, startDevServer, stopDevServer } from './devServer';
import { DevServerConfigError, DevServerOptions } from './options';

interface CommonFlags {
  dataDir?: string;
  json?: boolean;
}
interface StartFlags extends CommonFlags {
  port?: number;
  uiPort?: number;
  ui: boolean;
  timeout?: number;
}

function portArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('not a port number');
  return n;
}
function secondsArg(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('not a positive number of seconds');
  return n;
}

function describe(server: DevServerInfo): string {
  return [
    `  address:   ${server.address} (namespace ${server.namespace})`,
    `  web UI:    ${server.uiUrl ?? '(headless)'}`,
    `  pid:       ${server.pid}`,
    `  database:  ${server.dbFilename}`,
    `  log:       ${server.logFile}`,
  ].join('\n');
}

function print(json: boolean | undefined, data: unknown, text: string): void {
  console.log(json ? JSON.stringify(data, null, 2) : text);
}

function common(flags: CommonFlags): DevServerOptions {
  return flags.dataDir ? { dataDir: flags.dataDir } : {};
}

const dataDirOption = () =>
  new Option(
    '--data-dir <dir>',
    'directory for the SQLite db, log and pid file (env TEMPORAL_DATA_DIR)',
  ).default(undefined, '.data/temporal');

const program = new Command()
  .name('npm run temporal --')
  .description(
    "The embedded Temporal dev server (SQLite persistence, Web UI, the project's search attributes).\n" +
      'Binary: $TEMPORAL_CLI_PATH, .tools/venv/bin/temporal (npm run bootstrap) or `temporal` on PATH.',
  )
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program
  .command('start')
  .description('start the server in the background and wait until it answers (no-op when already running)')
  .addOption(
    new Option('--port <port>', 'gRPC port (env TEMPORAL_PORT)')
      .argParser(portArg)
      .default(undefined, '7233'),
  )
  .addOption(
    new Option('--ui-port <port>', 'Web UI port (env TEMPORAL_UI_PORT)')
      .argParser(portArg)
      .default(undefined, 'port + 1000'),
  )
  .option('--no-ui', 'run headless (no Web UI)')
  .addOption(dataDirOption())
  .addOption(
    new Option('--timeout <seconds>', 'how long to wait for it to answer').argParser(secondsArg).default(60),
  )
  .option('--json', 'print the result as JSON')
  .action(async (flags: StartFlags) => {
    const result = await startDevServer({
      ...common(flags),
      port: flags.port,
      uiPort: flags.uiPort,
      ui: flags.ui,
      startTimeoutMs: (flags.timeout ?? 60) * 1000,
    });
    const headline = result.alreadyRunning
      ? 'Temporal dev server is already running (nothing to do):'
      : `Temporal dev server started in ${(result.startupMs / 1000).toFixed(1)} s:`;
    print(flags.json, result, `${headline}\n${describe(result)}`);
  });

program
  .command('stop')
  .description('stop the server (SIGTERM, then SIGKILL after a deadline)')
  .addOption(dataDirOption())
  .option('--json', 'print the result as JSON')
  .action(async (flags: CommonFlags) => {
    const result = await stopDevServer(common(flags));
    const text = !result.wasRunning
      ? 'Temporal dev server is not running (nothing to do).'
      : `Temporal dev server (pid ${result.pid}) stopped in ${(result.stopMs / 1000).toFixed(1)} s` +
        (result.killed ? ' (did not stop on SIGTERM: killed)' : '') +
        '.';
    print(flags.json, result, text);
  });

program
  .command('status')
  .description('where the server is and whether it answers (exit 0 running, 3 stopped, 4 not answering)')
  .addOption(dataDirOption())
  .option('--json', 'print the status as JSON')
  .action(async (flags: CommonFlags) => {
    const status = await devServerStatus(common(flags));
    let text: string;
    if (status.state === 'stopped') {
      text = `Temporal dev server is stopped.\n  database:  ${status.dbFilename}\n  start it:  npm run temporal -- start`;
    } else if (status.state === 'running') {
      text = `Temporal dev server is running:\n${describe(status.server!)}`;
    } else {
      text = `Temporal dev server (pid ${status.server!.pid}) is running but does not answer: ${status.problem}\n${describe(status.server!)}`;
    }
    print(flags.json, status, text);
    process.exitCode = status.state === 'running' ? 0 : status.state === 'stopped' ? 3 : 4;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const known =
    err instanceof DevServerError || err instanceof MissingBinaryError || err instanceof DevServerConfigError;
  console.error(known ? `error: ${(err as Error).message}` : err);
  process.exit(1);
});
