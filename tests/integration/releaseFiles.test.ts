/**
 * The app owns its deploy files, on the lab: an environment with a `repository` gets each
 * release's compose files from that repository at the release's commit (resolved once by
 * validate), every host keeps them under the release's name, and going back to a release (an
 * undo, a rollback) puts that release's own files back, whatever the repository or the worker
 * holds now. Real git, real SSH and SFTP to lab-2 under a project and directory of its own
 * (nothing is started). Fails (never skips) without the lab.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { underPolicy } from '../shared/underPolicy';
import { stringify } from 'yaml';
import { createPlanActivities } from '../../src/activities/plan';
import { createReleaseActivities } from '../../src/activities/release';
import { SourceCache } from '../../src/activities/sourceCache';
import { keptReleaseFilesDir, remoteLayout } from '../../src/commands/layout';
import type { EnvironmentConfig } from '../../src/config/schema';
import type { DeployRequest } from '../../src/config/request';
import { withHost } from '../../src/remote/executor';
import type { DeployPlan, ReleaseRecord } from '../../src/shared/deployment';
import { requireLab } from './harness';

const lab = requireLab();
const stamp = Date.now().toString(36);
const root = mkdtempSync(join(tmpdir(), 'release-files-'));
const repo = join(root, 'app');
const workerFiles = join(root, 'worker-files');
const configDir = join(root, 'config');
const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).trim();
const labHost = lab.production.hosts[0];
const name = `relfiles-${stamp}`;
const fromRepository: EnvironmentConfig = {
  ...lab.staging,
  name,
  project: `relfiles${stamp}`,
  strategy: 'recreate',
  traffic: undefined,
  gates: undefined,
  migrations: undefined,
  database: undefined,
  backups: undefined,
  drills: undefined,
  repository: repo,
  composeFiles: ['deploy/app.yml', 'deploy/db.yml'],
  hosts: [{ ...labHost, baseDir: posix.join(labHost.baseDir, `relfiles-${stamp}`) }],
};
const host = fromRepository.hosts[0];
const layout = remoteLayout(fromRepository, host);
const sources = new SourceCache(join(root, 'sources'));
const plans = createPlanActivities({ configDir, sources });
const release = createReleaseActivities({ projectRoot: workerFiles, workerEnv: lab.workerEnv, sources });

const composeText = (release: string) => `# ${release}\nservices:\n  site:\n    image: "\${SITE_IMAGE}"\n`;
const dbText = (release: string) => `# db of ${release}\nservices: {}\n`;
const commits: Record<string, string> = {};

function commitRelease(rel: string): void {
  writeFileSync(join(repo, 'deploy', 'app.yml'), composeText(rel));
  writeFileSync(join(repo, 'deploy', 'db.yml'), dbText(rel));
  git('add', '.');
  git('commit', '--quiet', '-m', rel);
  git('tag', rel);
  commits[rel] = git('rev-parse', 'HEAD');
}

beforeAll(() => {
  mkdirSync(join(repo, 'deploy'), { recursive: true });
  mkdirSync(join(workerFiles, 'deploy'), { recursive: true });
  mkdirSync(configDir);
  execFileSync('git', ['init', '--quiet', '-b', 'main', repo]);
  git('config', 'user.email', 'ci@example.invalid');
  git('config', 'user.name', 'ci');
  commitRelease('r1');
  commitRelease('r2');
  // The worker's own files dir holds other content: it must not be what a repository environment uploads.
  writeFileSync(join(workerFiles, 'deploy', 'app.yml'), composeText('worker'));
  writeFileSync(join(workerFiles, 'deploy', 'db.yml'), dbText('worker'));
  writeFileSync(join(configDir, `${name}.yaml`), stringify(fromRepository));
});

afterAll(async () => {
  await withHost(host, (h) => h.run(['rm', '-rf', host.baseDir], { timeoutMs: 60_000 }));
});

const request = (rel: string, extra: Partial<DeployRequest> = {}): DeployRequest => ({
  environment: name,
  release: rel,
  images: { site: 'v1', saas: 'v1', api: 'v1' },
  requestedBy: 'files-test',
  ...extra,
});
const resolve = (req: DeployRequest): Promise<DeployPlan> =>
  underPolicy('resolvePlan').run(plans.resolvePlan, {
    request: req,
    deploymentId: `relfiles-${req.release}`,
  });
const upload = (plan: DeployPlan): Promise<void> =>
  underPolicy('uploadRelease').run(release.uploadRelease, { plan, hostName: host.name });
const record = (plan: DeployPlan): Promise<ReleaseRecord> =>
  underPolicy('recordRelease').run(release.recordRelease, { plan, hostName: host.name });
const onHost = async (argv: string[]) =>
  (await withHost(host, (h) => h.run(argv, { timeoutMs: 30_000 }))).stdout;
const liveFiles = async () => [
  await onHost(['cat', layout.composeFiles[0]]),
  await onHost(['cat', layout.composeFiles[1]]),
];
const lastUploadLine = async () =>
  (await onHost(['cat', layout.auditLog]))
    .trim()
    .split('\n')
    .filter((l) => l.includes('"step":"upload"') && l.includes('"result":"succeeded"'))
    .pop();

test('a release gets its files from the repository at its commit; the host keeps them and records the commit', async () => {
  const p1 = await resolve(request('r1'));
  expect(p1.files).toEqual({ release: 'r1', repository: repo, commit: commits.r1 });
  await upload(p1);
  expect(await liveFiles()).toEqual([composeText('r1'), dbText('r1')]);
  expect(await onHost(['cat', posix.join(keptReleaseFilesDir(layout, 'r1', 'stack'), 'app.yml')])).toBe(
    composeText('r1'),
  );
  expect(await lastUploadLine()).toContain(`compose files from app repository at ${commits.r1.slice(0, 12)}`);
  const recorded = await record(p1);
  expect(recorded.commit).toBe(commits.r1);
  expect(JSON.parse(await onHost(['cat', layout.currentRelease])).commit).toBe(commits.r1);
});

test('--commit wins over the release name; a ref the repository lacks is refused at validate', async () => {
  const p = await resolve(request('r9', { commit: 'r2' }));
  expect(p.files?.commit).toBe(commits.r2);
  const err = await resolve(request('r404')).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).type).toBe('InvalidInput');
  expect((err as ApplicationFailure).message).toContain(`commit "r404" does not exist in ${repo}`);
});

test("the undo of a failed release and a rollback put the returned release's own files back", async () => {
  const p2 = await resolve(request('r2'));
  await upload(p2);
  expect(await liveFiles()).toEqual([composeText('r2'), dbText('r2')]);

  // The compensation of recreate: the same plan, back on the previous release.
  const back: DeployPlan = {
    ...p2,
    images: p2.previous!.images,
    request: { ...p2.request, release: p2.previous!.release, images: p2.previous!.images },
  };
  await upload(back);
  expect(await liveFiles()).toEqual([composeText('r1'), dbText('r1')]);
  expect(await lastUploadLine()).toContain('compose files from kept with release r1');

  await upload(p2);
  await record(p2);
  // The repository moves on: r1's tag now names other content; the rollback still uses r1's own files.
  git('tag', '-f', 'r1', 'r2');
  const rollback = await resolve(request('r1', { rollback: true }));
  expect(rollback.request.release).toBe('r1');
  expect(rollback.files).toEqual({ release: 'r1', repository: repo, commit: commits.r1 });
  await upload(rollback);
  expect(await liveFiles()).toEqual([composeText('r1'), dbText('r1')]);

  // Without the kept copy (a host set up before this existed), the recorded commit is read.
  await onHost(['rm', '-rf', keptReleaseFilesDir(layout, 'r1', 'stack')]);
  await upload(p2);
  await upload(rollback);
  expect(await liveFiles()).toEqual([composeText('r1'), dbText('r1')]);
  expect(await lastUploadLine()).toContain(`compose files from app repository at ${commits.r1.slice(0, 12)}`);
});

test("without a repository, files come from the worker's files dir, and a rollback uses the kept ones", async () => {
  const plain: EnvironmentConfig = {
    ...fromRepository,
    repository: undefined,
    project: `relfilesw${stamp}`,
  };
  const plan = (rel: string): DeployPlan => ({
    deploymentId: `relfiles-worker-${rel}`,
    request: request(rel),
    environment: plain,
    images: {},
    files: { release: rel },
  });
  const plainLayout = remoteLayout(plain, host);
  const live = () => onHost(['cat', plainLayout.composeFiles[0]]);
  await upload(plan('w1'));
  expect(await live()).toBe(composeText('worker'));
  writeFileSync(join(workerFiles, 'deploy', 'app.yml'), composeText('worker, changed'));
  await upload(plan('w2'));
  expect(await live()).toBe(composeText('worker, changed'));
  const rollback: DeployPlan = {
    ...plan('w1'),
    request: request('w1', { rollback: true }),
    files: undefined,
  };
  await upload(rollback);
  expect(await live()).toBe(composeText('worker'));
});
