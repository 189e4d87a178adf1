import type { EnvironmentConfig } from '../../config/schema';

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
  const size =
    rollout.batchSize ?? Math.max(1, Math.ceil((hosts.length * (rollout.batchPercent ?? 100)) / 100));
  const waves: string[][] = [];
  for (let i = 0; i < hosts.length; i += size) waves.push(hosts.slice(i, i + size).map((h) => h.name));
  return waves;
}
