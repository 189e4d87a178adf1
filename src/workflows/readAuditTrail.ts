import { proxyActivities } from '@temporalio/workflow';
import type { DeployActivities } from '../activities';
import type { AuditTrail, AuditTrailInput } from '../shared/auditTrail';
import { activityPolicies } from './activityPolicies';

const { readAuditTrail: readHosts } = proxyActivities<DeployActivities>(activityPolicies.readAuditTrail);

/** The hosts' audit logs merged, for `deployctl audit` (the client has no SSH access to hosts). */
export async function readAuditTrail(input: AuditTrailInput): Promise<AuditTrail> {
  return readHosts(input);
}
