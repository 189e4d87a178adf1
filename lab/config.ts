/**
 * The environment configs the pipeline reads for the lab (validated against the project's one
 * environment schema before they are written), and the secrets file the worker loads.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { environmentSchema, hostSchema, type EnvironmentConfig, type HostConfig } from '../src/config/schema';
import { appRepoPath } from './appRepo';
import { publicHostKey } from './sshd';
import {
  demoImage,
  hostPaths,
  HOSTS,
  HostSpec,
  LabHost,
  LabPaths,
  PROXY_PORT,
  REGISTRY_ADDR,
  ROLE_IMAGES,
  SSH_PORT,
  deployUserOf,
  WEB_SERVICES,
} from './paths';
import { LabError, writeFileAtomic } from './util';

export const SECRET_ENV = 'LAB_DB_PASSWORD';
/** The demo app in one compose project with published ports: recreate, for hosts without Traefik. */
export const COMPOSE_FILE = 'compose/docker-compose.yml';
/** The one-off migration service (see the file for why it is not `api` itself in the lab). */
export const MIGRATE_COMPOSE_FILE = 'compose/migrate.yml';
/** Compose project name used by both lab environments (each lives on its own hosts). */
export const PROJECT = 'demo';

/**
 * How the pipeline reaches one lab host (regular or fresh), validated against the schema's host
 * section: the deploy key, the pinned host key, and the host's own loopback address for the
 * ports its stack publishes.
 */
export function labHostConfig(host: LabHost, p: LabPaths): HostConfig {
  const parsed = hostSchema.safeParse({
    name: host.name,
    address: host.address,
    port: SSH_PORT,
    user: deployUserOf(host),
    privateKeyPath: p.deployKey,
    hostKey: publicHostKey(host, p.root),
    baseDir: hostPaths(host, p.root).srv,
    env: { BIND_ADDRESS: host.address },
  });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n  ');
    throw new LabError(`${host.name}'s host config does not match src/config/schema.ts:\n  ${issues}`);
  }
  return parsed.data;
}

/** A drill's scratch stack publishes on the live ports plus this, so both can run on one host. */
export const DRILL_PORT_SHIFT = 10_000;

/** Traefik's internal entrypoint (API, ping, metrics) on each lab host's own address. */
export const PROXY_ADMIN_PORT = 18090;
/** Where each lab host's Traefik serves HTTPS for the environment's domains (lab/webTls.ts). */
export const PROXY_TLS_PORT = 18443;

/** The demo app's shared stack (database, cache, Traefik) and one-off migrations container. */
export const SHARED_COMPOSE_FILES = ['compose/shared.yml', MIGRATE_COMPOSE_FILE];
/** One colour of the demo app's web services. */
export const COLOUR_COMPOSE_FILES = ['compose/web.yml'];

/**
 * The demo app's web services behind Traefik, as users reach them: the site at `/`, the others
 * under their own prefix (the app strips it), probed through the proxy.
 */
export function demoServicesBehindProxy(addressKey: string) {
  return WEB_SERVICES.map(({ name }) => ({
    name,
    image: demoImage(name),
    rule: name === 'site' ? 'PathPrefix(`/`)' : `PathPrefix(\`/${name}\`)`,
    readinessUrl: `http://{${addressKey}}:{PROXY_PORT}/${name}/health/ready`,
    versionUrl: `http://{${addressKey}}:{PROXY_PORT}/${name}/version`,
  }));
}

/** The settings the demo's one-project stack (COMPOSE_FILE) needs besides its images and address. */
export function plainStackEnv(): Record<string, string> {
  return {
    PROXY_PORT: String(PROXY_PORT),
    POSTGRES_IMAGE: ROLE_IMAGES.postgres,
    REDIS_IMAGE: ROLE_IMAGES.redis,
    PROXY_IMAGE: ROLE_IMAGES.proxy,
  };
}

/**
 * The demo app in one compose project behind its nginx proxy (COMPOSE_FILE), no colours:
 * recreate proper, on `staging`'s first host, in a directory (`dirName` under its baseDir) and
 * at a loopback address of its own. Callers add what they need (files, database, deadlines).
 */
