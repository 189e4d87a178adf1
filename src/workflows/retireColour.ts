import { sleep } from '@temporalio/workflow';
import type { Colour } from '../config/schema';
import type { DeployPlan } from '../shared/deployment';
import { readRouting, runMigrations, stopColour } from './deploy/activities';
import { EnvironmentLock } from './deploy/lease';

export interface RetireColourInput {
  /** The deployment that switched away from the colour (its hosts and config). */
  plan: DeployPlan;
  colour: Colour;
  /** The release the colour ran when traffic left it: a colour that now runs another is left alone. */
  release: string;
  afterSeconds: number;
  /** The deployment left contract migrations pending: they run once the colour is stopped everywhere. */
  contract?: boolean;
}

export type RetireOutcome = 'stopped' | 'live again' | 'taken over';

/**
 * After the switch-back window, stop the colour a deployment switched away from, unless it
 * carries traffic again (a switch-back) or a later deployment took it over. Holds the
 * environment's lock while it looks and stops, so it never races a deployment.
 */
export async function retireColour(input: RetireColourInput): Promise<Record<string, RetireOutcome>> {
  await sleep(input.afterSeconds * 1000);
  const lock = new EnvironmentLock({ release: () => `retire ${input.colour}`, waiting: () => undefined });
  const plan: DeployPlan = { ...input.plan, request: { ...input.plan.request, onBusy: 'wait' } };
  await lock.acquire(plan);
  const outcome: Record<string, RetireOutcome> = {};
  try {
    for (const host of plan.environment.hosts) {
      const weights = await readRouting({ plan, hostName: host.name });
      if (weights && weights[input.colour] > 0) {
        outcome[host.name] = 'live again';
        continue;
      }
      const done = await stopColour({
        plan,
        hostName: host.name,
        colour: input.colour,
        onlyRelease: input.release,
      });
      outcome[host.name] = done === 'stopped' ? 'stopped' : 'taken over';
    }
    // Contract migrations only once no host runs the old code; otherwise the next deployment
    // finds them pending again.
    if (input.contract && Object.values(outcome).every((o) => o === 'stopped'))
      await runMigrations({ plan, hostName: plan.environment.hosts[0].name, phase: 'contract' });
  } finally {
    await lock.release();
  }
  return outcome;
}
