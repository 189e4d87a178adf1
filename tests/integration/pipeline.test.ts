import type { AuditTrail } from '../../src/shared/auditTrail';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { follow, laterDeploymentQuery, startOrAttach } from '../../src/client/deploy';
import { ExitCode } from '../../src/client/exitCodes';
import { environmentNow, listHistory } from '../../src/client/history';
import { psql, tableChecksum } from '../../src/commands/database';
import { readOptionalFile } from '../../src/commands/files';
import { remoteLayout } from '../../src/commands/layout';
import type { EnvironmentConfig } from '../../src/config/schema';
import { withHost } from '../../src/remote/executor';
import {
  LAB_CONFIG_DIR,
  reportedReleases,
  requireLab,
  runDeployctl,
  startHarness,
  waitForStatus,
  type Harness,
} from './harness';

/**
 * The whole pipeline against the lab, with real failures: migrations that fail or break,
 * a failing gate, hostile input, concurrency, approval from the CLI, rollback by name.
 */

const lab = requireLab();
const stamp = Date.now().toString(36);
const rel = (name: string) => `${name}-${stamp}`;
const all = (tag: string) => ({ site: tag, saas: tag, api: tag });
let harness: Harness;

beforeAll(async () => {
  harness = await startHarness({ workerEnv: lab.workerEnv });
});

afterAll(async () => {
  await harness?.stop();
});

async function deploy(
  environment: string,
  tag: string,
  release: string,
  extra: Record<string, unknown> = {},
) {
  // The lab's app repository tags each image's sources with the image tag: the gates check that out.
  const request = {
    environment,
    release,
    images: all(tag),
    requestedBy: 'pipeline-test',
    commit: tag,
    ...extra,
  };
  const { handle, attached } = await startOrAttach(harness.env.client, harness.settings, request);
  return { handle, attached, outcome: await follow(handle, harness.settings, { timeoutMs: 300_000 }) };
}

async function onHost(env: EnvironmentConfig, argv: readonly string[]): Promise<string> {
  return (await withHost(env.hosts[0], (h) => h.run(argv, { timeoutMs: 60_000 }))).stdout.trim();
}

const visitsChecksum = (env: EnvironmentConfig) => onHost(env, tableChecksum(env, 'visits'));
const auditLines = async (env: EnvironmentConfig) =>
  (await onHost(env, readOptionalFile(remoteLayout(env, env.hosts[0]).auditLog))).split('\n').filter(Boolean);
const current = async (env: EnvironmentConfig) =>
  JSON.parse((await onHost(env, readOptionalFile(remoteLayout(env, env.hosts[0]).currentRelease))) || '{}');
const previous = async (env: EnvironmentConfig) =>
  JSON.parse((await onHost(env, readOptionalFile(remoteLayout(env, env.hosts[0]).previousRelease))) || '{}');

const deployctl = (args: string[], env: NodeJS.ProcessEnv = {}) => runDeployctl(harness.settings, args, env);

