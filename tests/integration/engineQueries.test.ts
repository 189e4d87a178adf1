/**
 * The post-deploy check reads a project's running services from the engine by compose's labels,
 * not from compose: on a real host (lab-1) that must give what compose itself says, leave out a
 * stopped service and not count a one-off container (`compose run`). Fails (never skips) when
 * the lab is not up.
 */
import { posix } from 'node:path';
import type { Argv } from '../../src/commands/argv';
import { stringify } from 'yaml';
import { runningProjectContainers, runningServicesOf } from '../../src/commands/compose';
import { removeDirectory } from '../../src/commands/files';
import { withHost } from '../../src/remote/executor';
import { ROLE_IMAGES } from '../../lab/paths';
import { requireLab } from './harness';

const lab = requireLab();
const host = lab.staging.hosts[0]!;
const project = `engineq-${Date.now().toString(36)}`;
const dir = posix.join(host.baseDir, project);
const file = posix.join(dir, 'compose.yml');
const compose = [...lab.staging.composeCommand, '--project-name', project, '--file', file];

async function remote(argv: Argv): Promise<string> {
  return withHost(host, async (h) => (await h.run(argv, { timeoutMs: 120_000 })).stdout.trim());
}

const lines = (out: string) => out.split('\n').filter(Boolean).sort();

beforeAll(async () => {
  const service = { image: ROLE_IMAGES.redis, command: ['redis-server', '--save', ''] };
  const doc = { version: '3.7', services: { kept: service, stopped: service } };
  await withHost(host, (h) => h.writeFile(file, stringify(doc), { timeoutMs: 30_000 }));
}, 60_000);

afterAll(async () => {
  await remote([...compose, 'down', '--remove-orphans', '--timeout', '1']);
  await remote(removeDirectory(dir));
}, 120_000);

test('the engine names the running services compose names, without stopped or one-off containers', async () => {
  await remote([...compose, 'up', '--detach']);
  const fromCompose = lines(await remote([...compose, 'ps', '--services', '--filter', 'status=running']));
  expect(fromCompose).toEqual(['kept', 'stopped']);
  expect(runningServicesOf(await remote(runningProjectContainers(project))).sort()).toEqual(fromCompose);

  await remote([...compose, 'stop', '--timeout', '1', 'stopped']);
  // A one-off of the stopped service runs, but the service itself is down.
  await remote([...compose, 'run', '--detach', '--rm', 'stopped']);
  expect(
    await remote(['docker', 'ps', '--filter', `label=com.docker.compose.project=${project}`, '-q']),
  ).toMatch(/\n/);
  expect(runningServicesOf(await remote(runningProjectContainers(project))).sort()).toEqual(['kept']);
}, 180_000);
