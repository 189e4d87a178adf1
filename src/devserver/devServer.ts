import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { devServerSearchAttributeArgs } from '../shared/searchAttributes';
import { resolveTemporalCli } from './binaries';
import { httpStatus, probeServer } from './health';
import {
  DEFAULT_PORT,
  DEFAULT_UI_PORT,
  DevServerOptions,
  formatAddress,
  resolveOptions,
  ResolvedDevServerOptions,
} from './options';
import { PidRecord, readPidFile, removePidFile, writePidFile } from './pidFile';
import { isPortFree } from './ports';
import { isAlive, looksLikeOurServer, signal, sleep, waitForExit } from './processes';

/** Where a running dev server is, as start and status report it. */
export interface DevServerInfo extends PidRecord {
  dataDir: string;
  pidFile: string;
}

export interface StartResult extends DevServerInfo {
  /** True when our server (pid file) was already running and healthy: nothing was started. */
  alreadyRunning: boolean;
  /** Time from spawn until it answered (0 when alreadyRunning). */
  startupMs: number;
}

export interface StopResult {
  wasRunning: boolean;
  pid?: number;
  /** True when SIGTERM was not enough within the deadline. */
  killed: boolean;
  stopMs: number;
}

export type DevServerState = 'running' | 'unhealthy' | 'stopped';

export interface DevServerStatus {
  state: DevServerState;
  /** Set when a server is recorded (running or unhealthy). */
  server?: DevServerInfo;
  /** Why it is unhealthy. */
  problem?: string;
  dataDir: string;
  pidFile: string;
  dbFilename: string;
  logFile: string;
}

export class DevServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DevServerError';
  }
}

/** A port we need is taken by something that is not our server. */
export class PortInUseError extends DevServerError {
  constructor(
    readonly port: number,
    readonly which: 'gRPC' | 'UI',
    ip: string,
  ) {
    const envVar = which === 'gRPC' ? 'TEMPORAL_PORT' : 'TEMPORAL_UI_PORT';
    const flag = which === 'gRPC' ? '--port' : '--ui-port';
    const def = which === 'gRPC' ? DEFAULT_PORT : DEFAULT_UI_PORT;
    super(
      `Cannot start the Temporal dev server: ${which} port ${port} on ${ip} is already in use by another process. ` +
        `Stop that process, or choose another port with ${envVar}=<port> (or ${flag} <port>; default ${def}` +
        (which === 'UI' ? ', or the gRPC port + 1000' : '') +
        `), e.g. ${envVar}=${port + 10} npm run temporal -- start` +
        (which === 'gRPC' ? ' (and point clients at it with TEMPORAL_ADDRESS)' : '') +
        '.',
    );
    this.name = 'PortInUseError';
  }
}

/** The `temporal server start-dev` argv (without the binary). */
export function devServerArgs(o: ResolvedDevServerOptions): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    o.ip,
    '--port',
    String(o.port),
    ...(o.ui ? ['--ui-port', String(o.uiPort), '--ui-disable-news-fetch'] : ['--headless']),
    '--db-filename',
    o.dbFilename,
    '--log-level',
    'warn',
    '--namespace',
    o.namespace,
    ...devServerSearchAttributeArgs(),
    ...o.extraArgs,
  ];
}

function info(o: ResolvedDevServerOptions, record: PidRecord): DevServerInfo {
  return { ...record, dataDir: o.dataDir, pidFile: o.pidFile };
}

