import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NodeSSH } from 'node-ssh';
import { quote } from 'shell-quote';
import type { HostConfig } from '../config/schema';
import { unbracketed } from '../config/urls';
import type { Argv } from '../commands/argv';
import { makeDirectory, moveIntoPlace } from '../commands/files';
import { commandDeadlineMs } from './deadlines';
import { redact } from './redact';
import { ConnectionPool } from './connectionPool';

/**
 * The one way this project touches a server. Commands arrive as argv arrays built by
 * src/commands; this module alone turns them into a shell line (quoted, so no value is
 * ever interpreted), enforces a deadline on each, and refuses hosts whose key is not the
 * pinned one.
 */

export interface RunOptions {
  /** Hard deadline for the command; the channel is closed when it passes. */
  timeoutMs: number;
  /** Exit codes that count as success (default: only 0). */
  okCodes?: number[];
  /** Called with output as it arrives (already redacted). */
  onOutput?: (chunk: string) => void;
  /** Aborts the command (e.g. the activity's cancellation signal). */
  signal?: AbortSignal;
  /** Values that must never appear in errors or output (secrets). */
  secrets?: string[];
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class RemoteCommandError extends Error {
  constructor(
    message: string,
    readonly host: string,
    readonly command: string,
    readonly code: number | null,
    readonly stderrTail: string,
  ) {
    super(message);
    this.name = 'RemoteCommandError';
  }
}

export class HostKeyMismatchError extends Error {
  constructor(
    readonly host: string,
    /** The key the server presented, as a hostKey line ("TYPE BASE64"), to verify out of band. */
    readonly presented?: string,
  ) {
    super(
      `host key of ${host} does not match the pinned key in the environment config; refusing to connect ` +
        '(if the server was rebuilt, verify its new key out of band and update hostKey)',
    );
    this.name = 'HostKeyMismatchError';
  }
}

/** node-ssh's SFTP session (ssh2's SFTPWrapper; ssh2 ships no type declarations here). */
type SftpSession = Parameters<Parameters<NodeSSH['withSFTP']>[0]>[0];

/** ssh2 reports SFTP status codes on its errors; 2 is "no such file". */
type SftpError = Error & { code?: number };
const SFTP_NO_SUCH_FILE = 2;

export function shellLine(argv: Argv): string {
  if (argv.length === 0) throw new Error('empty command');
  return quote([...argv]);
}

/** A host key blob as the "TYPE BASE64" line a config pins (the blob starts with its type's name). */
export function hostKeyLine(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const typeLength = blob.readUInt32BE(0);
  if (typeLength > 64 || blob.length < 4 + typeLength) return undefined;
  return `${blob.subarray(4, 4 + typeLength).toString('ascii')} ${blob.toString('base64')}`;
}

/**
 * The host key a server presents, as ssh-keyscan reads it: the key exchange runs and the
 * connection is dropped before any authentication. Trust on first use: the caller says so.
 */
export async function scanHostKey(address: string, port: number, timeoutMs = 10_000): Promise<string> {
  const ssh = new NodeSSH();
  let presented: string | undefined;
  try {
    await ssh.connect({
      host: unbracketed(address),
      port,
      username: 'host-key-scan',
      password: 'unused',
      readyTimeout: timeoutMs,
      hostVerifier: (key: Buffer) => {
        presented = hostKeyLine(key);
        return false;
      },
    });
  } catch (err) {
    if (presented) return presented;
    throw new Error((err as Error).message);
  } finally {
    ssh.dispose();
  }
  throw new Error('the server accepted a connection without presenting a host key');
}

function pinnedKeyBlob(hostKey: string): Buffer {
  const [, base64] = hostKey.trim().split(/\s+/);
  return Buffer.from(base64 ?? '', 'base64');
}

const TAIL_CHARS = 2000;
const tail = (text: string) => (text.length > TAIL_CHARS ? `...${text.slice(-TAIL_CHARS)}` : text);

/**
 * One SSH connection, shared by the RemoteHost views lent to callers of withHost. `lost` is set
 * from ssh2's own events: node-ssh removes its 'error' listener once connected, so without
 * ours an error on a connection (a keepalive timeout, a reset) would be an uncaught exception.
 */
class SshLink {
  private lost = false;

  constructor(readonly ssh: NodeSSH) {
    const markLost = () => {
      this.lost = true;
    };
    ssh.connection?.on('error', markLost).on('end', markLost).on('close', markLost);
  }

  private sftpSession: Promise<SftpSession> | undefined;

