import { msToNumber } from '@temporalio/common/lib/time';
import { MockActivityEnvironment } from '@temporalio/testing';
import { activityPolicies } from '../../src/workflows/activityPolicies';

export type PolicyName = keyof typeof activityPolicies;

/**
 * A mock activity context as Temporal gives `activity`: its type and its policy's start-to-close
 * limit, from which the commands it runs take their deadlines (src/remote/deadlines.ts). The
 * mock's own default (1 s) would cut every command to half a second.
 */
export function underPolicy(activity: PolicyName): MockActivityEnvironment {
  return new MockActivityEnvironment({
    activityType: activity,
    startToCloseTimeoutMs: msToNumber(activityPolicies[activity].startToCloseTimeout),
    heartbeatTimeoutMs: 60_000,
  });
}