function logTail(logFile: string, lines = 20): string {
  try {
    const text = readFileSync(logFile, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The pid file's server if that process is still our server; removes a stale pid file. */
function recordedServer(o: ResolvedDevServerOptions): PidRecord | undefined {
  const record = readPidFile(o.pidFile);
  if (!record) return undefined;
  if (isAlive(record.pid) && looksLikeOurServer(record.pid, record.dbFilename)) return record;
  removePidFile(o.pidFile);
  return undefined;
}

async function waitUntilReady(
  o: ResolvedDevServerOptions,
  record: PidRecord,
  exited: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + o.startTimeoutMs;
  let lastProblem = 'no answer yet';
  for (;;) {
    const exit = exited();
    if (exit) {
      throw new DevServerError(
        `The Temporal dev server ${exit} while starting. Last lines of ${record.logFile}:\n${logTail(record.logFile)}`,
      );
    }
    const problem = await probeServer(record.address, record.namespace, 2_000);
    if (!problem) {
      if (!record.uiUrl) return;
      const status = await httpStatus(record.uiUrl, 2_000);
      if (status !== null && status < 500) return;
      lastProblem = `the Web UI at ${record.uiUrl} does not answer yet`;
    } else {
      lastProblem = problem;
    }
    if (Date.now() >= deadline) {
      throw new DevServerError(
        `The Temporal dev server (pid ${record.pid}) did not become ready at ${record.address} within ` +
          `${o.startTimeoutMs / 1000} s (last problem: ${lastProblem}). It was stopped. ` +
          `Last lines of ${record.logFile}:\n${logTail(record.logFile)}`,
      );
    }
    await sleep(200);
  }
}

/**
 * Starts `temporal server start-dev` detached (it outlives this process), with SQLite persistence,
 * the project's custom search attributes and the log in <dataDir>/server.log; waits until it answers.
 * Idempotent: when our server (pid file) already runs and is healthy, says so and returns it.
 */
export async function startDevServer(opts: DevServerOptions = {}): Promise<StartResult> {
  const o = resolveOptions(opts);
  const existing = recordedServer(o);
  if (existing) {
    if (existing.port !== o.port || (o.ui && existing.uiPort !== o.uiPort)) {
      throw new DevServerError(
        `A Temporal dev server for ${o.dataDir} is already running (pid ${existing.pid}) at ${existing.address}` +
          `${existing.uiUrl ? `, UI ${existing.uiUrl}` : ''}, not on the requested port ${o.port}. ` +
          `Stop it first ("npm run temporal -- stop") or use another TEMPORAL_DATA_DIR.`,
      );
    }
    const problem = await probeServer(existing.address, existing.namespace, 5_000);
    if (problem) {
      throw new DevServerError(
        `A Temporal dev server is already running (pid ${existing.pid}) but does not answer at ${existing.address}: ` +
          `${problem}. Stop it with "npm run temporal -- stop" and start again (log: ${existing.logFile}).`,
      );
    }
    return { ...info(o, existing), alreadyRunning: true, startupMs: 0 };
  }

  // Fail before spawning: the server's own message for a taken port is buried in its log.
  if (!(await isPortFree(o.ip, o.port))) throw new PortInUseError(o.port, 'gRPC', o.ip);
  if (o.ui && !(await isPortFree(o.ip, o.uiPort))) throw new PortInUseError(o.uiPort, 'UI', o.ip);

  const cliPath = o.cliPath ?? resolveTemporalCli();
  const args = devServerArgs(o);
  mkdirSync(o.dataDir, { recursive: true });
  mkdirSync(dirname(o.dbFilename), { recursive: true });
  const logFd = openSync(o.logFile, 'a');
  writeSync(logFd, `\n=== ${new Date().toISOString()} ${cliPath} ${args.join(' ')}\n`);
  const started = Date.now();
  let exitReason: string | undefined;
  let spawnError: Error | undefined;
  const child = spawn(cliPath, args, { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  child.on('error', (err) => (spawnError = err));
  child.on('exit', (code, sig) => (exitReason = sig ? `was killed by ${sig}` : `exited with code ${code}`));
  child.unref();
  await sleep(0);
  if (spawnError || child.pid === undefined) {
    throw new DevServerError(`Could not run ${cliPath}: ${spawnError?.message ?? 'no pid'}`);
  }

  const address = formatAddress(o.ip, o.port);
  const record: PidRecord = {
    pid: child.pid,
    address,
    port: o.port,
    uiPort: o.ui ? o.uiPort : null,
    uiUrl: o.ui ? `http://${formatAddress(o.ip, o.uiPort)}` : null,
    ip: o.ip,
    namespace: o.namespace,
    dbFilename: o.dbFilename,
    logFile: o.logFile,
    cliPath,
    startedAt: new Date(started).toISOString(),
  };
  writePidFile(o.pidFile, record);
  try {
    await waitUntilReady(o, record, () => exitReason ?? spawnError?.message);
  } catch (err) {
    if (!exitReason) {
      signal(record.pid, 'SIGKILL');
      await waitForExit(record.pid, 5_000);
    }
    removePidFile(o.pidFile);
    throw err;
  }
  return { ...info(o, record), alreadyRunning: false, startupMs: Date.now() - started };
}

/** SIGTERM, wait up to stopTimeoutMs, then SIGKILL; removes the pid file. No server: nothing to do. */
export async function stopDevServer(opts: DevServerOptions = {}): Promise<StopResult> {
  const o = resolveOptions(opts);
  const started = Date.now();
  const record = recordedServer(o);
  if (!record) {
    removePidFile(o.pidFile);
    return { wasRunning: false, killed: false, stopMs: 0 };
  }
  signal(record.pid, 'SIGTERM');
  let killed = false;
  if (!(await waitForExit(record.pid, o.stopTimeoutMs))) {
    killed = true;
    signal(record.pid, 'SIGKILL');
    if (!(await waitForExit(record.pid, 5_000))) {
      throw new DevServerError(
        `The Temporal dev server (pid ${record.pid}) survived SIGKILL; pid file kept.`,
      );
    }
  }
  removePidFile(o.pidFile);
  return { wasRunning: true, pid: record.pid, killed, stopMs: Date.now() - started };
}

/** Whether our server runs and answers, and where everything is. */
export async function devServerStatus(opts: DevServerOptions = {}): Promise<DevServerStatus> {
  const o = resolveOptions(opts);
  const base = { dataDir: o.dataDir, pidFile: o.pidFile, dbFilename: o.dbFilename, logFile: o.logFile };
  const record = recordedServer(o);
  if (!record) return { state: 'stopped', ...base };
  const problem = await probeServer(record.address, record.namespace, 3_000);
  return problem
    ? { state: 'unhealthy', server: info(o, record), problem, ...base, dbFilename: record.dbFilename }
    : { state: 'running', server: info(o, record), ...base, dbFilename: record.dbFilename };
}