export function plainDemoEnvironment(
  staging: EnvironmentConfig,
  opts: { name: string; project: string; dirName: string; address: string },
) {
  const host = staging.hosts[0]!;
  return {
    name: opts.name,
    project: opts.project,
    composeCommand: staging.composeCommand,
    composeFiles: [COMPOSE_FILE],
    strategy: 'recreate',
    hosts: [
      { ...host, baseDir: path.posix.join(host.baseDir, opts.dirName), env: { BIND_ADDRESS: opts.address } },
    ],
    services: WEB_SERVICES.map(({ name }) => ({
      name,
      image: demoImage(name),
      readinessUrl: `http://{BIND_ADDRESS}:{PROXY_PORT}/${name}/health/ready`,
      versionUrl: `http://{BIND_ADDRESS}:{PROXY_PORT}/${name}/version`,
    })),
    env: plainStackEnv(),
    secrets: staging.secrets,
  };
}

/** The demo app's migrations, each declaring expand or contract (colour releases need that). */
export const DEMO_MIGRATIONS = {
  service: 'migrate',
  command: ['node', 'server.js', 'migrate'],
  phases: {
    pending: ['node', 'server.js', 'migrate', '--pending'],
    expand: ['node', 'server.js', 'migrate', '--phase=expand'],
    contract: ['node', 'server.js', 'migrate', '--phase=contract'],
  },
};

/**
 * The lab's two environments, as a team would run the demo app: colours behind Traefik,
 * staging releasing blue-green and production as a canary (`deploy --strategy` overrides).
 */
export function environmentConfig(envName: HostSpec['environment'], p: LabPaths): EnvironmentConfig {
  const hosts = HOSTS.filter((h) => h.environment === envName);
  if (!hosts.length) throw new LabError(`no lab host belongs to ${envName}`);
  // A restore drill runs a scratch copy of the stack on the other lab host, on its own ports.
  const drillHost = HOSTS.find((h) => h.environment !== envName) ?? hosts[0];
  const hostConfig = (h: LabHost) => labHostConfig(h, p);
  const production = envName === 'lab-production';
  const raw = {
    name: envName,
    project: PROJECT,
    composeCommand: ['docker-compose'],
    composeFiles: SHARED_COMPOSE_FILES,
    strategy: production ? 'canary' : 'blue-green',
    traffic: {
      composeFiles: COLOUR_COMPOSE_FILES,
      network: `${PROJECT}-edge`,
      // HTTPS too: websecure is Traefik's TLS entrypoint (compose/shared.yml).
      entryPoints: ['web', 'websecure'],
      adminUrl: 'http://{host}:{PROXY_ADMIN_PORT}',
      drainSeconds: 2,
      switchBackWindowSeconds: 1800,
      // Short steps for a lab: the readiness probes through the canary's preview route give
      // the analysis its requests when no load runs.
      canary: { steps: [10, 50, 100], dwellSeconds: 10, minRequests: 10 },
    },
    hosts: hosts.map(hostConfig),
    services: demoServicesBehindProxy('host'),
    env: {
      PROXY_PORT: String(PROXY_PORT),
      PROXY_ADMIN_PORT: String(PROXY_ADMIN_PORT),
      PROXY_TLS_PORT: String(PROXY_TLS_PORT),
      POSTGRES_IMAGE: ROLE_IMAGES.postgres,
      REDIS_IMAGE: ROLE_IMAGES.redis,
      PROXY_IMAGE: ROLE_IMAGES.traefik,
    },
    secrets: { DB_PASSWORD: { fromEnv: SECRET_ENV } },
    deadlines: { healthSeconds: 60 },
    // Backed up before migrations, restored when a rollback follows a non-backward-compatible one.
    database: { service: 'db', user: 'app', name: 'app' },
    migrations: DEMO_MIGRATIONS,
    // Gates run on the worker at the release's commit (--commit v2: the lab tags every image's
    // sources); production is stricter: the smoke test too, and an operator's approval.
    gates: {
      repository: appRepoPath(p),
      checks: production
        ? [
            { name: 'syntax', command: ['node', '--check', 'server.js'], timeoutSeconds: 60 },
            { name: 'smoke', command: ['node', 'test/smoke.js'], timeoutSeconds: 60 },
          ]
        : [{ name: 'syntax', command: ['node', '--check', 'server.js'], timeoutSeconds: 60 }],
    },
    // Through the reverse proxy, as users reach the app, with a latency budget.
    postDeployChecks: {
      http: [
        { name: 'proxy-home', url: 'http://{host}:{PROXY_PORT}/', expectStatus: 200, latencyBudgetMs: 1000 },
        {
          name: 'proxy-api',
          url: 'http://{host}:{PROXY_PORT}/api/version',
          expectStatus: 200,
          latencyBudgetMs: 1000,
        },
      ],
    },
    // Verified backups into the worker's store; a lab schedule that fires rarely (tests apply
    // their own short ones).
    backups: { schedule: { every: '6h' }, retention: { keepLast: 3, dailyDays: 7, weeklyWeeks: 4 } },
    drills: {
      schedule: { cron: '0 4 * * 1' },
      host: hostConfig(drillHost),
      env: {
        PROXY_PORT: String(PROXY_PORT + DRILL_PORT_SHIFT),
        PROXY_ADMIN_PORT: String(PROXY_ADMIN_PORT + DRILL_PORT_SHIFT),
        PROXY_TLS_PORT: String(PROXY_TLS_PORT + DRILL_PORT_SHIFT),
      },
      targets: { rpoSeconds: 3600, rtoSeconds: 300 },
    },
    ...(production ? { approval: { required: true, timeoutSeconds: 900 } } : {}),
  };
  const parsed = environmentSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n  ');
    throw new LabError(`the lab's ${envName} config does not match src/config/schema.ts:\n  ${issues}`);
  }
  return parsed.data;
}

