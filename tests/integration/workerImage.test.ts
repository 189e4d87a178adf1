/**
 * The worker's container image, built from this checkout the way a team builds it
 * (scripts/worker-image.ts with worker.Dockerfile) on the lab's stand-in for
 * node:20-bookworm-slim, then run as a team runs it: configs, the deploy key and a state volume
 * mounted, the secret passed by name. `--check` finds its tools, and as a worker on the host's
 * network it carries out `deployctl config check` for lab-staging: Temporal on this machine, SSH
 * to lab-1 as its non-root deploy user, the engine and compose there.
 */
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { BuildEngine } from '../../lab/images';
import { LAB_WORKER_BASE } from '../../lab/paths';
import { run } from '../../lab/util';
import { buildWorkerImage } from '../../scripts/worker-image';
import { ExitCode } from '../../src/client/exitCodes';
import type { EnvironmentConfig } from '../../src/config/schema';
import { PROJECT_ROOT, requireLab, runDeployctl, startHarness, type Harness } from './harness';

jest.setTimeout(900_000);

const lab = requireLab();
const engine = new BuildEngine();
const TAG = `localhost/lab/deployctl-worker:test-${process.pid}`;
const CONTAINER = `deployctl-worker-test-${process.pid}`;
/** The image's own user (worker.Dockerfile), who must be able to read what is mounted for it. */
const IMAGE_UID = 10001;
const KEY_IN_CONTAINER = '/keys/deploy_ed25519';

let harness: Harness;
let dir: string;
let secretEnv: NodeJS.ProcessEnv;

/** lab-staging as the container sees it: the key where it is mounted, no quality gates. */
function containerConfig(env: EnvironmentConfig): EnvironmentConfig {
  const host = (h: EnvironmentConfig['hosts'][number]) => ({ ...h, privateKeyPath: KEY_IN_CONTAINER });
  // The gates' repository is a root-owned path on this machine: git refuses it to the image's
  // user ("dubious ownership"). A team's gates clone their repository into the worker's volume.
  const { gates: _gates, ...rest } = env;
  return {
    ...rest,
    hosts: env.hosts.map(host),
    ...(env.drills?.host ? { drills: { ...env.drills, host: host(env.drills.host) } } : {}),
  } as EnvironmentConfig;
}

function podman(args: string[], timeoutMs = 120_000) {
  return run(engine.argv(...args), { env: { ...engine.env(), ...secretEnv }, timeoutMs, allowFailure: true });
}

/** The container's mounts and environment, as the README tells a team to run it. */
function runArgs(): string[] {
  return [
    '--network',
    'host',
    '-v',
    `${join(dir, 'environments')}:/etc/deployctl/environments:ro`,
    '-v',
    `${join(dir, 'keys')}:/keys:ro`,
    '-v',
    `${join(dir, 'state')}:/var/lib/deployctl`,
    '-v',
    `${join(PROJECT_ROOT, 'compose')}:/files/compose:ro`,
    '-e',
    'DEPLOY_FILES_DIR=/files',
    // By name only: the value comes from podman's own environment, never from its argv.
    '-e',
    'LAB_DB_PASSWORD',
  ];
}

