/**
 * The lab's least-privileged deploy user, set up as a careful admin would on a real server: a
 * system account that logs in with the deploy key only (no password, no sudo), owns the host's
 * base directory and reaches the container engine through its socket's group, like the
 * `docker` group. Nothing else on the machine is writable to it.
 */
import * as fs from 'node:fs';
import { HostPaths, LAB_ENGINE_GROUP } from './paths';
import { LabError, progress, run } from './util';

async function exists(database: 'group' | 'passwd', name: string): Promise<boolean> {
  return (await run(['getent', database, name], { allowFailure: true, timeoutMs: 10_000 })).code === 0;
}

/** Creates the engine group and the user when missing; safe to run on every `lab up`. */
export async function ensureDeployUser(user: string): Promise<void> {
  if (!(await exists('group', LAB_ENGINE_GROUP))) {
    await run(['groupadd', '--system', LAB_ENGINE_GROUP]);
    progress(`    created group ${LAB_ENGINE_GROUP} (the lab engines' socket group)`);
  }
  if (!(await exists('passwd', user))) {
    // '*' rather than useradd's locked '!': sshd without PAM refuses a locked account's key login.
    await run([
      'useradd',
      '--system',
      '--create-home',
      '--shell',
      '/bin/sh',
      '--password',
      '*',
      '--gid',
      LAB_ENGINE_GROUP,
      user,
    ]);
    progress(`    created system user ${user} (group ${LAB_ENGINE_GROUP}, no password, no sudo)`);
    return;
  }
  const group = (await run(['id', '-gn', user])).stdout.trim();
  if (group !== LAB_ENGINE_GROUP) {
    throw new LabError(
      `user ${user} exists with primary group ${group}, not ${LAB_ENGINE_GROUP}: remove it (userdel ${user}) and run up again`,
    );
  }
}

/** The engine's API socket answers its group as it does root: a real server's docker.sock. */
export function shareEngineSocket(hp: HostPaths, gid: number): void {
  fs.chownSync(hp.socket, 0, gid);
  fs.chmodSync(hp.socket, 0o660);
}

/** The base directory and everything in it (files an earlier root lab or a test left) belong to the user. */
export async function giveBaseDir(hp: HostPaths, user: string): Promise<void> {
  fs.mkdirSync(hp.srv, { recursive: true });
  await run(['chown', '-R', `${user}:${LAB_ENGINE_GROUP}`, hp.srv], { timeoutMs: 120_000 });
}

export async function engineGroupId(): Promise<number> {
  const line = (await run(['getent', 'group', LAB_ENGINE_GROUP])).stdout.trim();
  return Number(line.split(':')[2]);
}
