import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { underPolicy } from '../shared/underPolicy';
import { ApplicationFailure } from '@temporalio/common';
import { createGateActivities } from '../../src/activities/gates';
import { loadEnvironment } from '../../src/config/load';
import type { DeployPlan, GateResult } from '../../src/shared/deployment';

/**
 * Gates for real: a git repository made here, checked out at a tag by the activity, and
 * real commands run with real deadlines.
 */

const root = mkdtempSync(join(tmpdir(), 'gates-'));
const repo = join(root, 'app.git-src');
const workspaceRoot = join(root, 'workspaces');
const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).trim();

beforeAll(() => {
  mkdirSync(repo);
  execFileSync('git', ['init', '--quiet', '-b', 'main', repo]);
  git('config', 'user.email', 'ci@example.invalid');
  git('config', 'user.name', 'ci');
  writeFileSync(join(repo, 'check.js'), "console.log('all good'); process.exit(0);\n");
  // Marks its own start, then passes only if the other gate starts while it still runs.
  writeFileSync(
    join(repo, 'meet.js'),
    [
      "const fs = require('fs'); const [dir, me, other] = process.argv.slice(2);",
      "fs.writeFileSync(dir + '/' + me, 'started');",
      'const deadline = Date.now() + 10000;',
      "const poll = () => fs.existsSync(dir + '/' + other) ? process.exit(0) : Date.now() > deadline ? process.exit(1) : setTimeout(poll, 20);",
      'poll();',
    ].join('\n'),
  );
  git('add', '.');
  git('commit', '--quiet', '-m', 'good');
  git('tag', 'v-good');
  writeFileSync(
    join(repo, 'check.js'),
    "console.log('line 1'); console.error('assertion failed: 2 != 3'); process.exit(3);\n",
  );
  git('commit', '--quiet', '-am', 'bad');
  git('tag', 'v-bad');
});

const base = loadEnvironment(join(__dirname, '..', 'fixtures', 'environments'), 'staging');

function plan(
  ref: string,
  checks: { name: string; command: string[]; timeoutSeconds: number }[],
): DeployPlan {
  return {
    deploymentId: `deploy-staging-${ref}-${Date.now()}`,
    request: { environment: 'staging', release: ref, images: { api: 'v1' }, requestedBy: 'ci' },
    environment: { ...base, gates: { repository: repo, checks } },
    images: {},
  };
}

async function runGates(p: DeployPlan): Promise<{ results?: GateResult[]; failure?: ApplicationFailure }> {
  const { runQualityGates } = createGateActivities({ workspaceRoot });
  try {
    return { results: await underPolicy('runQualityGates').run(runQualityGates, { plan: p }) };
  } catch (err) {
    if (err instanceof ApplicationFailure) return { failure: err };
    throw err;
  }
}

const node = process.execPath;

test('gates pass at the good commit, concurrently, and the workspace is removed afterwards', async () => {
  const meetings = mkdtempSync(join(root, 'meet-'));
  const p = plan('v-good', [
    { name: 'check', command: [node, 'check.js'], timeoutSeconds: 30 },
    // Each of these passes only when the other is running at the same time.
    { name: 'meet-a', command: [node, 'meet.js', meetings, 'a', 'b'], timeoutSeconds: 30 },
    { name: 'meet-b', command: [node, 'meet.js', meetings, 'b', 'a'], timeoutSeconds: 30 },
  ]);
  const { results, failure } = await runGates(p);
  expect(failure).toBeUndefined();
  expect(results?.map((r) => [r.name, r.verdict])).toEqual([
    ['check', 'passed'],
    ['meet-a', 'passed'],
    ['meet-b', 'passed'],
  ]);
  expect(results?.[0].outputTail).toBe('all good\n');
  expect(results?.[0].commit).toBe(git('rev-parse', 'v-good^{commit}'));
  expect(existsSync(join(workspaceRoot, p.deploymentId))).toBe(false);
});

test('a failing gate fails the activity, non-retryable, with its output tail', async () => {
  const { failure } = await runGates(
    plan('v-bad', [{ name: 'check', command: [node, 'check.js'], timeoutSeconds: 30 }]),
  );
  expect(failure?.type).toBe('GateFailed');
  expect(failure?.nonRetryable).toBe(true);
  expect(failure?.message).toMatch(
    /^quality gate check failed \(exit 3\) at [0-9a-f]{12}: line 1 \| assertion failed: 2 != 3$/,
  );
  expect((failure?.details?.[0] as GateResult[])[0]).toMatchObject({ verdict: 'failed', exitCode: 3 });
});

test('a gate past its deadline is killed and reported as timed out', async () => {
  const { failure } = await runGates(
    plan('v-good', [
      { name: 'hangs', command: [node, '-e', 'setInterval(() => {}, 1000)'], timeoutSeconds: 1 },
    ]),
  );
  expect(failure?.type).toBe('GateFailed');
  expect(failure?.message).toMatch(/^quality gate hangs timed-out at /);
});

test('an unknown commit is invalid input', async () => {
  const { failure } = await runGates(
    plan('no-such-tag', [{ name: 'check', command: [node, 'check.js'], timeoutSeconds: 30 }]),
  );
  expect(failure?.type).toBe('InvalidInput');
  expect(failure?.message).toBe(`commit "no-such-tag" does not exist in ${repo}`);
});