beforeAll(async () => {
  if (!existsSync(join(PROJECT_ROOT, 'dist', 'src', 'worker.js')))
    throw new Error('dist/src/worker.js is missing: run "npm run build" first (npm test does)');
  engine.prepare();
  if (!(await engine.hasImage(LAB_WORKER_BASE)))
    throw new Error(`${LAB_WORKER_BASE} is missing from the lab's build engine: run "npm run lab -- up"`);
  secretEnv = { LAB_DB_PASSWORD: lab.workerEnv.LAB_DB_PASSWORD };
  harness = await startHarness({ workerEnv: lab.workerEnv, inProcessWorker: false });

  dir = mkdtempSync(join(tmpdir(), 'worker-image-'));
  chmodSync(dir, 0o755);
  for (const sub of ['environments', 'keys', 'state']) mkdirSync(join(dir, sub));
  writeFileSync(join(dir, 'environments', 'lab-staging.yaml'), stringify(containerConfig(lab.staging)));
  copyFileSync(lab.staging.hosts[0].privateKeyPath, join(dir, 'keys', 'deploy_ed25519'));
  for (const owned of ['keys', 'keys/deploy_ed25519', 'state'])
    chownSync(join(dir, owned), IMAGE_UID, IMAGE_UID);
  chmodSync(join(dir, 'keys', 'deploy_ed25519'), 0o600);

  const started = Date.now();
  await buildWorkerImage({ tag: TAG, base: LAB_WORKER_BASE, engine: engine.argv(), env: engine.env() });
  const size = (await podman(['image', 'inspect', '--format', '{{.Size}}', TAG])).stdout.trim();
  console.log(
    `worker image ${TAG}: built in ${((Date.now() - started) / 1000).toFixed(1)} s, ${(Number(size) / 1e6).toFixed(0)} MB`,
  );
}, 900_000);

afterAll(async () => {
  await podman(['rm', '--force', '--time', '5', CONTAINER]).catch(() => undefined);
  await podman(['rmi', '--force', TAG]).catch(() => undefined);
  await harness?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('--check in the image finds pg_restore, the configs, the key and the secret; node 20, git and ssh are there; it runs as a user that is not root', async () => {
  const check = await podman(['run', '--rm', ...runArgs(), TAG, '--check']);
  const out = check.stdout + check.stderr;
  console.log(out);
  expect({ code: check.code, out }).toMatchObject({ code: 0 });
  expect(out).toMatch(/^ +OK +tool pg_restore +pg_restore \(PostgreSQL\) 15/m);
  expect(out).toMatch(/^ +OK +ssh key lab-staging\/lab-1 +\/keys\/deploy_ed25519 is readable/m);
  expect(out).toMatch(/^ +OK +secret lab-staging\/DB_PASSWORD/m);
  expect(out).not.toContain(lab.workerEnv.LAB_DB_PASSWORD);
  // git (gates, app repositories; --check asks for it only when a config has them) and ssh for git.
  const who = await podman([
    'run',
    '--rm',
    '--entrypoint',
    'sh',
    TAG,
    '-c',
    'id -u; node --version; git --version; command -v ssh',
  ]);
  expect(who.stdout.trim().split('\n')).toEqual([
    String(IMAGE_UID),
    expect.stringMatching(/^v2\d\./),
    expect.stringMatching(/^git version 2\./),
    '/usr/bin/ssh',
  ]);
});

test('as a worker it carries out deployctl config check for lab-staging: Temporal here, SSH to lab-1, its engine and compose', async () => {
  const start = await podman([
    'run',
    '--detach',
    '--name',
    CONTAINER,
    ...runArgs(),
    '-e',
    `TEMPORAL_ADDRESS=${harness.settings.temporalAddress}`,
    '-e',
    `DEPLOY_TASK_QUEUE=${harness.settings.taskQueue}`,
    TAG,
  ]);
  expect({ code: start.code, err: start.stderr }).toMatchObject({ code: 0 });
  const deadline = Date.now() + 90_000;
  let logs = '';
  while (!logs.includes('worker: task queue')) {
    const r = await podman(['logs', CONTAINER]);
    logs = r.stdout + r.stderr;
    const state = (await podman(['inspect', '--format', '{{.State.Status}}', CONTAINER])).stdout.trim();
    if (state !== 'running' || Date.now() > deadline)
      throw new Error(`the worker container did not start polling (state ${state}):\n${logs.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const { code, out } = await runDeployctl(harness.settings, ['config', 'check', '--env', 'lab-staging']);
  console.log(out);
  expect({ code, out }).toMatchObject({ code: ExitCode.succeeded });
  expect(out).toMatch(/^OK +ssh +lab-1 \(lab-deploy@127\.0\.0\.2:2222\) /m);
  const after = await podman(['logs', CONTAINER]);
  expect(after.stdout + after.stderr).not.toContain(lab.workerEnv.LAB_DB_PASSWORD);
});
