/**
 * The local image registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1:5000:
 * filesystem storage under .lab/registry, no auth, plain HTTP on loopback.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabPaths, REGISTRY_ADDR } from './paths';
import {
  LabError,
  pidAlive,
  pidCommand,
  progress,
  readPidFile,
  spawnDetached,
  stopPid,
  waitFor,
  writeFileAtomic,
} from './util';

const BASE_URL = `http://${REGISTRY_ADDR}`;

export function registryConfig(p: LabPaths): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(p.registryDir)}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${REGISTRY_ADDR}`,
    '  secret: durable-deploy-lab-local-only',
    '',
  ].join('\n');
}

export function registryPid(p: LabPaths): number | undefined {
  const pid = readPidFile(p.registryPid);
  return pid && pidAlive(pid) && pidCommand(pid).includes('docker-registry') ? pid : undefined;
}

async function ping(timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetch(`${BASE_URL}/v2/`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.status === 200;
  } catch {
    return false;
  }
}

export async function startRegistry(p: LabPaths): Promise<number> {
  fs.mkdirSync(p.registryDir, { recursive: true });
  writeFileAtomic(p.registryConfig, registryConfig(p));
  const running = registryPid(p);
  if (running) {
    if (await ping()) {
      progress(`    registry already running (pid ${running})`);
      return running;
    }
    throw new LabError(
      `registry pid ${running} runs but ${BASE_URL}/v2/ does not answer; see ${p.logs}/registry.log`,
    );
  }
  if (await ping()) {
    throw new LabError(
      `something else already answers on ${REGISTRY_ADDR} (not started by this lab: ${p.registryPid})`,
    );
  }
  const pid = spawnDetached(
    ['docker-registry', 'serve', p.registryConfig],
    path.join(p.logs, 'registry.log'),
  );
  writeFileAtomic(p.registryPid, `${pid}\n`);
  await waitFor(
    `the registry to answer on ${BASE_URL}/v2/ (log: ${p.logs}/registry.log)`,
    15_000,
    async () => {
      if (!pidAlive(pid)) throw new LabError(`docker-registry exited; see ${p.logs}/registry.log`);
      return ping();
    },
  );
  progress(`    registry started (pid ${pid}) on ${REGISTRY_ADDR}, data in ${p.registryDir}`);
  return pid;
}

export async function stopRegistry(p: LabPaths): Promise<boolean> {
  const stopped = await stopPid(registryPid(p), 'docker-registry');
  fs.rmSync(p.registryPid, { force: true });
  return stopped;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new LabError(`GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** Repository -> tags, as the registry reports them. */
export async function listRegistry(): Promise<Record<string, string[]>> {
  const { repositories } = await getJson<{ repositories: string[] }>(`${BASE_URL}/v2/_catalog?n=1000`);
  const out: Record<string, string[]> = {};
  for (const repo of repositories ?? []) {
    const { tags } = await getJson<{ tags: string[] | null }>(`${BASE_URL}/v2/${repo}/tags/list`);
    out[repo] = (tags ?? []).sort();
  }
  return out;
}

export async function registryAnswers(): Promise<boolean> {
  return ping();
}
