import { patched } from '@temporalio/workflow';
import type { DeployPlan, PendingMigration } from '../../shared/deployment';
import { pullImages, startServices, stopRelease, uploadRelease, waitForHealth } from './activities';
import type { Compensation, CompensationStack } from './compensation';
import type { DeploymentTracker } from './tracker';
import { runPostDeployChecks } from './verification';

/**
 * How a release reaches the hosts and takes their traffic. `prepare` puts files and images on
 * every host before anything changes data; `release` makes the new release the one that
 * answers, healthy and checked. Every step pushes its undo onto the compensation stack.
 */
export interface ReleaseStrategy {
  /** `reused`: the release already runs where it will take traffic (a switch-back): no new code, no migrations. */
  prepare(p: DeployPlan): Promise<{ reused?: boolean } | void>;
  release(p: DeployPlan): Promise<void>;
  /**
   * After the deployment succeeded and was recorded (the old colour's retirement), with the
   * contract migrations still pending: they run once no old code serves.
   */
  finish?(p: DeployPlan, contractPending: PendingMigration[]): Promise<void>;
}

/**
 * Recreate: the stack's containers are replaced in place, host by host (requests fail while a
 * service restarts). The strategy of hosts without a traffic-switching proxy.
 */
export function recreateStrategy(
  tracker: DeploymentTracker,
  compensations: CompensationStack,
): ReleaseStrategy {
  const { step } = tracker;
  return {
    async prepare(p) {
      for (const host of p.environment.hosts) {
        // Pushed before the upload: from then on the host's files name the new release.
        compensations.push(restoreHost(p, host.name));
        await step(`upload ${host.name}`, () => uploadRelease({ plan: p, hostName: host.name }));
        await step(`pull ${host.name}`, () => pullImages({ plan: p, hostName: host.name }));
      }
    },
    async release(p) {
      for (const host of p.environment.hosts) {
        await step(`start ${host.name}`, () => startServices({ plan: p, hostName: host.name }));
      }
      await step('health', () => waitForHealth({ environment: p.environment, release: p.request.release }));
      // Deployments that started before post-deploy checks existed replay without them.
      if (patched('post-deploy-checks')) await runPostDeployChecks(tracker, p);
    },
  };
}

/** Undo of one host: the previous release's files and containers, or none when it is the first. */
function restoreHost(p: DeployPlan, hostName: string): Compensation {
  const previous = p.previous;
  if (!previous) {
    return {
      description: `stopped the new release on ${hostName} (no previous release to return to)`,
      run: () => stopRelease({ plan: p, hostName }),
    };
  }
  const back: DeployPlan = {
    ...p,
    images: previous.images,
    request: { ...p.request, release: previous.release, images: previous.images },
  };
  return {
    description: `restored release ${previous.release} on ${hostName}`,
    run: async () => {
      await uploadRelease({ plan: back, hostName });
      await startServices({ plan: back, hostName, together: true });
    },
  };
}
