import { ActivityCancellationType, patched, proxyActivities } from '@temporalio/workflow';
import type { DeployActivities } from '../../activities';
import { activityPolicies } from '../activityPolicies';

/**
 * Deployments started before this patch cancelled an activity and went on at once (the SDK's
 * TRY_CANCEL): compensation could start while `compose up` still ran on the host. Now a
 * cancelled activity is waited for until it has stopped; recorded histories replay unchanged.
 */
export const WAIT_FOR_CANCELLED_ACTIVITIES = 'wait-for-cancelled-activities';

type ActivityName = keyof DeployActivities & keyof typeof activityPolicies;

/** The activity with its policy from the one table, cancelled only once it has stopped. */
function activity<K extends ActivityName>(name: K): DeployActivities[K] {
  const policy = activityPolicies[name];
  const waiting = proxyActivities<DeployActivities>({
    ...policy,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  })[name];
  const legacy = proxyActivities<DeployActivities>(policy)[name];
  type Call = (...args: unknown[]) => Promise<unknown>;
  const chosen = () => (patched(WAIT_FOR_CANCELLED_ACTIVITIES) ? waiting : legacy) as unknown as Call;
  return ((...args: unknown[]) => chosen()(...args)) as unknown as DeployActivities[K];
}

/** The activities a deployment calls. */
export const resolvePlan = activity('resolvePlan');
export const uploadRelease = activity('uploadRelease');
export const pullImages = activity('pullImages');
export const startServices = activity('startServices');
export const waitForHealth = activity('waitForHealth');
export const recordRelease = activity('recordRelease');
export const stopRelease = activity('stopRelease');
export const runQualityGates = activity('runQualityGates');
export const postDeployChecks = activity('postDeployChecks');
export const backupDatabase = activity('backupDatabase');
export const runMigrations = activity('runMigrations');
export const listPendingMigrations = activity('listPendingMigrations');
export const restoreDatabase = activity('restoreDatabase');
export const readRouting = activity('readRouting');
export const switchTraffic = activity('switchTraffic');
export const scrapeColourMetrics = activity('scrapeColourMetrics');
export const uploadColour = activity('uploadColour');
export const pullColour = activity('pullColour');
export const startColour = activity('startColour');
export const startSharedStack = activity('startSharedStack');
export const stopColour = activity('stopColour');
export const inspectColour = activity('inspectColour');
export const observeCanary = activity('observeCanary');
export const recordColour = activity('recordColour');
