import { setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { DeployRequest } from '../../config/request';
import type { DeploymentStatus } from '../../shared/deployment';
import { deploymentStatusQuery } from '../../shared/messages';
import {
  DEPLOY_ENVIRONMENT,
  DEPLOY_RELEASE,
  DEPLOY_STAGE,
  DEPLOY_STATUS,
} from '../../shared/searchAttributes';
import { runStep } from '../operationTracker';
import { createNotifier, type Notifier } from '../notifier';

/** What every part of a deployment shares: its status and how a step is run and shown. */
export interface DeploymentTracker {
  state: DeploymentStatus;
  /** Publish the status: the UI's current details and the search attributes. */
  show(): void;
  /** Run one named step; it becomes the current stage while it runs. */
  step<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** The environment's webhooks, told of the deployment's events once the plan is known. */
  notifier: Notifier;
}

/**
 * The status of one deployment, answered by the `deploymentStatus` query and shown in the
 * Web UI (current details) and visibility (search attributes) as it changes.
 */
export function trackDeployment(request: DeployRequest): DeploymentTracker {
  const state: DeploymentStatus = {
    deploymentId: workflowInfo().workflowId,
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
      environment: state.environment,
      onStart: () => {
        state.stage = name;
        show();
      },
    });

  return { state, show, step, notifier: createNotifier(request.environment) };
}
