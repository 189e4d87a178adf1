import { MIN_PG_RESTORE_MAJOR, pgRestoreMajor } from '../commands/store';
import { storeHostConfig } from '../store/sftpStore';
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { configFileChecks, keyFileCheck, secretChecks } from '../activities/configCheck';
import { EncryptionConfigError, loadEncryptionKeys } from '../codec/encryption';
import { ConfigError } from '../config/errors';
import { listEnvironments } from '../config/load';
import type { EnvironmentConfig } from '../config/schema';
import type { ConfigCheck } from '../shared/configCheck';
import type { Settings } from '../shared/settings';

/** The oldest pg_restore that reads the dumps of the PostgreSQL versions the product supports. */

/** `argv --version` on the worker's PATH: its first line, or why it could not run. */
function toolVersion(argv: string[], path: string | undefined): Promise<{ line?: string; problem?: string }> {
  return new Promise((done) => {
    execFile(argv[0], argv.slice(1), { timeout: 10_000, env: { PATH: path ?? '' } }, (err, stdout) => {
      const e = err as NodeJS.ErrnoException | null;
      if (e?.code === 'ENOENT') done({ problem: `${argv[0]} is not on the worker's PATH` });
      else if (e) done({ problem: `${argv.join(' ')} failed: ${e.message}` });
      else done({ line: stdout.trim().split('\n')[0] });
    });
  });
}

const named = (envs: EnvironmentConfig[]) => envs.map((e) => e.name).join(', ');

async function toolChecks(
  environments: EnvironmentConfig[],
  path: string | undefined,
): Promise<ConfigCheck[]> {
  const checks: ConfigCheck[] = [];
  const withGit = environments.filter((e) => e.repository || e.gates);
  if (withGit.length) {
    const { line, problem } = await toolVersion(['git', '--version'], path);
    checks.push({
      check: 'tool',
      where: 'git',
      verdict: problem ? 'failed' : 'ok',
      detail: problem
        ? `${problem}; environments ${named(withGit)} read their repository (compose files, gates) with it`
        : line!,
    });
  }
  const withDatabase = environments.filter((e) => e.database);
  if (withDatabase.length) {
    const { line, problem } = await toolVersion(['pg_restore', '--version'], path);
    const major = pgRestoreMajor(line ?? '') ?? 0;
    const tooOld = !problem && !(major >= MIN_PG_RESTORE_MAJOR);
    checks.push({
      check: 'tool',
      where: 'pg_restore',
      verdict: problem || tooOld ? 'failed' : 'ok',
      detail: problem
        ? `${problem}; the backups of ${named(withDatabase)} are verified with it (PostgreSQL client ${MIN_PG_RESTORE_MAJOR} or newer)`
        : tooOld
          ? `${line}: backups need PostgreSQL client ${MIN_PG_RESTORE_MAJOR} or newer to be verified`
          : line!,
    });
  }
  return checks;
}

/** A directory the worker writes to: there (or made) and writable. */
function writableDir(check: string, dir: string, setting: string): ConfigCheck {
  const where = resolve(dir);
  try {
    mkdirSync(where, { recursive: true });
    accessSync(where, constants.W_OK);
    return { check, where, verdict: 'ok', detail: 'writable' };
  } catch (err) {
    return {
      check,
      where,
      verdict: 'failed',
      detail: `not a writable directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); set ${setting}`,
    };
  }
}

/** Whether payloads are encrypted, and with which key; never a key itself. */
function encryptionCheck(workerEnv: NodeJS.ProcessEnv): ConfigCheck {
  try {
    const keys = loadEncryptionKeys(workerEnv);
    return keys
      ? {
          check: 'encryption',
          where: 'payloads',
          verdict: 'ok',
          detail: `AES-256-GCM with key "${keys[keys.length - 1].id}" (${keys.length} key(s) decrypt)`,
        }
      : {
          check: 'encryption',
          where: 'payloads',
          verdict: 'warn',
          detail:
            'off: workflow history holds environment values and hosts in clear (set DEPLOY_ENCRYPTION_KEYS_FILE, the same for deployctl)',
        };
  } catch (err) {
    if (!(err instanceof EncryptionConfigError)) throw err;
    return { check: 'encryption', where: 'payloads', verdict: 'failed', detail: err.message };
  }
}

/**
 * What this worker needs for the environments it serves, checked at start-up without touching a
 * server: the configs, git and pg_restore where an environment uses them, its directories,
 * every host's key file and every secret's variable. What SSH and the servers say is
 * `deployctl config check`'s.
 */
export async function workerNeeds(settings: Settings, workerEnv: NodeJS.ProcessEnv): Promise<ConfigCheck[]> {
  const checks = configFileChecks(settings.configDir);
  let environments: EnvironmentConfig[] = [];
  try {
    environments = listEnvironments(resolve(settings.configDir));
  } catch (err) {
    // Already named file by file above.
    if (!(err instanceof ConfigError)) throw err;
  }
  checks.push(...(await toolChecks(environments, workerEnv.PATH)));
  checks.push(encryptionCheck(workerEnv));
  checks.push(writableDir('workspace dir', settings.workspaceRoot, 'DEPLOY_WORKSPACE_DIR'));
  checks.push(writableDir('backup store', settings.backupRoot, 'DEPLOY_BACKUP_DIR'));
  for (const environment of environments) {
    const store = environment.backups?.store;
    const keys = new Map(
      [...environment.hosts, ...(store ? [storeHostConfig(store)] : [])].map((h) => [h.privateKeyPath, h]),
    );
    for (const host of keys.values())
      checks.push({ ...keyFileCheck(host), where: `${environment.name}/${host.name}` });
    checks.push(
      ...(await secretChecks(environment, workerEnv)).map((c) => ({
        ...c,
        where: `${environment.name}/${c.where}`,
      })),
    );
  }
  return checks;
}

/** The report: a summary line, then every finding that is not ok (all of them with `all`). */
export function needsReport(checks: ConfigCheck[], all = false): string[] {
  const failed = checks.filter((c) => c.verdict === 'failed').length;
  const warned = checks.filter((c) => c.verdict === 'warn').length;
  const shown = all ? checks : checks.filter((c) => c.verdict !== 'ok');
  const width = Math.max(0, ...shown.map((c) => `${c.check} ${c.where}`.length));
  return [
    `worker check: ${checks.length - failed - warned} ok, ${warned} warning(s), ${failed} failed`,
    ...shown.map(
      (c) => `  ${c.verdict.toUpperCase().padEnd(6)} ${`${c.check} ${c.where}`.padEnd(width)}  ${c.detail}`,
    ),
  ];
}
