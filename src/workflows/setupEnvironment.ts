import { ActivityFailure, ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DeployActivities } from '../activities';
import type { DeployPlan } from '../shared/deployment';
import type { SetupReport } from '../shared/setup';
import { activityPolicies } from './activityPolicies';

const { loadEnvironmentConfig } = proxyActivities<DeployActivities>(activityPolicies.loadEnvironmentConfig);
const { setupEnvironmentHost } = proxyActivities<DeployActivities>(activityPolicies.setupEnvironmentHost);

/**
 * `deployctl setup`: the server-setup script on every host of an environment, one host after
 * the other. A host that fails is reported and the next one is still set up: each host's
 * result stands on its own, and a second run skips what is done.
 */
export async function setupEnvironment(input: {
  environment: string;
  requestedBy: string;
}): Promise<SetupReport> {
  const environment = await loadEnvironmentConfig({ environment: input.environment });
  const plan: DeployPlan = {
    deploymentId: workflowInfo().workflowId,
    environment,
    images: {},
    request: { environment: environment.name, release: 'none', images: {}, requestedBy: input.requestedBy },
  };
  const report: SetupReport = { environment: environment.name, hosts: [] };
  for (const host of environment.hosts) {
    try {
      report.hosts.push({
        host: host.name,
        steps: await setupEnvironmentHost({ plan, hostName: host.name }),
      });
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : err;
      const steps =
        cause instanceof ApplicationFailure ? (cause.details?.[0] as { steps?: [] } | undefined)?.steps : [];
      report.hosts.push({ host: host.name, steps: steps ?? [], failure: (cause as Error).message });
    }
  }
  return report;
}
