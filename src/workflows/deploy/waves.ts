import { waveSize, type EnvironmentConfig } from '../../config/schema';

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
  const size = waveSize(rollout, hosts.length);
  const waves: string[][] = [];
  for (let i = 0; i < hosts.length; i += size) waves.push(hosts.slice(i, i + size).map((h) => h.name));
  return waves;
}

/** A wave's turns: at most `rollout.maxUnavailable` hosts each (the whole wave without it). */
export function waveTurns(wave: string[], maxUnavailable: number | undefined): string[][] {
  const size = Math.min(maxUnavailable ?? wave.length, wave.length);
  const turns: string[][] = [];
  for (let i = 0; i < wave.length; i += size) turns.push(wave.slice(i, i + size));
  return turns;
}
