import { posix } from 'node:path';
import { ApplicationFailure, sleep } from '@temporalio/activity';
import {
  backupDatabaseArgv,
  backupPaths,
  databaseReady,
  databaseUp,
  missingStackFile,
  NO_USER_TABLES,
  NO_USER_TABLES_MARKER,
  pruneHostDumps,
  RESTORE_REFUSED,
  restoreDatabaseArgv,
  runMigrationsArgv,
} from '../commands/database';
import { freeDiskKib } from '../commands/files';
import { remoteLayout } from '../commands/layout';
import type { EnvironmentConfig, MigrationPhase } from '../config/schema';
import type { RemoteHost, RunResult } from '../remote/executor';
import { HOST_LOCK_BUSY } from '../commands/hostLock';
import type {
  AppliedMigration,
  BackupRecord,
  DeployPlan,
  MigrationReport,
  PendingMigration,
} from '../shared/deployment';
import { onHost, progressReporter, runUnderHostLock, withProgress, type HostStepInput } from './hostStep';
import { secretValuesOf } from './secrets';
import { commandDeadlineMs } from '../remote/deadlines';

/** Failure types of this module; the workflow branches on them. */
export const DatabaseFailureType = {
  /** A migration failed (details: { applied, host }); earlier ones in the run stay applied. */
  migrationFailed: 'MigrationFailed',
  /** The dump is missing or does not match its recorded checksum: nothing was restored. */
  backupCorrupt: 'BackupCorrupt',
  /** restoreDatabase was asked for an environment without a database section. */
  noDatabase: 'NoDatabaseConfigured',
  /** The database did not accept connections before the deadline. */
  databaseUnavailable: 'DatabaseUnavailable',
  /** The host has an env file but not every compose file of the config: upload the release first. */
  stackNotUploaded: 'StackNotUploaded',
  /** The pending-migrations command failed or printed no line for a migration it knows. */
  migrationPlanFailed: 'MigrationPlanFailed',
  /** The dump's filesystem is full: nothing was kept of it, the backups already there are untouched. */
  backupDiskFull: 'BackupDiskFull',
} as const;

const DATABASE_READY_SECONDS = 120;
export const ANY_EXIT_CODE = Array.from({ length: 256 }, (_, i) => i);

/** The last line of BACKUP_SCRIPT's output: `backup created|reused <sha256> <bytes> <mtime>`. */
export function parseBackupLine(stdout: string): {
  reused: boolean;
  sha256: string;
  sizeBytes: number;
  createdAt: string;
} {
  const m = /^backup (created|reused) ([0-9a-f]{64}) (\d+) (\S+)$/m.exec(stdout);
  if (!m) throw new Error(`backup script printed no result line: ${JSON.stringify(stdout.slice(-300))}`);
  return { reused: m[1] === 'reused', sha256: m[2], sizeBytes: Number(m[3]), createdAt: m[4] };
}

/** One JSON line per pending migration ({"id", "phase"}); any other output is ignored. */
export function parsePendingMigrations(stdout: string): PendingMigration[] {
  const pending: PendingMigration[] = [];
  for (const line of stdout.split('\n')) {
    const text = line.trim();
    if (!text.startsWith('{')) continue;
    try {
      const value = JSON.parse(text) as { id?: unknown; phase?: unknown };
      if (typeof value.id === 'string' && value.id.length <= 200) {
        // A phase that is missing or not a short word is shown as "undeclared": never compatible.
        const phase =
          typeof value.phase === 'string' && /^[a-z-]{1,20}$/.test(value.phase) ? value.phase : 'undeclared';
        pending.push({ id: value.id, phase });
      }
    } catch {
      // not a report line
    }
  }
  return pending;
}

/** One JSON line per applied migration ({"id", "backwardCompatible"}); any other output is ignored. */
export function parseMigrationOutput(stdout: string): AppliedMigration[] {
  const applied: AppliedMigration[] = [];
  for (const line of stdout.split('\n')) {
    const text = line.trim();
    if (!text.startsWith('{')) continue;
    try {
      const value = JSON.parse(text) as { id?: unknown; backwardCompatible?: unknown };
      if (typeof value.id === 'string' && typeof value.backwardCompatible === 'boolean') {
        applied.push({ id: value.id, backwardCompatible: value.backwardCompatible });
      }
    } catch {
      // not a report line
    }
  }
  return applied;
}

/**
 * What a failed migration said, without compose's own lines: progress ("Creating x_run ... done")
 * and the bare exit code docker-compose v1 prints after a one-off container fails.
 */
export function failureText(stderr: string, stdout: string): string {
  const lines = (stderr || stdout)
    .split('\n')
    .map((l) => l.trim())
    .filter(
      (l) => l && !/^\d+$/.test(l) && !/^(Creating|Starting|Stopping|Removing|Pulling) \S+ \.\.\./.test(l),
    );
  return lines.slice(-5).join(' | ').slice(-1000) || 'no output';
}

