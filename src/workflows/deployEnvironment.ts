import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  workflowInfo,
} from '@temporalio/workflow';
import type { DeployRequest } from '../config/request';
import type { DeploymentStatus, DeployPlan } from '../shared/deployment';
import { errorMessage, rootFailure } from './operationTracker';
import { recordRelease, resolvePlan } from './deploy/activities';
import { acceptDecisions } from './deploy/approval';
import { CompensationStack } from './deploy/compensation';
import { backupAndMigrate } from './deploy/database';
import { EnvironmentLock } from './deploy/lease';
import { colourStrategy } from './deploy/colours';
import { recreateStrategy, UPLOADS_AND_RECORDS_AT_ONCE } from './deploy/recreate';
import { allEnded } from '../shared/promises';
import { trackDeployment, type DeploymentTracker } from './deploy/tracker';
import { runGates } from './deploy/verification';
import { countDeployment } from './stepReports';
import { auditDecisionOnHosts } from './deploy/decisionAudit';

/** Activity failure types the workflow's own failure keeps, so the client can tell them apart. */
const PASSED_THROUGH_FAILURES = [
  'InvalidInput',
  'ApprovalExpired',
  'EnvironmentBusy',
  'GateFailed',
  'MigrationFailed',
  'ColoursDisagree',
  'CanaryFailed',
  'IncompatibleMigration',
  'DiskBelowFloor',
  'DeployWindowClosed',
  'BackupDiskFull',
];

/**
 * Deploy one release to one environment, as a saga: validate, lock, gates, approval, files
 * and images, backup and migrations, the release itself, record. Each step that changes a
 * host pushes how to undo it; any failure runs those undo steps in reverse, then fails with
 * a summary.
 */
export async function deployEnvironment(request: DeployRequest): Promise<DeploymentStatus> {
  const { workflowId } = workflowInfo();
  const tracker = trackDeployment(request);
  const { state, step, show } = tracker;
  const pipeline = new CancellationScope();
  // Declared before the handlers: a signal sent with the start runs as soon as its handler is set.
  let plan: DeployPlan | undefined;
  const decisions = acceptDecisions(tracker, pipeline, () => plan);
  const lock = new EnvironmentLock({
    release: () => state.release,
    waiting: () => {
      state.stage = 'lock (waiting for another deployment)';
      show();
    },
  });
  const compensations = new CompensationStack(tracker);

  try {
    await pipeline.run(async () => {
      const p = await step('validate', () => resolvePlan({ request, deploymentId: workflowId }));
      plan = p;
      // A rollback learns its release from the hosts' records.
      state.release = p.request.release;
      if (p.report) state.report = { ...p.report };
      announceStart(tracker, p);
      // Deployments that started before locks existed replay without one.
      if (patched('environment-lock')) await step('lock', () => lock.acquire(p));
      // A rollback returns to a release that passed its gates when it was deployed.
      if (p.environment.gates && !p.request.rollback) await runGates(tracker, p);
      // Plans recorded before approvals existed have no approval key: they never needed one.
      if (p.environment.approval?.required)
        await decisions.awaitApproval(p.environment.approval.timeoutSeconds);
      // Plans from before colours have no traffic section: they always recreate.
      const release = p.environment.traffic
        ? colourStrategy(tracker, compensations)
        : recreateStrategy(tracker, compensations);
      const prepared = await release.prepare(p);
      // A switch-back to a colour that still runs its release changes no code and no data.
      const pulls = prepared
        ? { databaseHost: prepared.databaseHostPulled, all: prepared.pulled }
        : undefined;
      const migrated = prepared?.reused
        ? undefined
        : await backupAndMigrate(tracker, compensations, p, pulls);
      await pulls?.all;
      await release.release(p);
      const record = (hostName: string) =>
        step(`record ${hostName}`, () => recordRelease({ plan: p, hostName }));
      // Deployments that started before the hosts recorded at once replay one host at a time.
      if (patched(UPLOADS_AND_RECORDS_AT_ONCE))
        await allEnded(p.environment.hosts.map((h) => record(h.name)));
      else for (const host of p.environment.hosts) await record(host.name);
      await release.finish?.(p, migrated?.contractPending ?? []);
    });
    state.stage = 'done';
    state.outcome = 'succeeded';
    await lock.release();
    show();
    countDeployment(state.environment, state.outcome);
    tracker.notifier.send({
      event: 'succeeded',
      summary: `${state.release} is live (deployed by ${state.requestedBy})`,
      release: state.release,
      by: state.requestedBy,
      outcome: state.outcome,
    });
    await tracker.notifier.handedOver();
    return state;
  } catch (err) {
    const aborted = state.abort !== undefined && isCancellation(err);
    const failedStep = state.steps.find((s) => s.status === 'failed');
    state.failure = {
      step: failedStep?.name ?? state.stage,
      message: aborted
        ? `aborted by ${state.abort!.by}${state.abort!.comment ? `: ${state.abort!.comment}` : ''}`
        : errorMessage(err),
    };
    if (aborted && plan) await auditAbort(plan, state);
    const undo = await CancellationScope.nonCancellable(() => compensations.unwind(plan));
    // A report counts a failed change only when it had changed a host (never a refusal or a failed gate).
    if (state.report) state.report.changedHosts = undo !== 'nothing-to-undo';
    await lock.release();
    const stoppedByDecision = aborted || rootFailure(err)?.type === 'ApprovalExpired';
    if (undo === 'incomplete') state.outcome = 'failed';
    else if (stoppedByDecision) state.outcome = 'aborted';
    else state.outcome = undo === 'undone' ? 'rolled-back' : 'failed';
    show();
    countDeployment(state.environment, state.outcome);
    const summary = failureSummary(state, aborted);
    announceEnd(tracker, summary);
    await tracker.notifier.handedOver();
    throw ApplicationFailure.nonRetryable(summary, failureType(err, aborted), state);
  }
}

