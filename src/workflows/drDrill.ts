import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  patched,
  proxyActivities,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { DeployActivities } from '../activities';
import type { StoredBackup } from '../shared/backups';
import type { DrillInput, DrillReport } from '../shared/drills';
import type { BackupRecord, DeployPlan } from '../shared/deployment';
import { allEnded } from '../shared/promises';
import { activityPolicies } from './activityPolicies';
import { restoredRelease } from './restoredRelease';
import { compactStamp } from '../shared/stamps';
import { errorMessage, rootFailure, trackOperation } from './operationTracker';
import { createNotifier } from './notifier';

const { loadEnvironmentConfig } = proxyActivities<DeployActivities>(
  drillPolicy(activityPolicies.loadEnvironmentConfig),
);
const { pickBackup } = proxyActivities<DeployActivities>(drillPolicy(activityPolicies.pickBackup));
const { planScratchStack } = proxyActivities<DeployActivities>(
  drillPolicy(activityPolicies.planScratchStack),
);
const { uploadBackupToHost } = proxyActivities<DeployActivities>(
  drillPolicy(activityPolicies.uploadBackupToHost),
);
const { restoreDatabase } = proxyActivities<DeployActivities>(drillPolicy(activityPolicies.restoreDatabase));
const { startDatabase } = proxyActivities<DeployActivities>(drillPolicy(activityPolicies.startDatabase));

/**
 * The backup's copy to the drill host runs beside the pull and the scratch database's start;
 * drills that began before this replay one step after another.
 */
export const DRILL_DATABASE_BESIDE_COPY = 'drill-database-beside-copy';
const { checkRestoredData } = proxyActivities<DeployActivities>(
  drillPolicy(activityPolicies.checkRestoredData),
);
const { waitForHealth } = proxyActivities<DeployActivities>(drillPolicy(activityPolicies.waitForHealth));
const { destroyScratchStack } = proxyActivities<DeployActivities>(
  drillPolicy(activityPolicies.destroyScratchStack),
);
const { recordDrillReport } = proxyActivities<DeployActivities>(
  drillPolicy(activityPolicies.recordDrillReport),
);

/**
 * A cancelled drill waits for each running step to finish cancelling before the teardown, so
 * the teardown never races a `compose up` still starting scratch containers.
 */
