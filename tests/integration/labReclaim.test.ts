/**
 * A lab host killed without `down` (its engine, sshd and container SIGKILLed, as when a CI job
 * is killed) leaves netavark's firewall rules, bridges and aardvark-dns behind: a new container
 * on the same published port is then unreachable (DNAT to a dead address). Making the host
 * again must take all of that back. Runs on the spare host lab-4 only (as firstDay.test does,
 * in the same shard, one after the other), so the shared lab keeps running.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createFreshHost } from '../../lab/fresh';
import { dockerEnv, enginePid } from '../../lab/engine';
import { sshdPid } from '../../lab/sshd';
import { FRESH_HOSTS, demoImage, hostPaths, labPaths } from '../../lab/paths';
import { hostNetwork, hostProcesses, reclaimHost } from '../../lab/reclaim';
import { pidAlive } from '../../lab/util';
import { requireLab } from './harness';

requireLab();
const host = FRESH_HOSTS.find((h) => h.name === 'lab-4')!;
const net = hostNetwork(host);
const URL_READY = `http://${host.address}:18980/health/ready`;

function docker(...args: string[]): string {
  const env = dockerEnv(hostPaths(host, labPaths().root));
  return execFileSync('docker', args, { env, encoding: 'utf8', timeout: 120_000 }).trim();
}

/** Starts the demo api (no database) on lab-4 with a published port, on a network of its own. */
function startWeb(): void {
  docker('network', 'create', 'reclaim-net');
  docker(
    'run',
    '--detach',
    '--name',
    'web',
    '--network',
    'reclaim-net',
    '--publish',
    `${host.address}:18980:8080`,
    '--env',
    'APP_DATABASE=none',
    '--env',
    'APP_RELEASE=reclaim',
    demoImage('api', 'v1'),
  );
}

async function answers(): Promise<boolean> {
  try {
    return (await fetch(URL_READY, { signal: AbortSignal.timeout(2_000) })).status === 200;
  } catch {
    return false;
  }
}

async function answersWithin(ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await answers()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

const firewallMentions = () =>
  execFileSync('iptables-save', { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(` ${net.subnetPrefix}`));
const bridgesOnSubnet = () =>
  (
    JSON.parse(execFileSync('ip', ['-j', 'addr', 'show', 'type', 'bridge'], { encoding: 'utf8' })) as {
      ifname: string;
      addr_info?: { local?: string }[];
    }[]
  )
    .filter((l) => (l.addr_info ?? []).some((a) => a.local?.startsWith(net.subnetPrefix)))
    .map((l) => l.ifname);

test('a lab host killed without down is taken back: rules, bridges and processes go, and the same port answers again', async () => {
  await createFreshHost(host.name);
  startWeb();
  expect(await answersWithin(60_000)).toBe(true);
  const hp = hostPaths(host, labPaths().root);
  // The container's process and its conmon (its parent), which outlive a killed engine.
  const containerPid = Number(docker('inspect', '--format', '{{.State.Pid}}', 'web'));
  const stat = readFileSync(`/proc/${containerPid}/stat`, 'utf8');
  const conmonPid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  const containerPids = [containerPid, conmonPid];

  // Killed uncleanly: nothing gets to tear its networks down.
  for (const pid of [enginePid(hp), sshdPid(hp), ...containerPids]) if (pid) process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while (containerPids.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(containerPids.filter(pidAlive)).toEqual([]);

  // What it left: the DNAT rule to the dead container, the bridge, and the port answers no more.
  expect(firewallMentions().length).toBeGreaterThan(0);
  expect(bridgesOnSubnet().length).toBeGreaterThan(0);
  expect(await answers()).toBe(false);

  const reclaimed = await reclaimHost(host);
  console.log(
    `reclaimed on ${host.name}: ${reclaimed.processes} process(es), ${reclaimed.firewallRules} firewall rule(s)/chain(s), bridges ${reclaimed.bridges.join(', ')}`,
  );
  expect(reclaimed.firewallRules).toBeGreaterThan(0);
  expect(reclaimed.bridges.length).toBeGreaterThan(0);
  expect(firewallMentions()).toEqual([]);
  expect(bridgesOnSubnet()).toEqual([]);
  expect(hostProcesses(host)).toEqual([]);
  // A second run finds nothing: safe to repeat.
  expect(await reclaimHost(host)).toEqual({ processes: 0, firewallRules: 0, bridges: [] });

  // Made again, the same container on the same port answers.
  await createFreshHost(host.name);
  startWeb();
  expect(await answersWithin(60_000)).toBe(true);
  docker('rm', '--force', 'web');
});