  /**
   * One SFTP session per connection, opened on first use and kept: each new one starts an
   * sftp-server process on the host, a round trip every file transfer paid. Transfers may share
   * it at once. A session that closes or fails to open is forgotten, so the next use opens another.
   */
  sftp(): Promise<SftpSession> {
    if (!this.sftpSession) {
      const opening = this.ssh.requestSFTP();
      const forget = () => {
        if (this.sftpSession === opening) this.sftpSession = undefined;
      };
      this.sftpSession = opening;
      opening.then((session) => session.on('close', forget).on('error', forget), forget);
    }
    return this.sftpSession;
  }

  /** A transfer on the session timed out and may still run: end the session, the next use opens another. */
  dropSftp(): void {
    const session = this.sftpSession;
    this.sftpSession = undefined;
    session?.then((s) => s.end()).catch(() => undefined);
  }

  /** False once the connection was closed, ended or failed: it must carry nothing more. */
  get usable(): boolean {
    return !this.lost && this.ssh.isConnected();
  }

  close(): void {
    this.lost = true;
    this.ssh.dispose();
  }
}

const CONNECT_TIMEOUT_MS = 15_000;

async function openLink(config: HostConfig, timeoutMs: number): Promise<SshLink> {
  const ssh = new NodeSSH();
  const expected = pinnedKeyBlob(config.hostKey);
  let mismatch = false;
  let presented: string | undefined;
  try {
    await ssh.connect({
      host: unbracketed(config.address),
      port: config.port,
      username: config.user,
      privateKey: readFileSync(config.privateKeyPath, 'utf8'),
      readyTimeout: timeoutMs,
      keepaliveInterval: 5_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        mismatch = !key.equals(expected);
        presented = hostKeyLine(key);
        return !mismatch;
      },
    });
  } catch (err) {
    ssh.dispose();
    if (mismatch)
      throw new HostKeyMismatchError(`${config.name} (${config.address}:${config.port})`, presented);
    throw new Error(
      `cannot connect to ${config.name} (${config.user}@${config.address}:${config.port}): ${(err as Error).message}`,
    );
  }
  return new SshLink(ssh);
}

export class RemoteHost {
  /**
   * Not private only so withHost can lend a pooled connection under each caller's own config
   * (baseDir and env are not part of the pool's key); SshLink is not exported, so nothing else
   * can build one.
   */
  constructor(
    readonly config: HostConfig,
    private readonly link: SshLink,
  ) {}

  static async connect(config: HostConfig, opts: { timeoutMs?: number } = {}): Promise<RemoteHost> {
    return new RemoteHost(config, await openLink(config, opts.timeoutMs ?? CONNECT_TIMEOUT_MS));
  }

  private get ssh(): NodeSSH {
    return this.link.ssh;
  }

