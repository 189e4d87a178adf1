import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  backupPaths,
  CONTENT_HASH_PREFIX,
  missingStackFile,
  removeBackupFiles,
  snapshotBackup,
  SUM60_PREFIX,
  tableFingerprints,
  type FingerprintScheme,
} from '../commands/database';
import type { EnvironmentConfig } from '../config/schema';
import { RemoteCommandError, type RemoteHost } from '../remote/executor';
import type { RetentionResult, StoredBackup, TableFingerprint } from '../shared/backups';
import { OperationFailureType } from '../shared/operations';
import type { DeployPlan, ReleaseRecord } from '../shared/deployment';
import { selectRetained } from '../store/retention';
import type { BackupStores } from '../store/stores';
import { diskFullFailure, ensureDatabase, parseBackupLine, saysDiskFull, secretsOf } from './database';
import { loadEnvironmentOrFail, toApplicationFailure } from './failures';
import { onHost, progressReporter, runUnderHostLock } from './hostStep';
import { keepAlive } from './heartbeat';
import { readReleaseRecordOn } from './plan';
import { commandDeadlineMs } from '../remote/deadlines';

/**
 * Verified backups: pg_dump on the database host, a copy into the environment's store over SFTP
 * (its store host, or the worker's own directory), verification of that copy where it is kept
 * (checksum, pg_restore --list), a record, retention. Each step is
 * idempotent by backup id, so a retry or a resumed worker finds its work done.
 */

/** A DeployPlan-shaped context for host steps that are not deployments (audit lines, secrets). */
export function operationPlan(
  environment: EnvironmentConfig,
  id: string,
  requestedBy: string,
  release = 'none',
  images: Record<string, string> = {},
): DeployPlan {
  return {
    deploymentId: id,
    environment,
    images,
    request: { environment: environment.name, release, images, requestedBy },
  };
}

/** What the database host produced: the dump, its checksum, and the data it holds. */
export interface HostDump {
  host: string;
  path: string;
  sha256: string;
  sizeBytes: number;
  createdAt: string;
  durationMs: number;
  tables: TableFingerprint[];
  release?: ReleaseRecord;
}

export function parseFingerprints(stdout: string): TableFingerprint[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [table, rows, md5] = line.split('|');
      if (!table || !/^\d+$/.test(rows ?? '') || md5 === undefined)
        throw new Error(`unexpected fingerprint line ${JSON.stringify(line)}`);
      return { table, rows: Number(rows), md5 };
    });
}

/** How a backup's fingerprints were taken: a restore is checked the same way. */
export function fingerprintScheme(expected: TableFingerprint[]): FingerprintScheme {
  if (expected.every((t) => t.md5.startsWith(CONTENT_HASH_PREFIX))) return 'content-hash';
  if (expected.every((t) => t.md5.startsWith(SUM60_PREFIX))) return 'sum60';
  return 'ordered-md5';
}

/** Differences between the fingerprints taken at backup time and after a restore, in plain words. */
export function compareFingerprints(expected: TableFingerprint[], actual: TableFingerprint[]): string[] {
  const problems: string[] = [];
  const got = new Map(actual.map((t) => [t.table, t]));
  for (const want of expected) {
    const have = got.get(want.table);
    if (!have) problems.push(`${want.table}: missing after the restore (had ${want.rows} rows)`);
    else if (have.rows !== want.rows)
      problems.push(`${want.table}: ${have.rows} rows, the backup had ${want.rows}`);
    else if (have.md5 !== want.md5)
      problems.push(`${want.table}: same ${want.rows} rows but different content`);
  }
  const known = new Set(expected.map((t) => t.table));
  for (const extra of actual.filter((t) => !known.has(t.table)))
    problems.push(`${extra.table}: not in the backup but present after the restore`);
  return problems;
}

export async function fingerprints(
  host: RemoteHost,
  environment: EnvironmentConfig,
  secrets: string[],
  scheme: FingerprintScheme = 'content-hash',
): Promise<TableFingerprint[]> {
  const r = await host.run(tableFingerprints(environment, scheme), {
    timeoutMs: commandDeadlineMs('scan'),
    secrets,
  });
  return parseFingerprints(r.stdout);
}