/** Webhooks hear of the start, and of a closed deploy window this deployment overrode. */
function announceStart(tracker: DeploymentTracker, p: DeployPlan): void {
  const { notifier, state } = tracker;
  notifier.use(p.environment.notifications);
  const by = state.requestedBy;
  notifier.send({
    event: 'started',
    summary: p.request.rollback
      ? `rollback to ${state.release} started by ${by}`
      : `deployment of ${state.release} started by ${by}`,
    release: state.release,
    by,
  });
  if (p.windowOverridden && p.request.overrideFreeze)
    notifier.send({
      event: 'freeze-overridden',
      summary: `${by} deploys ${state.release} although ${p.windowOverridden}`,
      release: state.release,
      by,
      detail: p.request.overrideFreeze.reason,
    });
}

/** How a deployment that did not succeed ended, told as the one event that fits its outcome. */
function announceEnd(tracker: DeploymentTracker, summary: string): void {
  const { state } = tracker;
  const event =
    state.outcome === 'aborted' ? 'aborted' : state.outcome === 'rolled-back' ? 'rolled-back' : 'failed';
  tracker.notifier.send({
    event,
    summary,
    release: state.release,
    by: state.abort?.by ?? state.requestedBy,
    outcome: state.outcome,
    ...(state.abort?.comment ? { detail: state.abort.comment } : {}),
  });
}

/** One sentence an operator or CI log can act on: what failed, what was undone, is it healthy. */
/**
 * The abort in every host's audit log, before the undo steps' own lines. A host that cannot be
 * written to does not stop the undo: the failure's message says the abort is not in its log.
 */
async function auditAbort(p: DeployPlan, state: DeploymentStatus): Promise<void> {
  const record = { kind: 'aborted' as const, decision: state.abort!, step: state.failure!.step };
  try {
    await CancellationScope.nonCancellable(() => auditDecisionOnHosts(p, record));
  } catch (err) {
    state.failure!.message += `; the abort is missing from a host's audit log: ${errorMessage(err)}`;
  }
}

function failureSummary(state: DeploymentStatus, aborted: boolean): string {
  const { rollback, failure } = state;
  return (
    `deployment of ${state.release} to ${state.environment} ${aborted ? 'was aborted' : 'failed'} at "${failure!.step}": ${failure!.message}. ` +
    (rollback
      ? `Rolled back: ${rollback.actions.join('; ') || 'nothing to undo'}; environment ${rollback.healthy ? 'is healthy' : 'is NOT healthy'}` +
        (rollback.restoredRelease ? ` on release ${rollback.restoredRelease}.` : '.')
      : 'Nothing had been changed on any host.')
  );
}

function failureType(err: unknown, aborted: boolean): string {
  if (aborted) return 'DeploymentAborted';
  const type = rootFailure(err)?.type;
  if (type && PASSED_THROUGH_FAILURES.includes(type)) return type;
  return isCancellation(err) ? 'DeploymentCancelled' : 'DeploymentFailed';
}
