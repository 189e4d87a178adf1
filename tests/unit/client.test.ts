import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { TypedSearchAttributes } from '@temporalio/common';
import { buildProgram } from '../../src/client';
import { CliExit } from '../../src/client/cliExit';
import { exitCodeFor, laterDeploymentQuery } from '../../src/client/deploy';
import { COMMENT_MAX, parseDecision } from '../../src/client/decision';
import { ExitCode } from '../../src/client/exitCodes';
import { LIVE_POLLER_MS, livePollers } from '../../src/client/workerPresence';
import { temporalAddressProblem } from '../../src/shared/settings';
import { approvalWaitingMessage, summaryLine } from '../../src/client/format';
import {
  formatSpan,
  environmentNow,
  historyQuery,
  historyTable,
  historyUiLink,
  newestFirst,
  parseLimit,
  toHistoryRow,
  type ListedExecution,
} from '../../src/client/history';
import type { DeploymentStatus } from '../../src/shared/deployment';
import { DEPLOY_ENVIRONMENT, DEPLOY_RELEASE, DEPLOY_STATUS } from '../../src/shared/searchAttributes';
import { loadSettings } from '../../src/shared/settings';

const settings = loadSettings({ TEMPORAL_UI_URL: 'http://127.0.0.1:8233/' });

/** The CliExit a function throws, or a failure when it throws nothing or something else. */
function exitOf(fn: () => unknown): CliExit {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliExit) return err;
    throw err;
  }
  throw new Error('expected a CliExit');
}

function status(partial: Partial<DeploymentStatus>): DeploymentStatus {
  return {
    deploymentId: 'deploy-production-abc123',
    environment: 'production',
    release: 'abc123',
    requestedBy: 'ci',
    stage: 'approval',
    outcome: 'running',
    steps: [],
    ignoredSignals: [],
    ...partial,
  };
}

describe('approve / abort flags', () => {
  test('a good approve becomes the one JSON argument, for the workflow id of env and release', () => {
    expect(
      parseDecision('approve', { env: 'production', release: 'abc123', by: 'alice', text: 'looks good' }),
    ).toEqual({
      signal: 'approve',
      workflowId: 'deploy-production-abc123',
      environment: 'production',
      release: 'abc123',
      input: { by: 'alice', comment: 'looks good' },
    });
  });

  test('no comment (or only spaces) sends {by} alone; --id wins over env and release', () => {
    expect(parseDecision('abort', { id: 'deploy-x-1', by: 'bob@example.com', text: '  ' })).toMatchObject({
      workflowId: 'deploy-x-1',
      input: { by: 'bob@example.com' },
    });
    expect(parseDecision('abort', { id: 'deploy-x-1', by: 'bob' }).input).toEqual({ by: 'bob' });
  });

  test.each([
    ['a space', 'bad name'],
    ['a shell metacharacter', 'alice;rm'],
    ['a leading dash', '-alice'],
    ['empty', ''],
  ])('--by with %s is refused naming the flag, value and rule', (_, by) => {
    const err = exitOf(() => parseDecision('approve', { env: 'production', release: 'r1', by }));
    expect(err.code).toBe(ExitCode.invalidInput);
    expect(err.message).toMatch(
      /^--by: value ".*" must be a user name of letters, digits and \. _ @ \+ -; nothing was sent$/,
    );
  });

  test('a --by longer than 64 characters is refused', () => {
    const err = exitOf(() => parseDecision('approve', { id: 'd', by: 'a'.repeat(65) }));
    expect(err.message).toMatch(
      /^--by: value "a+\.\.\." \(65 characters\) must be a user name of at most 64 characters; nothing was sent$/,
    );
  });

  test('a missing --by is refused', () => {
    const err = exitOf(() => parseDecision('approve', { env: 'production', release: 'r1' }));
    expect(err.code).toBe(ExitCode.invalidInput);
    expect(err.message).toBe('--by: is missing: must name who decides (a user name); nothing was sent');
  });

  test(`a comment longer than ${COMMENT_MAX} characters is refused, under the flag the signal uses`, () => {
    const ok = 'x'.repeat(COMMENT_MAX);
    expect(parseDecision('approve', { id: 'd', by: 'a', text: ok }).input.comment).toBe(ok);
    const approve = exitOf(() => parseDecision('approve', { id: 'd', by: 'a', text: `${ok}y` }));
    expect(approve.code).toBe(ExitCode.invalidInput);
    expect(approve.message).toMatch(
      /^--comment: value "x+\.\.\." \(501 characters\) must be at most 500 characters; nothing was sent$/,
    );
    const abort = exitOf(() => parseDecision('abort', { id: 'd', by: 'a', text: `${ok}y` }));
    expect(abort.message).toMatch(/^--reason: /);
  });

  test('env and release are validated; a deployment must be named', () => {
    expect(exitOf(() => parseDecision('approve', { env: 'Prod', release: 'r1', by: 'a' })).message).toMatch(
      /^--env: value "Prod" must be lowercase letters/,
    );
    expect(
      exitOf(() => parseDecision('approve', { env: 'prod', release: 'r1;reboot', by: 'a' })).message,
    ).toMatch(/^--release: value "r1;reboot" must be letters, digits/);
    expect(exitOf(() => parseDecision('approve', { env: 'prod', by: 'a' })).message).toBe(
      'approve needs --env with --release (or --id); nothing was sent',
    );
    expect(exitOf(() => parseDecision('abort', { id: 'a\nb', by: 'a' })).message).toMatch(/^--id: /);
  });
});