describe('migrations', () => {
  let baseline: string;
  const RECREATE = { strategy: 'recreate' };

  beforeAll(async () => {
    const good = await deploy('lab-staging', 'v2', rel('base'));
    expect(good.outcome.exitCode).toBe(ExitCode.succeeded);
    // Rows in the app's table, so the checksum compares real content.
    const env = lab.staging;
    await onHost(
      env,
      psql(env, `insert into visits (service) select 'seed-' || g from generate_series(1, 50) g`),
    );
    baseline = await visitsChecksum(lab.staging);
    expect(baseline).toMatch(/^hash64:-?[1-9][0-9]*$/);
  });

  // Neither migration is declared expand or contract: lab-staging's blue-green refuses them, so
  // these releases go out as a team would send them, with --strategy recreate.
  test('a failing migration: nothing new serves, the data is unchanged, the previous release answers', async () => {
    const { outcome } = await deploy('lab-staging', 'v4-badmigration', rel('badmig'), RECREATE);
    expect(outcome.exitCode).toBe(ExitCode.rolledBack);
    expect(outcome.status?.failure?.step).toBe('migrate');
    // The shared stack may start; no colour does.
    expect(outcome.status?.steps.filter((s) => /^start (blue|green) /.test(s.name))).toEqual([]);
    expect(await visitsChecksum(lab.staging)).toBe(baseline);
    expect(Object.values(await reportedReleases(lab.staging))).toEqual([
      rel('base'),
      rel('base'),
      rel('base'),
    ]);
    expect((await current(lab.staging)).release).toBe(rel('base'));
  });

  test('a breaking migration followed by a failed health check: the database is restored from the backup', async () => {
    const { outcome } = await deploy('lab-staging', 'v5-breaking', rel('breaking'), RECREATE);
    expect(outcome.exitCode).toBe(ExitCode.rolledBack);
    expect(outcome.status?.migrations?.some((m) => !m.backwardCompatible)).toBe(true);
    expect(outcome.status?.rollback?.actions.join('; ')).toMatch(
      /restored the database on lab-1 from .*\.dump/,
    );
    expect(outcome.status?.rollback?.healthy).toBe(true);
    expect(await visitsChecksum(lab.staging)).toBe(baseline);
    expect(Object.values(await reportedReleases(lab.staging))).toEqual([
      rel('base'),
      rel('base'),
      rel('base'),
    ]);
  });
});

test('a failing gate: the deployment stops before any host is touched', async () => {
  // A real app repository with a real failing check.
  const repo = mkdtempSync(join(tmpdir(), 'app-repo-'));
  const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' });
  git('init', '--quiet', '-b', 'main');
  git('config', 'user.email', 'ci@example.invalid');
  git('config', 'user.name', 'ci');
  writeFileSync(join(repo, 'test.js'), "console.error('expected 200, got 500'); process.exit(1);\n");
  git('add', '.');
  git('commit', '--quiet', '-m', 'broken test');
  git('tag', rel('gated'));
  const configDir = mkdtempSync(join(tmpdir(), 'gated-config-'));
  const doc = parse(readFileSync(join(LAB_CONFIG_DIR, 'lab-staging.yaml'), 'utf8'));
  doc.gates = {
    repository: repo,
    checks: [{ name: 'unit', command: ['node', 'test.js'], timeoutSeconds: 60 }],
  };
  writeFileSync(join(configDir, 'lab-staging.yaml'), stringify(doc));
  mkdirSync(join(configDir, 'unused'), { recursive: true });

  const auditBefore = (await auditLines(lab.staging)).length;
  const releaseBefore = (await current(lab.staging)).release;
  const gated = await startHarness({ configDir, workerEnv: lab.workerEnv });
  try {
    const request = {
      environment: 'lab-staging',
      release: rel('gated'),
      images: all('v1'),
      requestedBy: 'pipeline-test',
    };
    const { handle } = await startOrAttach(gated.env.client, gated.settings, request);
    const outcome = await follow(handle, gated.settings, { timeoutMs: 120_000 });
    expect(outcome.exitCode).not.toBe(ExitCode.succeeded);
    expect(outcome.error).toContain('quality gate unit failed (exit 1)');
    expect(outcome.error).toContain('Nothing had been changed on any host.');
    expect(outcome.status?.gates?.[0]).toMatchObject({ name: 'unit', verdict: 'failed' });
    expect(outcome.status?.gates?.[0].outputTail).toContain('expected 200, got 500');
  } finally {
    await gated.stop();
  }
  expect((await auditLines(lab.staging)).length).toBe(auditBefore);
  expect((await current(lab.staging)).release).toBe(releaseBefore);
});

