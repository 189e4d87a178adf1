/**
 * A lab host's container engine: its own podman service (storage, runroot, tmp dir, locks,
 * network configs, subnet pool and bridge names), so two hosts running the same compose project
 * never see each other's containers or networks; and its containers, started and stopped
 * through it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HostPaths, hostPaths, LabHost, LabPaths, PROJECT_ROOT } from './paths';
import {
  bootId,
  LabError,
  pidAlive,
  pidCommand,
  progress,
  readPidFile,
  run,
  spawnDetached,
  stopPid,
  waitFor,
  writeFileAtomic,
} from './util';

/**
 * podman names bridges podman1, podman2, ... looking only at its own network configs and at the
 * bridges that exist right now; netavark creates a bridge when the first container joins and
 * deletes it with the last. Two engines would both pick podman1 and share one bridge. Each host
 * therefore reserves the names of the hosts before it (placeholder networks without IPAM),
 * so host N allocates from podman(N*BLOCK+1) on. BLOCK networks per host is far more than a
 * compose project or two need.
 */
export const BRIDGE_BLOCK = 32;

const RESERVED_PREFIX = 'lab-reserved-';

export function subnetPool(host: LabHost): string {
  return `10.${100 + host.index}.0.0/16`;
}

export function containersConf(host: LabHost, hp: HostPaths): string {
  return [
    '# podman settings of one lab host (written by `npm run lab -- up`).',
    '[containers]',
    'default_ulimits = []',
    '',
    '[engine]',
    'runtime = "runc"',
    `tmp_dir = ${JSON.stringify(hp.tmp)}`,
    '# file locks under tmp_dir: the default shm lock table is shared by every engine on the machine',
    'lock_type = "file"',
    'events_logger = "file"',
    '',
    '[network]',
    'network_backend = "netavark"',
    `network_config_dir = ${JSON.stringify(hp.networks)}`,
    `default_subnet = "10.${100 + host.index}.0.0/24"`,
    `default_subnet_pools = [{"base" = "${subnetPool(host)}", "size" = 24}]`,
    '',
  ].join('\n');
}

function reservedNetworks(host: LabHost, hp: HostPaths): void {
  fs.mkdirSync(hp.networks, { recursive: true });
  for (let i = 1; i <= host.index * BRIDGE_BLOCK; i++) {
    const name = `${RESERVED_PREFIX}podman${i}`;
    const file = path.join(hp.networks, `${name}.json`);
    if (fs.existsSync(file)) continue;
    const id = `${'0'.repeat(56)}${i.toString(16).padStart(8, '0')}`;
    const config = {
      name,
      id,
      driver: 'bridge',
      network_interface: `podman${i}`,
      created: new Date().toISOString(),
      ipv6_enabled: false,
      internal: true,
      dns_enabled: false,
      labels: { 'durable-deploy.lab': 'reserved-bridge-name' },
      ipam_options: { driver: 'none' },
    };
    writeFileAtomic(file, `${JSON.stringify(config, null, 2)}\n`);
  }
}

export function enginePid(hp: HostPaths): number | undefined {
  const pid = readPidFile(hp.enginePid);
  return pid && pidAlive(pid) && pidCommand(pid).includes(hp.socket) ? pid : undefined;
}

export function engineEnv(hp: HostPaths): NodeJS.ProcessEnv {
  return { ...process.env, CONTAINERS_CONF: hp.containersConf };
}

export function podmanArgv(hp: HostPaths, ...args: string[]): string[] {
  return ['podman', '--root', hp.storage, '--runroot', hp.runroot, ...args];
}

const NETAVARK_WRAPPER = path.join(PROJECT_ROOT, 'lab', 'bin', 'with-host-netavark-dir.sh');

/** argv that runs `argv` in a private mount namespace where /run/containers/networks is this host's own. */
export function inHostMounts(hp: HostPaths, argv: string[]): string[] {
  return ['unshare', '--mount', '--propagation', 'private', 'sh', NETAVARK_WRAPPER, hp.netavarkRun, ...argv];
}

export function dockerEnv(hp: HostPaths): NodeJS.ProcessEnv {
  return { ...process.env, DOCKER_HOST: `unix://${hp.socket}` };
}

async function socketAnswers(hp: HostPaths): Promise<boolean> {
  const r = await run(['docker', 'version', '--format', '{{.Server.Version}}'], {
    env: dockerEnv(hp),
    allowFailure: true,
    timeoutMs: 5000,
  });
  return r.code === 0 && r.stdout.trim().length > 0;
}

