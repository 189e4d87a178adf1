import { ApplicationFailure, ParentClosePolicy, sleep, startChild, workflowInfo } from '@temporalio/workflow';
import type { Colour } from '../../config/schema';
import type { ColourState, DeployPlan } from '../../shared/deployment';
import { allOn, liveColour, NONE_LIVE, otherColour, split, type Weights } from '../../traffic/colours';
import { acceptCanaryControls, runCanary } from './canary';
import { retireColour } from '../retireColour';
import {
  inspectColour,
  pullColour,
  readRouting,
  recordColour,
  startColour,
  startSharedStack,
  stopColour,
  switchTraffic,
  uploadColour,
  uploadRelease,
  waitForHealth,
} from './activities';
import type { Compensation, CompensationStack } from './compensation';
import { migrateContract } from './database';
import type { ReleaseStrategy } from './recreate';
import type { DeploymentTracker } from './tracker';
import { runPostDeployChecks } from './verification';

/**
 * Releases as colours behind Traefik. The web services of a release run as their own compose
 * project (the target colour) next to the one users reach (the stable colour); the new one is
 * started, checked through its preview route, then takes the traffic in one routing write per
 * host, confirmed by Traefik. The stable colour keeps running at weight 0 for the switch-back
 * window, so going back is one more routing write; a child workflow stops it afterwards.
 *
 * `recreate` in an environment with colours replaces the live colour in place (requests fail
 * while it restarts): the way out for a migration that is not backward compatible.
 */
