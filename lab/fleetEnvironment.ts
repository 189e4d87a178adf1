/**
 * The fleet's app: the demo api alone (scripts/bench/fleet-compose.yml, no database, so many
 * fit on one machine), on fleet hosts made by createFleet. One environment per host for the
 * fleet benchmark; one environment of several hosts, released in waves, for rolling releases
 * (`npm run lab -- fleet 4` writes it, the waves benchmark and the rolling-release test use it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import {
  environmentSchema,
  type EnvironmentConfig,
  type HostConfig,
  type RolloutConfig,
} from '../src/config/schema';
import { demoImage, labPaths } from './paths';
import { writeFileAtomic } from './util';

export const FLEET_COMPOSE_FILE = 'scripts/bench/fleet-compose.yml';

export function fleetEnvironment(
  name: string,
  hosts: HostConfig[],
  rollout?: Partial<RolloutConfig>,
): EnvironmentConfig {
  return environmentSchema.parse({
    name,
    project: 'fleet',
    composeCommand: ['docker-compose'],
    composeFiles: [FLEET_COMPOSE_FILE],
    hosts,
    ...(rollout ? { rollout } : {}),
    services: [
      {
        name: 'api',
        image: demoImage('api'),
        readinessUrl: 'http://{host}:18083/health/live',
        versionUrl: 'http://{host}:18083/version',
      },
    ],
    deadlines: { healthSeconds: 120 },
  });
}

/**
 * .lab/fleet-config/fleet.yaml: one environment of every fleet host, one wave (batchSize: all
 * of them); a config dir of its own, for `deployctl --config-dir` or a harness.
 */
export function writeFleetEnvironment(hosts: HostConfig[]): string {
  const dir = path.join(labPaths().root, 'fleet-config');
  fs.mkdirSync(dir, { recursive: true });
  const env = fleetEnvironment('fleet', hosts, { batchSize: hosts.length });
  const file = path.join(dir, 'fleet.yaml');
  const header = `# Written by \`npm run lab -- fleet ${hosts.length}\`: the fleet hosts as one environment, released in waves (validated against environmentSchema).\n`;
  writeFileAtomic(file, header + stringify(env, { lineWidth: 0 }));
  return file;
}
