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
import { publicHostKey } from './hosts';
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
  SSH_USER,
  WEB_SERVICES,
} from './paths';
import { LabError, writeFileAtomic } from './util';

export const SECRET_ENV = 'LAB_DB_PASSWORD';
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
    user: SSH_USER,
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

/** SITE_PORT for "site": the env-file key compose publishes the service on. */
export const portVariable = (service: string) => `${service.toUpperCase()}_PORT`;

export function environmentConfig(envName: HostSpec['environment'], p: LabPaths): EnvironmentConfig {
  const hosts = HOSTS.filter((h) => h.environment === envName);
  if (!hosts.length) throw new LabError(`no lab host belongs to ${envName}`);
  // A restore drill runs a scratch copy of the stack on the other lab host, on its own ports.
  const drillHost = HOSTS.find((h) => h.environment !== envName) ?? hosts[0];
  const hostConfig = (h: LabHost) => labHostConfig(h, p);
  const raw = {
    name: envName,
    project: PROJECT,
    composeCommand: ['docker-compose'],
    composeFiles: [COMPOSE_FILE, MIGRATE_COMPOSE_FILE],
    hosts: hosts.map(hostConfig),
    services: WEB_SERVICES.map((s) => ({
      name: s.name,
      image: demoImage(s.name),
      readinessUrl: `http://{host}:{${portVariable(s.name)}}/health/ready`,
      versionUrl: `http://{host}:{${portVariable(s.name)}}/version`,
    })),
    env: {
      ...Object.fromEntries(WEB_SERVICES.map((s) => [portVariable(s.name), String(s.port)])),
      PROXY_PORT: String(PROXY_PORT),
      POSTGRES_IMAGE: ROLE_IMAGES.postgres,
      REDIS_IMAGE: ROLE_IMAGES.redis,
      PROXY_IMAGE: ROLE_IMAGES.proxy,
    },
    secrets: { DB_PASSWORD: { fromEnv: SECRET_ENV } },
    deadlines: { healthSeconds: 60 },
    // Backed up before migrations, restored when a rollback follows a non-backward-compatible one.
    database: { service: 'db', user: 'app', name: 'app' },
    migrations: { service: 'migrate', command: ['node', 'server.js', 'migrate'] },
    // Gates run on the worker at the release's commit (--commit v2: the lab tags every image's
    // sources); production is stricter: the smoke test too, and an operator's approval.
    gates: {
      repository: appRepoPath(p),
      checks:
        envName === 'lab-production'
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
        ...Object.fromEntries(
          WEB_SERVICES.map((s) => [portVariable(s.name), String(s.port + DRILL_PORT_SHIFT)]),
        ),
        PROXY_PORT: String(PROXY_PORT + DRILL_PORT_SHIFT),
      },
      targets: { rpoSeconds: 3600, rtoSeconds: 300 },
    },
    ...(envName === 'lab-production' ? { approval: { required: true, timeoutSeconds: 900 } } : {}),
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

export function writeEnvironmentConfigs(p: LabPaths): string[] {
  const envs = [...new Set(HOSTS.map((h) => h.environment))];
  return envs.map((envName) => {
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

/** Keeps the secret stable across `up`s (the database volume was initialised with it). */
export function ensureSecrets(p: LabPaths): string {
  let value: string | undefined;
  if (fs.existsSync(p.secretsFile)) {
    const m = fs.readFileSync(p.secretsFile, 'utf8').match(new RegExp(`^${SECRET_ENV}=([A-Za-z0-9]+)$`, 'm'));
    value = m?.[1];
  }
  if (!value) value = randomBytes(18).toString('hex');
  writeFileAtomic(p.secretsFile, `${SECRET_ENV}=${value}\n`, 0o600);
  return value;
}