function drillPolicy(policy: ActivityOptions): ActivityOptions {
  return { ...policy, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
}

/** Types that end a drill before it ran: nothing to report in the drill history. */
const NOT_A_DRILL = ['InvalidInput', 'NotConfigured'];

/**
 * A disaster-recovery drill: restore the latest verified backup into a scratch stack (own
 * compose project and ports on the drill host), start the release that was live at backup
 * time against it, check the data against the fingerprints taken at backup time, smoke-test
 * it, measure RPO (age of the backup) and RTO (restore start to the app answering), tear the
 * stack down whatever happened, keep the report, and fail loudly when anything missed.
 */
export async function drDrill(input: DrillInput): Promise<DrillReport> {
  const { runId, startTime } = workflowInfo();
  // Not the workflow id: a schedule appends an RFC 3339 time to it, and this id names files.
  const drillId = `drill-${input.environment}-${compactStamp(startTime)}-${runId.slice(0, 8)}`;
  const op = trackOperation('drill', input.environment, `restore drill (requested by ${input.requestedBy})`);
  const environment = await op
    .step('config', () => loadEnvironmentConfig({ environment: input.environment }))
    .catch((err: unknown) => {
      op.finish('failed', errorMessage(err));
      throw ApplicationFailure.nonRetryable(
        errorMessage(err),
        rootFailure(err)?.type ?? 'InvalidInput',
        op.state,
      );
    });
  if (!environment.drills) {
    const message = `environment "${environment.name}" has no drills section`;
    op.finish('failed', message);
    throw ApplicationFailure.nonRetryable(message, 'NotConfigured', op.state);
  }
  const report: DrillReport = {
    id: drillId,
    environment: environment.name,
    requestedBy: input.requestedBy,
    startedAt: new Date().toISOString(),
    finishedAt: '',
    passed: false,
    failures: [],
    targets: { ...environment.drills.targets, ...input.targets },
    steps: op.state.steps,
    teardown: 'not-needed',
    backupId: input.backupId,
  };

  let plan: DeployPlan | undefined;
  let stackCreated = false;
  let fatalType: string | undefined;
  try {
    const backup: StoredBackup = await op.step(
      'pick-backup',
      () => pickBackup({ environment: environment.name, backupId: input.backupId }),
      (b) => `${b.id} taken ${b.createdAt}, sha256 re-checked`,
    );
    report.backupId = backup.id;
    report.release = backup.release?.release;
    report.rpoSeconds = Math.max(0, Math.round((Date.now() - Date.parse(backup.createdAt)) / 1000));
    const p = await op.step('plan', () =>
      planScratchStack({
        environment,
        backup,
        drillId,
        suffix: runId.replace(/-/g, '').slice(0, 8).toLowerCase(),
        requestedBy: input.requestedBy,
      }),
    );
    plan = p;
    const host = p.environment.hosts[0];
    report.drillHost = host.name;
    report.scratchProject = p.environment.project;
    const onHost = { plan: p, hostName: host.name };
    const release = restoredRelease(onHost, drillPolicy);

    // RTO: everything a real recovery would do, from the first file on the host to the app answering.
    const restoreStarted = Date.now();
    stackCreated = true;
    await op.step('upload', release.upload);
    let onHostBackup: BackupRecord;
    if (patched(DRILL_DATABASE_BESIDE_COPY)) {
      // The copy needs no image; the database needs its image, then starts beside the copy.
      const copied = op.step('upload-backup', () => uploadBackupToHost({ ...onHost, backup }));
      const databaseUp = (async () => {
        await op.step('pull', release.pull);
        await op.step('database', () => startDatabase(onHost));
      })();
      await allEnded<unknown>([copied, databaseUp]);
      onHostBackup = await copied;
    } else {
      await op.step('pull', release.pull);
      onHostBackup = await op.step('upload-backup', () => uploadBackupToHost({ ...onHost, backup }));
    }
    await op.step('restore', () => restoreDatabase({ ...onHost, backup: onHostBackup }));
    report.dataCheck = await op.step(
      'data-check',
      () => checkRestoredData({ ...onHost, expected: backup.tables }),
      (r) => (r.matched ? `${r.tables} tables match` : `MISMATCH ${r.mismatches.join('; ')}`),
    );
    await op.step('start', release.start);
    await op.step('health', () => waitForHealth({ environment: p.environment, release: p.request.release }));
    report.rtoSeconds = Math.round((Date.now() - restoreStarted) / 100) / 10;
    await op.step('smoke', release.checks);
  } catch (err) {
    // Steps run side by side: the failed one names the failure, not the one started last.
    const failed = op.state.steps.filter((s) => s.status === 'failed').map((s) => s.name);
    report.failures.push(`${failed.length ? failed.join(', ') : op.state.stage}: ${errorMessage(err)}`);
    fatalType = rootFailure(err)?.type ?? undefined;
  } finally {
    if (plan && stackCreated) {
      const p = plan;
      await CancellationScope.nonCancellable(async () => {
        try {
          await op.step('teardown', () =>
            destroyScratchStack({ plan: p, hostName: p.environment.hosts[0].name }),
          );
          report.teardown = 'done';
        } catch (err) {
          report.teardown = 'failed';
          report.failures.push(
            `teardown: ${errorMessage(err)} (scratch project ${p.environment.project} may still run)`,
          );
        }
      });
    }
  }

  if (report.dataCheck && !report.dataCheck.matched)
    report.failures.push(`data check: ${report.dataCheck.mismatches.join('; ')}`);
  if (report.rpoSeconds !== undefined && report.rpoSeconds > report.targets.rpoSeconds)
    report.failures.push(
      `RPO ${report.rpoSeconds} s exceeds the target of ${report.targets.rpoSeconds} s (the newest verified backup is too old)`,
    );
  if (report.rtoSeconds !== undefined && report.rtoSeconds > report.targets.rtoSeconds)
    report.failures.push(`RTO ${report.rtoSeconds} s exceeds the target of ${report.targets.rtoSeconds} s`);
  report.passed = report.failures.length === 0;
  report.finishedAt = new Date().toISOString();
  await CancellationScope.nonCancellable(async () => {
    if (!NOT_A_DRILL.includes(fatalType ?? '')) await recordDrillReport({ report });
  });
  const notifier = createNotifier(environment.name);
  notifier.use(environment.notifications);
  notifier.send({
    event: 'drill-result',
    summary: `restore drill ${report.passed ? 'passed' : 'FAILED'}: RPO ${report.rpoSeconds ?? '?'} s, RTO ${report.rtoSeconds ?? '?'} s (targets ${report.targets.rpoSeconds} s, ${report.targets.rtoSeconds} s)`,
    by: input.requestedBy,
    outcome: report.passed ? 'passed' : 'failed',
    ...(report.failures.length ? { detail: report.failures.join('; ') } : {}),
  });
  await notifier.handedOver();
  if (!report.passed) {
    op.finish('failed', report.failures[0]);
    throw ApplicationFailure.nonRetryable(
      `drill of ${environment.name} FAILED: ${report.failures.join('; ')}`,
      'DrillFailed',
      report,
    );
  }
  op.finish('succeeded');
  return report;
}
