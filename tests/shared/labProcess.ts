import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = resolve(__dirname, '..', '..');
const START_DEADLINE_MS = 30_000;
const STOP_DEADLINE_MS = 5_000;

/**
 * A lab server (a script under lab/) as a process of its own, started with tsx, once it prints
 * the line `listening` matches: resolves with the line's first group (its address) and a stop
 * that sends SIGTERM, then SIGKILL after 5 s.
 */
export async function startListening(
  what: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  listening: RegExp,
): Promise<{ address: string; stop: () => Promise<void> }> {
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const address = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`${what} did not start within ${START_DEADLINE_MS} ms`));
    }, START_DEADLINE_MS);
    child.on('exit', (code) => fail(new Error(`${what} exited (${code}) before it listened`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = listening.exec(line);
      if (m) {
        clearTimeout(timer);
        done(m[1]!);
      }
    });
  });
  return {
    address,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((t) => setTimeout(t, STOP_DEADLINE_MS))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
