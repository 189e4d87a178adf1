import { isAbsolute, join, resolve } from 'node:path';
import { projectRoot } from '../shared/projectRoot';

export const DEFAULT_PORT = 7233;
export const DEFAULT_UI_PORT = 8233;
export const DEFAULT_IP = '127.0.0.1';
export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_DATA_DIR = '.data/temporal';

/** What a caller may choose; everything else is derived. */
export interface DevServerOptions {
  /** gRPC frontend port. Env TEMPORAL_PORT, default 7233. */
  port?: number;
  /** Web UI port. Env TEMPORAL_UI_PORT, default port + 1000 (8233 for 7233). */
  uiPort?: number;
  /** Serve the Web UI (default true). */
  ui?: boolean;
  /** Bind address of the frontend and the UI. Default 127.0.0.1. */
  ip?: string;
  namespace?: string;
  /** Holds the SQLite file, the log and the pid file. Env TEMPORAL_DATA_DIR, default .data/temporal. */
  dataDir?: string;
  /** SQLite file; default <dataDir>/temporal.sqlite. */
  dbFilename?: string;
  /** Path of the `temporal` binary; default resolveTemporalCli(). */
  cliPath?: string;
  /** How long start waits for the server to answer (ms, default 60 000). */
  startTimeoutMs?: number;
  /** How long stop waits after SIGTERM before SIGKILL (ms, default 10 000). */
  stopTimeoutMs?: number;
  /** Extra `temporal server start-dev` arguments. */
  extraArgs?: string[];
  /** Where env defaults come from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedDevServerOptions {
  port: number;
  uiPort: number;
  ui: boolean;
  ip: string;
  namespace: string;
  dataDir: string;
  dbFilename: string;
  logFile: string;
  pidFile: string;
  cliPath?: string;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  extraArgs: string[];
}

export class DevServerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DevServerConfigError';
  }
}

function parsePort(value: string | number | undefined, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new DevServerConfigError(`${what} must be a port number between 1 and 65535, got "${value}"`);
  }
  return n;
}

export function resolveOptions(opts: DevServerOptions = {}): ResolvedDevServerOptions {
  const env = opts.env ?? process.env;
  const port = parsePort(opts.port, 'port') ?? parsePort(env.TEMPORAL_PORT, 'TEMPORAL_PORT') ?? DEFAULT_PORT;
  const uiPort =
    parsePort(opts.uiPort, 'UI port') ??
    parsePort(env.TEMPORAL_UI_PORT, 'TEMPORAL_UI_PORT') ??
    (port === DEFAULT_PORT ? DEFAULT_UI_PORT : parsePort(port + 1000, 'port + 1000 (default UI port)')!);
  if (uiPort === port) throw new DevServerConfigError(`the UI port and the gRPC port are both ${port}`);
  const rawDataDir = opts.dataDir ?? (env.TEMPORAL_DATA_DIR || DEFAULT_DATA_DIR);
  const dataDir = isAbsolute(rawDataDir) ? rawDataDir : resolve(projectRoot(), rawDataDir);
  return {
    port,
    uiPort,
    ui: opts.ui ?? true,
    ip: opts.ip ?? DEFAULT_IP,
    namespace: opts.namespace ?? DEFAULT_NAMESPACE,
    dataDir,
    dbFilename: opts.dbFilename ? resolve(opts.dbFilename) : join(dataDir, 'temporal.sqlite'),
    logFile: join(dataDir, 'server.log'),
    pidFile: join(dataDir, 'server.pid'),
    cliPath: opts.cliPath,
    startTimeoutMs: opts.startTimeoutMs ?? 60_000,
    stopTimeoutMs: opts.stopTimeoutMs ?? 10_000,
    extraArgs: opts.extraArgs ?? [],
  };
}

/** host:port for a client; IPv6 literals in brackets. */
export function formatAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
