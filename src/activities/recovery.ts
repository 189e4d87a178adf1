import { ApplicationFailure, Context } from '@temporalio/activity';
import { colourDown, missingColourFile } from '../commands/colours';
import { composeDestroy } from '../commands/compose';
import { backupPaths, HOST_COPY_DAMAGED, missingStackFile, verifyHostCopy } from '../commands/database';
import { removeDirectory } from '../commands/files';
import { listEnvironments } from '../config/load';
import { remoteLayout } from '../commands/layout';
import { COLOURS, environmentSchema, type EnvironmentConfig, type HostConfig } from '../config/schema';
import { type StoredBackup, type TableFingerprint } from '../shared/backups';
import { catalogPage, type CatalogInput, type CatalogResult } from '../shared/catalog';
import { type DrillReport } from '../shared/drills';
import { OperationFailureType } from '../shared/operations';
import type { BackupRecord, DeployPlan } from '../shared/deployment';
import type { SetupStep } from '../shared/setup';
import type { BackupStores } from '../store/stores';
import { compareFingerprints, fingerprints, fingerprintScheme, inStore, operationPlan } from './backups';
import { secretsOf } from './database';
import { keepAlive } from './heartbeat';
import { runServerSetup } from './serverSetup';
import { hostOf, onHost, type HostStepInput } from './hostStep';
import { readReleaseRecordOn } from './plan';
import { toApplicationFailure } from './failures';
import { withHost } from '../remote/executor';
import { commandDeadlineMs } from '../remote/deadlines';

/**
 * Restoring a verified backup somewhere else: a drill's scratch stack (own compose project and
 * ports, destroyed afterwards) or a brand-new server after a disaster. The deploy activities
 * (upload, pull, restore, start, health) do the rest with a plan built here.
 */

/** Scratch projects carry this infix; teardown refuses any project without it. */
export const SCRATCH_INFIX = '-drill-';

/** A derived environment must still satisfy the one schema (names, ports, URLs). */
function validated(raw: unknown, what: string): EnvironmentConfig {
  const parsed = environmentSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw ApplicationFailure.nonRetryable(`${what} is not a valid environment: ${problems}`, 'InvalidInput');
  }
  return parsed.data;
}

function releaseOf(backup: StoredBackup): {
  release: string;
  images: Record<string, string>;
  commit?: string;
} {
  if (!backup.release) {
    throw ApplicationFailure.nonRetryable(
      `backup ${backup.id} records no live release (nothing was deployed when it was taken): there is no release to start against it`,
      OperationFailureType.noVerifiedBackup,
    );
  }
  const { release, images, commit } = backup.release;
  return { release, images, ...(commit ? { commit } : {}) };
}

/** A recovery starts the release with the compose files it ran with: the app's repository at its recorded commit. */
function withReleaseFiles(plan: DeployPlan, commit: string | undefined): DeployPlan {
  const { repository } = plan.environment;
  if (!repository || !commit) return plan;
  return { ...plan, files: { release: plan.request.release, repository, commit } };
}

/** Every configured environment; none when the folder cannot be read (the guard then has nothing to compare). */
function safeListEnvironments(configDir: string): EnvironmentConfig[] {
  try {
    return listEnvironments(configDir);
  } catch {
    return [];
  }
}