test('hostile input is rejected with a clear error and creates nothing on any host', async () => {
  const auditBefore = (await auditLines(lab.staging)).length;
  const cases: [string[], string][] = [
    [
      ['--env', 'lab-staging;reboot', '--release', 'r1', '--image', 'api=v1'],
      '--env: value "lab-staging;reboot"',
    ],
    [['--env', '../../etc', '--release', 'r1', '--image', 'api=v1'], '--env: value "../../etc"'],
    [
      ['--env', 'lab-staging', '--release', '$(touch /tmp/pwned)', '--image', 'api=v1'],
      '--release: value "$(touch /tmp/pwned)"',
    ],
    [['--env', 'lab-staging', '--release', 'r1\nr2', '--image', 'api=v1'], '--release: value "r1\\nr2"'],
    [['--env', 'lab-staging', '--release', 'x'.repeat(65), '--image', 'api=v1'], '--release: value "xxxx'],
    [['--env', 'lab-staging', '--release', 'r1', '--image', 'api=v1`id`'], '--image api=: value "v1`id`"'],
    [['--env', 'lab-staging', '--release', 'r1', '--image', 'a;pi=v1'], '--image a;pi=:'],
    [['--env', 'lab-staging', '--release', 'r1', '--image', '../api=v1'], '--image ../api=:'],
  ];
  for (const [args, expected] of cases) {
    const res = await deployctl(['deploy', ...args]);
    expect({ args, code: res.code }).toEqual({ args, code: ExitCode.invalidInput });
    expect(res.out).toContain(expected);
    expect(res.out).toContain('nothing was started');
  }
  expect((await auditLines(lab.staging)).length).toBe(auditBefore);
  expect((await auditLines(lab.production)).join('\n')).not.toContain('pwned');
});

test('one environment at a time (--on-busy fail is refused); two environments in parallel; production approved from the CLI', async () => {
  const { handle: first } = await startOrAttach(harness.env.client, harness.settings, {
    environment: 'lab-staging',
    release: rel('par-a'),
    images: all('v1'),
    requestedBy: 'pipeline-test',
    commit: 'v1',
  });
  await waitForStatus(first, (s) => s.steps.some((x) => x.name === 'lock' && x.status === 'succeeded'));
  const busy = await deploy('lab-staging', 'v2', rel('par-b'), { onBusy: 'fail' });
  expect(busy.outcome.exitCode).toBe(ExitCode.refused);
  expect(busy.outcome.error).toContain('environment lab-staging is locked by another deployment');

  // Production (its own lock, its own host) runs alongside; it waits for an operator.
  const { handle: prod } = await startOrAttach(harness.env.client, harness.settings, {
    environment: 'lab-production',
    release: rel('par-prod'),
    images: all('v1'),
    requestedBy: 'pipeline-test',
    commit: 'v1',
  });
  const waiting = await waitForStatus(prod, (s) => s.approval?.state === 'waiting', 180_000);
  // Production's gates are stricter: the smoke test ran too.
  expect(waiting.gates?.map((g) => [g.name, g.verdict])).toEqual([
    ['syntax', 'passed'],
    ['smoke', 'passed'],
  ]);
  // An operator forcing production's lock open: it goes to the host's audit trail too.
  const forced = await deployctl([
    'lock',
    'release',
    '--env',
    'lab-production',
    '--by',
    'oncall',
    '--reason',
    'checking the audit trail',
  ]);
  expect(forced.code).toBe(ExitCode.succeeded);
  const approved = await deployctl([
    'approve',
    '--env',
    'lab-production',
    '--release',
    rel('par-prod'),
    '--by',
    'oncall',
    '--comment',
    'parallel ok',
  ]);
  expect(approved.code).toBe(ExitCode.succeeded);
  const [staging, production] = await Promise.all([
    follow(first, harness.settings, { timeoutMs: 300_000 }),
    follow(prod, harness.settings, { timeoutMs: 300_000 }),
  ]);
  expect(staging.exitCode).toBe(ExitCode.succeeded);
  expect(production.exitCode).toBe(ExitCode.succeeded);
  expect(production.status?.approval?.decision).toMatchObject({ by: 'oncall', comment: 'parallel ok' });
  // The host's audit log names the approver, before the first step that changed the host.
  const prodAudit = (await auditLines(lab.production))
    .map((l) => JSON.parse(l) as Record<string, string>)
    .filter((a) => a.deployment === prod.workflowId);
  const steps = prodAudit.filter((a) => a.step !== 'lock');
  const approvedAt = steps.findIndex((a) => a.result === 'approved');
  // Before the approval the deployment only read the hosts (its plan): nothing was changed.
  expect(steps.slice(0, approvedAt).map((a) => a.step)).toEqual([]);
  expect(steps[approvedAt]).toMatchObject({
    step: 'approval',
    result: 'approved',
    decidedBy: 'oncall',
    by: 'pipeline-test',
    detail: 'parallel ok',
    release: rel('par-prod'),
  });
  expect(steps.length).toBeGreaterThan(approvedAt + 1);
  expect(prodAudit.filter((a) => a.step === 'lock')).toEqual([
    expect.objectContaining({
      result: 'released',
      decidedBy: 'oncall',
      detail: 'checking the audit trail',
      release: rel('par-prod'),
      by: 'pipeline-test',
    }),
  ]);
  // deployctl audit reads the same lines through a worker, merged in time order.
  const trail = await deployctl(['audit', '--env', 'lab-production', '--limit', '1000', '--json']);
  expect(trail.code).toBe(ExitCode.succeeded);
  const read = JSON.parse(trail.stdout) as AuditTrail;
  expect(read.hosts).toEqual([
    expect.objectContaining({ host: lab.production.hosts[0].name, unreadable: 0 }),
  ]);
  expect(read.hosts[0].error).toBeUndefined();
  const mineRead = read.events.filter((e) => e.deployment === prod.workflowId);
  expect(mineRead.map((e) => [e.step, e.result])).toEqual(prodAudit.map((a) => [a.step, a.result]));
  const times = read.events.map((e) => Date.parse(e.at));
  expect(times).toEqual([...times].sort((a, b) => a - b));
  const text = await deployctl(['audit', '--env', 'lab-production', '--since', '1h', '--limit', '5']);
  expect(text.code).toBe(ExitCode.succeeded);
  expect(text.stdout.trim().split('\n')).toHaveLength(5);
  const bad = await deployctl(['audit', '--env', 'lab-production', '--since', '$(id)']);
  expect(bad.code).toBe(ExitCode.invalidInput);
  expect(bad.out).toContain('--since: value "$(id)" must be a duration back from now');
  expect(Object.values(await reportedReleases(lab.production))).toEqual([
    rel('par-prod'),
    rel('par-prod'),
    rel('par-prod'),
  ]);
});

