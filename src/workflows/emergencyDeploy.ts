import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DeployActivities } from '../activities';
import type { EmergencyDeployInput, EmergencyDeployReport } from '../shared/emergency';
import { activityPolicies } from './activityPolicies';
import { restoredRelease } from './restoredRelease';
import { compactStamp } from '../shared/stamps';
import { errorMessage, rootFailure, trackOperation } from './operationTracker';

const { loadEnvironmentConfig } = proxyActivities<DeployActivities>(activityPolicies.loadEnvironmentConfig);
const { checkEmergencyTarget } = proxyActivities<DeployActivities>(activityPolicies.checkEmergencyTarget);
const { pickBackup } = proxyActivities<DeployActivities>(activityPolicies.pickBackup);
const { planEmergency } = proxyActivities<DeployActivities>(activityPolicies.planEmergency);
const { setupServer } = proxyActivities<DeployActivities>(activityPolicies.setupServer);
const { uploadBackupToHost } = proxyActivities<DeployActivities>(activityPolicies.uploadBackupToHost);
const { restoreDatabase } = proxyActivities<DeployActivities>(activityPolicies.restoreDatabase);
const { checkRestoredData } = proxyActivities<DeployActivities>(activityPolicies.checkRestoredData);
const { waitForHealth } = proxyActivities<DeployActivities>(activityPolicies.waitForHealth);
const { recordRelease } = proxyActivities<DeployActivities>(activityPolicies.recordRelease);

/**
 * Bring the environment up on a brand-new server: set the server up (idempotent script), put
 * the last good release on it, restore the latest verified backup (the release recorded with
 * that backup, so code and schema match), start it, wait for health, record the release and
 * report the time of every step. Every step is safe to repeat: re-running after a failure
 * continues on the same host.
 */
export async function emergencyDeploy(input: EmergencyDeployInput): Promise<EmergencyDeployReport> {
  const { runId, startTime } = workflowInfo();
  // Names files on the host: not the workflow id, which may carry any characters.
  const operationId = `emergency-${input.environment}-${compactStamp(startTime)}-${runId.slice(0, 8)}`;
  const started = Date.now();
  const op = trackOperation(
    'emergency-deploy',
    input.environment,
    `emergency deploy onto ${input.host.name} (${input.host.address}), requested by ${input.requestedBy}`,
  );
  try {
    const environment = await op.step('config', () =>
      loadEnvironmentConfig({ environment: input.environment }),
    );
    await op.step('check-target', () => checkEmergencyTarget({ host: input.host }));
    const backup = await op.step(
      'pick-backup',
      () => pickBackup({ environment: environment.name, backupId: input.backupId }),
      (b) => `${b.id} (release ${b.release?.release ?? 'none'})`,
    );
    const plan = await op.step('plan', () =>
      planEmergency({
        environment,
        backup,
        host: input.host,
        operationId,
        requestedBy: input.requestedBy,
      }),
    );
    const onHost = { plan, hostName: input.host.name };
    const release = restoredRelease(onHost);
    const setup = await op.step(
      'server-setup',
      () => setupServer(onHost),
      (steps) => steps.map((s) => `${s.step} ${s.result}`).join(', '),
    );
    await op.step('upload', release.upload);
    await op.step('pull', release.pull);
    const onHostBackup = await op.step('upload-backup', () => uploadBackupToHost({ ...onHost, backup }));
    await op.step('restore', () => restoreDatabase({ ...onHost, backup: onHostBackup }));
    const dataCheck = await op.step('data-check', () =>
      checkRestoredData({ ...onHost, expected: backup.tables }),
    );
    if (!dataCheck.matched) {
      throw ApplicationFailure.nonRetryable(
        `restored data does not match backup ${backup.id}: ${dataCheck.mismatches.join('; ')}`,
        'DataMismatch',
      );
    }
    await op.step('start', release.start);
    await op.step('health', () =>
      waitForHealth({ environment: plan.environment, release: plan.request.release }),
    );
    await op.step('checks', release.checks);
    await op.step('record', () => recordRelease(onHost));
    op.finish('succeeded');
    return {
      id: operationId,
      environment: environment.name,
      host: input.host.name,
      release: plan.request.release,
      backupId: backup.id,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date().toISOString(),
      totalMs: Date.now() - started,
      setup,
      steps: op.state.steps,
      dataCheck,
    };
  } catch (err) {
    const message = errorMessage(err);
    op.finish('failed', message);
    throw ApplicationFailure.nonRetryable(
      `emergency deploy of ${input.environment} onto ${input.host.name} failed at ${op.state.stage}: ${message}`,
      rootFailure(err)?.type ?? 'EmergencyDeployFailed',
      op.state,
    );
  }
}