export function colourStrategy(
  tracker: DeploymentTracker,
  compensations: CompensationStack,
): ReleaseStrategy {
  const { state, step } = tracker;
  const canaryControls = acceptCanaryControls(tracker);
  let colours: ColourState;
  const onEveryHost = async (p: DeployPlan, name: string, fn: (hostName: string) => Promise<unknown>) => {
    for (const host of p.environment.hosts) await step(`${name} ${host.name}`, () => fn(host.name));
  };
  const routeAllTo = (p: DeployPlan, colour: Colour) =>
    onEveryHost(p, `route to ${colour}`, (hostName) =>
      switchTraffic({ plan: p, hostName, weights: allOn(colour) }),
    );

  return {
    async prepare(p) {
      const strategy = p.strategy ?? 'recreate';
      const routing = await step('colours', () => routingOnEveryHost(p));
      const stable = routing ? liveColour(routing) : undefined;

      const inPlace = strategy === 'recreate';
      const target: Colour = inPlace ? (stable ?? 'blue') : stable ? otherColour(stable) : 'blue';
      colours = { strategy, stable, target, live: stable };
      state.colours = colours;
      // A canary cut off half-way left traffic on both: all of it back on the stable colour
      // before the target is touched.
      if (routing && stable && routing[stable] !== 100) await routeAllTo(p, stable);
      // A switch-back: the idle colour still runs exactly this release, nothing to start.
      // Only a colour that is live somewhere can have an idle twin to switch back to.
      if (!inPlace && stable) colours.reused = await targetRunsRelease(p, target);
      if (colours.reused) return { reused: true };
      for (const host of p.environment.hosts) {
        compensations.push(undoTarget(p, host.name, colours));
        await step(`upload ${host.name}`, () => uploadRelease({ plan: p, hostName: host.name }));
        await step(`upload ${target} ${host.name}`, () =>
          uploadColour({ plan: p, hostName: host.name, colour: target }),
        );
        await step(`pull ${target} ${host.name}`, () =>
          pullColour({ plan: p, hostName: host.name, colour: target }),
        );
        await step(`start shared ${host.name}`, () => startSharedStack({ plan: p, hostName: host.name }));
      }
      // Previews need routers: before the first release, routing where no colour is live.
      if (!routing)
        await onEveryHost(p, 'route (none live)', (hostName) =>
          switchTraffic({ plan: p, hostName, weights: NONE_LIVE }),
        );
    },

    async release(p) {
      const { target, stable } = colours;
      const traffic = p.environment.traffic!;
      if (!colours.reused)
        await onEveryHost(p, `start ${target}`, (hostName) =>
          startColour({ plan: p, hostName, colour: target }),
        );
      // Through the preview route: the target answers before any user request reaches it.
      await step('health', () =>
        waitForHealth({
          environment: p.environment,
          release: p.request.release,
          headers: { [traffic.previewHeader]: target },
          colour: target,
        }),
      );
      // A reused colour was just seen running all its services: only the HTTP checks again.
      await runPostDeployChecks(tracker, p, { colour: target, httpOnly: colours.reused });
      if (!colours.reused)
        await onEveryHost(p, `record ${target}`, (hostName) =>
          recordColour({ plan: p, hostName, colour: target }),
        );
      if (stable === target) return;
      if (stable) {
        compensations.push({
          description: `switched traffic back to ${stable}`,
          run: async () => {
            for (const host of p.environment.hosts)
              await switchTraffic({ plan: p, hostName: host.name, weights: allOn(stable) });
            colours.live = stable;
            // Requests the new colour accepted finish before it is stopped.
            if (traffic.drainSeconds > 0) await sleep(traffic.drainSeconds * 1000);
          },
        });
      }
      // A canary needs a stable colour to compare against and new code to judge.
      if (colours.strategy === 'canary' && stable && !colours.reused) {
        await runCanary(tracker, p, target, canaryControls, (weight) =>
          onEveryHost(p, `route ${weight} % to ${target}`, (hostName) =>
            switchTraffic({ plan: p, hostName, weights: split(target, weight) }),
          ),
        );
      } else {
        await routeAllTo(p, target);
      }
      colours.live = target;
      // Requests the old colour accepted before the switch get time to finish.
      if (traffic.drainSeconds > 0) await step('drain', () => sleep(traffic.drainSeconds * 1000));
    },

    async finish(p, contractPending) {
      const { stable, target } = colours;
      const contract = contractPending.length > 0;
      if (!stable || stable === target || !p.previous) {
        // No old colour serves: nothing waits for the contract migrations.
        if (contract) await migrateContract(tracker, p);
        return;
      }
      const window = p.environment.traffic!.switchBackWindowSeconds;
      // The deployment is done: failing to schedule the clean-up must not undo it.
      try {
        await startChild(retireColour, {
          workflowId: `retire-${workflowInfo().workflowId}`,
          args: [
            {
              plan: p,
              colour: stable,
              release: p.previous.release,
              afterSeconds: window,
              ...(contract ? { contract: true } : {}),
            },
          ],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          staticSummary: `Stop ${stable} (release ${p.previous.release}) of ${p.environment.name} after the switch-back window`,
        });
        colours.retireAt = new Date(Date.now() + window * 1000).toISOString();
      } catch (err) {
        colours.retireError = `the old colour ${stable} stays up: its retirement could not be scheduled (${(err as Error).message})${contract ? '; the contract migrations wait for the next deployment' : ''}`;
      }
    },
  };

  /** The weights every host's routing file holds; hosts that disagree are refused, naming each. */
  async function routingOnEveryHost(p: DeployPlan): Promise<Weights | undefined> {
    const found: { host: string; weights?: Weights }[] = [];
    for (const host of p.environment.hosts)
      found.push({ host: host.name, weights: await readRouting({ plan: p, hostName: host.name }) });
    const described = found.map((f) =>
      f.weights ? `${f.host}: blue ${f.weights.blue} % green ${f.weights.green} %` : `${f.host}: no routing`,
    );
    // No routing file and routing with no colour live both mean: nothing is live yet.
    const weightsOf = (f: { weights?: Weights }) => f.weights ?? NONE_LIVE;
    const first = weightsOf(found[0]);
    const agree = found.every((f) => weightsOf(f).blue === first.blue && weightsOf(f).green === first.green);
    if (!agree)
      throw ApplicationFailure.nonRetryable(
        `the hosts disagree on the live colour (${described.join('; ')}): a deployment was cut off during its switch; deploy again after routing every host to one colour`,
        'ColoursDisagree',
      );
    return found.every((f) => f.weights) ? first : undefined;
  }

  async function targetRunsRelease(p: DeployPlan, target: Colour): Promise<boolean> {
    for (const host of p.environment.hosts) {
      const seen = await step(`inspect ${target} ${host.name}`, () =>
        inspectColour({ plan: p, hostName: host.name, colour: target }),
      );
      const sameImages = p.environment.services.every(
        (s) => seen.record?.images[s.name] === p.images[s.name],
      );
      const allRunning = p.environment.services.every((s) => seen.runningServices.includes(s.name));
      if (seen.record?.release !== p.request.release || !sameImages || !allRunning) return false;
    }
    return true;
  }
}

/**
 * Undo of the target colour on one host. Blue-green: it never took traffic (the switch-back
 * comes first), so it is stopped. In place: the previous release goes
 * back into the live colour.
 */
function undoTarget(p: DeployPlan, hostName: string, colours: ColourState): Compensation {
  const { target, stable } = colours;
  if (target === stable && p.previous) {
    const back: DeployPlan = {
      ...p,
      images: p.previous.images,
      request: { ...p.request, release: p.previous.release, images: p.previous.images },
    };
    return {
      description: `restored release ${p.previous.release} in ${target} on ${hostName}`,
      run: async () => {
        await uploadColour({ plan: back, hostName, colour: target });
        await startColour({ plan: back, hostName, colour: target });
        await recordColour({ plan: back, hostName, colour: target });
      },
    };
  }
  return {
    description: `stopped ${target} on ${hostName}`,
    run: () => stopColour({ plan: p, hostName, colour: target }).then(() => undefined),
  };
}
