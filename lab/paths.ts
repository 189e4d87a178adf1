/**
 * Where the lab keeps things, and the fixed facts about its hosts. One place for each fact:
 * the pipeline's tests read the same values through state.json and the environment configs.
 */
import * as os from 'node:os';
import * as path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '..');

/** State of a running lab: keys, registry data, host engines, logs. Gitignored. */
export function labDir(): string {
  return path.resolve(process.env.LAB_DIR || path.join(PROJECT_ROOT, '.lab'));
}

/** Image build cache, outside the clone so a fresh clone on the same machine reuses it. */
export function cacheDir(): string {
  return path.resolve(
    process.env.DEPLOY_LAB_CACHE || path.join(os.homedir(), '.cache', 'durable-deploy-lab'),
  );
}

export const REGISTRY_ADDR = '127.0.0.1:5000';
export const SSH_PORT = 2222;
export const SSH_USER = 'root';

/**
 * The least-privileged deploy user a lab host can be reached as: no sudo, no password, a home
 * of its own, the host's base directory, and the engine's socket through LAB_ENGINE_GROUP (a
 * real server's `docker` group). `lab up` creates both on this machine.
 */
export const LAB_DEPLOY_USER = 'lab-deploy';
export const LAB_ENGINE_GROUP = 'lab-engine';

/** What it takes to run a lab host: its own sshd, engine, storage and networks. */
export interface LabHost {
  name: string;
  address: string;
  /** 0-based, picks this host's subnet pool and bridge-name range; unique across all lab hosts. */
  index: number;
  /** Who the pipeline logs in as; root when absent. */
  deployUser?: string;
}

export function deployUserOf(host: LabHost): string {
  return host.deployUser ?? SSH_USER;
}

export interface HostSpec extends LabHost {
  environment: 'lab-staging' | 'lab-production';
}

// Staging deploys as a non-root user, production as root: the pipeline must work both ways.
export const HOSTS: HostSpec[] = [
  { name: 'lab-1', address: '127.0.0.2', index: 0, environment: 'lab-staging', deployUser: LAB_DEPLOY_USER },
  { name: 'lab-2', address: '127.0.0.3', index: 1, environment: 'lab-production' },
];

/**
 * Spare hosts `lab fresh-host` turns into brand-new servers for emergency deploys (or a backup
 * store host). They belong to no environment: an emergency deploy names its host in its request.
 */
export const FRESH_HOSTS: LabHost[] = [
  { name: 'lab-3', address: '127.0.0.4', index: 2 },
  { name: 'lab-4', address: '127.0.0.5', index: 3 },
  // A host of its own for a shared backup store (tests of several workers on one task queue).
  { name: 'lab-5', address: '127.0.0.6', index: 4 },
];

/** The most hosts `lab fleet` makes (their subnets and bridge names stay apart from the rest). */
export const MAX_FLEET = 20;

/**
 * Hosts for fleet benchmarks (`npm run lab -- fleet N`): fleet-1 … fleet-N on 127.0.1.1 …,
 * made and wiped like the fresh hosts, and as cheap (an sshd and an engine each).
 */
export function fleetHosts(count: number): LabHost[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_FLEET)
    throw new Error(`a fleet is 1 to ${MAX_FLEET} hosts, not ${count}`);
  return Array.from({ length: count }, (_, i) => ({
    name: `fleet-${i + 1}`,
    address: `127.0.1.${i + 1}`,
    index: FRESH_HOSTS.length + 2 + i,
  }));
}

/** Every host that fresh-host may make: the spares above and every possible fleet host. */
export const SPARE_HOSTS: LabHost[] = [...FRESH_HOSTS, ...fleetHosts(MAX_FLEET)];

/** The three web services of the demo app with their published ports (proxy: 18080). */
export const WEB_SERVICES = [
  { name: 'site', port: 18081 },
  { name: 'saas', port: 18082 },
  { name: 'api', port: 18083 },
] as const;
export const PROXY_PORT = 18080;

