import { proxyActivities } from '@temporalio/workflow';
import type { DeployActivities } from '../activities';
import type { LiveReleases } from '../shared/liveReleases';
import { activityPolicies } from './activityPolicies';

const { readLiveReleases: readHosts } = proxyActivities<DeployActivities>(activityPolicies.readLiveReleases);

/** What every host of an environment runs, for `deployctl status --env` (only workers reach hosts). */
export async function readLiveReleases(input: { environment: string }): Promise<LiveReleases> {
  return readHosts(input);
}
