import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { EnvironmentConfig } from '../config/schema';

/**
 * Where a secret's value comes from, on the worker: one of its environment variables, a file
 * (a mounted secret), or a command (a secret manager's CLI, run without a shell, with the
 * worker's environment so it finds its own login). Values are read when a step needs them and
 * never leave the worker except in the env file written to each host.
 */
export type SecretSource = EnvironmentConfig['secrets'][string];

/** Characters a secret may not contain: compose v1 and v2 read env files differently for these. */
const UNSAFE_SECRET = /[\s$'"`\\#]/;
const COMMAND_TIMEOUT_MS = 30_000;

export class MissingSecretError extends Error {
  name = 'MissingSecretError';
}

/** How a finding names the source: the variable, the file or the command, never the value. */
export function secretSourceText(source: SecretSource): string {
  if (source.fromFile) return `file ${source.fromFile}`;
  if (source.fromCommand) return `command \`${source.fromCommand.join(' ')}\``;
  return `the worker's environment variable ${source.fromEnv}`;
}

/** The output of a file or command without its final line break. */
const withoutFinalNewline = (text: string) => text.replace(/\r?\n$/, '');

function runSecretCommand(
  argv: string[],
  workerEnv: NodeJS.ProcessEnv,
): Promise<{ value?: string; problem?: string }> {
  return new Promise((resolve) => {
    execFile(
      argv[0],
      argv.slice(1),
      { env: workerEnv, timeout: COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        if (e?.code === 'ENOENT') resolve({ problem: `${argv[0]} is not on the worker's PATH` });
        else if (e?.killed) resolve({ problem: `did not finish within ${COMMAND_TIMEOUT_MS / 1000} s` });
        else if (e)
          resolve({
            problem: `exited ${typeof e.code === 'number' ? e.code : 'abnormally'}${stderr.trim() ? `: ${stderr.trim().slice(-200)}` : ''}`,
          });
        else resolve({ value: withoutFinalNewline(stdout) });
      },
    );
  });
}

/** One secret's value, and why it is not usable when it is not (naming the source, never the value). */
export async function readSecret(
  key: string,
  source: SecretSource,
  workerEnv: NodeJS.ProcessEnv,
): Promise<{ value?: string; problem?: string }> {
  const where = secretSourceText(source);
  let value: string | undefined;
  if (source.fromFile) {
    try {
      value = withoutFinalNewline(await readFile(source.fromFile, 'utf8'));
    } catch (err) {
      return {
        problem: `secret ${key}: ${where} cannot be read on the worker (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      };
    }
  } else if (source.fromCommand) {
    const run = await runSecretCommand(source.fromCommand, workerEnv);
    if (run.problem) return { problem: `secret ${key}: ${where} ${run.problem}` };
    value = run.value;
  } else {
    value = workerEnv[source.fromEnv!];
    if (value === undefined || value === '') return { problem: `secret ${key}: ${where} is not set` };
  }
  if (!value) return { problem: `secret ${key}: ${where} gave an empty value` };
  // The value comes back too: redaction must still hide what cannot be written.
  if (UNSAFE_SECRET.test(value))
    return {
      value,
      problem: `secret ${key}: the value from ${where} contains whitespace, quotes, $, \\, \` or #, which env files cannot carry safely`,
    };
  return { value };
}

/** Every secret of the environment by its key; the first unusable one stops it (MissingSecretError). */
export async function resolveSecrets(
  environment: Pick<EnvironmentConfig, 'secrets'>,
  workerEnv: NodeJS.ProcessEnv,
): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const [key, source] of Object.entries(environment.secrets)) {
    const { value, problem } = await readSecret(key, source, workerEnv);
    if (problem) throw new MissingSecretError(problem);
    values[key] = value!;
  }
  return values;
}

/** The values a message must never show (redaction): every secret that can be read now. */
export async function secretValuesOf(
  environment: Pick<EnvironmentConfig, 'secrets'>,
  workerEnv: NodeJS.ProcessEnv,
): Promise<string[]> {
  const read = await Promise.all(
    Object.entries(environment.secrets).map(([key, source]) => readSecret(key, source, workerEnv)),
  );
  return read.map((r) => r.value).filter((v): v is string => !!v);
}