  /** Run one command; resolves with its result when the exit code is allowed, rejects otherwise. */
  async run(argv: Argv, opts: RunOptions): Promise<RunResult> {
    const line = shellLine(argv);
    const secrets = opts.secrets ?? [];
    const shown = redact(line, secrets);
    let stdout = '';
    let stderr = '';
    let channel: { close(): void } | undefined;
    let stopReason: string | undefined;
    const stop = (reason: string) => {
      stopReason = reason;
      channel?.close();
    };
    const timer = setTimeout(() => stop(`timed out after ${opts.timeoutMs} ms`), opts.timeoutMs);
    const onAbort = () => stop('cancelled');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (opts.signal?.aborted) throw new Error('cancelled before start');
      const response = await this.ssh.execCommand(line, {
        onChannel: (ch) => {
          channel = ch;
          if (stopReason) ch.close();
        },
        onStdout: (chunk) => {
          const text = redact(chunk.toString('utf8'), secrets);
          stdout += text;
          opts.onOutput?.(text);
        },
        onStderr: (chunk) => {
          const text = redact(chunk.toString('utf8'), secrets);
          stderr += text;
          opts.onOutput?.(text);
        },
      });
      if (stopReason) {
        throw new RemoteCommandError(
          `${this.config.name}: \`${shown}\` ${stopReason}`,
          this.config.name,
          shown,
          null,
          tail(stderr),
        );
      }
      const code = response.code ?? -1;
      if (!(opts.okCodes ?? [0]).includes(code)) {
        throw new RemoteCommandError(
          `${this.config.name}: \`${shown}\` exited with ${code}${response.signal ? ` (signal ${response.signal})` : ''}: ${tail(stderr || stdout).trim()}`,
          this.config.name,
          shown,
          code,
          tail(stderr),
        );
      }
      return { code, stdout, stderr };
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Write a file atomically: upload under a temporary name in the same directory, set its
   * mode, then rename over the target. A retry after a dropped connection finds either the
   * old file or the new one, never half of one. All over the connection's SFTP session: a
   * command runs only to make a missing directory (or to rename, on a server without
   * OpenSSH's posix-rename), since each command costs the host a process or two.
   */
  async writeFile(
    remotePath: string,
    content: string,
    opts: { mode?: 0o600 | 0o644; timeoutMs: number },
  ): Promise<void> {
    const dir = posix.dirname(remotePath);
    const tmp = posix.join(dir, `.${posix.basename(remotePath)}.${randomBytes(6).toString('hex')}.tmp`);
    const mode = opts.mode ?? 0o644;
    /** false when the directory does not exist yet. */
    const put = () =>
      this.sftpCall<boolean>(`upload of ${remotePath}`, opts, (sftp, done) =>
        sftp.writeFile(tmp, content, { mode }, (err: SftpError | null | undefined) =>
          err?.code === SFTP_NO_SUCH_FILE ? done(undefined, false) : done(err, true),
        ),
      );
    try {
      if (!(await put())) {
        await this.run(makeDirectory(dir), { timeoutMs: opts.timeoutMs });
        if (!(await put()))
          throw new Error(`${this.config.name}: upload of ${remotePath} failed: ${dir} does not exist`);
      }
      // A mode given at creation is all a server must honour; secrets get theirs set outright.
      if (mode === 0o600)
        await this.sftpCall(`restricting ${tmp} to its owner`, opts, (sftp, done) =>
          sftp.chmod(tmp, mode, (err: Error | null | undefined) => done(err)),
        );
      await this.moveIntoPlace(tmp, remotePath, opts);
    } catch (err) {
      // A partial or unrenamed temporary file may hold secrets, and a retry writes another
      // under a new name: best effort, it goes (a missing one is no error).
      await this.sftpCall(`removing ${tmp}`, { timeoutMs: commandDeadlineMs('smallFile') }, (sftp, done) =>
        sftp.unlink(tmp, () => done(undefined)),
      ).catch(() => undefined);
      throw err;
    }
  }

  /** rename(2) over the target through SFTP (posix-rename@openssh.com), else with `mv -f`. */
  private async moveIntoPlace(tmp: string, target: string, opts: { timeoutMs: number }): Promise<void> {
    const renamed = await this.sftpCall<boolean>(`renaming ${tmp} to ${target}`, opts, (sftp, done) => {
      try {
        sftp.ext_openssh_rename(tmp, target, (err: Error | null | undefined) => done(err, true));
      } catch {
        // Thrown at once when the server does not offer the extension.
        done(undefined, false);
      }
    });
    if (!renamed) await this.run(moveIntoPlace(tmp, target), { timeoutMs: opts.timeoutMs });
  }

  /**
   * Copy a remote file to `localPath` over SFTP. The caller downloads to a temporary name and
   * renames after checking it: a cut connection leaves a partial file nobody mistakes for a copy.
   */
  async download(
    remotePath: string,
    localPath: string,
    opts: { timeoutMs: number; onProgress?: (bytes: number, total: number) => void },
  ): Promise<void> {
    await this.transfer('download', remotePath, opts, (sftp, done) =>
      sftp.fastGet(
        remotePath,
        localPath,
        { step: (bytes: number, _chunk: number, total: number) => opts.onProgress?.(bytes, total) },
        done,
      ),
    );
  }

  /**
   * Copy a local file to the host atomically (temporary name in the same directory, then rename).
   * `inPlace`: the caller's path is already a temporary name it renames itself (a store's
   * partial copy), so a retry overwrites it instead of leaving another temporary file.
   */
  async upload(
    localPath: string,
    remotePath: string,
    opts: {
      timeoutMs: number;
      mode?: 0o600 | 0o644;
      onProgress?: (bytes: number, total: number) => void;
      inPlace?: boolean;
    },
  ): Promise<void> {
    const dir = posix.dirname(remotePath);
    const tmp = opts.inPlace
      ? remotePath
      : posix.join(dir, `.${posix.basename(remotePath)}.${randomBytes(6).toString('hex')}.tmp`);
    await this.run(makeDirectory(dir), { timeoutMs: opts.timeoutMs });
    await this.transfer('upload', remotePath, opts, (sftp, done) =>
      sftp.fastPut(
        localPath,
        tmp,
        {
          mode: opts.mode ?? 0o600,
          step: (bytes: number, _chunk: number, total: number) => opts.onProgress?.(bytes, total),
        },
        done,
      ),
    );
    if (!opts.inPlace) await this.moveIntoPlace(tmp, remotePath, opts);
  }

  /** The names in a directory over SFTP; none when it does not exist. */
  async listDirectory(dir: string, opts: { timeoutMs: number }): Promise<string[]> {
    return this.sftpCall(`listing ${dir}`, opts, (sftp, done) =>
      sftp.readdir(dir, (err: SftpError | undefined, entries: { filename: string }[] | undefined) =>
        err?.code === SFTP_NO_SUCH_FILE
          ? done(undefined, [])
          : done(
              err,
              entries?.map((e) => e.filename),
            ),
      ),
    );
  }

  /** A file's text over SFTP; undefined when it does not exist. */
  async readTextFile(path: string, opts: { timeoutMs: number }): Promise<string | undefined> {
    return this.sftpCall(`reading ${path}`, opts, (sftp, done) =>
      sftp.readFile(path, (err: SftpError | undefined, data: Buffer | undefined) =>
        err?.code === SFTP_NO_SUCH_FILE ? done(undefined, undefined) : done(err, data?.toString('utf8')),
      ),
    );
  }

  private async sftpCall<T>(
    what: string,
    opts: { timeoutMs: number },
    start: (sftp: SftpSession, done: (err: Error | undefined | null, value?: T) => void) => void,
  ): Promise<T> {
    let result: T | undefined;
    await this.withSftp(
      (sftp) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.link.dropSftp();
            reject(new Error(`${what} timed out`));
          }, opts.timeoutMs);
          start(sftp, (err, value) => {
            clearTimeout(timer);
            if (err) reject(new Error(`${this.config.name}: ${what} failed: ${err.message}`));
            else {
              result = value;
              resolve();
            }
          });
        }),
    );
    return result as T;
  }

  private async transfer(
    what: 'upload' | 'download',
    remotePath: string,
    opts: { timeoutMs: number },
    start: (sftp: SftpSession, done: (err?: Error | null) => void) => void,
  ): Promise<void> {
    await this.withSftp(
      (sftp) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.link.dropSftp();
            reject(new Error(`${what} of ${remotePath} timed out`));
          }, opts.timeoutMs);
          start(sftp, (err) => {
            clearTimeout(timer);
            if (err)
              reject(new Error(`${this.config.name}: ${what} of ${remotePath} failed: ${err.message}`));
            else resolve();
          });
        }),
    );
  }

  /** `fn` with the connection's SFTP session (kept open for the next transfer). */
  private async withSftp(fn: (sftp: SftpSession) => Promise<void>): Promise<void> {
    await fn(await this.link.sftp());
  }

  dispose(): void {
    this.link.close();
  }
}

