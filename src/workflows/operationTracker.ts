import {
  ApplicationFailure,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OperationStatus } from '../shared/operations';
import type { StepState } from '../shared/deployment';
import { operationStatusQuery } from '../shared/messages';
import { DEPLOY_ENVIRONMENT, DEPLOY_STAGE, DEPLOY_STATUS } from '../shared/searchAttributes';
import { reportStep } from './stepReports';

/** The ApplicationFailure an activity raised, unwrapped from the ActivityFailure around it. */
export function rootFailure(err: unknown): ApplicationFailure | undefined {
  if (err instanceof ApplicationFailure) return err;
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

export function errorMessage(err: unknown): string {
  const cause = rootFailure(err) ?? (err as { cause?: unknown }).cause;
  if (cause instanceof Error) return cause.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Run one step of a workflow and keep its state (running, then succeeded or failed, with times
 * and a detail) in `steps`, which the status queries return.
 */
export async function runStep<T>(
  steps: StepState[],
  name: string,
  fn: () => Promise<T>,
  opts: { environment: string; onStart: () => void; detail?: (result: T) => string },
): Promise<T> {
  const s: StepState = { name, status: 'running', startedAt: new Date().toISOString() };
  steps.push(s);
  opts.onStart();
  try {
    const result = await fn();
    s.status = 'succeeded';
    if (opts.detail) s.detail = opts.detail(result);
    return result;
  } catch (err) {
    s.status = 'failed';
    s.detail = errorMessage(err);
    throw err;
  } finally {
    s.endedAt = new Date().toISOString();
    s.durationMs = Date.parse(s.endedAt) - Date.parse(s.startedAt);
    reportStep(opts.environment, s);
  }
}

/**
 * Steps of a backup, drill or emergency deploy, visible to operators: the status query,
 * the current details in the Web UI and the stage/status search attributes.
 */
export function trackOperation(kind: OperationStatus['kind'], environment: string, summary: string) {
  const state: OperationStatus = {
    id: workflowInfo().workflowId,
    kind,
    environment,
    stage: 'starting',
    outcome: 'running',
    steps: [],
  };
  setHandler(operationStatusQuery, () => state, { description: `Steps and outcome of this ${kind}` });

  const show = () => {
    setCurrentDetails(
      [
        `**${environment}**: ${summary}`,
        `stage: ${state.stage} (${state.outcome})${state.failure ? `: ${state.failure}` : ''}`,
        ...state.steps.map(
          (s) =>
            `- ${s.name}: ${s.status}${s.durationMs !== undefined ? ` (${s.durationMs} ms)` : ''}${s.detail ? ` ${s.detail}` : ''}`,
        ),
      ].join('\n'),
    );
    upsertSearchAttributes([
      { key: DEPLOY_ENVIRONMENT, value: environment },
      { key: DEPLOY_STAGE, value: state.stage },
      { key: DEPLOY_STATUS, value: state.outcome },
    ]);
  };

  const step = <T>(name: string, fn: () => Promise<T>, detail?: (result: T) => string): Promise<T> =>
    runStep(state.steps, name, fn, {
      environment,
      detail,
      onStart: () => {
        state.stage = name;
        show();
      },
    });

  function finish(outcome: 'succeeded' | 'failed', failure?: string): void {
    state.outcome = outcome;
    state.stage = outcome === 'succeeded' ? 'done' : state.stage;
    state.failure = failure;
    show();
  }

  show();
  return { state, step, finish };
}
