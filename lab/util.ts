/**
 * Small process and timing helpers shared by the lab modules. Every external command runs
 * from an argv array (execFile/spawn, no shell), and every wait has a deadline.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export class LabError extends Error {}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string | Buffer;
  timeoutMs?: number;
  /** Do not throw on a non-zero exit; the caller inspects `code`. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs argv[0] with argv[1..]; throws a LabError naming the command when it fails (unless allowFailure). */
export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { env: opts.env ?? process.env, cwd: opts.cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
        const code = e ? (typeof e.code === 'number' ? e.code : -1) : 0;
        const result = { code, stdout: String(stdout), stderr: String(stderr) };
        if (e && e.code === 'ENOENT') {
          reject(
            new LabError(`command not found: ${cmd} (is it installed? scripts/bootstrap.sh installs it)`),
          );
        } else if (e && e.killed) {
          reject(new LabError(`${describe(argv)} did not finish within ${timeoutMs / 1000} s`));
        } else if (e && !opts.allowFailure) {
          const detail = (result.stderr || result.stdout).trim().split('\n').slice(-5).join('\n');
          reject(new LabError(`${describe(argv)} failed (exit ${code}):\n${detail}`));
        } else {
          resolve(result);
        }
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs `producer | consumer` without a shell (e.g. tar -c | podman import -). */
export function pipe(
  producer: string[],
  consumer: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs: number },
) {
  return new Promise<string>((resolve, reject) => {
    const env = opts.env ?? process.env;
    const a = spawn(producer[0], producer.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const b = spawn(consumer[0], consumer.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    a.stdout.pipe(b.stdin);
    let out = '';
    let errA = '';
    let errB = '';
    b.stdout.on('data', (d) => (out += d));
    a.stderr.on('data', (d) => (errA += d));
    b.stderr.on('data', (d) => (errB += d));
    const timer = setTimeout(() => {
      a.kill('SIGKILL');
      b.kill('SIGKILL');
    }, opts.timeoutMs);
    let codeA: number | null = null;
    a.on('error', (e) => reject(new LabError(`${producer[0]}: ${e.message}`)));
    b.on('error', (e) => reject(new LabError(`${consumer[0]}: ${e.message}`)));
    a.on('close', (c) => (codeA = c));
    b.on('close', (codeB) => {
      clearTimeout(timer);
      if (codeA === 0 && codeB === 0) resolve(out);
      else
        reject(
          new LabError(
            `${describe(producer)} | ${describe(consumer)} failed (exit ${codeA}/${codeB}):\n${(errA + errB).trim()}`,
          ),
        );
    });
  });
}

export function describe(argv: string[]): string {
  const shown = argv.slice(0, 6).join(' ');
  return argv.length > 6 ? `${shown} ...` : shown;
}

/** Starts a long-running process detached from this one (own session, output to a log file). */
export function spawnDetached(argv: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): number {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  try {
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env });
    if (child.pid === undefined) throw new LabError(`could not start ${argv[0]}`);
    child.unref();
    return child.pid;
  } finally {
    fs.closeSync(fd);
  }
}

export function pidAlive(pid: number | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie or a recycled pid running something else does not count.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** The command line of a pid, to check a pid file still names the process we started. */
export function pidCommand(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns true or the deadline passes (then throws `what` with the last detail). */
export async function waitFor(
  what: string,
  deadlineMs: number,
  check: () => Promise<boolean | string> | boolean | string,
  intervalMs = 200,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  let last = '';
  for (;;) {
    try {
      const r = await check();
      if (r === true) return;
      if (typeof r === 'string') last = r;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() >= end) {
      throw new LabError(
        `timed out after ${deadlineMs / 1000} s waiting for ${what}${last ? `: ${last}` : ''}`,
      );
    }
    await sleep(intervalMs);
  }
}

/** Sends SIGTERM, waits up to `deadlineMs`, then SIGKILL. Returns false when the pid was not running. */
export async function stopPid(pid: number | undefined, what: string, deadlineMs = 10_000): Promise<boolean> {
  if (!pid || !pidAlive(pid)) return false;
  process.kill(pid, 'SIGTERM');
  try {
    await waitFor(`${what} (pid ${pid}) to exit`, deadlineMs, () => !pidAlive(pid), 100);
  } catch {
    progress(`  ${what} (pid ${pid}) ignored SIGTERM for ${deadlineMs / 1000} s: SIGKILL`);
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    await waitFor(`${what} (pid ${pid}) to die`, 5_000, () => !pidAlive(pid), 100);
  }
  return true;
}

let quiet = false;
export function setQuiet(q: boolean): void {
  quiet = q;
}

export function progress(line: string): void {
  if (!quiet) process.stderr.write(`${line}\n`);
}

/** Runs one named step and prints "==> label" and "    done in 1.2 s" around it. */
export async function step<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  progress(`==> ${label}`);
  const result = await fn();
  progress(`    ${label}: done in ${seconds(Date.now() - t0)}`);
  return result;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function writeFileAtomic(file: string, content: string | Buffer, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

/** Unmounts every mount point under `dir` (podman's overlay mounts), deepest first. */
export async function unmountUnder(dir: string): Promise<void> {
  const prefix = path.resolve(dir) + '/';
  const mounts = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m): m is string => !!m)
    .map((m) => m.replace(/\\040/g, ' '))
    .filter((m) => m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run(['umount', m], { allowFailure: true });
}

export function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}
