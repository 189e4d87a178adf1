/**
 * What a lab host killed without `down` leaves behind, and taking it back. Its engine, sshd and
 * containers die, but the machine keeps what netavark set up for them: firewall rules (DNAT of
 * the published ports to container addresses that no longer answer: every probe then fails
 * with EHOSTUNREACH), bridges holding the host's gateway addresses, aardvark-dns bound to them,
 * and possibly conmon and container processes still running in the old engine's namespaces.
 *
 * A lab host owns its subnet pool (10.(100+index).0.0/16) and its block of bridge names, and
 * the same host name has the same ones in every lab directory (a CI clone's lab and the main
 * checkout's cannot run at once: they share addresses). So when a host's engine is not running,
 * everything on its subnet or bridges, and every process of a host of that name, is stale,
 * whichever lab directory made it.
 */
import * as fs from 'node:fs';
import { BRIDGE_BLOCK, enginePid, subnetPool } from './engine';
import type { HostPaths, LabHost } from './paths';
import { allPids, cmdline, hostStoragePattern, inHostContainer, procFile } from './processes';
import { progress, run } from './util';

/** The host's network identity: its subnet prefix ("10.103.") and its bridge names. */
export interface HostNetwork {
  subnetPrefix: string;
  bridges: Set<string>;
}

export function hostNetwork(host: LabHost): HostNetwork {
  const [a, b] = subnetPool(host).split('.');
  const first = host.index * BRIDGE_BLOCK + 1;
  const bridges = new Set(Array.from({ length: BRIDGE_BLOCK }, (_, i) => `podman${first + i}`));
  return { subnetPrefix: `${a}.${b}.`, bridges };
}

/** Chains netavark makes per network (NETAVARK-<hash>, NETAVARK-DN-<hash>); the rest are shared. */
const PER_NETWORK_CHAIN = /^NETAVARK-(?:DN-)?[0-9A-F]+$/;

function mentions(rule: string, net: HostNetwork): boolean {
  const escaped = net.subnetPrefix.replace(/\./g, '\\.');
  if (new RegExp(`(?<![\\d.])${escaped}\\d+\\.\\d+`).test(rule)) return true;
  for (const m of rule.matchAll(/(?:^|\s)-[io] (\S+)/g)) if (net.bridges.has(m[1])) return true;
  return false;
}

/**
 * From `iptables-save` output, the `iptables-restore --noflush` input that removes the host's
 * rules: its per-network chains (any rule about its subnet or bridges makes the chain its
 * network's) are flushed and deleted, and each rule of a shared chain that names its subnet or
 * bridges, or jumps to one of those chains, is deleted. Empty when nothing is stale.
 */
