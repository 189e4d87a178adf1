import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  sleep,
  startChild,
  type ChildWorkflowHandle,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { DeployActivities } from '../activities';
import type { DeployRequest } from '../config/request';
import type {
  AppliedMigration,
  BackupRecord,
  CheckResult,
  Decision,
  DeploymentStatus,
  DeployPlan,
  GateResult,
  MigrationReport,
} from '../shared/deployment';
import {
  abortSignal,
  approveSignal,
  deploymentStatusQuery,
  releaseLeaseSignal,
  SIGNAL_HELP,
  type DecisionInput,
} from '../shared/messages';
import { environmentLease } from './environmentLease';
import { DEPLOY_ENVIRONMENT, DEPLOY_RELEASE, DEPLOY_STAGE, DEPLOY_STATUS } from '../shared/searchAttributes';
import { activityPolicies } from './activityPolicies';
import { errorMessage, rootFailure, runStep } from './operationTracker';

const { resolvePlan } = proxyActivities<DeployActivities>(activityPolicies.resolvePlan);
const { uploadRelease } = proxyActivities<DeployActivities>(activityPolicies.uploadRelease);
const { pullImages } = proxyActivities<DeployActivities>(activityPolicies.pullImages);
const { startServices } = proxyActivities<DeployActivities>(activityPolicies.startServices);
const { waitForHealth } = proxyActivities<DeployActivities>(activityPolicies.waitForHealth);
const { recordRelease } = proxyActivities<DeployActivities>(activityPolicies.recordRelease);
const { stopRelease } = proxyActivities<DeployActivities>(activityPolicies.stopRelease);
const { runQualityGates } = proxyActivities<DeployActivities>(activityPolicies.runQualityGates);
const { postDeployChecks } = proxyActivities<DeployActivities>(activityPolicies.postDeployChecks);
const { backupDatabase } = proxyActivities<DeployActivities>(activityPolicies.backupDatabase);
const { runMigrations } = proxyActivities<DeployActivities>(activityPolicies.runMigrations);
const { restoreDatabase } = proxyActivities<DeployActivities>(activityPolicies.restoreDatabase);

/** Activity failure types the workflow's own failure keeps, so the client can tell them apart. */
const PASSED_THROUGH_FAILURES = [
  'InvalidInput',
  'ApprovalExpired',
  'EnvironmentBusy',
  'GateFailed',
  'MigrationFailed',
];

interface Compensation {
  description: string;
  run: () => Promise<void>;
}

/**
 * Deploy one release to one environment, as a saga: each step that changes a host pushes
 * how to undo it; any failure runs those undo steps in reverse, then fails with a summary.
 */
