/**
 * Lab hosts ("droplets"): each is an engine (lab/engine.ts) and an sshd (lab/sshd.ts) of its own;
 * what concerns a whole host lives here.
 */
import * as fs from 'node:fs';
import { hostPaths, LabHost, LabPaths } from './paths';
import { stopPid } from './util';
import { enginePid, stopContainers } from './engine';
import { sshdPid } from './sshd';

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