/** Values that must not appear in any message: the environment's secrets, as the worker reads them. */
export function secretsOf(plan: DeployPlan, workerEnv: NodeJS.ProcessEnv): Promise<string[]> {
  return secretValuesOf(plan.environment, workerEnv);
}

export type Progress = ReturnType<typeof progressReporter>;

/** What the tools print when the filesystem they write to is full (sh, coreutils, pg_dump). */
const NO_SPACE = /no space left on device/i;

/** Whether a failed command's output says its filesystem is full. */
export function saysDiskFull(output: string): boolean {
  return NO_SPACE.test(output);
}

/**
 * How a pre-deploy dump (BACKUP_SCRIPT around DUMP_IF_TABLES_SCRIPT, under the host lock) ended,
 * from its whole stderr: a tail of it may have lost the line that says the disk is full.
 */
export function dumpOutcome(r: RunResult): 'dumped' | 'no-tables' | 'lock-busy' | 'disk-full' | 'failed' {
  if (r.code === 0) return 'dumped';
  if (r.code === NO_USER_TABLES && r.stderr.includes(NO_USER_TABLES_MARKER)) return 'no-tables';
  if (r.code === HOST_LOCK_BUSY) return 'lock-busy';
  if (saysDiskFull(r.stderr)) return 'disk-full';
  return 'failed';
}

/**
 * A dump that failed because its filesystem is full (saysDiskFull), told as such: where, how much
 * is free, and that the backups already there are untouched (BACKUP_SCRIPT writes under a
 * temporary name and removes it on failure). Not retryable: a retry fills the disk again.
 */
export async function diskFullFailure(host: RemoteHost, dumpPath: string): Promise<ApplicationFailure> {
  const dir = posix.dirname(dumpPath);
  const free = await host
    .run(freeDiskKib(dir), { timeoutMs: commandDeadlineMs('quick') })
    .then((r) => r.stdout.trim())
    .catch(() => '');
  return ApplicationFailure.nonRetryable(
    `${host.config.name}: the backup does not fit: no space left on the filesystem of ${dir}${/^\d+$/.test(free) ? ` (${free} KiB free)` : ''}. The partial dump was removed and the backups already there are untouched; free space there and try again`,
    DatabaseFailureType.backupDiskFull,
    { host: host.config.name, dir },
  );
}

/**
 * The database accepts connections: at once when it already does (one probe, the common case:
 * every `compose` call costs the host a second), else `up --detach <db>` and wait (heartbeating).
 */
export async function ensureDatabase(
  host: RemoteHost,
  env: EnvironmentConfig,
  progress: Progress,
  secrets: string[],
): Promise<'was-ready' | 'started'> {
  // 0 accepting, 1 rejecting (starting up), 2 no response; exec fails with 1 while the container starts.
  const ready = () =>
    host.run(databaseReady(env), {
      timeoutMs: commandDeadlineMs('quick'),
      okCodes: ANY_EXIT_CODE,
      signal: progress.signal,
      secrets,
    });
  if ((await ready()).code === 0) return 'was-ready';
  await host.run(databaseUp(env, host.config), {
    timeoutMs: commandDeadlineMs('compose'),
    ...progress,
    secrets,
  });
  const deadline = Date.now() + DATABASE_READY_SECONDS * 1000;
  for (;;) {
    const r = await ready();
    if (r.code === 0) return 'started';
    if (Date.now() > deadline) {
      throw ApplicationFailure.nonRetryable(
        `${host.config.name}: database service "${env.database?.service}" does not accept connections after ${DATABASE_READY_SECONDS} s: ${failureText(r.stderr, r.stdout)}`,
        DatabaseFailureType.databaseUnavailable,
      );
    }
    progress.onOutput(`waiting for the database (pg_isready exit ${r.code})`);
    await sleep(1_000);
  }
}

