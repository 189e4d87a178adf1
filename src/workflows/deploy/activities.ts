import { proxyActivities } from '@temporalio/workflow';
import type { DeployActivities } from '../../activities';
import { activityPolicies } from '../activityPolicies';

/** The activities a deployment calls, each with its policy from the one table. */
export const { resolvePlan } = proxyActivities<DeployActivities>(activityPolicies.resolvePlan);
export const { uploadRelease } = proxyActivities<DeployActivities>(activityPolicies.uploadRelease);
export const { pullImages } = proxyActivities<DeployActivities>(activityPolicies.pullImages);
export const { startServices } = proxyActivities<DeployActivities>(activityPolicies.startServices);
export const { waitForHealth } = proxyActivities<DeployActivities>(activityPolicies.waitForHealth);
export const { recordRelease } = proxyActivities<DeployActivities>(activityPolicies.recordRelease);
export const { stopRelease } = proxyActivities<DeployActivities>(activityPolicies.stopRelease);
export const { runQualityGates } = proxyActivities<DeployActivities>(activityPolicies.runQualityGates);
export const { postDeployChecks } = proxyActivities<DeployActivities>(activityPolicies.postDeployChecks);
export const { backupDatabase } = proxyActivities<DeployActivities>(activityPolicies.backupDatabase);
export const { runMigrations } = proxyActivities<DeployActivities>(activityPolicies.runMigrations);
export const { listPendingMigrations } = proxyActivities<DeployActivities>(
  activityPolicies.listPendingMigrations,
);
export const { restoreDatabase } = proxyActivities<DeployActivities>(activityPolicies.restoreDatabase);
export const { readRouting } = proxyActivities<DeployActivities>(activityPolicies.readRouting);
export const { switchTraffic } = proxyActivities<DeployActivities>(activityPolicies.switchTraffic);
export const { scrapeColourMetrics } = proxyActivities<DeployActivities>(
  activityPolicies.scrapeColourMetrics,
);
export const { uploadColour } = proxyActivities<DeployActivities>(activityPolicies.uploadColour);
export const { pullColour } = proxyActivities<DeployActivities>(activityPolicies.pullColour);
export const { startColour } = proxyActivities<DeployActivities>(activityPolicies.startColour);
export const { startSharedStack } = proxyActivities<DeployActivities>(activityPolicies.startSharedStack);
export const { stopColour } = proxyActivities<DeployActivities>(activityPolicies.stopColour);
export const { inspectColour } = proxyActivities<DeployActivities>(activityPolicies.inspectColour);
export const { observeCanary } = proxyActivities<DeployActivities>(activityPolicies.observeCanary);
export const { recordColour } = proxyActivities<DeployActivities>(activityPolicies.recordColour);
