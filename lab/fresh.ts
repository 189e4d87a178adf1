/**
 * Fresh hosts: spare lab hosts (lab-3 127.0.0.4, lab-4 127.0.0.5, lab-5 127.0.0.6) made into brand-new servers
 * for emergency deploys. Each is a lab host like lab-1 and lab-2 (own sshd on <address>:2222,
 * own podman engine, pinned host key) but belongs to no environment, and every creation starts
 * from nothing: no containers, images, volumes, app files or host key of an earlier run, and no
 * SSH session still attached to the old one. Its host config (.lab/fresh/<name>.yaml) is what
 * an emergency deploy request names as its host.
 *
 * Tests call createFreshHost() in-process; `npm run lab -- fresh-host [NAME] [--json]` is the CLI.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import type { HostConfig } from '../src/config/schema';
import { labHostConfig } from './config';
import {
  dockerEnv,
  enginePid,
  engineEnv,
  inHostMounts,
  listContainers,
  podmanArgv,
  startEngine,
} from './engine';
import { stopHost } from './hosts';
import { checkSsh, ensureKeys, sshdPid, startSshd, writeKnownHosts } from './sshd';
import {
  FRESH_HOSTS,
  fleetHosts,
  HOSTS,
  hostPaths,
  LabHost,
  labPaths,
  LabPaths,
  SPARE_HOSTS,
  SSH_PORT,
} from './paths';
import { descendants } from './processes';
import { reclaimKilledHost } from './reclaim';
import { ensureSystem } from './system';
import {
  LabError,
  pidAlive,
  progress,
  run,
  seconds,
  step,
  unmountUnder,
  waitFor,
  writeFileAtomic,
} from './util';

export interface FreshHost {
  /** .lab/fresh/<name>.yaml: the host config, valid against hostSchema. */
  hostFile: string;
  host: HostConfig;
  /** How long the creation took, wipe included. */
  seconds: number;
}

export function freshHostSpec(name: string = FRESH_HOSTS[0].name): LabHost {
  const spec = SPARE_HOSTS.find((h) => h.name === name);
  if (!spec) {
    const known = `${FRESH_HOSTS.map((h) => `${h.name} (${h.address})`).join(', ')}, and fleet-1 … fleet-${SPARE_HOSTS.length - FRESH_HOSTS.length}`;
    throw new LabError(`no spare lab host named '${name}': the fresh hosts are ${known}`);
  }
  return spec;
}

export function freshHostFile(p: LabPaths, name: string): string {
  return path.join(p.freshDir, `${name}.yaml`);
}

/** Fresh hosts created before (their directory is there), running or not. */
export function existingFreshHosts(p: LabPaths = labPaths()): LabHost[] {
  return SPARE_HOSTS.filter((h) => fs.existsSync(hostPaths(h, p.root).dir));
}

/** Every lab host whose host key exists, for known_hosts: the regular hosts and fresh ones. */
export function hostsWithKeys(p: LabPaths): LabHost[] {
  return [...HOSTS, ...SPARE_HOSTS].filter((h) => fs.existsSync(`${hostPaths(h, p.root).hostKey}.pub`));
}

/**
 * Leaves nothing of an earlier run: SSH sessions, containers (removed through the engine, so
 * netavark takes their bridges and firewall rules down), engine, sshd, then every file.
 */
async function wipe(host: LabHost, p: LabPaths): Promise<string> {
  const hp = hostPaths(host, p.root);
  fs.rmSync(freshHostFile(p, host.name), { force: true });
  // A host killed without down leaves processes, firewall rules, bridges and podman's belief
  // that its containers still run; one from another lab directory leaves the first three.
  await reclaimKilledHost(host, hp);
  if (!fs.existsSync(hp.dir)) return 'nothing to remove';

  const listener = sshdPid(hp);
  const sessions = listener ? descendants(listener) : [];
  for (const pid of sessions) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (sessions.length)
    await waitFor(`${host.name}'s old SSH sessions to end`, 5_000, () => !sessions.some(pidAlive), 50);

  const containers = fs.existsSync(hp.storage) ? await listContainers(hp) : [];
  if (enginePid(hp)) {
    const env = dockerEnv(hp);
    const running = containers.filter((c) => c.state === 'running').map((c) => c.name);
    // SIGKILL first: a graceful stop waits up to 10 s per container for data that goes anyway.
    if (running.length)
      await run(['docker', 'kill', ...running], { env, timeoutMs: 60_000, allowFailure: true });
    if (containers.length)
      await run(['docker', 'rm', '--force', '--volumes', ...containers.map((c) => c.name)], {
        env,
        timeoutMs: 120_000,
      });
  } else if (containers.length) {
    // No engine (crashed, or `down`): the CLI in the host's own netavark namespace does it.
    await run(inHostMounts(hp, podmanArgv(hp, 'rm', '--all', '--force', '--time', '0')), {
      env: engineEnv(hp),
      timeoutMs: 120_000,
    });
  }
  const stopped = await stopHost(host, p);

  await unmountUnder(hp.dir);
  try {
    fs.rmSync(hp.dir, { recursive: true, force: true });
  } catch (e) {
    throw new LabError(`cannot delete ${hp.dir} (${(e as Error).message}); is something still using it?`);
  }
  for (const log of ['podman', 'sshd'])
    fs.rmSync(path.join(p.logs, `${host.name}-${log}.log`), { force: true });
  return [
    `${containers.length} container(s) removed`,
    `${sessions.length} SSH session process(es) ended`,
    `sshd ${stopped.sshd ? 'stopped' : 'was not running'}`,
    `engine ${stopped.engine ? 'stopped' : 'was not running'}`,
    `${hp.dir} deleted`,
  ].join(', ');
}

/**
 * Creates (or re-creates from nothing) a fresh host and writes its host config. Needs the lab's
 * deploy key and machine settings (`lab up` makes them; this makes what is missing); images
 * come later, pulled by the pipeline from the lab registry.
 */
export async function createFreshHost(name?: string): Promise<FreshHost> {
  const t0 = Date.now();
  const host = freshHostSpec(name);
  const p = labPaths();
  ensureSystem();
  for (const d of [p.root, p.logs, p.hostsDir, p.freshDir]) fs.mkdirSync(d, { recursive: true });
  await ensureKeys(p);

  const label = `fresh host ${host.name} (${host.address}:${SSH_PORT})`;
  const removed = await step(`${host.name}: remove everything of an earlier run`, () => wipe(host, p));
  progress(`    ${removed}`);
  await step(label, async () => {
    await startEngine(host, p);
    await startSshd(host, p);
    writeKnownHosts(hostsWithKeys(p), p);
    await checkSsh(host, p);
  });

  const config = labHostConfig(host, p);
  const hostFile = freshHostFile(p, host.name);
  const header = `# Written by \`npm run lab -- fresh-host ${host.name}\`: a brand-new lab host for emergency deploys (validated against hostSchema).\n`;
  writeFileAtomic(hostFile, header + stringify(config, { lineWidth: 0 }));
  const ms = Date.now() - t0;
  progress(`${host.name} is a fresh host in ${seconds(ms)}`);
  return { hostFile, host: config, seconds: Number((ms / 1000).toFixed(1)) };
}

/** fleet-1 … fleet-N, each made as a fresh host (one after the other: the wipe and start are quick). */
export async function createFleet(count: number): Promise<FreshHost[]> {
  const made: FreshHost[] = [];
  for (const host of fleetHosts(count)) made.push(await createFreshHost(host.name));
  return made;
}