test('rollback by name: deployctl rollback puts the previous release back without typing a version', async () => {
  const one = await deploy('lab-staging', 'v1', rel('rb1'));
  expect(one.outcome.exitCode).toBe(ExitCode.succeeded);
  const two = await deploy('lab-staging', 'v2', rel('rb2'));
  expect(two.outcome.exitCode).toBe(ExitCode.succeeded);
  const res = await deployctl(['rollback', '--env', 'lab-staging', '--by', 'oncall']);
  expect(res.out).toContain(`release ${rel('rb1')} is live on lab-staging`);
  expect(res.code).toBe(ExitCode.succeeded);
  expect(Object.values(await reportedReleases(lab.staging))).toEqual([rel('rb1'), rel('rb1'), rel('rb1')]);
  expect(await current(lab.staging)).toMatchObject({ release: rel('rb1'), deployedBy: 'oncall' });

  // Re-running CI for rb2 now deploys it again (a new run), instead of reporting its old result.
  // (Visibility learns of the rollback's success a moment after deployctl returns.)
  const { closeTime } = await two.handle.describe();
  const query = laterDeploymentQuery('lab-staging', two.handle.workflowId, closeTime!);
  for (let i = 0; i < 50 && (await harness.env.client.workflow.count(query)).count === 0; i++)
    await new Promise((r) => setTimeout(r, 200));
  const again = await deploy('lab-staging', 'v2', rel('rb2'));
  expect(again.attached).toBe(false);
  expect(again.outcome.exitCode).toBe(ExitCode.succeeded);
  expect(Object.values(await reportedReleases(lab.staging))).toEqual([rel('rb2'), rel('rb2'), rel('rb2')]);
});

