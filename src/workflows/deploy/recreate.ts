import { patched, sleep } from '@temporalio/workflow';
import type { DeployPlan, PendingMigration } from '../../shared/deployment';
import { pullImages, startServices, stopRelease, uploadRelease, waitForHealth } from './activities';
import type { Compensation, CompensationStack } from './compensation';
import type { DeploymentTracker } from './tracker';
import { runPostDeployChecks } from './verification';
import { allEnded } from '../../shared/promises';
import { errorMessage } from '../operationTracker';
import { migrateContract } from './database';
import { rolloutWaves, waveTurns } from './waves';

/** Every host pulls at once after the uploads, the others beside the backup. */
export const PULLS_AT_ONCE = 'pulls-at-once';

/** Every host's files are uploaded at once, and every host records the release at once. */
export const UPLOADS_AND_RECORDS_AT_ONCE = 'uploads-and-records-at-once';

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
 * service restarts). The strategy of hosts without a traffic-switching proxy. With a `rollout`
 * section and several hosts, in waves (see releaseInWaves).
 */
export function recreateStrategy(
  tracker: DeploymentTracker,
  compensations: CompensationStack,
): ReleaseStrategy {
  const { step } = tracker;
  /** Per host, the services its compose files configure, as the pull read them. */
  const configuredServices: Record<string, string[]> = {};
  /** Hosts of a rolling release whose containers it began to replace: their undo restarts the previous release. */
  const started = new Set<string>();
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
      const rolling = rolloutWaves(p.environment) !== undefined;
      const undoOf = (hostName: string) =>
        rolling ? restoreRollingHost(p, hostName, started) : restoreHost(p, hostName);
      const upload = (hostName: string) =>
        step(`upload ${hostName}`, () => uploadRelease({ plan: p, hostName }));
      if (patched(UPLOADS_AND_RECORDS_AT_ONCE)) {
        // Files change nothing that runs: every host at once, each undo pushed before its upload
        // (from then on the host's files name the new release).
        for (const host of p.environment.hosts) compensations.push(undoOf(host.name));
        await allEnded(p.environment.hosts.map((host) => upload(host.name)));
      } else {
        for (const host of p.environment.hosts) {
          compensations.push(undoOf(host.name));
          await upload(host.name);
        }
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
      const waves = rolloutWaves(p.environment);
      if (waves) await releaseInWaves(tracker, p, waves, started);
      else {
        for (const host of p.environment.hosts) {
          await step(`start ${host.name}`, () => startServices({ plan: p, hostName: host.name }));
        }
        await step('health', () => waitForHealth({ environment: p.environment, release: p.request.release }));
      }
      // Deployments that started before post-deploy checks existed replay without them.
      if (patched('post-deploy-checks')) await runPostDeployChecks(tracker, p, { configuredServices });
    },
    async finish(p, contractPending) {
      // Only a rolling release has contract migrations pending (expand ran before wave 1); no
      // host serves the old release any more. Every host runs and has recorded the new release:
      // a failed contract must not undo that (the old release may not run on a half-contracted
      // schema), so it is reported and runs again with the next deployment.
      if (contractPending.length === 0) return;
      try {
        await migrateContract(tracker, p);
      } catch (err) {
        tracker.state.contractError = `the contract migrations failed after every host took release ${p.request.release} (${errorMessage(err)}); the release stands, and the next deployment runs them again`;
        tracker.show();
      }
    },
  };
}

/**
 * A rolling release: wave after wave, each wave's hosts in turns of at most
 * `rollout.maxUnavailable` (the whole wave without it): a turn's hosts start together and only
 * they are probed before the next turn, then the pause and the next wave. The first failure
 * stops the release once the turn's running starts have ended; the undo (on the stack since
 * the uploads) restarts the previous release where a start began and only puts the files back
 * where none did.
 */
async function releaseInWaves(
  tracker: DeploymentTracker,
  p: DeployPlan,
  waves: string[][],
  started: Set<string>,
): Promise<void> {
  const { step, state, show } = tracker;
  const { pauseSeconds, maxUnavailable } = p.environment.rollout!;
  for (const [i, wave] of waves.entries()) {
    const turns = waveTurns(wave, maxUnavailable);
    for (const [t, turn] of turns.entries()) {
      const label = `wave ${i + 1}/${waves.length}${turns.length > 1 ? `, turn ${t + 1}/${turns.length}` : ''}`;
      for (const hostName of turn) started.add(hostName);
      await allEnded(
        turn.map((hostName) => step(`start ${hostName}`, () => startServices({ plan: p, hostName }))),
      );
      const environment = {
        ...p.environment,
        hosts: p.environment.hosts.filter((h) => turn.includes(h.name)),
      };
      await step(`health (${label})`, () => waitForHealth({ environment, release: p.request.release }));
    }
    if (pauseSeconds > 0 && i < waves.length - 1) {
      state.stage = `pause after wave ${i + 1}/${waves.length} (${pauseSeconds} s)`;
      show();
      await sleep(pauseSeconds * 1000);
    }
  }
}

/** Undo of one host of a rolling release; every host's undo runs at the same time. */
function restoreRollingHost(p: DeployPlan, hostName: string, started: ReadonlySet<string>): Compensation {
  const whole = restoreHost(p, hostName);
  const previous = p.previous;
  if (!previous) return { ...whole, group: 'hosts' };
  const back = previousPlan(p, previous);
  return {
    group: 'hosts',
    // Read when the undo runs: by then the release has or has not reached the host.
    get description() {
      return started.has(hostName)
        ? whole.description
        : `put release ${previous.release}'s files back on ${hostName} (the release never reached its containers)`;
    },
    run: () => (started.has(hostName) ? whole.run() : uploadRelease({ plan: back, hostName })),
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
  const back = previousPlan(p, previous);
  return {
    description: `restored release ${previous.release} on ${hostName}`,
    run: async () => {
      await uploadRelease({ plan: back, hostName });
      await startServices({ plan: back, hostName, together: true });
    },
  };
}

/** The plan of the release the hosts ran before this one (its images, under its name). */
function previousPlan(p: DeployPlan, previous: NonNullable<DeployPlan['previous']>): DeployPlan {
  return {
    ...p,
    images: previous.images,
    request: { ...p.request, release: previous.release, images: previous.images },
  };
}
