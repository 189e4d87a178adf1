import { ApplicationFailure, CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DeployActivities } from '../activities';
import type { HostDump } from '../activities/backups';
import type { EnvironmentConfig } from '../config/schema';
import type { BackupInput, BackupReport } from '../shared/backups';
import { activityPolicies } from './activityPolicies';
import { compactStamp } from '../shared/stamps';
import { errorMessage, rootFailure, trackOperation } from './operationTracker';
import { createNotifier } from './notifier';

const { loadEnvironmentConfig } = proxyActivities<DeployActivities>(activityPolicies.loadEnvironmentConfig);
const { dumpDatabase } = proxyActivities<DeployActivities>(activityPolicies.dumpDatabase);
const { copyBackupToStore } = proxyActivities<DeployActivities>(activityPolicies.copyBackupToStore);
const { verifyStoredBackup } = proxyActivities<DeployActivities>(activityPolicies.verifyStoredBackup);
const { removeHostDump } = proxyActivities<DeployActivities>(activityPolicies.removeHostDump);
const { discardBackup } = proxyActivities<DeployActivities>(activityPolicies.discardBackup);
const { applyRetention } = proxyActivities<DeployActivities>(activityPolicies.applyRetention);

/**
 * A verified backup: dump on the database host, copy into the worker's store, verify the copy
 * (checksum, pg_restore --list), record it, then apply retention. The record is written by
 * the verify step alone, so a backup that failed or was interrupted is never listed as good;
 * a failure removes whatever this run left behind.
 */
export async function backupEnvironment(input: BackupInput): Promise<BackupReport> {
  const { runId, startTime } = workflowInfo();
  const backupId = `${input.environment}-${compactStamp(startTime)}-${runId.slice(0, 8)}`;
  const op = trackOperation(
    'backup',
    input.environment,
    `backup ${backupId} (requested by ${input.requestedBy})`,
  );
  let dump: { environment: EnvironmentConfig; dump: HostDump } | undefined;
  let config: EnvironmentConfig | undefined;
  try {
    const environment = await op.step('config', () =>
      loadEnvironmentConfig({ environment: input.environment }),
    );
    config = environment;
    if (!environment.database) {
      throw ApplicationFailure.nonRetryable(
        `environment "${environment.name}" has no database section: nothing to back up`,
        'NotConfigured',
      );
    }
    const args = { environment, backupId, requestedBy: input.requestedBy };
    const d = await op.step(
      'dump',
      () => dumpDatabase(args),
      (r) => `${r.sizeBytes} bytes on ${r.host}, ${r.tables.length} tables`,
    );
    dump = { environment, dump: d };
    const copy = await op.step(
      'copy',
      () => copyBackupToStore({ ...args, dump: d }),
      (c) => c.location,
    );
    const backup = await op.step(
      'verify',
      () => verifyStoredBackup({ environment, backupId, dump: d, copyMs: copy.durationMs }),
      (b) => `sha256 ${b.sha256}, ${b.verification.pgRestoreListEntries} entries`,
    );
    // The backup is good from here: a host that cannot be reached keeps its dump, and the backup stands.
    await op.step('cleanup', () => removeHostDump({ ...args, dump: d })).catch(() => undefined);
    const retention = await op.step(
      'retention',
      () => applyRetention({ environment }),
      (r) => `kept ${r.kept.length}, deleted ${r.deleted.length}`,
    );
    op.finish('succeeded');
    return { backup, retention };
  } catch (err) {
    const message = errorMessage(err);
    const leftover = dump;
    await CancellationScope.nonCancellable(async () => {
      // Best effort too: a store host that cannot be reached must not hide why the backup failed,
      // nor keep the host's dump below from being removed. The store is the one the copy used.
      await discardBackup({
        environment: input.environment,
        backupId,
        ...(config ? { config } : {}),
      }).catch(() => undefined);
      // Best effort: a host that cannot be reached keeps its dump, which the next run does not reuse.
      if (leftover) {
        await removeHostDump({
          environment: leftover.environment,
          backupId,
          requestedBy: input.requestedBy,
          dump: leftover.dump,
        }).catch(() => undefined);
      }
    });
    op.finish('failed', message);
    // Only a backup whose config was read knows its webhooks.
    const notifier = createNotifier(input.environment);
    notifier.use(config?.notifications);
    notifier.send({
      event: 'backup-failed',
      summary: `backup ${backupId} failed at "${op.state.stage}" (requested by ${input.requestedBy})`,
      by: input.requestedBy,
      outcome: 'failed',
      detail: message,
    });
    await notifier.handedOver();
    throw ApplicationFailure.nonRetryable(
      `backup of ${input.environment} failed: ${message}`,
      rootFailure(err)?.type ?? 'BackupFailed',
      op.state,
    );
  }
}