export function createDatabaseActivities(deps: { workerEnv: NodeJS.ProcessEnv }) {
  return {
    /**
     * Pre-deploy backup: pg_dump (custom format) inside the database container to
     * `<appDir>/backups/<deploymentId>.dump` plus `.sha256`. A retry finds the dump done and
     * returns it. Undefined ("no database yet") when the environment has no database section, on
     * a host the stack was never deployed to (no env file), or when the database has no tables.
     * Best run after the upload and pull, right before the migrations (smallest window of writes
     * a restore would lose); the database is started if needed but never recreated.
     */
    async backupDatabase(input: HostStepInput): Promise<BackupRecord | undefined> {
      const { plan } = input;
      const env = plan.environment;
      if (!env.database) return undefined;
      const secrets = await secretsOf(plan, deps.workerEnv);
      const started = Date.now();
      let reused = false;
      let noStackYet = false;
      return onHost(
        input,
        'backup',
        async (host): Promise<BackupRecord | undefined> => {
          const layout = remoteLayout(env, host.config);
          const files = await host.run(missingStackFile(env, host.config), {
            timeoutMs: commandDeadlineMs('quick'),
            okCodes: [0, 1],
          });
          const missing = files.stdout.trim();
          // Nothing was ever deployed here: no env file, so no database either.
          if (missing === layout.envFile) {
            noStackYet = true;
            return undefined;
          }
          if (missing) {
            throw ApplicationFailure.nonRetryable(
              `${host.config.name}: ${missing} is not on the host (the config names compose files this host has not received); upload the release before the backup`,
              DatabaseFailureType.stackNotUploaded,
            );
          }
          const progress = progressReporter('backup');
          try {
            // One compose call when the database is up: the dump counts the tables itself. A dump
            // that fails may have met a database that is not running: only then is it started and
            // the dump tried again, within what is left of the one deadline.
            const dumpPath = backupPaths(env, host.config, plan.deploymentId).dump;
            const deadline = Date.now() + commandDeadlineMs('whole');
            const dump = () => {
              const left = deadline - Date.now();
              // A dump that could only time out would hold the host lock for nothing.
              if (left < 60_000)
                throw new Error(
                  `${host.config.name}: ${Math.round(left / 1000)} s of the backup's deadline left: too little to dump again`,
                );
              return runUnderHostLock(host, env, backupDatabaseArgv(env, host.config, plan.deploymentId), {
                timeoutMs: left,
                okCodes: ANY_EXIT_CODE,
                ...progress,
                secrets,
              });
            };
            let r = await dump();
            let outcome = dumpOutcome(r);
            if (outcome === 'failed' && (await ensureDatabase(host, env, progress, secrets)) === 'started') {
              r = await dump();
              outcome = dumpOutcome(r);
            }
            if (outcome === 'no-tables') return undefined;
            if (outcome === 'disk-full') throw await diskFullFailure(host, dumpPath);
            if (outcome !== 'dumped')
              throw new Error(
                `${host.config.name}: the backup failed (exit ${r.code}): ${failureText(r.stderr, r.stdout)}`,
              );
            const result = parseBackupLine(r.stdout);
            reused = result.reused;
            // The dump just written is the newest, so it is kept; older deployments' go.
            await host.run(pruneHostDumps(env, host.config), { timeoutMs: commandDeadlineMs('query') });
            return {
              path: backupPaths(env, host.config, plan.deploymentId).dump,
              sha256: result.sha256,
              sizeBytes: result.sizeBytes,
              durationMs: Date.now() - started,
              createdAt: result.createdAt,
              ...(result.reused ? { reused: true as const } : {}),
            };
          } finally {
            progress.stop();
          }
        },
        {
          detail: (b) =>
            b
              ? `${reused ? 'reused' : 'created'} ${b.path} sha256=${b.sha256} bytes=${b.sizeBytes} in ${b.durationMs} ms`
              : `no database yet: nothing to back up${noStackYet ? ' (the stack was never deployed on this host)' : ''}`,
        },
      );
    },

    /**
     * The new release's migrations in a one-off container of its image (the env file must
     * already name it: run after the upload and pull). A failure is not retried: it throws
     * MigrationFailed with the migrations applied before it in `details[0].applied`.
     */
    async runMigrations(
      input: HostStepInput & {
        phase?: MigrationPhase;
        /** The deployment's backup just dumped this database: it runs, no need to ask (a compose call). */
        databaseAnswered?: boolean;
      },
    ): Promise<MigrationReport> {
      const { plan } = input;
      const env = plan.environment;
      if (!env.migrations) return { applied: [] };
      const secrets = await secretsOf(plan, deps.workerEnv);
      return onHost(
        input,
        'migrate',
        async (host): Promise<MigrationReport> => {
          const progress = progressReporter('migrate');
          try {
            if (env.database && !input.databaseAnswered) await ensureDatabase(host, env, progress, secrets);
            const r = await runUnderHostLock(
              host,
              env,
              runMigrationsArgv(env, host.config, input.phase ?? 'all'),
              {
                timeoutMs: commandDeadlineMs('whole'),
                okCodes: ANY_EXIT_CODE,
                ...progress,
                secrets,
              },
            );
            const applied = parseMigrationOutput(r.stdout);
            if (r.code !== 0) {
              const before = applied.length ? applied.map((m) => m.id).join(', ') : 'none';
              throw ApplicationFailure.nonRetryable(
                `${host.config.name}: migrations failed (exit ${r.code}; applied before the failure: ${before}): ${failureText(r.stderr, r.stdout)}`,
                DatabaseFailureType.migrationFailed,
                { applied, host: host.config.name, exitCode: r.code },
              );
            }
            return { applied };
          } finally {
            progress.stop();
          }
        },
        {
          detail: (report) =>
            `applied: ${report.applied.map((m) => `${m.id}${m.backwardCompatible ? '' : ' (NOT backward compatible)'}`).join(', ') || 'none'}`,
        },
      );
    },

    /**
     * The migrations the new release would apply, with their declared phases, from the
     * `migrations.phases.pending` command in a one-off container of its image (run after the
     * upload and pull). Applies nothing, so a retry is always safe.
     */
    async listPendingMigrations(input: HostStepInput): Promise<PendingMigration[]> {
      const { plan } = input;
      const env = plan.environment;
      if (!env.migrations?.phases) return [];
      const secrets = await secretsOf(plan, deps.workerEnv);
      return onHost(
        input,
        'pending migrations',
        async (host): Promise<PendingMigration[]> => {
          const progress = progressReporter('pending migrations');
          try {
            if (env.database) await ensureDatabase(host, env, progress, secrets);
            const r = await host.run(runMigrationsArgv(env, host.config, 'pending'), {
              timeoutMs: commandDeadlineMs('transfer'),
              okCodes: ANY_EXIT_CODE,
              ...progress,
              secrets,
            });
            if (r.code !== 0)
              throw ApplicationFailure.nonRetryable(
                `${host.config.name}: listing pending migrations failed (exit ${r.code}): ${failureText(r.stderr, r.stdout)}`,
                DatabaseFailureType.migrationPlanFailed,
              );
            return parsePendingMigrations(r.stdout);
          } finally {
            progress.stop();
          }
        },
        {
          detail: (pending) => `pending: ${pending.map((m) => `${m.id} (${m.phase})`).join(', ') || 'none'}`,
        },
      );
    },

    /**
     * The database service running and answering: started (never recreated) when it does not
     * answer. A drill starts its scratch database this way while the backup is still on its
     * way to the host, so the restore finds it ready.
     */
    async startDatabase(input: HostStepInput): Promise<'was-ready' | 'started'> {
      const env = input.plan.environment;
      if (!env.database) {
        throw ApplicationFailure.nonRetryable(
          `environment "${env.name}" has no database section: no database to start`,
          DatabaseFailureType.noDatabase,
        );
      }
      const secrets = await secretsOf(input.plan, deps.workerEnv);
      return onHost(
        input,
        'database',
        (host) => withProgress('database', (progress) => ensureDatabase(host, env, progress, secrets)),
        {
          detail: (outcome) => outcome,
        },
      );
    },

    /**
     * Compensation: restore the pre-deploy backup (pg_restore --clean --if-exists
     * --single-transaction). The dump is verified against the recorded checksum first; a
     * mismatch throws BackupCorrupt and leaves the database as it is.
     */
    async restoreDatabase(input: HostStepInput & { backup: BackupRecord }): Promise<void> {
      const { plan, backup } = input;
      const env = plan.environment;
      if (!env.database) {
        throw ApplicationFailure.nonRetryable(
          `environment "${env.name}" has no database section: nothing to restore into`,
          DatabaseFailureType.noDatabase,
        );
      }
      const secrets = await secretsOf(plan, deps.workerEnv);
      await onHost(
        input,
        'restore',
        async (host) => {
          const { dir } = backupPaths(env, host.config, plan.deploymentId);
          if (
            posix.dirname(backup.path) !== dir ||
            !backup.path.endsWith('.dump') ||
            backup.path.split('/').includes('..')
          ) {
            throw ApplicationFailure.nonRetryable(
              `${host.config.name}: ${backup.path} is not a backup of this environment (expected a .dump in ${dir})`,
              DatabaseFailureType.backupCorrupt,
            );
          }
          const progress = progressReporter('restore');
          try {
            await ensureDatabase(host, env, progress, secrets);
            const r = await runUnderHostLock(
              host,
              env,
              restoreDatabaseArgv(env, backup.path, backup.sha256),
              {
                timeoutMs: commandDeadlineMs('whole'),
                okCodes: [0, RESTORE_REFUSED],
                ...progress,
                secrets,
              },
            );
            if (r.code === RESTORE_REFUSED) {
              throw ApplicationFailure.nonRetryable(
                `${host.config.name}: ${failureText(r.stderr, r.stdout)}`,
                DatabaseFailureType.backupCorrupt,
                { path: backup.path, sha256: backup.sha256 },
              );
            }
          } finally {
            progress.stop();
          }
        },
        { detail: () => `from ${backup.path} sha256=${backup.sha256}` },
      );
    },
  };
}