describe('deploy exit codes', () => {
  test.each<[string, DeploymentStatus | undefined, string | undefined, number]>([
    ['succeeded', status({ outcome: 'succeeded' }), undefined, ExitCode.succeeded],
    [
      'rolled back and healthy',
      status({ outcome: 'rolled-back', rollback: { healthy: true, actions: [] } }),
      'DeploymentFailed',
      ExitCode.rolledBack,
    ],
    [
      'rolled back, not healthy',
      status({ outcome: 'rolled-back', rollback: { healthy: false, actions: [] } }),
      'DeploymentFailed',
      ExitCode.failedUnhealthy,
    ],
    ['invalid input', status({ outcome: 'failed' }), 'InvalidInput', ExitCode.invalidInput],
    ['aborted by an operator', status({ outcome: 'aborted' }), 'DeploymentAborted', ExitCode.aborted],
    ['approval expired', status({ outcome: 'aborted' }), 'ApprovalExpired', ExitCode.aborted],
    ['aborted, no status in the failure', undefined, 'DeploymentAborted', ExitCode.aborted],
    ['expired, no status in the failure', undefined, 'ApprovalExpired', ExitCode.aborted],
    [
      'aborted but the undo did not complete',
      status({ outcome: 'failed' }),
      'DeploymentAborted',
      ExitCode.failedUnhealthy,
    ],
    ['no status at all', undefined, undefined, ExitCode.failedUnhealthy],
  ])('%s', (_, s, type, code) => {
    expect(exitCodeFor(s, type)).toBe(code);
  });

  test('the documented codes', () => {
    expect(ExitCode).toEqual({
      succeeded: 0,
      rolledBack: 1,
      invalidInput: 2,
      aborted: 3,
      temporalUnreachable: 4,
      failedUnhealthy: 5,
      refused: 6,
      stillRunning: 7,
      operationFailed: 8,
      noWorker: 9,
    });
  });

  test('a failed gate or a busy environment is "refused": no host was touched', () => {
    expect(exitCodeFor(undefined, 'GateFailed')).toBe(6);
    expect(exitCodeFor(undefined, 'EnvironmentBusy')).toBe(6);
    expect(exitCodeFor(undefined, 'DiskBelowFloor')).toBe(6);
  });
});

