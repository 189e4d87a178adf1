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

/**
 * The activity with its policy from the one table, cancelled only once it has stopped, and a
 * summary (its name and host, and colour where it has one) that the Web UI's timeline shows.
 */
function activity<K extends ActivityName>(name: K): DeployActivities[K] {
  const policy = activityPolicies[name];
  type Call = (...args: unknown[]) => Promise<unknown>;
  return ((...args: unknown[]) => {
    const summary = summaryOf(name, args[0]);
    const options = patched(WAIT_FOR_CANCELLED_ACTIVITIES)
      ? { ...policy, summary, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED }
      : { ...policy, summary };
    return (proxyActivities<DeployActivities>(options)[name] as unknown as Call)(...args);
  }) as unknown as DeployActivities[K];
}

function summaryOf(name: string, input: unknown): string {
  const { hostName, colour } = (input ?? {}) as { hostName?: unknown; colour?: unknown };
  return [
    name,
    typeof colour === 'string' ? colour : '',
    typeof hostName === 'string' ? `on ${hostName}` : '',
  ]
    .filter(Boolean)
    .join(' ');
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
export const auditDecision = activity('auditDecision');
