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
export const { restoreDatabase } = proxyActivities<DeployActivities>(activityPolicies.restoreDatabase);
