/**
 * A lab host's sshd on 127.0.0.N:2222 (its own host key, config and pid file), the deploy key,
 * the pinned known_hosts file, and SSH to a host as its deploy user.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deployUserOf, HostPaths, hostPaths, LabHost, LabPaths, SSH_PORT } from './paths';
import { pidAlive, pidCommand, progress, readPidFile, run, stopPid, waitFor, writeFileAtomic } from './util';

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

export function sshdPid(hp: HostPaths): number | undefined {
  const pid = readPidFile(hp.sshdPid);
  return pid && pidAlive(pid) && pidCommand(pid).includes('sshd') ? pid : undefined;
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
