/**
 * Lab hosts ("droplets"): each has its own sshd on 127.0.0.N:2222 and its own podman engine
 * (storage, runroot, tmp dir, locks, network configs, subnet pool and bridge names), so two
 * hosts running the same compose project never see each other's containers or networks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deployUserOf, HostPaths, hostPaths, LabHost, LabPaths, PROJECT_ROOT, SSH_PORT } from './paths';
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

export function sshdConfig(host: LabHost, hp: HostPaths): string {
  return [
    `# sshd of lab host ${host.name} (written by \`npm run lab -- up\`)`,
    `ListenAddress ${host.address}:${SSH_PORT}`,
    `HostKey ${hp.hostKey}`,
    `PidFile ${hp.sshdPid}`,
    `AuthorizedKeysFile ${hp.authorizedKeys}`,
    'StrictModes no',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    // Without PAM sshd refuses a locked account ("!" in /etc/shadow); PAM's account check accepts it.
    `UsePAM ${rootAccountLocked() ? 'yes' : 'no'}`,
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'PrintMotd no',
    'LogLevel INFO',
    `SetEnv DOCKER_HOST=unix://${hp.socket} LAB_HOST=${host.name} LAB_BASE_DIR=${hp.srv}`,
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

function rootAccountLocked(): boolean {
  try {
    const line = fs
      .readFileSync('/etc/shadow', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('root:'));
    return (line?.split(':')[1] ?? '').startsWith('!');
  } catch {
    return false;
  }
}

export async function ensureKeys(p: LabPaths): Promise<void> {
  fs.mkdirSync(p.keys, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(p.deployKey) || !fs.existsSync(p.deployPub)) {
    fs.rmSync(p.deployKey, { force: true });
    fs.rmSync(p.deployPub, { force: true });
    await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'durable-deploy-lab', '-f', p.deployKey]);
    progress(`    deploy key created: ${p.deployKey}`);
  }
  fs.chmodSync(p.deployKey, 0o600);
}

/** "ssh-ed25519 AAAA..." without the comment. */
export function publicHostKey(host: LabHost, root?: string): string {
  const hp = hostPaths(host, root);
  const [type, key] = fs.readFileSync(`${hp.hostKey}.pub`, 'utf8').trim().split(/\s+/);
  return `${type} ${key}`;
}

export function enginePid(hp: HostPaths): number | undefined {
  const pid = readPidFile(hp.enginePid);
  return pid && pidAlive(pid) && pidCommand(pid).includes(hp.socket) ? pid : undefined;
}

export function sshdPid(hp: HostPaths): number | undefined {
  const pid = readPidFile(hp.sshdPid);
  return pid && pidAlive(pid) && pidCommand(pid).includes('sshd') ? pid : undefined;
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

export async function startSshd(host: LabHost, p: LabPaths): Promise<number> {
  const hp = hostPaths(host, p.root);
  if (!fs.existsSync(hp.hostKey)) {
    await run([
      'ssh-keygen',
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      `${host.name}-host-key`,
      '-f',
      hp.hostKey,
    ]);
  }
  fs.chmodSync(hp.hostKey, 0o600);
  // sshd opens the authorized keys as the user logging in, who cannot enter the private keys dir.
  writeFileAtomic(hp.authorizedKeys, fs.readFileSync(p.deployPub, 'utf8'));
  fs.chmodSync(hp.authorizedKeys, 0o644);
  const config = sshdConfig(host, hp);
  const changed = !fs.existsSync(hp.sshdConfig) || fs.readFileSync(hp.sshdConfig, 'utf8') !== config;
  writeFileAtomic(hp.sshdConfig, config);
  // /run/sshd is sshd's privilege-separation directory; Debian creates it from its unit file.
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  await run(['/usr/sbin/sshd', '-t', '-f', hp.sshdConfig]);
  const running = sshdPid(hp);
  if (running && !changed) return running;
  if (running) {
    progress(`    ${host.name}: sshd_config changed, restarting sshd`);
    await stopPid(running, `${host.name} sshd`);
  }
  fs.rmSync(hp.sshdPid, { force: true });
  // sshd daemonises itself (the parent exits once it listens) and writes its PidFile.
  await run(['/usr/sbin/sshd', '-f', hp.sshdConfig, '-E', path.join(p.logs, `${host.name}-sshd.log`)], {
    timeoutMs: 15_000,
  });
  let pid: number | undefined;
  await waitFor(
    `${host.name}'s sshd to write ${hp.sshdPid} (log: ${p.logs}/${host.name}-sshd.log)`,
    10_000,
    () => {
      pid = sshdPid(hp);
      return pid !== undefined;
    },
  );
  return pid as number;
}

/** Writes known_hosts lines for every host: "[127.0.0.2]:2222 ssh-ed25519 AAAA...". */
export function writeKnownHosts(hosts: LabHost[], p: LabPaths): void {
  const lines = hosts.map((h) => `[${h.address}]:${SSH_PORT} ${publicHostKey(h, p.root)}`);
  writeFileAtomic(p.knownHosts, `${lines.join('\n')}\n`);
}

/** Runs a command over real SSH as the host's deploy user, with the deploy key and the pinned known_hosts file. */
export function sshArgv(host: LabHost, p: LabPaths, ...remote: string[]): string[] {
  return [
    'ssh',
    '-i',
    p.deployKey,
    '-p',
    String(SSH_PORT),
    '-o',
    `UserKnownHostsFile=${p.knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=5',
    '-o',
    'LogLevel=ERROR',
    `${deployUserOf(host)}@${host.address}`,
    ...remote,
  ];
}

export async function checkSsh(host: LabHost, p: LabPaths): Promise<void> {
  await waitFor(
    `ssh ${deployUserOf(host)}@${host.address}:${SSH_PORT} to run docker info`,
    20_000,
    async () => {
      const r = await run(sshArgv(host, p, 'docker', 'info', '--format', '{{.DockerRootDir}}'), {
        allowFailure: true,
        timeoutMs: 15_000,
      });
      const want = hostPaths(host, p.root).storage;
      if (r.code !== 0) return (r.stderr || r.stdout).trim();
      if (r.stdout.trim() !== want) return `reached the wrong engine: ${r.stdout.trim()} (want ${want})`;
      return true;
    },
  );
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

export async function stopHost(
  host: LabHost,
  p: LabPaths,
): Promise<{ containers: string[]; sshd: boolean; engine: boolean }> {
  const hp = hostPaths(host, p.root);
  const containers = await stopContainers(hp);
  const sshd = await stopPid(sshdPid(hp), `${host.name} sshd`);
  const engine = await stopPid(enginePid(hp), `${host.name} podman engine`);
  fs.rmSync(hp.sshdPid, { force: true });
  fs.rmSync(hp.enginePid, { force: true });
  return { containers, sshd, engine };
}
