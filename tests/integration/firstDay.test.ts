/**
 * A team's first day, following docs/first-deploy.md on the lab with a second app that is not
 * the demo: one service named `notes` on its own port, no database, no proxy, its compose file
 * in its own git repository. On a brand-new lab host (lab-4): `deployctl init` in the app's
 * repository (the host key read from the server), the edits a team makes to what init wrote,
 * `deployctl setup`, `deployctl config check`, then deploys of two releases whose compose files
 * differ, and a rollback that puts back the first release's own compose file. Real CLI, real
 * worker and Temporal, real SSH, engine and registry. Uses lab-4 only, so it may run beside the
 * files that use lab-1 and lab-2. Fails (never skips) without the lab.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { parse, stringify } from 'yaml';
import { createFreshHost, type FreshHost } from '../../lab/fresh';
import { ExitCode } from '../../src/client/exitCodes';
import { withHost } from '../../src/remote/executor';
import type { HostConfig } from '../../src/config/schema';
import { getJson, requireLab, runDeployctl, startHarness, type Harness } from './harness';

const lab = requireLab();
const root = mkdtempSync(join(tmpdir(), 'first-day-'));
const app = join(root, 'notes');
const configDir = join(root, 'config');
const PORT = 18190;
let fresh: FreshHost;
let harness: Harness;
let server: HostConfig;
const git = (...args: string[]) => execFileSync('git', ['-C', app, ...args], { encoding: 'utf8' }).trim();
const composePath = join(app, 'compose', 'notes.yml');
const envPath = join(configDir, 'notes-staging.yaml');

const deployctl = (args: string[], cwd?: string) => runDeployctl(harness.settings, args, {}, cwd);

async function version(): Promise<unknown> {
  return (await getJson(`http://${server.address}:${PORT}/version`)).body;
}

/** The compose file the host runs now. */
const liveCompose = () =>
  withHost(server, (h) =>
    h.run(['cat', posix.join(server.baseDir, 'notes', 'notes.yml')], { timeoutMs: 30_000 }),
  ).then((r) => r.stdout);

beforeAll(async () => {
  fresh = await createFreshHost('lab-4');
  mkdirSync(app, { recursive: true });
  execFileSync('git', ['init', '--quiet', '-b', 'main', app]);
  git('config', 'user.email', 'team@example.invalid');
  git('config', 'user.name', 'team');
  harness = await startHarness({ configDir, workerEnv: lab.workerEnv });
}, 180_000);

afterAll(async () => {
  await harness?.stop();
});

test('init in the app repository writes a config and compose file the worker accepts, with the server key', async () => {
  const host = fresh.host;
  const { code, out } = await deployctl(
    [
      'init',
      '--env',
      'notes-staging',
      '--project',
      'notes',
      '--host',
      `web-1=${host.user}@${host.address}:${host.port}`,
      '--key',
      host.privateKeyPath,
      '--base-dir',
      host.baseDir,
      '--service',
      `notes=127.0.0.1:5000/demo/api:${PORT}`,
      '--repository',
      app,
      '--config-dir',
      configDir,
    ],
    app,
  );
  expect({ code, out }).toMatchObject({ code: ExitCode.succeeded });
  expect(out).toContain(`host key of web-1 (read from the server): ${host.hostKey}`);
  const config = parse(readFileSync(envPath, 'utf8'));
  expect(config).toMatchObject({ repository: app, composeFiles: ['compose/notes.yml'] });
  server = { ...host, name: 'web-1' };

  // What the team edits: the lab's servers have compose v1, the worker reaches the server on
  // its own address, and the app listens on its port without a database.
  config.composeCommand = ['docker-compose'];
  config.env.BIND_ADDRESS = host.address;
  writeFileSync(envPath, stringify(config));
  const compose = parse(readFileSync(composePath, 'utf8'));
  expect(compose.services.notes.image).toBe('${NOTES_IMAGE}');
  compose.services.notes.environment = {
    ...compose.services.notes.environment,
    PORT: String(PORT),
    APP_DATABASE: 'none',
  };
  writeFileSync(composePath, stringify(compose));
  git('add', '.');
  git('commit', '--quiet', '-m', 'deploy files');
  git('tag', 'v1');
  // The next release changes its compose file too.
  compose.services.notes.environment.NOTES_MODE = 'second-release';
  writeFileSync(composePath, stringify(compose));
  git('commit', '--quiet', '-am', 'notes mode');
  git('tag', 'v2');
});

test('setup prepares the brand-new server, and a second run only skips', async () => {
  const first = await deployctl(['setup', '--env', 'notes-staging', '--by', 'team']);
  expect({ code: first.code, out: first.out }).toMatchObject({ code: ExitCode.succeeded });
  expect(first.out).toMatch(/^web-1:$/m);
  expect(first.out).toMatch(/^ +directories +done /m);
  const again = await deployctl(['setup', '--env', 'notes-staging', '--by', 'team', '--json']);
  expect(again.code).toBe(ExitCode.succeeded);
  const report = JSON.parse(again.out.slice(again.out.indexOf('{')));
  expect(report.hosts[0].steps.length).toBeGreaterThan(0);
  expect(report.hosts[0].steps.filter((s: { result: string }) => s.result !== 'skipped')).toEqual([]);
  const unknown = await deployctl(['setup', '--env', 'nowhere']);
  expect(unknown.code).toBe(ExitCode.invalidInput);
  expect(unknown.out).toContain('environment "nowhere" is not configured');
});

test('config check passes before the first deploy', async () => {
  const { code, out } = await deployctl(['config', 'check', '--env', 'notes-staging']);
  expect({ code, out }).toMatchObject({ code: ExitCode.succeeded });
  expect(out).toMatch(/^OK +compose files +\S+notes +compose\/notes\.yml at HEAD \([0-9a-f]{12}\)$/m);
});

test("two releases with their own compose files, then a rollback to the first one's", async () => {
  const v1 = await deployctl(['deploy', '--env', 'notes-staging', '--release', 'v1', '--image', 'notes=v1']);
  expect({ code: v1.code, out: v1.out }).toMatchObject({ code: ExitCode.succeeded });
  expect(await version()).toMatchObject({ release: 'v1' });
  expect(await liveCompose()).not.toContain('NOTES_MODE');

  const v2 = await deployctl(['deploy', '--env', 'notes-staging', '--release', 'v2', '--image', 'notes=v2']);
  expect({ code: v2.code, out: v2.out }).toMatchObject({ code: ExitCode.succeeded });
  expect(await version()).toMatchObject({ release: 'v2', version: 'v2' });
  expect(await liveCompose()).toContain('NOTES_MODE: second-release');

  const back = await deployctl(['rollback', '--env', 'notes-staging', '--by', 'team']);
  expect({ code: back.code, out: back.out }).toMatchObject({ code: ExitCode.succeeded });
  expect(await version()).toMatchObject({ release: 'v1', version: 'v1' });
  expect(await liveCompose()).not.toContain('NOTES_MODE');
});