export function staleFirewallRules(saved: string, net: HostNetwork): string {
  const out: string[] = [];
  let table = '';
  let rules: { chain: string; spec: string }[] = [];
  const flush = () => {
    const byChain = new Map<string, string[]>();
    for (const r of rules) byChain.set(r.chain, [...(byChain.get(r.chain) ?? []), r.spec]);
    const stale = new Set(
      [...byChain]
        .filter(([c, specs]) => PER_NETWORK_CHAIN.test(c) && specs.some((s) => mentions(s, net)))
        .map(([c]) => c),
    );
    const deletions = rules
      .filter((r) => !stale.has(r.chain))
      .filter((r) => mentions(r.spec, net) || stale.has(/(?:^|\s)-j (\S+)/.exec(r.spec)?.[1] ?? ''))
      .map((r) => `-D ${r.chain} ${r.spec}`);
    if (deletions.length || stale.size)
      out.push(`*${table}`, ...deletions, ...[...stale].flatMap((c) => [`-F ${c}`, `-X ${c}`]), 'COMMIT');
    rules = [];
  };
  for (const line of saved.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    else if (line.startsWith('-A ')) {
      const rest = line.slice(3);
      const space = rest.indexOf(' ');
      rules.push({ chain: rest.slice(0, space), spec: rest.slice(space + 1) });
    } else if (line.trim() === 'COMMIT') flush();
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Bridges of the host (by name, or by a gateway address on its subnet), from `ip -j addr`. */
export function staleBridges(ipAddrJson: string, net: HostNetwork): string[] {
  const links = JSON.parse(ipAddrJson || '[]') as { ifname: string; addr_info?: { local?: string }[] }[];
  return links
    .filter(
      (l) =>
        net.bridges.has(l.ifname) || (l.addr_info ?? []).some((a) => a.local?.startsWith(net.subnetPrefix)),
    )
    .map((l) => l.ifname);
}

/**
 * Processes of a host of this name, from any lab directory: its engines and conmons (their
 * command lines name the host's storage), its containers' processes, and the aardvark-dns whose
 * /run/containers/networks is the host's own.
 */
export function hostProcesses(host: LabHost): number[] {
  const storage = hostStoragePattern(host.name);
  const networks = `/hosts/${host.name}/netavark-run `;
  const pids = allPids();
  const found = new Set<number>();
  const containerIds = new Set<string>();
  for (const pid of pids) {
    const cmd = cmdline(pid);
    const comm = procFile(pid, 'comm').trim();
    if ((comm === 'conmon' || comm === 'podman') && storage.test(cmd)) {
      found.add(pid);
      const id = /(?:^|\s)-c ([0-9a-f]{64})(?:\s|$)/.exec(cmd)?.[1];
      if (id) containerIds.add(id);
    } else if (comm === 'aardvark-dns') {
      const line = procFile(pid, 'mountinfo')
        .split('\n')
        .find((l) => l.split(' ')[4] === '/run/containers/networks');
      if (line && `${line.split(' ')[3]} `.endsWith(networks)) found.add(pid);
    }
  }
  // A container's processes: in a libpod cgroup, and either of a container one of those conmons
  // ran or (its conmon killed too) on a root filesystem from the host's storage.
  for (const pid of pids) {
    const id = /libpod-([0-9a-f]{64})/.exec(procFile(pid, 'cgroup'))?.[1];
    if (id && (containerIds.has(id) || inHostContainer(pid, host.name))) found.add(pid);
  }
  return [...found].sort((x, y) => x - y);
}

export interface Reclaimed {
  processes: number;
  firewallRules: number;
  bridges: string[];
}

/**
 * Take back what a killed host left: its processes (SIGKILL), its firewall rules and chains,
 * its bridges (with the veths still on them). Only for a host whose engine is not running:
 * the caller checks. Safe to repeat; a second run finds nothing.
 */
export async function reclaimHost(host: LabHost): Promise<Reclaimed> {
  const net = hostNetwork(host);
  const processes = hostProcesses(host);
  for (const pid of processes) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  let firewallRules = 0;
  const saved = await run(['iptables-save'], { allowFailure: true, timeoutMs: 30_000 });
  const restore = saved.code === 0 ? staleFirewallRules(saved.stdout, net) : '';
  if (restore) {
    firewallRules = restore.split('\n').filter((l) => /^-[DF] /.test(l)).length;
    await run(['iptables-restore', '--noflush'], { input: restore, timeoutMs: 30_000 });
  }
  const addrs = await run(['ip', '-j', 'addr', 'show', 'type', 'bridge'], { timeoutMs: 10_000 });
  const bridges = staleBridges(addrs.stdout, net);
  for (const bridge of bridges) {
    const ports = await run(['ip', '-j', 'link', 'show', 'master', bridge], {
      timeoutMs: 10_000,
      allowFailure: true,
    });
    for (const port of JSON.parse(ports.stdout || '[]') as { ifname: string }[])
      await run(['ip', 'link', 'del', port.ifname], { timeoutMs: 10_000, allowFailure: true });
    await run(['ip', 'link', 'del', bridge], { timeoutMs: 10_000 });
  }
  return { processes: processes.length, firewallRules, bridges };
}

/** One progress line when a host killed without `down` had left something behind. */
export function reportReclaimed(name: string, r: Reclaimed): void {
  if (!r.processes && !r.firewallRules && !r.bridges.length) return;
  progress(
    `    ${name}: reclaimed what a lab killed without down left: ${r.processes} process(es), ${r.firewallRules} firewall rule(s) and chain(s), bridges [${r.bridges.join(', ')}]`,
  );
}

/** The ids of the containers in the host's storage. */
function containerIds(hp: HostPaths): string[] {
  try {
    return fs.readdirSync(`${hp.storage}/overlay-containers`).filter((e) => /^[0-9a-f]{64}$/.test(e));
  } catch {
    return [];
  }
}

/**
 * Before a host's engine starts: when it is not running, take back what a killed run left, and
 * when that run did not stop cleanly (its engine's pid file is still there, or something was
 * left), drop the engine's per-run state as after a reboot. Otherwise podman still believes
 * the dead containers run, in network namespaces that are gone, and every command on them fails.
 */
export async function reclaimKilledHost(host: LabHost, hp: HostPaths): Promise<void> {
  if (enginePid(hp)) return;
  const reclaimed = await reclaimHost(host);
  reportReclaimed(host.name, reclaimed);
  const left = reclaimed.processes || reclaimed.firewallRules || reclaimed.bridges.length;
  if (left || fs.existsSync(hp.enginePid)) {
    // runc keeps container state machine-wide (/run/runc/<id>): a container killed with its
    // engine would otherwise fail to start again ("container with given ID already exists").
    for (const id of containerIds(hp)) {
      if (fs.existsSync(`/run/runc/${id}`))
        await run(['runc', 'delete', '--force', id], { allowFailure: true, timeoutMs: 30_000 });
    }
    for (const dir of [hp.runroot, hp.tmp, hp.netavarkRun]) fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(hp.enginePid, { force: true });
  }
}
