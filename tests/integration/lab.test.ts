/**
 * The lab works as the pipeline needs it: pinned-key SSH to each host, each host's own engine,
 * the registry's demo tags, and a real compose round trip on one host.
 * Assumes `npm run lab -- up` ran; fails (never skips) when the lab is not up.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NodeSSH } from 'node-ssh';
import { quote } from 'shell-quote';
import { parse } from 'yaml';
import { environmentSchema } from '../../src/config/schema';
import {
  DEMO_TAGS,
  hostPaths,
  HOSTS,
  labPaths,
  PROJECT_ROOT,
  REGISTRY_ADDR,
  ROLE_IMAGES,
  SSH_PORT,
} from '../../lab/paths';

jest.setTimeout(120_000);

const p = labPaths();
const NOT_UP = 'the lab is not up: run `npm run lab -- up` first';

function pinnedKey(hostName: string): string {
  for (const env of ['lab-staging', 'lab-production']) {
    const file = path.join(p.configDir, `${env}.yaml`);
    if (!fs.existsSync(file)) throw new Error(`${NOT_UP} (missing ${file})`);
    const config = environmentSchema.parse(parse(fs.readFileSync(file, 'utf8')));
    const host = config.hosts.find((h) => h.name === hostName);
    if (host) return host.hostKey;
  }
  throw new Error(`${NOT_UP} (no config names host ${hostName})`);
}

async function connect(address: string, hostKey: string): Promise<NodeSSH> {
  const expected = hostKey.split(' ')[1];
  const ssh = new NodeSSH();
  await ssh.connect({
    host: address,
    port: SSH_PORT,
    username: 'root',
    privateKeyPath: p.deployKey,
    readyTimeout: 10_000,
    hostVerifier: (key: Buffer) => key.toString('base64') === expected,
  });
  return ssh;
}

async function sh(ssh: NodeSSH, argv: string[], cwd?: string): Promise<string> {
  const r = await ssh.execCommand(quote(argv), { cwd });
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (exit ${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

async function pollHttp(url: string, want: (status: number, body: string) => boolean, deadlineMs: number) {
  const end = Date.now() + deadlineMs;
  let last = '';
  while (Date.now() < end) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
      const body = await res.text();
      if (want(res.status, body)) return body;
      last = `HTTP ${res.status} ${body.trim()}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${url} did not answer as expected within ${deadlineMs / 1000} s; last: ${last}`);
}

beforeAll(async () => {
  if (!fs.existsSync(p.stateFile) || !fs.existsSync(p.deployKey))
    throw new Error(`${NOT_UP} (no ${p.stateFile})`);
  try {
    const res = await fetch(`http://${REGISTRY_ADDR}/v2/`, { signal: AbortSignal.timeout(3000) });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  } catch (e) {
    throw new Error(`${NOT_UP} (registry ${REGISTRY_ADDR}: ${(e as Error).message})`);
  }
});

describe.each(HOSTS.map((h) => [h.name, h] as const))('host %s', (_name, host) => {
  test('SSH with the pinned host key reaches this host’s own engine', async () => {
    const ssh = await connect(host.address, pinnedKey(host.name));
    try {
      const root = (await sh(ssh, ['docker', 'info', '--format', '{{.DockerRootDir}}'])).trim();
      expect(root).toBe(hostPaths(host, p.root).storage);
      await sh(ssh, ['docker', 'ps']);
    } finally {
      ssh.dispose();
    }
  });

  test('a wrong pinned host key is refused', async () => {
    const other = HOSTS.find((h) => h.name !== host.name);
    if (!other) throw new Error('the lab needs at least two hosts');
    await expect(connect(host.address, pinnedKey(other.name))).rejects.toThrow(/verification failed/i);
  });
});

test('the registry lists the demo and role tags', async () => {
  const tags = async (repo: string) => {
    const res = await fetch(`http://${REGISTRY_ADDR}/v2/${repo}/tags/list`);
    return ((await res.json()) as { tags: string[] }).tags;
  };
  for (const svc of ['site', 'saas', 'api']) {
    expect((await tags(`demo/${svc}`)).sort()).toEqual(expect.arrayContaining([...DEMO_TAGS]));
  }
  for (const ref of Object.values(ROLE_IMAGES)) {
    const [repo, tag] = ref.slice(REGISTRY_ADDR.length + 1).split(':');
    expect(await tags(repo)).toContain(tag);
  }
});

test('compose round trip on lab-1: v1 answers /version and gets ready, then goes away', async () => {
  const host = HOSTS[0];
  const ssh = await connect(host.address, pinnedKey(host.name));
  const project = `labtest-${process.pid}`;
  const dir = path.posix.join(hostPaths(host, p.root).srv, project);
  // Its own address, so a deploy running on the host's address is not disturbed.
  const bind = '127.0.0.66';
  const compose = ['docker-compose', '--env-file', '.env', '-p', project, '-f', 'docker-compose.yml'];
  try {
    await sh(ssh, ['mkdir', '-p', dir]);
    await ssh.putFile(path.join(PROJECT_ROOT, 'compose', 'docker-compose.yml'), `${dir}/docker-compose.yml`);
    const env = {
      SITE_IMAGE: `${REGISTRY_ADDR}/demo/site:v1`,
      SAAS_IMAGE: `${REGISTRY_ADDR}/demo/saas:v1`,
      API_IMAGE: `${REGISTRY_ADDR}/demo/api:v1`,
      POSTGRES_IMAGE: ROLE_IMAGES.postgres,
      REDIS_IMAGE: ROLE_IMAGES.redis,
      PROXY_IMAGE: ROLE_IMAGES.proxy,
      APP_RELEASE: project,
      DB_PASSWORD: 'labtestpassword',
      BIND_ADDRESS: bind,
    };
    const envFile = Object.entries(env)
      .map(([k, v]) => `${k}=${v}\n`)
      .join('');
    const local = path.join(p.root, `${project}.env`);
    fs.writeFileSync(local, envFile, { mode: 0o600 });
    try {
      await ssh.putFile(local, `${dir}/.env`);
    } finally {
      fs.rmSync(local, { force: true });
    }
    await sh(ssh, [...compose, 'pull', '-q'], dir);
    await sh(ssh, [...compose, 'up', '-d'], dir);

    const version = await pollHttp(`http://${bind}:18083/version`, (s) => s === 200, 30_000);
    expect(JSON.parse(version)).toEqual({ service: 'api', version: 'v1', release: project });
    await pollHttp(`http://${bind}:18081/health/ready`, (s) => s === 200, 60_000);
    await pollHttp(`http://${bind}:18080/saas/version`, (s, b) => s === 200 && b.includes('"saas"'), 30_000);

    // The other host's engine does not see this project.
    const other = HOSTS[1];
    const ssh2 = await connect(other.address, pinnedKey(other.name));
    try {
      const names = await sh(ssh2, ['docker', 'ps', '-a', '--format', '{{.Names}}']);
      expect(names).not.toContain(project);
    } finally {
      ssh2.dispose();
    }
  } finally {
    await ssh.execCommand(quote([...compose, 'down', '-v', '-t', '5']), { cwd: dir });
    await ssh.execCommand(quote(['rm', '-rf', dir]));
    ssh.dispose();
  }
  await expect(
    fetch(`http://${bind}:18083/version`, { signal: AbortSignal.timeout(2000) }),
  ).rejects.toThrow();
});