describe('waiting for approval', () => {
  const link = 'http://127.0.0.1:8233/namespaces/default/workflows/deploy-production-abc123';

  test('names the exact approve command and the UI link while waiting', () => {
    const message = approvalWaitingMessage(
      status({ approval: { state: 'waiting', deadline: '2026-05-01T12:00:00.000Z' } }),
      link,
    );
    expect(message).toBe(
      [
        'waiting for approval (until 2026-05-01T12:00:00.000Z, then it aborts): send approve with',
        '  npx deployctl approve --env production --release abc123 --by <your-name> --comment "<why>"',
        `or in the Temporal UI (Send a Signal "approve", argument {"by": "<your-name>", "comment": "<why>"}): ${link}`,
      ].join('\n'),
    );
  });

  test('says nothing when not waiting', () => {
    expect(approvalWaitingMessage(status({}), link)).toBeUndefined();
    expect(
      approvalWaitingMessage(status({ approval: { state: 'approved', deadline: 'x' } }), link),
    ).toBeUndefined();
  });

  test('an aborted deployment has its own summary', () => {
    expect(
      summaryLine(
        status({
          outcome: 'aborted',
          failure: { step: 'approval', message: 'aborted by carol: freeze' },
        }),
      ),
    ).toBe('release abc123 was stopped at "approval" (aborted by carol: freeze)');
  });

  test('a rolled-back deployment says what answers again, and how soon after the failure', () => {
    expect(
      summaryLine(
        status({
          outcome: 'rolled-back',
          failure: { step: 'health', message: 'not healthy after 10 s' },
          rollback: { restoredRelease: 'r6', healthy: true, actions: [], answeringAfterMs: 2_640 },
        }),
      ),
    ).toBe(
      'release abc123 failed at "health" and was rolled back to r6, answering again 2.6 s after the failure: not healthy after 10 s',
    );
  });
});

