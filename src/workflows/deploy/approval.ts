import {
  ApplicationFailure,
  CancellationScope,
  condition,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Decision, DeployPlan } from '../../shared/deployment';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  SIGNAL_HELP,
  type DecisionAnswer,
  type DecisionInput,
} from '../../shared/messages';
import type { DeploymentTracker } from './tracker';
import { decisionFrom, strictDecisionFrom, unknownDecisionKeys } from './decisionInput';
import { auditDecisionOnHosts } from './decisionAudit';

/** Operators' decisions on one deployment: an approval to wait for, an abort that cancels. */
export interface Decisions {
  /** Wait for `approve` (or `abort`, which cancels the pipeline) until the deadline. */
  awaitApproval(timeoutSeconds: number): Promise<void>;
}

/**
 * Register the `approve` and `abort` handlers, as signals and as Updates. Both only record: an
 * approval sent before the approval step is kept, never lost. An abort cancels `pipeline`,
 * whatever step it is in. `plan` is the deployment's plan once validated (undefined before).
 * An Update is checked first (its validator): a malformed one, an approver the environment's
 * `approval.approvers` leaves out, or one with nothing left to decide is refused with the reason
 * and never enters history; a signal in the same case is recorded in ignoredSignals.
 */
export function acceptDecisions(
  tracker: DeploymentTracker,
  pipeline: CancellationScope,
  plan: () => DeployPlan | undefined,
): Decisions {
  const { state, step } = tracker;
  let approval: Decision | undefined;
  const id = workflowInfo().workflowId;

  /** Why `by` may not approve at all (the environment's allow-list), once the plan is known. */
  function notAllowed(by: string): string | undefined {
    const p = plan();
    const approvers = p?.environment.approval?.approvers;
    if (p && approvers && !approvers.includes(by))
      return `${by} may not approve deployments of ${p.environment.name} (approval.approvers: ${approvers.join(', ')})`;
    return undefined;
  }

  /** Why an approval cannot be taken now; undefined when it can. */
  function approvalRefusal(by: string): string | undefined {
    const p = plan();
    if (state.outcome !== 'running') return `deployment ${id} has ended (${state.outcome})`;
    if (state.abort) return `deployment ${id} was aborted by ${state.abort.by}`;
    if (p && !p.environment.approval?.required)
      return `deployment ${id} needs no approval (environment ${p.environment.name} does not require one)`;
    if (approval) return `deployment ${id} is already approved by ${approval.by}`;
    if (state.approval && state.approval.state !== 'waiting')
      return `deployment ${id} is not waiting for approval (${state.approval.state})`;
    return notAllowed(by);
  }

  function abortRefusal(): string | undefined {
    if (state.outcome !== 'running') return `deployment ${id} has ended (${state.outcome})`;
    if (state.abort) return `deployment ${id} is already aborted by ${state.abort.by}`;
    return undefined;
  }

  function approve(decision: Decision): DecisionAnswer {
    approval = decision;
    const waiting = state.approval?.state === 'waiting';
    return {
      decision: 'approve',
      by: decision.by,
      at: decision.at,
      effect: waiting
        ? 'approved: the deployment goes on'
        : 'approved before the approval step: kept until the deployment reaches it',
    };
  }

  function abort(decision: Decision): DecisionAnswer {
    state.abort = decision;
    pipeline.cancel();
    return {
      decision: 'abort',
      by: decision.by,
      at: decision.at,
      effect: 'aborted: the current step is cancelled and what the deployment changed is undone',
    };
  }

  setHandler(
    approveSignal,
    (input: DecisionInput) => {
      const decision = toDecision('approve', input);
      if (!decision || approval) return;
      // Only an allow-list refuses a signal here: the rest keeps the signal's old behaviour.
      const refusal = notAllowed(decision.by);
      if (refusal) {
        state.ignoredSignals.push(`approve at ${decision.at}: ${refusal}`);
        return;
      }
      approve(decision);
    },
    { description: SIGNAL_HELP.approve },
  );
  setHandler(
    abortSignal,
    (input: DecisionInput) => {
      const decision = toDecision('abort', input);
      if (!decision || state.abort || state.outcome !== 'running') return;
      abort(decision);
    },
    { description: SIGNAL_HELP.abort },
  );
  setHandler(approveUpdate, (input: DecisionInput) => approve(validDecision('approve', input)), {
    description: `${SIGNAL_HELP.approve}. Refused, with the reason, when it is malformed, the approver is not allowed or there is nothing to approve.`,
    validator: (input: DecisionInput) => {
      refuseUnknownKeys('approve', input);
      const decision = validDecision('approve', input);
      const refusal = approvalRefusal(decision.by);
      if (refusal) throw new Error(refusal);
    },
  });
  setHandler(abortUpdate, (input: DecisionInput) => abort(validDecision('abort', input)), {
    description: `${SIGNAL_HELP.abort}. Refused, with the reason, when it is malformed or the deployment has ended.`,
    validator: (input: DecisionInput) => {
      refuseUnknownKeys('abort', input);
      validDecision('abort', input);
      const refusal = abortRefusal();
      if (refusal) throw new Error(refusal);
    },
  });

  function refuseUnknownKeys(name: string, input: unknown): void {
    const refusal = unknownDecisionKeys(name, input);
    if (refusal) throw new Error(refusal);
  }

  /** The decision an Update carries; a malformed one throws (the validator's refusal). */
  function validDecision(name: string, input: DecisionInput): Decision {
    const parsed = strictDecisionFrom(name, input);
    if ('ignored' in parsed) throw new Error(parsed.ignored);
    return parsed.decision;
  }

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
    // An approval kept from before the plan was known met no allow-list: it is checked now.
    const refusal = approval && notAllowed(approval.by);
    if (approval && refusal) {
      state.ignoredSignals.push(`approve at ${approval.at}: ${refusal}`);
      approval = undefined;
    }
    state.approval = { state: 'waiting', deadline };
    tracker.notifier.send({
      event: 'approval-waiting',
      summary: `${state.release} waits for approval until ${deadline} (requested by ${state.requestedBy})`,
      release: state.release,
      by: state.requestedBy,
      detail: `approve or abort it in the Web UI, or: deployctl approve --id ${id} --by <you>`,
    });
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
        tracker.notifier.send({
          event: 'approved',
          summary: `${state.release} approved by ${approval!.by}`,
          release: state.release,
          by: approval!.by,
          ...(approval!.comment ? { detail: approval!.comment } : {}),
        });
        // Before anything changes on a host, each host's audit log says who let it happen.
        const p = plan();
        if (p) await auditDecisionOnHosts(p, { kind: 'approved', decision: approval!, step: 'approval' });
      });
    } catch (err) {
      if (state.abort) state.approval = { state: 'aborted', deadline, decision: state.abort };
      throw err;
    }
  }

  return { awaitApproval };
}
