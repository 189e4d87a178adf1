import { proxyActivities } from '@temporalio/workflow';
import type { DeployActivities } from '../activities';
import type { ConfigCheckReport } from '../shared/configCheck';
import { activityPolicies } from './activityPolicies';

const { checkEnvironmentConfig } = proxyActivities<DeployActivities>(activityPolicies.checkEnvironmentConfig);

/**
 * `deployctl config check`: the checks run on a worker, because what matters is what the
 * worker sees (its config dir, key files, secrets, network), not the machine deployctl runs on.
 */
export async function checkEnvironment(input: { environment: string }): Promise<ConfigCheckReport> {
  return checkEnvironmentConfig(input);
}
