import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  annotation,
  escapeData,
  escapeProperty,
  inGithubActions,
  jobSummary,
  stepGroup,
} from '../../../src/client/githubActions';
import { ExitCode } from '../../../src/client/exitCodes';
import type { DeploymentStatus } from '../../../src/shared/deployment';

const status: DeploymentStatus = {
  deploymentId: 'deploy-production-abc',
  environment: 'production',
  release: 'abc',
  requestedBy: 'ci',
  stage: 'done',
  outcome: 'rolled-back',
  steps: [
    { name: 'gates', status: 'succeeded', startedAt: '', durationMs: 2100 },
    { name: 'health', status: 'failed', startedAt: '', durationMs: 30_000, detail: 'api | not ready' },
    { name: 'checks', status: 'succeeded', startedAt: '', durationMs: 40 },
  ],
  gates: [
    {
      name: 'test',
      commit: 'abc',
      verdict: 'passed',
      exitCode: 0,
      durationMs: 2100,
      outputTail: 'ok 12 tests\n::set-output name=x::y',
    },
  ],
  checks: [{ name: 'home', host: 'web-1', ok: false, detail: 'HTTP 500' }],
  failure: { step: 'health', message: 'not healthy after 30 s' },
  rollback: { restoredRelease: 'r1', healthy: true, actions: ['restored r1'] },
  ignoredSignals: [],
};

test('only a GitHub Actions job gets its workflow commands', () => {
  expect(inGithubActions({ GITHUB_ACTIONS: 'true' })).toBe(true);
  expect(inGithubActions({ GITHUB_ACTIONS: 'false' })).toBe(false);
  expect(inGithubActions({})).toBe(false);
});

test('messages and properties are escaped so they cannot end or forge a command', () => {
  expect(escapeData('50%\r\nnext')).toBe('50%25%0D%0Anext');
  expect(escapeProperty('a: b, c')).toBe('a%3A b%2C c');
});

test('a finished step is a group with its detail; gates and checks list each verdict', () => {
  expect(stepGroup(status.steps[0], status)).toEqual([
    '::group::succeeded   gates 2.1 s',
    'gate test: passed (exit 0) in 2.1 s',
    '  ok 12 tests',
    '  ::set-output name=x::y',
    '::endgroup::',
  ]);
  expect(stepGroup(status.steps[1], status)).toEqual([
    '::group::failed      health 30.0 s',
    'api | not ready',
    '::endgroup::',
  ]);
  expect(stepGroup(status.steps[2], status)).toEqual([
    '::group::succeeded   checks 40 ms',
    'FAILED home on web-1: HTTP 500',
    '::endgroup::',
  ]);
  // A step's own text starting with "::" is shifted so the runner does not act on it.
  expect(stepGroup({ ...status.steps[1], detail: '::error::forged' }, status)[1]).toBe(' ::error::forged');
});

test('each non-zero exit code has its annotation; success has none', () => {
  expect(annotation(ExitCode.succeeded, 'fine')).toBeUndefined();
  expect(annotation(ExitCode.rolledBack, 'failed at "health"\nsecond line', 'http://ui/x')).toBe(
    '::error title=Deployment failed%2C rolled back (exit 1)::failed at "health"%0Asecond line http://ui/x',
  );
  expect(annotation(ExitCode.stillRunning, 'gave up')).toBe(
    '::warning title=Still running (exit 7)::gave up',
  );
  for (const code of Object.values(ExitCode).filter((c) => c !== ExitCode.succeeded))
    expect(annotation(code, 'm')).toMatch(new RegExp(`^::(error|warning) title=.+ \\(exit ${code}\\)::m$`));
});

test('the job summary holds the outcome, the steps as a table and the UI link', () => {
  const markdown = jobSummary({
    exitCode: ExitCode.rolledBack,
    workflowId: 'deploy-production-abc',
    uiLink: 'http://ui/x',
    attached: false,
    status,
  });
  const lines = markdown.split('\n');
  expect(lines[0]).toBe('### abc to production: rolled-back (exit 1)');
  expect(lines).toContain('| step | status | duration |');
  expect(lines).toContain('| health | failed | 30.0 s |');
  expect(lines).toContain('[Temporal UI](http://ui/x)');
  expect(
    jobSummary({
      exitCode: ExitCode.invalidInput,
      workflowId: 'w',
      uiLink: 'u',
      attached: false,
      error: 'a|b',
    }),
  ).toBe('### w: exit 2\n\na\\|b\n\n[Temporal UI](u)\n\n');
});

test('deployctl annotates a refusal inside a GitHub Actions job', () => {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/client.ts', 'deploy', '--env', 'production', '--release', 'r 1', '-i', 'api=v1'],
    {
      cwd: join(__dirname, '..', '..', '..'),
      env: { ...process.env, GITHUB_ACTIONS: 'true', TEMPORAL_ADDRESS: '127.0.0.1:1' },
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  expect(result.status).toBe(ExitCode.invalidInput);
  expect(result.stderr).toContain(
    '::error title=Invalid input (exit 2)::deploy flags is invalid:%0A  --release: value "r 1"',
  );
}, 60_000);
