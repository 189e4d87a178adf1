import type { Decision } from '../shared/deployment';
import { withHost } from '../remote/executor';
import { audit } from './audit';
import { hostOf, type HostStepInput } from './hostStep';

/** An operator's approval or abort of a deployment, as the hosts' audit trail keeps it. */
export interface DecisionRecord {
  kind: 'approved' | 'aborted';
  decision: Decision;
  /** The step the deployment was in: `approval`, or the step an abort stopped. */
  step: string;
}

export function createDecisionActivities() {
  return {
    /**
     * Append an approval or abort to the host's audit log: who decided, when (the decision's
     * own time, so a retry writes the same line) and the comment. Appending twice after a
     * killed attempt leaves a duplicate line, never a missing one.
     */
    async auditDecision(input: HostStepInput & DecisionRecord): Promise<void> {
      const { plan, decision, kind, step } = input;
      await withHost(hostOf(plan, input.hostName), (host) =>
        audit(
          host,
          plan,
          { step, result: kind, decidedBy: decision.by, detail: decision.comment },
          new Date(decision.at),
        ),
      );
    },
  };
}
