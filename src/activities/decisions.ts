import { appendAuditLine } from '../commands/files';
import { remoteLayout } from '../commands/layout';
import { loadEnvironment } from '../config/load';
import type { Decision } from '../shared/deployment';
import type { ForcedRelease } from '../shared/messages';
import { withHost } from '../remote/executor';
import { audit, auditLine } from './audit';
import { hostOf, type HostStepInput } from './hostStep';
import { commandDeadlineMs } from '../remote/deadlines';

/** An operator's approval or abort of a deployment, as the hosts' audit trail keeps it. */
export interface DecisionRecord {
  kind: 'approved' | 'aborted';
  decision: Decision;
  /** The step the deployment was in: `approval`, or the step an abort stopped. */
  step: string;
}

export function createDecisionActivities(deps: { configDir: string }) {
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

    /**
     * An operator's forced release of an environment's lock (`deployctl lock release`) on every
     * host's audit log, against the deployment that held it, at the time it was forced.
     */
    async auditForcedRelease(input: { environment: string; forced: ForcedRelease }): Promise<void> {
      const environment = loadEnvironment(deps.configDir, input.environment);
      const { holder, by, reason, at } = input.forced;
      const line = auditLine(
        {
          deploymentId: holder.deploymentId,
          request: {
            environment: input.environment,
            release: holder.release,
            images: {},
            requestedBy: holder.requestedBy,
          },
        },
        { step: 'lock', result: 'released', decidedBy: by, detail: reason },
        new Date(at),
      );
      await Promise.all(
        environment.hosts.map((host) =>
          withHost(host, (h) =>
            h.run(appendAuditLine(remoteLayout(environment, host).auditLog, line), {
              timeoutMs: commandDeadlineMs('smallFile'),
            }),
          ),
        ),
      );
    },
  };
}
