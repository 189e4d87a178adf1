import { ApplicationFailure } from '@temporalio/workflow';
import type { MigrationPhase } from '../../config/schema';
import type {
  AppliedMigration,
  BackupRecord,
  DeployPlan,
  MigrationReport,
  PendingMigration,
} from '../../shared/deployment';
import { rootFailure } from '../operationTracker';
import { backupDatabase, listPendingMigrations, restoreDatabase, runMigrations } from './activities';
import type { CompensationStack } from './compensation';
import type { DeploymentTracker } from './tracker';
import { rolloutWaves } from './waves';

export const INCOMPATIBLE_MIGRATION = 'IncompatibleMigration';

/**
 * Blue-green, canary and a rolling release keep the old release serving while migrations run:
 * expand/contract.
 */
export function usesMigrationPhases(p: DeployPlan): boolean {
  if (!p.environment.migrations?.phases) return false;
  return (!!p.environment.traffic && p.strategy !== 'recreate') || rollingRelease(p);
}

/** A release in more than one wave: hosts of later waves serve the old release meanwhile. */
function rollingRelease(p: DeployPlan): boolean {
  return !p.environment.traffic && (rolloutWaves(p.environment)?.length ?? 0) > 1;
}

/**
 * The database steps of a deployment: a backup before anything changes data, then the
 * release's migrations in a one-off container of the new image. With colours, only the
 * expand migrations run here (after a check that every pending one is expand or contract);
 * the contract ones are returned, to run once no old code serves.
 */
export async function backupAndMigrate(
  tracker: DeploymentTracker,
  compensations: CompensationStack,
  p: DeployPlan,
  pulls?: { databaseHost?: Promise<unknown>; all?: Promise<unknown> },
): Promise<{ contractPending: PendingMigration[] }> {
  try {
    // The database host has the new images before anything reads the database: the writes a
    // restore would lose stay those of the backup's own seconds.
    await pulls?.databaseHost;
    return await databaseSteps(tracker, compensations, p);
  } catch (err) {
    // Undoing starts once every pull has ended: nothing still runs on a host being restored.
    await pulls?.all?.catch(() => undefined);
    throw err;
  }
}

async function databaseSteps(
  tracker: DeploymentTracker,
  compensations: CompensationStack,
  p: DeployPlan,
): Promise<{ contractPending: PendingMigration[] }> {
  const { state, step } = tracker;
  // The database lives with the first host's stack. The backup comes after the pull (the
  // host has this release's compose files, and the window of writes a restore loses is
  // short) and before migrations, the first step that changes data.
  const dbHost = p.environment.hosts[0].name;
  const phased = usesMigrationPhases(p);
  let pending: PendingMigration[] = [];
  if (phased) {
    pending = await step('pending migrations', () => listPendingMigrations({ plan: p, hostName: dbHost }));
    state.pendingMigrations = pending;
    refuseIncompatible(p, pending);
  }
  const backup = p.environment.database
    ? await step('backup', () => backupDatabase({ plan: p, hostName: dbHost }))
    : undefined;
  if (backup) state.backup = backup;
  if (p.environment.migrations) {
    const expand = pending.some((m) => m.phase === 'expand');
    if (!phased || expand)
      await migrate(tracker, compensations, p, dbHost, backup, phased ? 'expand' : undefined);
  }
  return { contractPending: pending.filter((m) => m.phase === 'contract') };
}

/** Before anything changed: a pending migration that is neither expand nor contract stops the deployment. */
function refuseIncompatible(p: DeployPlan, pending: PendingMigration[]): void {
  const incompatible = pending.filter((m) => m.phase !== 'expand' && m.phase !== 'contract');
  if (!incompatible.length) return;
  const listed = incompatible.map((m) => `${m.id} (phase "${m.phase}")`).join(', ');
  const neither = `migrations: ${listed} ${incompatible.length === 1 ? 'is' : 'are'} neither expand nor contract`;
  throw ApplicationFailure.nonRetryable(
    rollingRelease(p)
      ? `${neither}; a rolling release keeps the hosts of later waves on the old release while migrations run, so only expand ones may run before the first wave. Deploy this release without the environment's rollout section, or split the migration into expand and contract`
      : `${neither}; ${p.strategy} keeps the old release serving while migrations run, so only expand ones may run before traffic moves. Deploy this release with --strategy recreate, or split the migration into expand and contract`,
    INCOMPATIBLE_MIGRATION,
  );
}

/**
 * Migrations run before the new release serves traffic. When one that is not backward
 * compatible ran (even if a later one failed), undoing the deployment must also put the
 * database back as this deployment's backup found it.
 */
async function migrate(
  tracker: DeploymentTracker,
  compensations: CompensationStack,
  p: DeployPlan,
  dbHost: string,
  backup: BackupRecord | undefined,
  phase?: MigrationPhase,
): Promise<void> {
  const { state, step } = tracker;
  const applied: AppliedMigration[] = [];
  const needsRestore = () => applied.some((m) => !m.backwardCompatible);
  try {
    await step(phase ? `migrate (${phase})` : 'migrate', async () => {
      try {
        const report = await runMigrations({
          plan: p,
          hostName: dbHost,
          ...(phase ? { phase } : {}),
          // A dump made just now read the database; a reused one (a retry) did not.
          ...(backup && !backup.reused ? { databaseAnswered: true } : {}),
        });
        applied.push(...report.applied);
      } catch (err) {
        const details = rootFailure(err)?.details?.[0] as Partial<MigrationReport> | undefined;
        applied.push(...(details?.applied ?? []));
        throw err;
      }
    });
  } finally {
    state.migrations = applied;
    if (needsRestore()) {
      if (!backup) {
        compensations.push({
          description: `could not restore the database on ${dbHost}: no backup was taken`,
          run: async () => {
            throw ApplicationFailure.nonRetryable('no backup to restore from', 'NoBackup');
          },
        });
      } else {
        compensations.push({
          description: `restored the database on ${dbHost} from ${backup.path}`,
          run: () => restoreDatabase({ plan: p, hostName: dbHost, backup }),
        });
      }
    }
  }
}

/** The contract migrations, once no old code serves (after the last wave, or a first colour release). */
export async function migrateContract(tracker: DeploymentTracker, p: DeployPlan): Promise<void> {
  const { state, step } = tracker;
  const report = await step('migrate (contract)', () =>
    runMigrations({ plan: p, hostName: p.environment.hosts[0].name, phase: 'contract' }),
  );
  state.migrations = [...(state.migrations ?? []), ...report.applied];
}