export async function startEngine(host: LabHost, p: LabPaths, restart = false): Promise<number> {
  const hp = hostPaths(host, p.root);
  for (const d of [hp.dir, hp.storage, hp.networks, hp.srv]) fs.mkdirSync(d, { recursive: true });
  let running = enginePid(hp);
  let restartContainers: string[] = [];
  if (running && restart) {
    progress(`    ${host.name}: restarting its podman engine to pick up new podman settings`);
    // Containers must stop with the engine: their network namespaces live in its mount namespace.
    restartContainers = await stopContainers(hp);
    await stopPid(running, `${host.name} podman engine`);
    running = undefined;
  }
  writeFileAtomic(hp.containersConf, containersConf(host, hp));
  reservedNetworks(host, hp);
  if (running) {
    if (await socketAnswers(hp)) return running;
    throw new LabError(
      `${host.name}: podman engine pid ${running} does not answer on ${hp.socket}; see ${p.logs}`,
    );
  }
  // Per-boot state left from before a reboot would make podman think containers still run.
  const prevBoot = fs.existsSync(hp.bootId) ? fs.readFileSync(hp.bootId, 'utf8').trim() : '';
  if (prevBoot && prevBoot !== bootId()) {
    progress(`    ${host.name}: machine rebooted since the last up; clearing per-boot podman state`);
    fs.rmSync(hp.runroot, { recursive: true, force: true });
    fs.rmSync(hp.tmp, { recursive: true, force: true });
    fs.rmSync(hp.netavarkRun, { recursive: true, force: true });
  }
  fs.mkdirSync(hp.netavarkRun, { recursive: true });
  writeFileAtomic(hp.bootId, `${bootId()}\n`);
  fs.rmSync(hp.socket, { force: true });
  const pid = spawnDetached(
    inHostMounts(hp, podmanArgv(hp, 'system', 'service', '--time=0', `unix://${hp.socket}`)),
    path.join(p.logs, `${host.name}-podman.log`),
    engineEnv(hp),
  );
  writeFileAtomic(hp.enginePid, `${pid}\n`);
  await waitFor(
    `${host.name}'s podman engine on ${hp.socket} (log: ${p.logs}/${host.name}-podman.log)`,
    30_000,
    async () => {
      if (!pidAlive(pid))
        throw new LabError(`podman system service exited; see ${p.logs}/${host.name}-podman.log`);
      return socketAnswers(hp);
    },
  );
  await startContainers(hp, restartContainers);
  return pid;
}

export interface ContainerInfo {
  name: string;
  image: string;
  state: string;
  status: string;
  project?: string;
}

/**
 * Lists containers through the engine's API. The podman CLI cannot be used from this mount
 * namespace while the engine runs: container network namespaces are mounted under /run/netns
 * inside the engine's private mount namespace only.
 */
export async function listContainers(hp: HostPaths): Promise<ContainerInfo[]> {
  if (!enginePid(hp)) {
    const r = await run(podmanArgv(hp, 'ps', '-a', '--format', 'json'), {
      env: engineEnv(hp),
      timeoutMs: 30_000,
    });
    const list = JSON.parse(r.stdout || '[]') as {
      Names: string[];
      Image: string;
      State: string;
      Status: string;
      Labels?: Record<string, string>;
    }[];
    return list.map((c) => ({
      name: c.Names[0],
      image: c.Image,
      state: c.State,
      status: c.Status,
      project: c.Labels?.['com.docker.compose.project'],
    }));
  }
  const r = await run(['docker', 'ps', '-a', '--no-trunc', '--format', '{{json .}}'], {
    env: dockerEnv(hp),
    timeoutMs: 30_000,
  });
  return r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const c = JSON.parse(l) as {
        Names: string;
        Image: string;
        State: string;
        Status: string;
        Labels: string;
      };
      const project = c.Labels.split(',')
        .map((kv) => kv.split('='))
        .find(([k]) => k === 'com.docker.compose.project')?.[1];
      return { name: c.Names, image: c.Image, state: c.State, status: c.Status, project };
    });
}

/**
 * Starting and stopping goes through the host's engine (its API socket), never a podman CLI
 * in this mount namespace: network setup/teardown must see the engine's netavark directory.
 * Without a running engine the containers are stopped by a CLI in the same kind of namespace.
 */
async function containerOp(hp: HostPaths, op: 'stop' | 'start', names: string[]): Promise<void> {
  if (!names.length) return;
  const opts = { timeoutMs: 180_000 };
  if (enginePid(hp)) {
    const args = op === 'stop' ? ['stop', '--time', '10', ...names] : ['start', ...names];
    await run(['docker', ...args], { ...opts, env: dockerEnv(hp) });
  } else {
    const args = op === 'stop' ? ['stop', '--time', '10', ...names] : ['start', ...names];
    await run(inHostMounts(hp, podmanArgv(hp, ...args)), { ...opts, env: engineEnv(hp) });
  }
}

/** Stops every running container of the host's engine; returns the names that were running. */
export async function stopContainers(hp: HostPaths): Promise<string[]> {
  if (!fs.existsSync(hp.storage)) return [];
  const running = (await listContainers(hp)).filter((c) => c.state === 'running').map((c) => c.name);
  await containerOp(hp, 'stop', running);
  return running;
}

/** Starts containers again (those `down` stopped), skipping ones that no longer exist. */
export async function startContainers(hp: HostPaths, names: string[]): Promise<string[]> {
  const existing = new Set((await listContainers(hp)).map((c) => c.name));
  const todo = names.filter((n) => existing.has(n));
  await containerOp(hp, 'start', todo);
  return todo;
}
