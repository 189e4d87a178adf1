import { waveSize, type EnvironmentConfig } from '../../config/schema';
import { groupsOf } from '../../shared/lists';

/**
 * The hosts of a rolling release, wave by wave, in the configured order: `rollout.batchSize`
 * hosts each, or `rollout.batchPercent` of them rounded up. Undefined without a rollout section
 * or with a single host: the release then starts the hosts one after another before one
 * health wait.
 */
export function rolloutWaves(
  environment: Pick<EnvironmentConfig, 'hosts' | 'rollout'>,
): string[][] | undefined {
  const { rollout, hosts } = environment;
  if (!rollout || hosts.length < 2) return undefined;
  return groupsOf(
    hosts.map((h) => h.name),
    waveSize(rollout, hosts.length),
  );
}

/** A wave's turns: at most `rollout.maxUnavailable` hosts each (the whole wave without it). */
export function waveTurns(wave: string[], maxUnavailable: number | undefined): string[][] {
  return groupsOf(wave, maxUnavailable ?? Math.max(1, wave.length));
}