export function configFile(p: LabPaths, envName: string): string {
  return path.join(p.configDir, `${envName}.yaml`);
}

const labEnvironmentNames = () => [...new Set(HOSTS.map((h) => h.environment))];

/** The lab's environments as the pipeline reads them. */
export function labEnvironments(p: LabPaths): EnvironmentConfig[] {
  return labEnvironmentNames().map((envName) => environmentConfig(envName, p));
}

export function writeEnvironmentConfigs(p: LabPaths): string[] {
  return labEnvironmentNames().map((envName) => {
    const config = environmentConfig(envName, p);
    const file = configFile(p, envName);
    const header = `# Written by \`npm run lab -- up\` for the local lab (registry ${REGISTRY_ADDR}); regenerated on every up.\n`;
    writeFileAtomic(file, header + stringify(config, { lineWidth: 0 }));
    return file;
  });
}

/** The secrets file as environment variables, for the worker (`KEY=value` lines). */
export function readLabSecrets(secretsFile: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const line of fs.readFileSync(secretsFile, 'utf8').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** Secrets the webhook tests use: the path token of the receiver's URLs and its signing key. */
export const WEBHOOK_TOKEN_ENV = 'LAB_WEBHOOK_TOKEN';
export const WEBHOOK_KEY_ENV = 'LAB_WEBHOOK_SIGNING_KEY';

/**
 * Keeps the secrets stable across `up`s (the database volume was initialised with the
 * password); a missing one is generated. Returns the database password.
 */
export function ensureSecrets(p: LabPaths): string {
  const existing = fs.existsSync(p.secretsFile) ? readLabSecrets(p.secretsFile) : {};
  const values: Record<string, string> = {};
  for (const key of [SECRET_ENV, WEBHOOK_TOKEN_ENV, WEBHOOK_KEY_ENV]) {
    const value = existing[key];
    values[key] = value && /^[A-Za-z0-9]+$/.test(value) ? value : randomBytes(18).toString('hex');
  }
  const text = Object.entries(values)
    .map(([key, value]) => `${key}=${value}\n`)
    .join('');
  writeFileAtomic(p.secretsFile, text, 0o600);
  return values[SECRET_ENV];
}