export const DEMO_TAGS = ['v1', 'v2', 'v3-unready'] as const;

export const ROLE_IMAGES = {
  postgres: `${REGISTRY_ADDR}/lab/postgres:15`,
  redis: `${REGISTRY_ADDR}/lab/redis:7`,
  proxy: `${REGISTRY_ADDR}/lab/proxy:1`,
  /** Traefik v3, the proxy that switches traffic between colours (lab/images/traefik). */
  traefik: `${REGISTRY_ADDR}/lab/traefik:3.7.15`,
} as const;

/**
 * The lab's base for the worker image: Debian with git, the PostgreSQL client and this machine's
 * Node.js (tagged with its version). Kept in the build engine, never pushed.
 */
export const LAB_WORKER_BASE = `localhost/lab/worker-base:node-${process.version}`;

/** The upstream Traefik binary the lab's traefik image packs: bootstrap's, or $TRAEFIK_PATH. */
export function traefikBinary(): string {
  return process.env.TRAEFIK_PATH || path.join(PROJECT_ROOT, '.tools', 'venv', 'bin', 'traefik');
}

export function demoImage(service: string, tag?: string): string {
  return tag ? `${REGISTRY_ADDR}/demo/${service}:${tag}` : `${REGISTRY_ADDR}/demo/${service}`;
}

export interface LabPaths {
  root: string;
  keys: string;
  deployKey: string;
  deployPub: string;
  knownHosts: string;
  registryDir: string;
  registryConfig: string;
  registryPid: string;
  logs: string;
  configDir: string;
  secretsFile: string;
  stateFile: string;
  hostsDir: string;
  /** Host config files of the fresh hosts (<name>.yaml). */
  freshDir: string;
}

export function labPaths(root = labDir()): LabPaths {
  return {
    root,
    keys: path.join(root, 'keys'),
    deployKey: path.join(root, 'keys', 'deploy_ed25519'),
    deployPub: path.join(root, 'keys', 'deploy_ed25519.pub'),
    knownHosts: path.join(root, 'known_hosts'),
    registryDir: path.join(root, 'registry'),
    registryConfig: path.join(root, 'registry.yml'),
    registryPid: path.join(root, 'registry.pid'),
    logs: path.join(root, 'logs'),
    configDir: path.join(root, 'config'),
    secretsFile: path.join(root, 'secrets.env'),
    stateFile: path.join(root, 'state.json'),
    hostsDir: path.join(root, 'hosts'),
    freshDir: path.join(root, 'fresh'),
  };
}

export interface HostPaths {
  dir: string;
  sshdConfig: string;
  /** A copy of the deploy key's public half that any login user can read (sshd reads it as them). */
  authorizedKeys: string;
  hostKey: string;
  sshdPid: string;
  enginePid: string;
  socket: string;
  storage: string;
  runroot: string;
  tmp: string;
  networks: string;
  /** Mounted on /run/containers/networks in the engine's own mount namespace (netavark/aardvark state). */
  netavarkRun: string;
  containersConf: string;
  srv: string;
  bootId: string;
}

export function hostPaths(host: LabHost, root = labDir()): HostPaths {
  const dir = path.join(root, 'hosts', host.name);
  return {
    dir,
    sshdConfig: path.join(dir, 'sshd_config'),
    authorizedKeys: path.join(dir, 'authorized_keys'),
    hostKey: path.join(dir, 'ssh_host_ed25519_key'),
    sshdPid: path.join(dir, 'sshd.pid'),
    enginePid: path.join(dir, 'podman.pid'),
    socket: path.join(dir, 'podman.sock'),
    storage: path.join(dir, 'storage'),
    runroot: path.join(dir, 'run'),
    tmp: path.join(dir, 'tmp'),
    networks: path.join(dir, 'networks'),
    netavarkRun: path.join(dir, 'netavark-run'),
    containersConf: path.join(dir, 'containers.conf'),
    srv: path.join(dir, 'srv'),
    bootId: path.join(dir, 'boot_id'),
  };
}
