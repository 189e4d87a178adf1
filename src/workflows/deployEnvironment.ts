import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { DeployActivities } from '../activities';
import type { DeployRequest } from '../config/request';
import type { DeploymentStatus, DeployPlan, StepState } from '../shared/deployment';
import { deploymentStatusQuery } from '../shared/messages';
import { DEPLOY_ENVIRONMENT, DEPLOY_RELEASE, DEPLOY_STAGE, DEPLOY_STATUS } from '../shared/searchAttributes';
import { activityPolicies } from './activityPolicies';

const { resolvePlan } = proxyActivities<DeployActivities>(activityPolicies.resolvePlan);
const { uploadRelease } = proxyActivities<DeployActivities>(activityPolicies.uploadRelease);
const { pullImages } = proxyActivities<DeployActivities>(activityPolicies.pullImages);
const { startServices } = proxyActivities<DeployActivities>(activityPolicies.startServices);
const { waitForHealth } = proxyActivities<DeployActivities>(activityPolicies.waitForHealth);
const { recordRelease } = proxyActivities<DeployActivities>(activityPolicies.recordRelease);
const { stopRelease } = proxyActivities<DeployActivities>(activityPolicies.stopRelease);

interface Compensation {
  description: string;
  run: () => Promise<void>;
}

/** The ApplicationFailure an activity raised, unwrapped from the ActivityFailure around it. */
function rootFailure(err: unknown): ApplicationFailure | undefined {
  if (err instanceof ApplicationFailure) return err;
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

function errorMessage(err: unknown): string {
  const cause = rootFailure(err) ?? (err as { cause?: unknown }).cause;
  if (cause instanceof Error) return cause.message;
  return err instanceof Error ? err.message : String(err);
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
  };
  setHandler(deploymentStatusQuery, () => state);

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

  async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const s: StepState = { name, status: 'running', startedAt: new Date().toISOString() };
    state.steps.push(s);
    state.stage = name;
    show();
    try {
      const result = await fn();
      s.status = 'succeeded';
      return result;
    } catch (err) {
      s.status = 'failed';
      s.detail = errorMessage(err);
      throw err;
    } finally {
      s.endedAt = new Date().toISOString();
      s.durationMs = Date.parse(s.endedAt) - Date.parse(s.startedAt);
    }
  }

  const compensations: Compensation[] = [];
  let plan: DeployPlan | undefined;
  try {
    plan = await step('validate', () => resolvePlan({ request, deploymentId: workflowId }));
    const p = plan;
    for (const host of p.environment.hosts) {
      await step(`upload ${host.name}`, () => uploadRelease({ plan: p, hostName: host.name }));
      await step(`pull ${host.name}`, () => pullImages({ plan: p, hostName: host.name }));
      // Pushed before starting: a start that fails half-way has already changed the host.
      compensations.push(restoreHost(p, host.name));
      await step(`start ${host.name}`, () => startServices({ plan: p, hostName: host.name }));
    }
    await step('health', () => waitForHealth({ environment: p.environment, release: p.request.release }));
    for (const host of p.environment.hosts) {
      await step(`record ${host.name}`, () => recordRelease({ plan: p, hostName: host.name }));
    }
    state.stage = 'done';
    state.outcome = 'succeeded';
    show();
    return state;
  } catch (err) {
    const failedStep = state.steps.find((s) => s.status === 'failed');
    state.failure = { step: failedStep?.name ?? state.stage, message: errorMessage(err) };
    await CancellationScope.nonCancellable(() => compensate(plan, compensations));
    show();
    const rollback = state.rollback;
    const summary =
      `deployment of ${request.release} to ${request.environment} failed at "${state.failure.step}": ${state.failure.message}. ` +
      (rollback
        ? `Rolled back: ${rollback.actions.join('; ') || 'nothing to undo'}; environment ${rollback.healthy ? 'is healthy' : 'is NOT healthy'}` +
          (rollback.restoredRelease ? ` on release ${rollback.restoredRelease}.` : '.')
        : 'Nothing had been changed on any host.');
    const type =
      rootFailure(err)?.type === 'InvalidInput'
        ? 'InvalidInput'
        : isCancellation(err)
          ? 'DeploymentCancelled'
          : 'DeploymentFailed';
    throw ApplicationFailure.nonRetryable(summary, type, state);
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

  async function compensate(p: DeployPlan | undefined, stack: Compensation[]): Promise<void> {
    if (stack.length === 0 || !p) {
      state.outcome = 'failed';
      return;
    }
    const actions: string[] = [];
    state.rollback = { healthy: false, actions };
    state.outcome = 'rolled-back';
    for (const c of [...stack].reverse()) {
      try {
        await step(`rollback: ${c.description}`, c.run);
        actions.push(c.description);
      } catch (err) {
        actions.push(`NOT done (${errorMessage(err)}): ${c.description}`);
        state.outcome = 'failed';
      }
    }
    // Health is only worth verifying when every undo step ran; otherwise the state is unknown.
    if (p.previous && state.outcome === 'rolled-back') {
      state.rollback.restoredRelease = p.previous.release;
      try {
        await step('rollback: health', () =>
          waitForHealth({ environment: p.environment, release: p.previous!.release }),
        );
        state.rollback.healthy = true;
      } catch {
        state.outcome = 'failed';
      }
    }
  }
}
