import { proxyActivities } from '@temporalio/workflow';
import type { DeployActivities } from '../activities';
import type { ServiceLogs, ServiceLogsInput } from '../shared/serviceLogs';
import { activityPolicies } from './activityPolicies';

const { readServiceLogs: readHosts } = proxyActivities<DeployActivities>(activityPolicies.readServiceLogs);

/** A service's container logs on every host, for `deployctl logs` (only workers reach hosts). */
export async function readServiceLogs(input: ServiceLogsInput): Promise<ServiceLogs> {
  return readHosts(input);
}
