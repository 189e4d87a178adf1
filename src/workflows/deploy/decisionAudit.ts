import { patched } from '@temporalio/workflow';
import type { DecisionRecord } from '../../activities/decisions';
import type { DeployPlan } from '../../shared/deployment';
import { auditDecision } from './activities';

/**
 * Deployments started before this patch kept approvals and aborts in their history only; the
 * hosts' audit.log showed the steps but not who let them happen or stopped them.
 */
export const DECISIONS_AUDITED_PATCH = 'decisions-audited';

/**
 * Write an approval or abort to every host's audit log, in parallel. Returns false (having done
 * nothing) for a deployment that started before the patch.
 */
export async function auditDecisionOnHosts(p: DeployPlan, record: DecisionRecord): Promise<boolean> {
  if (!patched(DECISIONS_AUDITED_PATCH)) return false;
  await Promise.all(p.environment.hosts.map((h) => auditDecision({ plan: p, hostName: h.name, ...record })));
  return true;
}