describe('history', () => {
  test('the query names the workflow type and the validated environment', () => {
    expect(historyQuery('production')).toBe(
      "WorkflowType = 'deployEnvironment' AND DeployEnvironment = 'production'",
    );
  });

  test.each(["prod' OR WorkflowType != '", 'Prod', '', 'a'.repeat(41), 'prod\n'])(
    'an environment that is not a name never reaches a query: %j',
    (env) => {
      const err = exitOf(() => historyQuery(env));
      expect(err.code).toBe(ExitCode.invalidInput);
      expect(err.message).toBe(
        `--env: value ${JSON.stringify(env)} must be lowercase letters, digits and "-" only, starting with a letter, at most 40 characters`,
      );
    },
  );

  test('--limit is a whole number from 1 to 1000', () => {
    expect(parseLimit('1')).toBe(1);
    expect(parseLimit('1000')).toBe(1000);
    for (const bad of ['0', '1001', '-1', '2.5', 'ten', '']) {
      expect(exitOf(() => parseLimit(bad)).code).toBe(ExitCode.invalidInput);
    }
  });

  const now = new Date('2026-05-01T12:00:00.000Z');
  function execution(
    id: string,
    startTime: string,
    closeTime: string | undefined,
    runStatus: 'RUNNING' | 'COMPLETED' | 'FAILED' | 'TERMINATED',
    deployStatus?: string,
  ): ListedExecution {
    return {
      workflowId: id,
      runId: `run-${id}`,
      status: { code: 0 as never, name: runStatus },
      startTime: new Date(startTime),
      closeTime: closeTime ? new Date(closeTime) : undefined,
      typedSearchAttributes: new TypedSearchAttributes([
        { key: DEPLOY_ENVIRONMENT, value: 'production' },
        { key: DEPLOY_RELEASE, value: id.replace('deploy-production-', '') },
        ...(deployStatus ? [{ key: DEPLOY_STATUS, value: deployStatus }] : []),
      ]),
    };
  }

  const rows = newestFirst(
    [
      execution(
        'deploy-production-r1',
        '2026-05-01T09:00:00.000Z',
        '2026-05-01T09:00:12.345Z',
        'COMPLETED',
        'succeeded',
      ),
      execution('deploy-production-r3', '2026-05-01T11:58:00.000Z', undefined, 'RUNNING', 'running'),
      execution(
        'deploy-production-r2',
        '2026-05-01T10:00:00.000Z',
        '2026-05-01T10:04:05.000Z',
        'FAILED',
        'aborted',
      ),
      execution(
        'deploy-production-r0',
        '2026-04-30T08:00:00.000Z',
        '2026-04-30T10:03:00.000Z',
        'TERMINATED',
        'running',
      ),
    ].map((e) => toHistoryRow(e, settings, now)),
  );

  test('rows: newest first, status from DeployStatus, durations, links to the run', () => {
    expect(rows.map((r) => [r.workflowId, r.release, r.status, r.runStatus, r.durationMs])).toEqual([
      ['deploy-production-r3', 'r3', 'running', 'RUNNING', 120_000],
      ['deploy-production-r2', 'r2', 'aborted', 'FAILED', 245_000],
      ['deploy-production-r1', 'r1', 'succeeded', 'COMPLETED', 12_345],
      // Terminated by hand: its DeployStatus still says running, the run's status is the truth.
      ['deploy-production-r0', 'r0', 'terminated', 'TERMINATED', 7_380_000],
    ]);
    expect(rows[2].uiLink).toBe(
      'http://127.0.0.1:8233/namespaces/default/workflows/deploy-production-r1/run-deploy-production-r1/history',
    );
    expect(rows[0].closeTime).toBeUndefined();
  });

  test('what the environment runs: the last that succeeded (not the newest), and what runs now', () => {
    const { lastSucceeded, running } = environmentNow(rows);
    expect(lastSucceeded?.workflowId).toBe('deploy-production-r1');
    expect(running.map((r) => r.workflowId)).toEqual(['deploy-production-r3']);
    expect(environmentNow([rows[1]])).toEqual({ lastSucceeded: undefined, running: [] });
  });

  test('the table', () => {
    expect(historyTable(rows)).toBe(
      [
        'WORKFLOW ID           RELEASE  STATUS      STARTED               CLOSED                     DURATION',
        'deploy-production-r3  r3       running     2026-05-01 11:58:00Z  -                     2m 00s so far',
        'deploy-production-r2  r2       aborted     2026-05-01 10:00:00Z  2026-05-01 10:04:05Z         4m 05s',
        'deploy-production-r1  r1       succeeded   2026-05-01 09:00:00Z  2026-05-01 09:00:12Z         12.3 s',
        'deploy-production-r0  r0       terminated  2026-04-30 08:00:00Z  2026-04-30 10:03:00Z         2h 03m',
      ].join('\n'),
    );
  });

  test('durations and the UI list link', () => {
    expect([850, 1_000, 59_949, 60_000, 3_599_000, 3_600_000].map(formatSpan)).toEqual([
      '850 ms',
      '1.0 s',
      '59.9 s',
      '1m 00s',
      '59m 59s',
      '1h 00m',
    ]);
    expect(historyUiLink(settings, historyQuery('production'))).toBe(
      'http://127.0.0.1:8233/namespaces/default/workflows?query=' +
        "WorkflowType%20%3D%20'deployEnvironment'%20AND%20DeployEnvironment%20%3D%20'production'",
    );
  });
});

describe('re-running a release', () => {
  test('the query for a deployment that replaced it: succeeded, same environment, started after it closed', () => {
    expect(laterDeploymentQuery('staging', 'deploy-staging-r1', new Date('2026-12-04T10:00:00.000Z'))).toBe(
      "WorkflowType = 'deployEnvironment' AND DeployEnvironment = 'staging' AND DeployStatus = 'succeeded' AND WorkflowId != 'deploy-staging-r1' AND StartTime > '2026-12-04T10:00:00.000Z'",
    );
    expect(() => laterDeploymentQuery("staging' OR 'a'='a", 'x', new Date())).toThrow(
      `--env: value "staging' OR 'a'='a" must be`,
    );
    expect(() => laterDeploymentQuery('staging', "x' OR 'a'='a", new Date())).toThrow(
      'cannot query deployments other than',
    );
  });
});

