import { ApplicationFailure } from '@temporalio/workflow';
import type { AppliedMigration, BackupRecord, DeployPlan, MigrationReport } from '../../shared/deployment';
import { rootFailure } from '../operationTracker';
import { backupDatabase, restoreDatabase, runMigrations } from './activities';
import type { CompensationStack } from './compensation';
import type { DeploymentTracker } from './tracker';

/**
 * The database steps of a deployment: a backup before anything changes data, then the
 * release's migrations in a one-off container of the new image.
 */
export async function backupAndMigrate(
  tracker: DeploymentTracker,
  compensations: CompensationStack,
  p: DeployPlan,
): Promise<void> {
  const { state, step } = tracker;
  // The database lives with the first host's stack. The backup comes after the pull (the
  // host has this release's compose files, and the window of writes a restore loses is
  // short) and before migrations, the first step that changes data.
  const dbHost = p.environment.hosts[0].name;
  const backup = p.environment.database
    ? await step('backup', () => backupDatabase({ plan: p, hostName: dbHost }))
    : undefined;
  if (backup) state.backup = backup;
  if (p.environment.migrations) await migrate(tracker, compensations, p, dbHost, backup);
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
): Promise<void> {
  const { state, step } = tracker;
  const applied: AppliedMigration[] = [];
  const needsRestore = () => applied.some((m) => !m.backwardCompatible);
  try {
    await step('migrate', async () => {
      try {
        const report = await runMigrations({ plan: p, hostName: dbHost });
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