/** How long a connection nobody uses stays open: a deployment's next step on the host comes sooner. */
const IDLE_MS = 15_000;
/** Enough for the parallel steps of one deployment on a host; a larger burst closes its extras. */
const MAX_IDLE_PER_HOST = 4;

/**
 * A connection survives a command that ran and exited non-zero: the server answered, so the
 * connection works. Anything else (a connection-level failure such as "Not connected" or "No
 * response from server", a refused channel, a timed-out or cancelled command whose channel may
 * still be open, an exit without a status (-1), an error from the caller's own logic) closes it:
 * a reconnect costs a fraction of a second, a bad connection handed on costs a step.
 */
function survives(err: unknown): boolean {
  return err instanceof RemoteCommandError && err.code !== null && err.code >= 0;
}

const pool = new ConnectionPool<SshLink>({
  close: (link) => link.close(),
  isBroken: (link) => !link.usable,
  survives,
  idleMs: IDLE_MS,
  maxIdlePerKey: MAX_IDLE_PER_HOST,
});

/**
 * What a connection is made with. baseDir and env are left out: they are the caller's, and each
 * caller gets a RemoteHost with its own config over the shared connection.
 */
function connectionKey(config: HostConfig): string {
  const { address, port, user, privateKeyPath, hostKey, name } = config;
  return JSON.stringify([address, port, user, privateKeyPath, hostKey, name]);
}

/**
 * `fn` on a connection to the host, one caller at a time per connection. Connections are kept
 * for the next call (a deployment makes about ten, each connect costs 0.2-0.3 s) and closed
 * after IDLE_MS unused. DEPLOY_SSH_REUSE=0 connects and disconnects around every call, as
 * before pooling: the way back if a server or middlebox mistreats long-lived connections.
 */
export async function withHost<T>(config: HostConfig, fn: (host: RemoteHost) => Promise<T>): Promise<T> {
  if (process.env.DEPLOY_SSH_REUSE === '0') {
    const host = await RemoteHost.connect(config);
    try {
      return await fn(host);
    } finally {
      host.dispose();
    }
  }
  return pool.use(
    connectionKey(config),
    () => openLink(config, CONNECT_TIMEOUT_MS),
    (link) => fn(new RemoteHost(config, link)),
  );
}

/**
 * Close every idle pooled connection (worker shutdown, tests). The pool's idle timers never hold
 * the process, but ssh2's keepalive interval, which it re-arms on every reply and never unrefs,
 * does until the connection closes; unref'ing the socket would not change that. A process that
 * ends without calling this lingers up to IDLE_MS after its last withHost.
 */
export function closeIdleConnections(): void {
  pool.closeIdle();
}