describe('TEMPORAL_ADDRESS', () => {
  test.each(['127.0.0.1:7233', 'temporal.example.com:7233', 'my-ns.a1b2c.tmprl.cloud:7233', '[::1]:7233'])(
    '%s is host:port',
    (address) => {
      expect(temporalAddressProblem(address)).toBeUndefined();
    },
  );

  test.each([
    [
      'http://temporal.example.com:7233',
      'TEMPORAL_ADDRESS "http://temporal.example.com:7233" must be host:port without the http:// scheme (TLS is configured apart), e.g. temporal.example.com:7233',
    ],
    [
      'https://temporal.example.com:7233/',
      'TEMPORAL_ADDRESS "https://temporal.example.com:7233/" must be host:port without the https:// scheme (TLS is configured apart), e.g. temporal.example.com:7233',
    ],
    [
      'temporal.example.com',
      'TEMPORAL_ADDRESS "temporal.example.com" must be host:port, e.g. temporal.example.com:7233',
    ],
    ['host:99999', 'TEMPORAL_ADDRESS "host:99999" must be host:port, e.g. temporal.example.com:7233'],
  ])('%s is refused', (address, message) => {
    expect(temporalAddressProblem(address)).toBe(message);
  });
});

describe('is a worker there', () => {
  const now = Date.parse('2026-12-04T10:00:00Z');
  const polled = (secondsAgo: number, identity: string) => ({
    identity,
    lastAccessTime: { seconds: now / 1000 - secondsAgo },
  });

  test('a worker that polled within the last 90 s counts; an older poller (a dead worker) does not', () => {
    expect(livePollers([polled(5, 'w1@host'), polled(LIVE_POLLER_MS / 1000 + 1, 'gone@host')], now)).toEqual([
      'w1@host',
    ]);
    expect(livePollers([polled(600, 'gone@host'), { identity: 'no-time' }], now)).toEqual([]);
  });

  test('--worker-wait is a whole number of seconds, 0 allowed', () => {
    const parse = (value: string) =>
      buildProgram()
        .commands.find((c) => c.name() === 'deploy')!
        .exitOverride()
        .configureOutput({ writeErr: () => undefined })
        .parseOptions(['--worker-wait', value]);
    expect(() => parse('0')).not.toThrow();
    expect(() => parse('1.5')).toThrow(
      /--worker-wait <seconds>' argument '1.5' is invalid. must be a whole number of seconds, 0 or more/,
    );
  });
});

