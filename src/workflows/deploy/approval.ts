import { ApplicationFailure, CancellationScope, condition, setHandler } from '@temporalio/workflow';
import type { Decision } from '../../shared/deployment';
import { abortSignal, approveSignal, SIGNAL_HELP, type DecisionInput } from '../../shared/messages';
import type { DeploymentTracker } from './tracker';
import { decisionFrom } from './decisionInput';

/** Operators' decisions on one deployment: an approval to wait for, an abort that cancels. */
export interface Decisions {
  /** Wait for `approve` (or `abort`, which cancels the pipeline) until the deadline. */
  awaitApproval(timeoutSeconds: number): Promise<void>;
}

/**
 * Register the `approve` and `abort` handlers. Both only record: a signal sent before the
 * approval step is kept, never lost. An abort cancels `pipeline`, whatever step it is in.
 */
export function acceptDecisions(tracker: DeploymentTracker, pipeline: CancellationScope): Decisions {
  const { state, step } = tracker;
  let approval: Decision | undefined;
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
    const parsed = decisionFrom(signal, input);
    if ('ignored' in parsed) {
      state.ignoredSignals.push(parsed.ignored);
      return undefined;
    }
    return parsed.decision;
  }

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

  return { awaitApproval };
}
