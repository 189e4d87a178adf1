import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { configErrorFromZod } from '../config/errors';
import { actorSchema } from '../config/request';
import { hostSchema, nameSchema, type HostConfig } from '../config/schema';
import { CliExit } from './cliExit';
import { ExitCode } from './exitCodes';

/**
 * Flag checks of the backup, drill, emergency-deploy, setup and lock commands. Each failure names
 * the flag, the value and the rule, and happens before any connection: nothing is started (or,
 * for a command that only signals, sent).
 */

export type NothingDone = 'nothing was started' | 'nothing was sent' | 'nothing was read';

export function invalidFlag(
  flag: string,
  value: string,
  rule: string,
  nothing: NothingDone = 'nothing was started',
): CliExit {
  return new CliExit(ExitCode.invalidInput, `${flag}: value ${JSON.stringify(value)} ${rule}; ${nothing}`);
}

const invalid = invalidFlag;

export function parseEnvFlag(value: string, nothing?: NothingDone): string {
  const parsed = nameSchema.safeParse(value);
  if (!parsed.success)
    throw invalid('--env', value, parsed.error.issues[0]?.message ?? 'is invalid', nothing);
  return parsed.data;
}

/** --by: who asks, a user name (actorSchema) of at most 64 characters. */
export function parseBy(value: string, nothing?: NothingDone): string {
  const parsed = actorSchema.safeParse(value);
  if (!parsed.success || value.length > 64)
    throw invalid(
      '--by',
      value,
      'must be a user name of letters, digits and . _ @ + -, at most 64 characters',
      nothing,
    );
  return parsed.data;
}

/** A whole number of seconds in [min, max], e.g. --timeout, --rpo-target. */
export function parseSeconds(flag: string, value: string, min = 1, max = 365 * 86_400): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max)
    throw invalid(flag, value, `must be a whole number of seconds from ${min} to ${max}`);
  return n;
}

export const BACKUP_ID_RULE =
  'must be a backup id: "<environment>-" then letters, digits, _ . - (no ".."), at most 200 characters';

/** Backup ids are `<environment>-<UTC stamp>-<run id prefix>` (src/shared/backups.ts). */
export function parseBackupId(value: string, environment: string): string {
  // The store's own id rule (src/store/backupStore.ts): ids name files, so no ".." either.
  if (!/^[a-z][a-z0-9-]*-[A-Za-z0-9._-]+$/.test(value) || value.length > 200 || value.includes('..'))
    throw invalid('--backup', value, BACKUP_ID_RULE);
  if (!value.startsWith(`${environment}-`))
    throw invalid(
      '--backup',
      value,
      `must be a backup of ${environment} (its id starts with "${environment}-")`,
    );
  return value;
}

/**
 * The new server of an emergency deploy, from a YAML or JSON file (JSON is YAML), checked by the
 * same hostSchema as the environments' hosts. Errors name the file, the key, the value and the rule.
 */
export function parseHostFile(
  file: string,
  readFile: (f: string) => string = (f) => readFileSync(f, 'utf8'),
): HostConfig {
  let text: string;
  try {
    text = readFile(file);
  } catch (err) {
    throw new CliExit(
      ExitCode.invalidInput,
      `--host-file: cannot read ${file}: ${(err as Error).message}; nothing was started`,
    );
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new CliExit(
      ExitCode.invalidInput,
      `--host-file: ${file} is not valid YAML or JSON: ${(err as Error).message}; nothing was started`,
    );
  }
  const parsed = hostSchema.safeParse(raw);
  if (!parsed.success) {
    const error = configErrorFromZod(file, parsed.error, raw);
    throw new CliExit(ExitCode.invalidInput, `--host-file: ${error.message}\nnothing was started`);
  }
  return parsed.data;
}
