import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { DeployActivities } from '../activities';
import type { Colour } from '../config/schema';
import type { DeployPlan } from '../shared/deployment';
import { allOn } from '../traffic/colours';
import { activityPolicies } from './activityPolicies';

/**
 * A restored stack starts its release as the first colour of a new environment would: blue,
 * with all traffic routed to it, so the next deployment there finds blue live and releases
 * green next to it.
 */
export const RESTORED_COLOUR: Colour = 'blue';

/**
 * Putting a release on a host where nothing of the environment runs yet (a drill's scratch
 * stack, a brand-new server), in the steps a recovery reports: upload, pull, start, checks.
 * Without a traffic section the release is the environment's own compose files; with one it
 * is the shared stack plus one colour behind Traefik, the layout every later deployment expects.
 */
export function restoredRelease(
  onHost: { plan: DeployPlan; hostName: string },
  policy: (options: ActivityOptions) => ActivityOptions = (options) => options,
) {
  const proxy = <K extends keyof typeof activityPolicies & keyof DeployActivities>(name: K) =>
    proxyActivities<DeployActivities>(policy(activityPolicies[name]))[name];
  const colours = onHost.plan.environment.traffic !== undefined;
  const onColour = { ...onHost, colour: RESTORED_COLOUR };
  return {
    async upload(): Promise<void> {
      await proxy('uploadRelease')(onHost);
      if (colours) await proxy('uploadColour')(onColour);
    },
    async pull(): Promise<void> {
      await proxy('pullImages')(onHost);
      if (colours) await proxy('pullColour')(onColour);
    },
    async start(): Promise<void> {
      if (!colours) {
        await proxy('startServices')(onHost);
        return;
      }
      await proxy('startSharedStack')(onHost);
      await proxy('startColour')(onColour);
      await proxy('switchTraffic')({ ...onHost, weights: allOn(RESTORED_COLOUR) });
      await proxy('recordColour')(onColour);
    },
    /**
     * The post-deploy checks; with colours, the web services are looked for in the colour's
     * project. Not the domain checks: users do not reach this stack by the domains (yet).
     */
    async checks(): Promise<void> {
      await proxy('postDeployChecks')(
        colours
          ? { plan: onHost.plan, colour: RESTORED_COLOUR, domains: false }
          : { plan: onHost.plan, domains: false },
      );
    },
  };
}
