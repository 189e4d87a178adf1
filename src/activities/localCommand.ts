import { execFile } from 'node:child_process';
import type { Argv } from '../commands/argv';

const TAIL_CHARS = 4000;

export interface LocalResult {
  code: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** Both streams, last TAIL_CHARS characters: what a failure message shows. */
  output: string;
  durationMs: number;
}

/**
 * Run argv on the worker without a shell, with a hard deadline and a minimal environment.
 * Aborted through `signal` (an activity's cancellation), it rejects with the signal's reason:
 * a cancelled gate is cancelled, never a failed or timed-out one.
 */
export function runLocal(
  argv: Argv,
  opts: { cwd?: string; timeoutMs: number; signal?: AbortSignal },
): Promise<LocalResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      argv[0],
      argv.slice(1),
      {
        cwd: opts.cwd,
        timeout: opts.timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        signal: opts.signal,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true' },
      },
      (err, stdout, stderr) => {
        const error = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        if (opts.signal?.aborted) {
          reject(opts.signal.reason ?? error);
          return;
        }
        const output = `${stdout}${stderr}`;
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
          timedOut: Boolean(error?.killed),
          stdout,
          stderr,
          output: output.length > TAIL_CHARS ? `...${output.slice(-TAIL_CHARS)}` : output,
          durationMs: Date.now() - started,
        });
      },
    );
  });
}
