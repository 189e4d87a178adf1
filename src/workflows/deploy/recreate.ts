import { patched } from '@temporalio/workflow';
import type { DeployPlan, PendingMigration } from '../../shared/deployment';
import { pullImages, startServices, stopRelease, uploadRelease, waitForHealth } from './activities';
import type { Compensation, CompensationStack } from './compensation';
import type { DeploymentTracker } from './tracker';
import { runPostDeployChecks } from './verification';
import { allEnded } from '../../shared/promises';

/** Every host pulls at once after the uploads, the others beside the backup. */
export const PULLS_AT_ONCE = 'pulls-at-once';

/**
 * How a release reaches the hosts and takes their traffic. `prepare` puts files and images on
 * every host before anything changes data; `release` makes the new release the one that
 * answers, healthy and checked. Every step pushes its undo onto the compensation stack.
 */
export interface ReleaseStrategy {
  /**
   * `reused`: the release already runs where it will take traffic (a switch-back): no new code,
   * no migrations. `pulled`: every host's image pull, which the release waits for;
   * `databaseHostPulled`: the first host's, which the backup waits for. Both always have a
   * rejection handler attached.
   */
  prepare(
    p: DeployPlan,
  ): Promise<{ reused?: boolean; pulled?: Promise<unknown>; databaseHostPulled?: Promise<unknown> } | void>;
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
  /** Per host, the services its compose files configure, as the pull read them. */
  const configuredServices: Record<string, string[]> = {};
  return {
    async prepare(p) {
      // Deployments that started before the hosts pulled at once replay one host at a time.
      if (!patched(PULLS_AT_ONCE)) {
        for (const host of p.environment.hosts) {
          compensations.push(restoreHost(p, host.name));
          await step(`upload ${host.name}`, () => uploadRelease({ plan: p, hostName: host.name }));
          await step(`pull ${host.name}`, () => pullImages({ plan: p, hostName: host.name }));
        }
        return;
      }
      for (const host of p.environment.hosts) {
        // Pushed before the upload: from then on the host's files name the new release.
        compensations.push(restoreHost(p, host.name));
        await step(`upload ${host.name}`, () => uploadRelease({ plan: p, hostName: host.name }));
      }
      // Pulling changes nothing that runs: every host pulls at once. The backup waits for the
      // database host's pull only (so the writes a restore would lose are the backup's own
      // seconds), the other hosts' pulls run beside it; the release waits for them all.
      const pulls = p.environment.hosts.map((host) =>
        step(`pull ${host.name}`, async () => {
          const pulled = await pullImages({ plan: p, hostName: host.name });
          if (pulled?.configuredServices) configuredServices[host.name] = pulled.configuredServices;
        }),
      );
      // Settles once every pull has ended (an undo never overlaps one), failing with the first failure.
      const pulled = allEnded(pulls);
      // Awaited before the release; a failure is reported there (or by the database host's pull).
      pulled.catch(() => undefined);
      return { pulled, databaseHostPulled: pulls[0] };
    },
    async release(p) {
      for (const host of p.environment.hosts) {
        await step(`start ${host.name}`, () => startServices({ plan: p, hostName: host.name }));
      }
      await step('health', () => waitForHealth({ environment: p.environment, release: p.request.release }));
      // Deployments that started before post-deploy checks existed replay without them.
      if (patched('post-deploy-checks')) await runPostDeployChecks(tracker, p, { configuredServices });
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
