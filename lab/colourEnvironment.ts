/**
 * An environment with colours behind Traefik on a lab host, apart from the lab's own stacks: its
 * own project, network, base directory, address and ports. The colour integration test and the
 * strategies benchmark deploy the demo app to it.
 */
import { posix } from 'node:path';
import { colourDown, missingColourFile } from '../src/commands/colours';
import { remoteLayout } from '../src/commands/layout';
import { composeBase } from '../src/commands/compose';
import { environmentSchema, type EnvironmentConfig, type HostConfig } from '../src/config/schema';
import { withHost } from '../src/remote/executor';
import { ROLE_IMAGES } from './paths';
import {
  COLOUR_COMPOSE_FILES,
  DEMO_MIGRATIONS,
  demoServicesBehindProxy,
  SECRET_ENV,
  SHARED_COMPOSE_FILES,
} from './config';

export interface ColourEnvironmentOptions {
  name: string;
  project: string;
  /** A lab host's config (its SSH access); the environment gets a base directory of its own on it. */
  host: HostConfig;
  /** A loopback address of its own, where the proxy publishes its ports. */
  bindAddress: string;
  proxyPort: number;
  adminPort: number;
  strategy?: 'recreate' | 'blue-green' | 'canary';
  canary?: { steps: number[]; dwellSeconds: number; minRequests: number };
}

export function colourEnvironment(opts: ColourEnvironmentOptions): EnvironmentConfig {
  const { project } = opts;
  return environmentSchema.parse({
    name: opts.name,
    project,
    composeCommand: ['docker-compose'],
    composeFiles: SHARED_COMPOSE_FILES,
    strategy: opts.strategy ?? 'blue-green',
    traffic: {
      composeFiles: COLOUR_COMPOSE_FILES,
      network: `${project}-edge`,
      adminUrl: 'http://{BIND_ADDRESS}:{PROXY_ADMIN_PORT}',
      drainSeconds: 2,
      switchBackWindowSeconds: 600,
      ...(opts.canary ? { canary: opts.canary } : {}),
    },
    hosts: [
      {
        ...opts.host,
        baseDir: posix.join(opts.host.baseDir, project),
        env: { BIND_ADDRESS: opts.bindAddress },
      },
    ],
    services: demoServicesBehindProxy('BIND_ADDRESS'),
    env: {
      PROXY_PORT: String(opts.proxyPort),
      PROXY_ADMIN_PORT: String(opts.adminPort),
      // Next to the proxy's own: several colour environments share one bind address.
      PROXY_TLS_PORT: String(opts.proxyPort + 5),
      POSTGRES_IMAGE: ROLE_IMAGES.postgres,
      REDIS_IMAGE: ROLE_IMAGES.redis,
      PROXY_IMAGE: ROLE_IMAGES.traefik,
    },
    secrets: { DB_PASSWORD: { fromEnv: SECRET_ENV } },
    deadlines: { healthSeconds: 30 },
    database: { service: 'db', user: 'app', name: 'app' },
    migrations: DEMO_MIGRATIONS,
    // A generous latency budget: slowness is the canary analysis' to catch (v7-slow answers in 3.5 s).
    postDeployChecks: {
      http: [
        {
          name: 'api-version',
          url: 'http://{BIND_ADDRESS}:{PROXY_PORT}/api/version',
          latencyBudgetMs: 10_000,
        },
      ],
    },
  });
}

/**
 * Both colours, the shared stack with its volumes, and the base directory: gone. A colour or
 * stack that was never deployed is skipped; anything that fails to go is reported, after the
 * rest was still tried, so a leak shows instead of confusing the next test.
 */
export async function destroyColourEnvironment(environment: EnvironmentConfig): Promise<void> {
  const host = environment.hosts[0];
  const failures: string[] = [];
  const attempt = async (what: string, work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (err) {
      failures.push(`${what}: ${(err as Error).message}`);
    }
  };
  await withHost(host, async (h) => {
    for (const colour of ['blue', 'green'] as const) {
      const missing = await h.run(missingColourFile(environment, host, colour), {
        timeoutMs: 30_000,
        okCodes: [0, 1],
      });
      if (missing.code === 0)
        await attempt(`${colour} down`, () =>
          h.run(colourDown(environment, host, colour), { timeoutMs: 120_000 }),
        );
    }
    const { appDir } = remoteLayout(environment, host);
    if ((await h.run(['test', '-d', appDir], { timeoutMs: 30_000, okCodes: [0, 1] })).code === 0)
      await attempt('shared stack down', () =>
        h.run([...composeBase(environment, host), 'down', '--volumes', '--timeout', '5'], {
          timeoutMs: 120_000,
        }),
      );
    await attempt(`rm -rf ${host.baseDir}`, () =>
      h.run(['rm', '-rf', '--', host.baseDir], { timeoutMs: 60_000 }),
    );
  });
  if (failures.length)
    throw new Error(
      `destroying ${environment.name} on ${host.name} left things behind:\n  ${failures.join('\n  ')}`,
    );
}