export async function deployEnvironment(request: DeployRequest): Promise<DeploymentStatus> {
  const { workflowId } = workflowInfo();
  const state: DeploymentStatus = {
    deploymentId: workflowId,
    environment: request.environment,
    release: request.release,
    requestedBy: request.requestedBy,
    stage: 'starting',
    outcome: 'running',
    steps: [],
    ignoredSignals: [],
  };
  setHandler(deploymentStatusQuery, () => state, {
    description: 'Steps, stage, approval and rollback of this deployment',
  });

  // Both handlers only record: a signal sent before the approval step is kept, never lost.
  let approval: Decision | undefined;
  const pipeline = new CancellationScope();
  setHandler(
    approveSignal,
    (input: DecisionInput) => {
      const decision = toDecision('approve', input);
      if (decision && !approval) approval = decision;
    },
    { description: SIGNAL_HELP.approve },
  );
  setHandler(
    abortSignal,
    (input: DecisionInput) => {
      const decision = toDecision('abort', input);
      if (!decision || state.abort || state.outcome !== 'running') return;
      state.abort = decision;
      pipeline.cancel();
    },
    { description: SIGNAL_HELP.abort },
  );

  function toDecision(signal: string, input: DecisionInput): Decision | undefined {
    const by = typeof input?.by === 'string' ? input.by.trim().slice(0, 64) : '';
    if (!by) {
      state.ignoredSignals.push(
        `${signal} at ${new Date().toISOString()}: argument must be {"by": "<who>", ...}`,
      );
      return undefined;
    }
    const comment = typeof input.comment === 'string' ? input.comment.slice(0, 500) : undefined;
    return { by, comment, at: new Date().toISOString() };
  }

  const show = () => {
    setCurrentDetails(
      [
        `**${state.environment}** ← release \`${state.release}\` by ${state.requestedBy}`,
        `stage: ${state.stage} (${state.outcome})`,
        ...state.steps.map(
          (s) => `- ${s.name}: ${s.status}${s.durationMs !== undefined ? ` (${s.durationMs} ms)` : ''}`,
        ),
      ].join('\n'),
    );
    upsertSearchAttributes([
      { key: DEPLOY_ENVIRONMENT, value: state.environment },
      { key: DEPLOY_RELEASE, value: state.release },
      { key: DEPLOY_STAGE, value: state.stage },
      { key: DEPLOY_STATUS, value: state.outcome },
    ]);
  };

  const step = <T>(name: string, fn: () => Promise<T>): Promise<T> =>
    runStep(state.steps, name, fn, {
      onStart: () => {
        state.stage = name;
        show();
      },
    });

  const compensations: Compensation[] = [];
  let plan: DeployPlan | undefined;
  let lease: ChildWorkflowHandle<typeof environmentLease> | undefined;
  try {
    await pipeline.run(async () => {
      plan = await step('validate', () => resolvePlan({ request, deploymentId: workflowId }));
      const p: DeployPlan = plan;
      // A rollback learns its release from the hosts' records.
      state.release = p.request.release;
      // Deployments that started before locks existed replay without one.
      if (patched('environment-lock')) await step('lock', () => acquireLease(p));
      await deploy(p);
    });
    state.stage = 'done';
    state.outcome = 'succeeded';
    await releaseLease();
    show();
    return state;
  } catch (err) {
    const failedStep = state.steps.find((s) => s.status === 'failed');
    const aborted = state.abort !== undefined && isCancellation(err);
    state.failure = {
      step: failedStep?.name ?? state.stage,
      message: aborted
        ? `aborted by ${state.abort!.by}${state.abort!.comment ? `: ${state.abort!.comment}` : ''}`
        : errorMessage(err),
    };
    const undo = await CancellationScope.nonCancellable(() => compensate(plan, compensations));
    await releaseLease();
    const stoppedByDecision = aborted || rootFailure(err)?.type === 'ApprovalExpired';
    if (undo === 'incomplete') state.outcome = 'failed';
    else if (stoppedByDecision) state.outcome = 'aborted';
    else state.outcome = undo === 'undone' ? 'rolled-back' : 'failed';
    show();
    const rollback = state.rollback;
    const summary =
      `deployment of ${state.release} to ${request.environment} ${aborted ? 'was aborted' : 'failed'} at "${state.failure.step}": ${state.failure.message}. ` +
      (rollback
        ? `Rolled back: ${rollback.actions.join('; ') || 'nothing to undo'}; environment ${rollback.healthy ? 'is healthy' : 'is NOT healthy'}` +
          (rollback.restoredRelease ? ` on release ${rollback.restoredRelease}.` : '.')
        : 'Nothing had been changed on any host.');
    throw ApplicationFailure.nonRetryable(summary, failureType(err, aborted), state);
  }

  /**
   * One deployment per environment: start the environment's lease child (fixed id). If it
   * already runs, another deployment holds it: fail now, or poll until the deadline.
   */
  async function acquireLease(p: DeployPlan): Promise<void> {
    const waitMs = (p.environment.deadlines.lockWaitSeconds ?? 1800) * 1000;
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        lease = await startChild(environmentLease, {
          workflowId: `lock-${p.environment.name}`,
          args: [
            {
              deploymentId: workflowId,
              release: state.release,
              requestedBy: request.requestedBy,
              since: new Date().toISOString(),
            },
          ],
          parentClosePolicy: ParentClosePolicy.TERMINATE,
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          staticSummary: `Lock of ${p.environment.name}, held by ${workflowId}`,
        });
        return;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        if (request.onBusy === 'fail' || Date.now() >= deadline) {
          throw ApplicationFailure.nonRetryable(
            `environment ${p.environment.name} is locked by another deployment (workflow lock-${p.environment.name} shows who)` +
              (request.onBusy === 'fail' ? '; --on-busy fail was given' : `; waited ${waitMs / 1000} s`),
            'EnvironmentBusy',
          );
        }
        state.stage = 'lock (waiting for another deployment)';
        show();
        await sleep(Math.min(5_000, Math.max(1, deadline - Date.now())));
      }
    }
  }

  async function releaseLease(): Promise<void> {
    if (!lease) return;
    const held = lease;
    lease = undefined;
    await CancellationScope.nonCancellable(() => held.signal(releaseLeaseSignal)).catch(() => undefined);
  }

  async function deploy(p: DeployPlan): Promise<void> {
    // A rollback returns to a release that passed its gates when it was deployed.
    if (p.environment.gates && !p.request.rollback) {
      await step('gates', async () => {
        try {
          state.gates = await runQualityGates({ plan: p });
        } catch (err) {
          const details = rootFailure(err)?.details?.[0];
          if (Array.isArray(details)) state.gates = details as GateResult[];
          throw err;
        }
      });
    }
    // Plans recorded before approvals existed have no approval key: they never needed one.
    if (p.environment.approval?.required) await awaitApproval(p.environment.approval.timeoutSeconds);
    for (const host of p.environment.hosts) {
      // Pushed before the upload: from then on the host's files name the new release.
      compensations.push(restoreHost(p, host.name));
      await step(`upload ${host.name}`, () => uploadRelease({ plan: p, hostName: host.name }));
      await step(`pull ${host.name}`, () => pullImages({ plan: p, hostName: host.name }));
    }
    // The database lives with the first host's stack. The backup comes after the pull (the
    // host has this release's compose files, and the window of writes a restore loses is
    // short) and before migrations, the first step that changes data.
    const dbHost = p.environment.hosts[0].name;
    const backup = p.environment.database
      ? await step('backup', () => backupDatabase({ plan: p, hostName: dbHost }))
      : undefined;
    if (backup) state.backup = backup;
    if (p.environment.migrations) await migrate(p, dbHost, backup);
    for (const host of p.environment.hosts) {
      await step(`start ${host.name}`, () => startServices({ plan: p, hostName: host.name }));
    }
    await step('health', () => waitForHealth({ environment: p.environment, release: p.request.release }));
    // Deployments that started before post-deploy checks existed replay without them.
    if (patched('post-deploy-checks')) {
      await step('checks', async () => {
        try {
          state.checks = await postDeployChecks({ plan: p });
        } catch (err) {
          const details = rootFailure(err)?.details?.[0];
          if (Array.isArray(details)) state.checks = details as CheckResult[];
          throw err;
        }
      });
    }
    for (const host of p.environment.hosts) {
      await step(`record ${host.name}`, () => recordRelease({ plan: p, hostName: host.name }));
    }
  }

  /**
   * Migrations run in a one-off container of the new image before it serves traffic. When one
   * that is not backward compatible ran (even if a later one failed), undoing the deployment
   * must also put the database back as this deployment's backup found it.
   */
  async function migrate(p: DeployPlan, dbHost: string, backup: BackupRecord | undefined): Promise<void> {
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

  /** Wait for `approve` (or `abort`, which cancels the pipeline) until the deadline. */
  async function awaitApproval(timeoutSeconds: number): Promise<void> {
    const deadline = new Date(Date.now() + timeoutSeconds * 1000).toISOString();
    state.approval = { state: 'waiting', deadline };
    try {
      await step('approval', async () => {
        const decided = await condition(() => approval !== undefined, timeoutSeconds * 1000);
        if (!decided) {
          state.approval!.state = 'expired';
          throw ApplicationFailure.nonRetryable(
            `no approval within ${timeoutSeconds} s (deadline ${deadline})`,
            'ApprovalExpired',
          );
        }
        state.approval = { state: 'approved', deadline, decision: approval };
      });
    } catch (err) {
      if (state.abort) state.approval = { state: 'aborted', deadline, decision: state.abort };
      throw err;
    }
  }

  function failureType(err: unknown, aborted: boolean): string {
    if (aborted) return 'DeploymentAborted';
    const type = rootFailure(err)?.type;
    if (type && PASSED_THROUGH_FAILURES.includes(type)) return type;
    return isCancellation(err) ? 'DeploymentCancelled' : 'DeploymentFailed';
  }

  function restoreHost(p: DeployPlan, hostName: string): Compensation {
    const previous = p.previous;
    if (!previous) {
      return {
        description: `stopped the new release on ${hostName} (no previous release to return to)`,
        run: () => stopRelease({ plan: p, hostName }),
      };
    }
    const back: DeployPlan = {
      ...p,
      images: previous.images,
      request: { ...p.request, release: previous.release, images: previous.images },
    };
    return {
      description: `restored release ${previous.release} on ${hostName}`,
      run: async () => {
        await uploadRelease({ plan: back, hostName });
        await startServices({ plan: back, hostName });
      },
    };
  }

  /** Run the undo steps in reverse; every one is tried even when an earlier one fails. */
  async function compensate(
    p: DeployPlan | undefined,
    stack: Compensation[],
  ): Promise<'nothing-to-undo' | 'undone' | 'incomplete'> {
    if (stack.length === 0 || !p) return 'nothing-to-undo';
    const actions: string[] = [];
    state.rollback = { healthy: false, actions };
    let complete = true;
    for (const c of [...stack].reverse()) {
      try {
        await step(`rollback: ${c.description}`, c.run);
        actions.push(c.description);
      } catch (err) {
        actions.push(`NOT done (${errorMessage(err)}): ${c.description}`);
        complete = false;
      }
    }
    // Health is only worth verifying when every undo step ran; otherwise the state is unknown.
    if (complete && p.previous) {
      const restored = p.previous.release;
      state.rollback.restoredRelease = restored;
      try {
        await step('rollback: health', () =>
          waitForHealth({ environment: p.environment, release: restored }),
        );
        state.rollback.healthy = true;
      } catch {
        complete = false;
      }
    }
    return complete ? 'undone' : 'incomplete';
  }
}