export function createRecoveryActivities(deps: {
  configDir: string;
  projectRoot: string;
  workerEnv: NodeJS.ProcessEnv;
  stores: BackupStores;
}) {
  const { stores } = deps;
  return {
    /**
     * The backup to restore (latest verified unless named), checked again before anyone relies
     * on it: the copy must still have the recorded size and sha256.
     */
    async pickBackup(input: { environment: string; backupId?: string }): Promise<StoredBackup> {
      const store = await inStore(async () => stores.named(input.environment));
      const backup = await inStore(() => store.findBackup(input.environment, input.backupId));
      if (!backup) {
        throw ApplicationFailure.nonRetryable(
          input.backupId
            ? `backup ${input.backupId} of ${input.environment} is not a verified backup in ${store.description}`
            : `${input.environment} has no verified backup in ${store.description}; run deployctl backup --env ${input.environment}`,
          OperationFailureType.noVerifiedBackup,
        );
      }
      const copy = await inStore(() => store.checkCopy(input.environment, backup.id));
      const location = store.locationOf(input.environment, backup.id);
      if (copy?.sizeBytes !== backup.sizeBytes) {
        throw ApplicationFailure.nonRetryable(
          `backup ${backup.id} is corrupt: ${location} has ${copy?.sizeBytes ?? 0} bytes, ${backup.sizeBytes} were verified (truncated or replaced); it must not be restored`,
          OperationFailureType.backupCorrupt,
          { backupId: backup.id },
        );
      }
      if (copy.sha256 !== backup.sha256) {
        throw ApplicationFailure.nonRetryable(
          `backup ${backup.id} is corrupt: ${location} has sha256 ${copy.sha256}, ${backup.sha256} was verified; it must not be restored`,
          OperationFailureType.backupCorrupt,
          { backupId: backup.id },
        );
      }
      return backup;
    },

    /**
     * The drill's scratch stack: the environment on the drill host under its own compose
     * project (`<project>-drill-<suffix>`) with the drill's env values (its own ports), running
     * the release that was live when the backup was taken.
     */
    async planScratchStack(input: {
      environment: EnvironmentConfig;
      backup: StoredBackup;
      drillId: string;
      suffix: string;
      requestedBy: string;
    }): Promise<DeployPlan> {
      const env = input.environment;
      if (!env.drills) {
        throw ApplicationFailure.nonRetryable(
          `environment "${env.name}" has no drills section`,
          OperationFailureType.notConfigured,
        );
      }
      const { release, images, commit } = releaseOf(input.backup);
      const drillHost = env.drills.host ?? env.hosts[0];
      const project = `${env.project}${SCRATCH_INFIX}${input.suffix}`;
      const scratch = validated(
        {
          ...env,
          project,
          // Colours of the scratch stack on a network and routing of their own, never the live ones.
          ...(env.traffic
            ? { traffic: { ...env.traffic, network: `${project}-edge`, routingDir: undefined } }
            : {}),
          // drills.env wins over the host's own values too (a host may set ports in its env).
          hosts: [{ ...drillHost, env: { ...drillHost.env, ...env.drills.env } }],
          approval: { required: false, timeoutSeconds: env.approval.timeoutSeconds },
          gates: undefined,
        },
        `the drill's scratch stack of ${env.name}`,
      );
      return withReleaseFiles(
        operationPlan(scratch, input.drillId, input.requestedBy, release, images),
        commit,
      );
    },

    /** Refuse a target that is a configured server of any environment: its data would be overwritten. */
    async checkEmergencyTarget(input: { host: HostConfig }): Promise<void> {
      // An emergency deploy restores over the target's database: never onto a configured server.
      const same = (h: HostConfig) =>
        h.name === input.host.name || (h.address === input.host.address && h.port === input.host.port);
      for (const env of safeListEnvironments(deps.configDir)) {
        for (const h of [...env.hosts, ...(env.drills?.host ? [env.drills.host] : [])]) {
          if (same(h)) {
            throw ApplicationFailure.nonRetryable(
              `host: ${input.host.name} (${input.host.address}:${input.host.port}) is ${h.name} (${h.address}:${h.port}) of environment "${env.name}"; an emergency deploy restores a backup over the target's database, so it only goes to a brand-new server`,
              'InvalidInput',
            );
          }
        }
      }
    },

    /** The environment on one brand-new host, with the release recorded in the backup. */
    async planEmergency(input: {
      environment: EnvironmentConfig;
      backup: StoredBackup;
      host: HostConfig;
      operationId: string;
      requestedBy: string;
    }): Promise<DeployPlan> {
      const { release, images, commit } = releaseOf(input.backup);
      const target = validated(
        { ...input.environment, hosts: [input.host], gates: undefined },
        `${input.environment.name} on ${input.host.name}`,
      );
      return withReleaseFiles(
        operationPlan(target, input.operationId, input.requestedBy, release, images),
        commit,
      );
    },

    /** The store's copy to `<appDir>/backups/<operation id>.dump` on the host (SFTP, atomic). */
    async uploadBackupToHost(input: HostStepInput & { backup: StoredBackup }): Promise<BackupRecord> {
      const { plan, backup } = input;
      const started = Date.now();
      const ctx = Context.current();
      return onHost(
        input,
        'upload-backup',
        async (host): Promise<BackupRecord> => {
          const { dump } = backupPaths(plan.environment, host.config, plan.deploymentId);
          const store = await inStore(async () => stores.named(backup.environment));
          await store.sendCopy(backup, host, dump, {
            timeoutMs: commandDeadlineMs('whole'),
            onProgress: (bytes, total) => ctx.heartbeat({ step: 'upload-backup', bytes, total }),
          });
          // Checked here, beside the image pull, so the restore need not read it again first.
          const stopHeartbeats = keepAlive(() => ({ step: 'upload-backup', verifying: dump }));
          const verified = await host
            .run(verifyHostCopy(dump, backup.sha256), {
              timeoutMs: commandDeadlineMs('whole'),
              okCodes: [0, HOST_COPY_DAMAGED],
            })
            .finally(stopHeartbeats);
          // A damaged transfer was removed: the retry copies it again.
          if (verified.code === HOST_COPY_DAMAGED)
            throw new Error(`${host.config.name}: ${verified.stderr.trim()}`);
          return {
            path: dump,
            sha256: backup.sha256,
            sizeBytes: backup.sizeBytes,
            durationMs: Date.now() - started,
            createdAt: backup.createdAt,
          };
        },
        { detail: (r) => `backup ${backup.id} to ${r.path}` },
      );
    },

    /** Row counts and checksums after the restore, compared with those taken at backup time. */
    async checkRestoredData(
      input: HostStepInput & { expected: TableFingerprint[] },
    ): Promise<{ matched: boolean; tables: number; mismatches: string[] }> {
      const secrets = await secretsOf(input.plan, deps.workerEnv);
      return onHost(
        input,
        'data-check',
        async (host) => {
          const actual = await fingerprints(
            host,
            input.plan.environment,
            secrets,
            fingerprintScheme(input.expected),
          );
          const mismatches = compareFingerprints(input.expected, actual);
          return { matched: mismatches.length === 0, tables: actual.length, mismatches };
        },
        {
          detail: (r) =>
            r.matched ? `${r.tables} tables match the backup` : `MISMATCH: ${r.mismatches.join('; ')}`,
        },
      );
    },

    /**
     * Remove the scratch stack: containers, networks, volumes, files. Safe to repeat; refuses
     * any project that is not a scratch project, so it can never take down a real environment.
     */
    async destroyScratchStack(input: HostStepInput): Promise<void> {
      const env = input.plan.environment;
      if (!env.project.includes(SCRATCH_INFIX)) {
        throw ApplicationFailure.nonRetryable(
          `refusing to destroy project "${env.project}": not a scratch project (no "${SCRATCH_INFIX}" in its name)`,
          'InvalidInput',
        );
      }
      const layout = remoteLayout(env, hostOf(input.plan, input.hostName));
      await onHost(input, 'teardown', async (host) => {
        const files = await host.run(missingStackFile(env, host.config), {
          timeoutMs: commandDeadlineMs('quick'),
          okCodes: [0, 1],
        });
        // Colours first: they are attached to the network the shared stack's teardown removes.
        for (const colour of env.traffic ? COLOURS : []) {
          const missing = await host.run(missingColourFile(env, host.config, colour), {
            timeoutMs: commandDeadlineMs('quick'),
            okCodes: [0, 1],
          });
          if (!missing.stdout.trim())
            await host.run(colourDown(env, host.config, colour), { timeoutMs: commandDeadlineMs('compose') });
        }
        // Without every file compose cannot run; without the env file nothing was ever started.
        if (!files.stdout.trim()) {
          await host.run(composeDestroy(env, host.config), {
            timeoutMs: commandDeadlineMs('transfer'),
            secrets: await secretsOf(input.plan, deps.workerEnv),
          });
        }
      });
      // After the audited step: its audit line lives in the folder removed here.
      await withHost(hostOf(input.plan, input.hostName), (host) =>
        host.run(removeDirectory(layout.appDir), { timeoutMs: commandDeadlineMs('query') }),
      ).catch((err: unknown) => {
        throw toApplicationFailure(err);
      });
    },

    /** Run the idempotent server-setup script on a new host; each step reports done or skipped. */
    async setupServer(input: HostStepInput): Promise<SetupStep[]> {
      const env = input.plan.environment;
      return onHost(
        input,
        'server-setup',
        async (host) => {
          // A release another operation recorded here means the server is in use: not brand-new.
          const recordedBy = (await readReleaseRecordOn(host, env))?.deploymentId;
          if (recordedBy && recordedBy !== input.plan.deploymentId) {
            throw ApplicationFailure.nonRetryable(
              `${host.config.name} already runs ${env.project} (release record written by ${recordedBy}); an emergency deploy only goes to a brand-new server`,
              'InvalidInput',
            );
          }
          return runServerSetup(host, env);
        },
        { detail: (steps) => steps.map((s) => `${s.step} ${s.result}`).join(', ') },
      );
    },

    async recordDrillReport(input: { report: DrillReport }): Promise<void> {
      const store = await inStore(async () => stores.named(input.report.environment));
      await inStore(() => store.writeDrillReport(input.report));
    },

    /** One page of the catalog (see catalogPage): large records never pass the payload limit. */
    async readCatalog(input: CatalogInput): Promise<CatalogResult> {
      const limit = Math.max(1, Math.min(input.limit, 1000));
      const offset = Math.max(0, input.offset ?? 0);
      const store = await inStore(async () => stores.named(input.environment));
      if (input.kind === 'backups') {
        const all = await inStore(() => store.listBackups(input.environment));
        const { items, nextOffset } = catalogPage(all, offset, limit);
        return { kind: 'backups', backups: items, ...(nextOffset !== undefined ? { nextOffset } : {}) };
      }
      const drills = await inStore(() => store.listDrills(input.environment));
      const { items, nextOffset } = catalogPage(drills, offset, limit);
      return { kind: 'drills', drills: items, ...(nextOffset !== undefined ? { nextOffset } : {}) };
    },
  };
}