test('rollback --to returns to a release older than the previous one; unknown and live releases are refused', async () => {
  // rb1 and rb2 were deployed above; after rb3, rb1 is in neither current.json nor previous.json.
  const three = await deploy('lab-staging', 'v1', rel('rb3'));
  expect(three.outcome.exitCode).toBe(ExitCode.succeeded);
  expect(await previous(lab.staging)).toMatchObject({ release: rel('rb2') });

  const unknown = await deployctl(['rollback', '--env', 'lab-staging', '--by', 'oncall', '--to', 'never-1']);
  expect(unknown.code).toBe(ExitCode.invalidInput);
  expect(unknown.out).toMatch(
    new RegExp(`no record of release never-1 in "lab-staging" \\(recorded, newest first: ${rel('rb3')}, `),
  );
  const live = await deployctl(['rollback', '--env', 'lab-staging', '--by', 'oncall', '--to', rel('rb3')]);
  expect(live.code).toBe(ExitCode.invalidInput);
  expect(live.out).toContain(`release ${rel('rb3')} is what "lab-staging" runs now`);

  // Started without waiting (as a CI job that must not hold its runner), then followed by id.
  const started = await deployctl([
    'rollback',
    '--env',
    'lab-staging',
    '--by',
    'oncall',
    '--to',
    rel('rb1'),
    '--no-wait',
  ]);
  expect(started.code).toBe(ExitCode.succeeded);
  const id = /started (rollback-lab-staging-to-\S+)/.exec(started.out)?.[1];
  expect(started.out).toContain(`npx deployctl status --id ${id} --wait`);
  // Followed as in a GitHub Actions job: a group per finished step and a job summary.
  const summary = join(mkdtempSync(join(tmpdir(), 'gh-summary-')), 'summary.md');
  const res = await deployctl(['status', '--id', id!, '--wait'], {
    GITHUB_ACTIONS: 'true',
    GITHUB_STEP_SUMMARY: summary,
  });
  expect(res.out).toContain(`release ${rel('rb1')} is live on lab-staging`);
  expect(res.out).toMatch(/^::group::succeeded +record lab-1 [\d.]+ m?s$/m);
  expect(res.out).not.toContain('::error');
  expect(res.code).toBe(ExitCode.succeeded);
  const markdown = readFileSync(summary, 'utf8');
  expect(markdown).toContain(`### ${rel('rb1')} to lab-staging: succeeded (exit 0)`);
  expect(markdown).toMatch(/^\| record lab-1 \| succeeded \| [\d.]+ m?s \|$/m);
  // A finished deployment's status exits with its outcome: the refused one above is invalid input.
  const refusedId = /started (rollback-lab-staging-to-never-1-\S+)/.exec(unknown.out)?.[1];
  expect((await deployctl(['status', '--id', refusedId!])).code).toBe(ExitCode.invalidInput);

  // The environment alone: the last deployment that succeeded is the rollback to rb1.
  // (Visibility learns of its end a moment after the result.)
  for (let i = 0; i < 50; i++) {
    const { rows } = await listHistory(harness.env.client, harness.settings, 'lab-staging', 200);
    if (environmentNow(rows).lastSucceeded?.workflowId === id) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const now = await deployctl(['status', '--env', 'lab-staging']);
  expect(now.code).toBe(ExitCode.succeeded);
  expect(now.out).toContain(`last succeeded: release ${rel('rb1')} (${id}, finished `);
  expect(now.out).toContain('running now: none');
  // What the host itself records: the release, who deployed it and when, and its images.
  expect(now.out).toMatch(
    new RegExp(`^  lab-1: release ${rel('rb1')}, deployed by oncall at \\S+ \\(${id}\\); .*site=\\S+:`, 'm'),
  );
  const nowJson = JSON.parse((await deployctl(['status', '--env', 'lab-staging', '--json'])).stdout) as {
    hosts: { host: string; live?: { release: string; deployedBy: string; images: Record<string, string> } }[];
  };
  expect(nowJson.hosts).toEqual([
    {
      host: 'lab-1',
      live: expect.objectContaining({ release: rel('rb1'), deployedBy: 'oncall', deploymentId: id }),
    },
  ]);
  expect(Object.keys(nowJson.hosts[0].live!.images).sort()).toEqual(['api', 'saas', 'site']);
  expect(Object.values(await reportedReleases(lab.staging))).toEqual([rel('rb1'), rel('rb1'), rel('rb1')]);
  expect(await current(lab.staging)).toMatchObject({ release: rel('rb1'), deployedBy: 'oncall' });
});