describe('the deployctl process', () => {
  const root = join(__dirname, '..', '..');
  // Unreachable on purpose: invalid input must be refused before any connection is tried.
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/client.ts', ...args], {
      cwd: root,
      env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
      encoding: 'utf8',
      timeout: 30_000,
    });

  test('a TEMPORAL_ADDRESS with a scheme is invalid input (exit 2), not an unreachable Temporal (exit 4)', () => {
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/client.ts', 'history', '--env', 'staging'],
      {
        cwd: root,
        env: { ...process.env, TEMPORAL_ADDRESS: 'https://127.0.0.1:7233' },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(result.stderr).toContain(
      'TEMPORAL_ADDRESS "https://127.0.0.1:7233" must be host:port without the https:// scheme',
    );
    expect(result.status).toBe(ExitCode.invalidInput);
  }, 60_000);

  test('every command has --help', () => {
    for (const command of ['deploy', 'status', 'approve', 'abort', 'history']) {
      const result = run([command, '--help']);
      expect(result.status).toBe(0);
      expect(result.stdout).toContain(`Usage: deployctl ${command}`);
      expect(result.stdout).toContain('--json');
    }
    const status = run(['status', '--help']);
    expect(status.stdout).toContain('--wait');
    expect(status.stdout).toContain("a finished deployment's own (0 succeeded, 1 rolled back");
    expect(run(['rollback', '--help']).stdout).toContain('--to <release>');
    const check = run(['config', 'check', '--help']);
    expect(check.stdout).toContain('Usage: deployctl config check [options]');
    expect(check.stdout).toContain('--json');
  }, 60_000);

  test('bad flags exit 2 before connecting; an unreachable Temporal exits 4', () => {
    const bad = run(['approve', '--env', 'production', '--release', 'r1', '--by', 'bad name']);
    expect(bad.status).toBe(ExitCode.invalidInput);
    expect(bad.stderr).toContain('--by: value "bad name" must be a user name');
    // A usage error of a subcommand is invalid input too (commander's own code would be 1).
    expect(run(['history', '--env', 'production', '--limit', 'ten']).status).toBe(ExitCode.invalidInput);
    expect(run(['deploy', '--release', 'r1']).status).toBe(ExitCode.invalidInput);
    // Refusals name the flags the user typed, not the request's internal keys.
    const badDeploy = run([
      'deploy',
      '--env',
      'production',
      '--release',
      'r 1',
      '--by',
      'a$b',
      '-i',
      'api=x y',
    ]);
    expect(badDeploy.status).toBe(ExitCode.invalidInput);
    expect(badDeploy.stderr).toContain('--release: value "r 1" must be letters');
    expect(badDeploy.stderr).toContain('--by: value "a$b" must be a user name');
    expect(badDeploy.stderr).toContain('--image api=: value "x y" must be a tag');
    expect(badDeploy.stderr).not.toMatch(/requestedBy|images\./);
    const badTo = run(['rollback', '--env', 'production', '--by', 'alice', '--to', '../v1']);
    expect(badTo.status).toBe(ExitCode.invalidInput);
    expect(badTo.stderr).toContain('--to: value "../v1" must be letters, digits');
    expect(run(['status', '--id', 'd', '--wait', '--timeout', '0']).status).toBe(ExitCode.invalidInput);
    const badEnv = run(['status', '--env', 'Prod;x']);
    expect(badEnv.status).toBe(ExitCode.invalidInput);
    expect(run(['status']).stderr).toContain('status needs --env, --env with --release, or --id');
    const down = run(['history', '--env', 'production']);
    expect(down.status).toBe(ExitCode.temporalUnreachable);
    expect(down.stderr).toContain('cannot reach Temporal at 127.0.0.1:1');
  }, 60_000);

  test('canary pause|resume|promote and switch-back have --help', () => {
    for (const action of ['pause', 'resume', 'promote']) {
      const result = run(['canary', action, '--help']);
      expect(result.status).toBe(0);
      expect(result.stdout).toContain(`Usage: deployctl canary ${action} [options]`);
      expect(result.stdout).toContain(`Sends the "${action}Canary" signal`);
    }
    const switchBack = run(['switch-back', '--help']);
    expect(switchBack.status).toBe(0);
    expect(switchBack.stdout).toContain('Usage: deployctl rollback|switch-back [options]');
    expect(switchBack.stdout).toContain('--timeout <seconds>');
  }, 60_000);

  test('canary refuses bad input with exit 2 before connecting, naming the flag', () => {
    const badBy = run(['canary', 'pause', '--env', 'production', '--release', 'r1', '--by', 'bad name']);
    expect(badBy.status).toBe(ExitCode.invalidInput);
    expect(badBy.stderr).toContain('--by: value "bad name" must be a user name');
    expect(badBy.stderr).toContain('nothing was sent');
    const noBy = run(['canary', 'resume', '--id', 'deploy-production-r1']);
    expect(noBy.status).toBe(ExitCode.invalidInput);
    expect(noBy.stderr).toContain('--by: is missing');
    const noTarget = run(['canary', 'promote', '--env', 'production', '--by', 'alice']);
    expect(noTarget.status).toBe(ExitCode.invalidInput);
    expect(noTarget.stderr).toContain(
      'canary promote needs --env with --release (or --id); nothing was sent',
    );
    const unknown = run(['canary', 'restart', '--id', 'deploy-production-r1', '--by', 'alice']);
    expect(unknown.status).toBe(ExitCode.invalidInput);
    expect(unknown.stderr).toContain("unknown command 'restart'");
    expect(unknown.stderr).toContain('pause [options]');
    expect(run(['canary']).status).toBe(ExitCode.invalidInput);
    expect(run(['canary', 'pause', '--id', 'd', '--by', 'alice', '--reason', 'x']).status).toBe(
      ExitCode.invalidInput,
    );
    // switch-back is rollback: the same validation.
    const switchBack = run(['switch-back', '--env', 'Prod', '--by', 'alice']);
    expect(switchBack.status).toBe(ExitCode.invalidInput);
    expect(switchBack.stderr).toContain('--env: value "Prod" must be lowercase letters');
  }, 60_000);
});