export function createBackupActivities(deps: {
  configDir: string;
  workerEnv: NodeJS.ProcessEnv;
  stores: BackupStores;
}) {
  const { stores } = deps;
  return {
    /** The environment's config as the worker reads it now (one read per workflow, kept in history). */
    async loadEnvironmentConfig(input: { environment: string }): Promise<EnvironmentConfig> {
      return loadEnvironmentOrFail(deps.configDir, input.environment);
    },

    /**
     * pg_dump (custom format) in the database container to `<appDir>/backups/<id>.dump` with its
     * sha256, plus each table's row count and md5 taken in the very snapshot pg_dump dumped.
     */
    async dumpDatabase(input: {
      environment: EnvironmentConfig;
      backupId: string;
      requestedBy: string;
    }): Promise<HostDump> {
      const env = input.environment;
      if (!env.database) {
        throw ApplicationFailure.nonRetryable(
          `environment "${env.name}" has no database section: nothing to back up`,
          OperationFailureType.notConfigured,
        );
      }
      const plan = operationPlan(env, input.backupId, input.requestedBy);
      const secrets = await secretsOf(plan, deps.workerEnv);
      const hostConfig = env.hosts[0];
      const started = Date.now();
      return onHost(
        { plan, hostName: hostConfig.name },
        'backup-dump',
        async (host): Promise<HostDump> => {
          const files = await host.run(missingStackFile(env, host.config), {
            timeoutMs: commandDeadlineMs('quick'),
            okCodes: [0, 1],
          });
          if (files.stdout.trim()) {
            throw ApplicationFailure.nonRetryable(
              `${host.config.name}: ${files.stdout.trim()} is missing: the stack was never deployed here, so there is no database to back up`,
              OperationFailureType.notConfigured,
            );
          }
          const release = await readReleaseRecordOn(host, env);
          const progress = progressReporter('backup-dump');
          try {
            await ensureDatabase(host, env, progress, secrets);
            const { dump } = backupPaths(env, host.config, input.backupId);
            // A retried attempt dumps again: a dump from an earlier attempt would not match this
            // attempt's fingerprints.
            await host.run(removeBackupFiles(dump), { timeoutMs: commandDeadlineMs('quick') });
            const r = await runUnderHostLock(host, env, snapshotBackup(env, host.config, input.backupId), {
              timeoutMs: commandDeadlineMs('whole'),
              ...progress,
              secrets,
            }).catch(async (err: unknown) => {
              if (err instanceof RemoteCommandError && saysDiskFull(`${err.stderrTail}\n${err.message}`))
                throw await diskFullFailure(host, dump);
              throw err;
            });
            const result = parseBackupLine(r.stdout);
            const tables = parseFingerprints(
              r.stderr
                .split('\n')
                .filter((l) => l.startsWith('fingerprint '))
                .map((l) => l.slice('fingerprint '.length))
                .join('\n'),
            );
            return {
              host: host.config.name,
              path: dump,
              sha256: result.sha256,
              sizeBytes: result.sizeBytes,
              createdAt: result.createdAt,
              durationMs: Date.now() - started,
              tables,
              release,
            };
          } finally {
            progress.stop();
          }
        },
        { detail: (d) => `${d.path} sha256=${d.sha256} bytes=${d.sizeBytes} tables=${d.tables.length}` },
      );
    },

    /**
     * SFTP copy of the host's dump into the store: first to `<id>.dump.partial`, renamed to
     * `<id>.dump` only when its sha256 equals the host's. A cut transfer is retried from scratch.
     */
    async copyBackupToStore(input: {
      environment: EnvironmentConfig;
      backupId: string;
      requestedBy: string;
      dump: HostDump;
    }): Promise<{ location: string; durationMs: number }> {
      const env = input.environment;
      const started = Date.now();
      const store = stores.of(env);
      const location = store.locationOf(env.name, input.backupId);
      const ctx = Context.current();
      // Hashing a large dump takes longer than the heartbeat timeout: keep telling Temporal we live.
      const stopHeartbeats = keepAlive(() => ({ step: 'backup-copy' }));
      try {
        const copied = await inStore(() => store.checkCopy(env.name, input.backupId));
        if (copied?.sha256 === input.dump.sha256) return { location, durationMs: Date.now() - started };
        const plan = operationPlan(env, input.backupId, input.requestedBy);
        await onHost(
          { plan, hostName: input.dump.host },
          'backup-copy',
          (host) =>
            store.receiveCopy(
              env.name,
              input.backupId,
              { host, path: input.dump.path, sha256: input.dump.sha256 },
              {
                timeoutMs: commandDeadlineMs('whole'),
                onProgress: (bytes, total) => ctx.heartbeat({ step: 'backup-copy', bytes, total }),
              },
            ),
          { detail: () => `to ${store.description}: ${location}` },
        );
        return { location, durationMs: Date.now() - started };
      } finally {
        stopHeartbeats();
      }
    },

    /**
     * The copy counts as a backup only from here: its checksum is recomputed and pg_restore
     * reads its table of contents. Then, and only then, its record is written. A copy that
     * fails either check is deleted and the backup fails as BackupCorrupt.
     */
    async verifyStoredBackup(input: {
      environment: EnvironmentConfig;
      backupId: string;
      dump: HostDump;
      copyMs: number;
    }): Promise<StoredBackup> {
      const env = input.environment;
      const started = Date.now();
      const store = stores.of(env);
      const location = store.locationOf(env.name, input.backupId);
      const existing = await inStore(() => store.findBackup(env.name, input.backupId));
      if (existing) return existing;
      const corrupt = async (why: string) => {
        await inStore(() => store.deleteBackup(env.name, input.backupId));
        return ApplicationFailure.nonRetryable(
          `backup ${input.backupId} failed verification: ${why}`,
          OperationFailureType.backupCorrupt,
        );
      };
      const copy = await inStore(() => store.checkCopy(env.name, input.backupId));
      if (!copy) throw await corrupt(`${location} does not exist`);
      if (copy.sizeBytes !== input.dump.sizeBytes)
        throw await corrupt(
          `${location} has ${copy.sizeBytes} bytes, the dump on ${input.dump.host} had ${input.dump.sizeBytes} (truncated?)`,
        );
      if (copy.sha256 !== input.dump.sha256)
        throw await corrupt(
          `${location} has sha256 ${copy.sha256}, the dump on ${input.dump.host} had ${input.dump.sha256}`,
        );
      const list = await inStore(() =>
        store.listDumpContents(env.name, input.backupId, commandDeadlineMs('scan')),
      );
      if (list.code !== 0)
        throw await corrupt(
          `pg_restore --list cannot read it (exit ${list.code}): ${list.stderr.trim().slice(-300)}`,
        );
      const entries = list.stdout.split('\n').filter((l) => l.trim() && !l.startsWith(';')).length;
      if (entries === 0) throw await corrupt('pg_restore --list found no entries');
      const verifyMs = Date.now() - started;
      const record: StoredBackup = {
        id: input.backupId,
        environment: env.name,
        createdAt: input.dump.createdAt,
        sizeBytes: input.dump.sizeBytes,
        sha256: input.dump.sha256,
        durationMs: input.dump.durationMs + input.copyMs + verifyMs,
        steps: { dumpMs: input.dump.durationMs, copyMs: input.copyMs, verifyMs },
        location,
        source: { host: input.dump.host, path: input.dump.path },
        release: input.dump.release,
        tables: input.dump.tables,
        verification: { verifiedAt: new Date().toISOString(), pgRestoreListEntries: entries },
      };
      await inStore(() => store.writeBackupRecord(record));
      return record;
    },

    /** The host's dump is not needed once the store holds a verified copy (host disks stay bounded). */
    async removeHostDump(input: {
      environment: EnvironmentConfig;
      backupId: string;
      requestedBy: string;
      dump: HostDump;
    }): Promise<void> {
      const plan = operationPlan(input.environment, input.backupId, input.requestedBy);
      await onHost({ plan, hostName: input.dump.host }, 'backup-cleanup', async (host) => {
        await host.run(removeBackupFiles(input.dump.path), { timeoutMs: commandDeadlineMs('quick') });
      });
    },

    /** A failed backup leaves nothing behind in the store: no copy, no partial, no record. */
    async discardBackup(input: {
      environment: string;
      backupId: string;
      /** The config the backup ran with, so the store is the one its copy went to. */
      config?: EnvironmentConfig;
    }): Promise<void> {
      const store = await inStore(async () =>
        input.config ? stores.of(input.config) : stores.named(input.environment),
      );
      // Verified: it is a good backup.
      if (await inStore(() => store.findBackup(input.environment, input.backupId))) return;
      await inStore(() => store.deleteBackup(input.environment, input.backupId));
    },

    /** Delete the verified backups the environment's retention policy does not keep. */
    async applyRetention(input: { environment: EnvironmentConfig }): Promise<RetentionResult> {
      const env = input.environment;
      const policy = env.backups?.retention ?? { keepLast: 7, dailyDays: 7, weeklyWeeks: 4 };
      const store = stores.of(env);
      const backups = await inStore(() => store.listBackups(env.name));
      const decision = selectRetained(backups, policy, new Date());
      for (const id of decision.remove) await inStore(() => store.deleteBackup(env.name, id));
      return { kept: [...decision.keep.keys()], deleted: decision.remove };
    },
  };
}

/** A store host's failures as the activities' others: a changed host key or a bad config is final. */
export async function inStore<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toApplicationFailure(err);
  }
}
