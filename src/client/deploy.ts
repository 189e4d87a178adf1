import { randomUUID } from 'node:crypto';
import {
  ApplicationFailure,
  Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import type { DeployRequest } from '../config/request';
import { workflowIdFor, type DeploymentStatus } from '../shared/deployment';
import { deploymentStatusQuery } from '../shared/messages';
import { DEPLOY_ENVIRONMENT, DEPLOY_RELEASE, DEPLOY_STAGE, DEPLOY_STATUS } from '../shared/searchAttributes';
import { workflowUiLink, type Settings } from '../shared/settings';
import { ExitCode } from './exitCodes';
import { historyQuery } from './history';
import { followWorkflow } from './follow';

export interface DeployOutcome {
  exitCode: ExitCode;
  workflowId: string;
  runId?: string;
  uiLink: string;
  attached: boolean;
  status?: DeploymentStatus;
  error?: string;
}

/**
 * Visibility query for a deployment of the environment (a rollback included) that succeeded
 * after `since`, other than `workflowId`: one means the release deployed then is no longer
 * known to be live. The environment is validated by the history query this narrows.
 */
export function laterDeploymentQuery(environment: string, workflowId: string, since: Date): string {
  if (!/^[A-Za-z0-9._-]+$/.test(workflowId))
    throw new Error(`cannot query deployments other than ${JSON.stringify(workflowId)}`);
  return (
    `${historyQuery(environment)} AND ${DEPLOY_STATUS.name} = 'succeeded' AND ` +
    `WorkflowId != '${workflowId}' AND StartTime > '${since.toISOString()}'`
  );
}

/** The deployment that replaced this finished one since it succeeded, if any (newest first). */
async function replacedBy(
  client: Client,
  environment: string,
  workflowId: string,
): Promise<string | undefined> {
  const { closeTime } = await client.workflow.getHandle(workflowId).describe();
  if (!closeTime) return undefined;
  for await (const later of client.workflow.list({
    query: laterDeploymentQuery(environment, workflowId, closeTime),
  }))
    return later.workflowId;
  return undefined;
}

export interface StartedDeployment {
  handle: WorkflowHandle;
  attached: boolean;
  /** A re-run of a release that succeeded before: the deployment that replaced it since. */
  redeploysAfter?: string;
}

/**
 * Start the deployment, or attach to the one already running or finished for this
 * environment and release: a CI retry never deploys twice. A failed one may be retried, and a
 * succeeded one runs again once another deployment (a rollback too) replaced it: re-running
 * CI for that release then deploys it, instead of reporting the old result.
 */
export async function startOrAttach(
  client: Client,
  settings: Settings,
  request: DeployRequest,
  workflowId = workflowIdFor(request.environment, request.release),
): Promise<StartedDeployment> {
  try {
    return await start(client, settings, request, workflowId, 'ALLOW_DUPLICATE_FAILED_ONLY');
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const later = await replacedBy(client, request.environment, workflowId);
    if (!later) return { handle: client.workflow.getHandle(workflowId), attached: true };
    try {
      return {
        ...(await start(client, settings, request, workflowId, 'ALLOW_DUPLICATE')),
        redeploysAfter: later,
      };
    } catch (again) {
      // Another CI job started the re-run first: follow that one.
      if (again instanceof WorkflowExecutionAlreadyStartedError)
        return { handle: client.workflow.getHandle(workflowId), attached: true };
      throw again;
    }
  }
}

async function start(
  client: Client,
  settings: Settings,
  request: DeployRequest,
  workflowId: string,
  workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY' | 'ALLOW_DUPLICATE',
): Promise<StartedDeployment> {
  const nonce = randomUUID();
  const handle = await client.workflow.start('deployEnvironment', {
    taskQueue: settings.taskQueue,
    workflowId,
    args: [request],
    memo: { startNonce: nonce },
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy,
    staticSummary: `Deploy ${request.release} to ${request.environment} (requested by ${request.requestedBy})`,
    typedSearchAttributes: [
      { key: DEPLOY_ENVIRONMENT, value: request.environment },
      { key: DEPLOY_RELEASE, value: request.release },
      { key: DEPLOY_STAGE, value: 'queued' },
      { key: DEPLOY_STATUS, value: 'running' },
    ],
  });
  // USE_EXISTING hands back the running execution: only the one we started carries our nonce.
  const { memo } = await handle.describe();
  return { handle, attached: memo?.startNonce !== nonce };
}

export function statusFromFailure(err: unknown): DeploymentStatus | undefined {
  if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
    const [details] = err.cause.details ?? [];
    if (details && typeof details === 'object' && 'outcome' in details) return details as DeploymentStatus;
  }
  return undefined;
}

/** Failure types of a deployment stopped by a decision (or the lack of one), not by a fault. */
export const STOPPED_BY_DECISION = ['DeploymentAborted', 'ApprovalExpired'];

export function exitCodeFor(status: DeploymentStatus | undefined, failureType?: string): ExitCode {
  if (failureType === 'InvalidInput') return ExitCode.invalidInput;
  if (
    ['GateFailed', 'EnvironmentBusy', 'ColoursDisagree', 'DiskBelowFloor', 'DeployWindowClosed'].includes(
      failureType ?? '',
    )
  )
    return ExitCode.refused;
  if (STOPPED_BY_DECISION.includes(failureType ?? '') || status?.outcome === 'aborted') {
    // Aborted after changes whose undo did not complete: the environment needs a human (5), not "not approved".
    return status?.outcome === 'failed' ? ExitCode.failedUnhealthy : ExitCode.aborted;
  }
  if (!status) return ExitCode.failedUnhealthy;
  if (status.outcome === 'succeeded') return ExitCode.succeeded;
  if (status.outcome === 'rolled-back' && status.rollback?.healthy) return ExitCode.rolledBack;
  return ExitCode.failedUnhealthy;
}

/**
 * Wait for the result while polling the status query, calling `onChange` for each change so
 * the caller can print progress. Every poll has a deadline; the whole wait has one too.
 */
export async function follow(
  handle: WorkflowHandle,
  settings: Settings,
  opts: { onChange?: (status: DeploymentStatus) => void; pollMs?: number; timeoutMs: number },
): Promise<DeployOutcome> {
  const end = await followWorkflow<DeploymentStatus, DeploymentStatus>(handle, {
    query: deploymentStatusQuery,
    changeKey: (status) =>
      JSON.stringify([status.steps.map((s) => [s.name, s.status]), status.approval?.state]),
    onChange: opts.onChange,
    timeoutMs: opts.timeoutMs,
    pollMs: opts.pollMs,
    stoppedMessage: `gave up waiting after ${opts.timeoutMs / 1000} s; the deployment goes on`,
  });
  const base = {
    workflowId: handle.workflowId,
    uiLink: workflowUiLink(settings, handle.workflowId),
    attached: false,
  };
  if (end.ended === 'completed') return { ...base, exitCode: exitCodeFor(end.result), status: end.result };
  if (end.ended === 'stopped-waiting')
    return { ...base, exitCode: ExitCode.stillRunning, error: end.message };
  const err = end.error;
  const status = statusFromFailure(err);
  const type =
    err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure
      ? err.cause.type
      : undefined;
  const message =
    err instanceof WorkflowFailedError && err.cause ? err.cause.message : (err as Error).message;
  return { ...base, exitCode: exitCodeFor(status, type ?? undefined), status, error: message };
}
