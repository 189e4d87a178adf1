import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { Command } from 'commander';
import { buildProgram } from '../../../src/client';
import { CliExit } from '../../../src/client/cliExit';
import {
  CANARY_ACTIONS,
  canaryRefusal,
  DECISIONS,
  parseDecision,
  sendDecision,
  TEXT_FLAG,
  type DecisionSignal,
} from '../../../src/client/decision';
import { ExitCode } from '../../../src/client/exitCodes';
import { canaryLine, canaryTable, coloursLine, releaseDetails } from '../../../src/client/format';
import type { CanaryStepRecord, DeploymentStatus } from '../../../src/shared/deployment';
import { DEPLOY_ENVIRONMENT, DEPLOY_RELEASE } from '../../../src/shared/searchAttributes';
import { loadSettings } from '../../../src/shared/settings';

const settings = loadSettings({ TEMPORAL_UI_URL: 'http://127.0.0.1:8233/' });

function status(partial: Partial<DeploymentStatus>): DeploymentStatus {
  return {
    deploymentId: 'deploy-production-abc123',
    environment: 'production',
    release: 'abc123',
    requestedBy: 'ci',
    stage: 'analyse 25 %',
    outcome: 'running',
    steps: [],
    ignoredSignals: [],
    ...partial,
  };
}

function step(partial: Partial<CanaryStepRecord>): CanaryStepRecord {
  return {
    weight: 10,
    verdict: 'passed',
    requests: 0,
    errors: 0,
    errorRate: null,
    p95Seconds: null,
    availability: null,
    reasons: [],
    countersReset: false,
    proxyUnreachableProbes: 0,
    failedProbes: [],
    ...partial,
  };
}

const steps: CanaryStepRecord[] = [
  step({ weight: 10, requests: 1520, errors: 3, errorRate: 0.002, p95Seconds: 0.25, availability: 1 }),
  step({
    weight: 25,
    verdict: 'inconclusive',
    requests: 12,
    errorRate: 0,
    availability: 0.9833,
    reasons: ['12 requests < 20'],
    countersReset: true,
    proxyUnreachableProbes: 7,
  }),
  step({
    weight: 50,
    verdict: 'failed',
    requests: 2400,
    errors: 217,
    errorRate: 0.0903,
    p95Seconds: 4.88,
    availability: 0.95,
    reasons: ['error rate 9.0 % > 5.0 %', 'p95 4.88 s > 3 s'],
  }),
];

const canaryStatus = status({
  colours: { strategy: 'canary', stable: 'blue', target: 'green', live: 'blue' },
  canary: { plan: [10, 25, 50, 100], weight: 25, steps: steps.slice(0, 1) },
});

describe('the colours line', () => {
  test.each<[string, Parameters<typeof coloursLine>[0], string]>([
    [
      'blue-green, retirement scheduled',
      {
        strategy: 'blue-green',
        stable: 'blue',
        target: 'green',
        live: 'green',
        retireAt: '2026-05-01T12:30:00.000Z',
      },
      'colours: blue → green, live: green (blue-green); old colour retired at 2026-05-01T12:30:00.000Z',
    ],
    [
      'canary, retirement not scheduled',
      {
        strategy: 'canary',
        stable: 'green',
        target: 'blue',
        live: 'blue',
        retireError: 'retireColour-production-blue is already running',
      },
      'colours: green → blue, live: blue (canary); retirement not scheduled: retireColour-production-blue is already running',
    ],
    [
      'the first release on colours',
      { strategy: 'blue-green', target: 'blue' },
      'colours: none → blue, live: none (blue-green)',
    ],
    [
      'recreate in place',
      { strategy: 'recreate', stable: 'green', target: 'green', live: 'green' },
      'colours: green (in place), live: green (recreate)',
    ],
    [
      'a switch-back',
      { strategy: 'blue-green', stable: 'green', target: 'blue', live: 'blue', reused: true },
      'colours: green → blue, live: blue (blue-green); switch-back: blue still ran this release',
    ],
  ])('%s', (_, colours, line) => {
    expect(coloursLine(colours)).toBe(line);
  });
});

describe('the canary', () => {
  test('its line: weight now, plan, who paused or promoted it', () => {
    expect(canaryLine({ plan: [10, 25, 50, 100], weight: 0, steps: [] })).toBe(
      'canary: 0 % now, steps 10, 25, 50, 100 %',
    );
    expect(
      canaryLine({
        plan: [10, 50, 100],
        weight: 50,
        steps: [],
        paused: { by: 'alice', comment: 'watching p95', at: '2026-05-01T12:05:00.000Z' },
        promoted: { by: 'bob', at: '2026-05-01T12:06:00.000Z' },
      }),
    ).toBe(
      'canary: 50 % now, steps 10, 50, 100 %; paused by alice at 2026-05-01T12:05:00.000Z (watching p95)' +
        '; promoted by bob at 2026-05-01T12:06:00.000Z',
    );
  });

  test('its steps table: figures right-aligned, "-" for none, reasons last', () => {
    expect(canaryTable(steps).split('\n')).toEqual([
      'WEIGHT %  VERDICT       REQUESTS  ERROR RATE %  P95 S  AVAILABILITY %  REASONS',
      '      10  passed            1520          0.20  0.250          100.00  -',
      '      25  inconclusive        12          0.00      -           98.33  12 requests < 20; Traefik counters were reset during the step; 7 probes found no proxy (not counted)',
      '      50  failed            2400          9.03  4.880           95.00  error rate 9.0 % > 5.0 %; p95 4.88 s > 3 s',
    ]);
  });

  test('status adds the colours line, the canary line and its table, when present', () => {
    expect(releaseDetails(status({}))).toEqual([]);
    expect(
      releaseDetails(
        status({ colours: { strategy: 'blue-green', stable: 'blue', target: 'green', live: 'blue' } }),
      ),
    ).toEqual(['colours: blue → green, live: blue (blue-green)']);
    expect(
      releaseDetails(status({ ...canaryStatus, canary: { plan: [10, 100], weight: 0, steps: [] } })),
    ).toEqual(['colours: blue → green, live: blue (canary)', 'canary: 0 % now, steps 10, 100 %']);
    expect(releaseDetails(canaryStatus).join('\n')).toBe(
      [
        'colours: blue → green, live: blue (canary)',
        'canary: 25 % now, steps 10, 25, 50, 100 %',
        'WEIGHT %  VERDICT  REQUESTS  ERROR RATE %  P95 S  AVAILABILITY %  REASONS',
        '      10  passed       1520          0.20  0.250          100.00  -',
      ].join('\n'),
    );
  });
});

describe('canary controls share the decision flags', () => {
  test('each action sends its signal, under the command name messages use', () => {
    expect(CANARY_ACTIONS).toEqual({
      pause: 'pauseCanary',
      resume: 'resumeCanary',
      promote: 'promoteCanary',
    });
    for (const [action, signal] of Object.entries(CANARY_ACTIONS)) {
      expect(DECISIONS[signal].command).toBe(`canary ${action}`);
      expect(DECISIONS[signal].definition.name).toBe(signal);
      expect(DECISIONS[signal].canaryOnly).toBe(true);
      expect(TEXT_FLAG[signal]).toBe('--comment');
    }
    expect(TEXT_FLAG).toMatchObject({ approve: '--comment', abort: '--reason' });
    expect([DECISIONS.approve.canaryOnly, DECISIONS.abort.canaryOnly]).toEqual([false, false]);
  });

  test('the same validation and the same one JSON argument', () => {
    expect(
      parseDecision('pauseCanary', { env: 'production', release: 'abc123', by: 'alice', text: 'p95' }),
    ).toEqual({
      signal: 'pauseCanary',
      workflowId: 'deploy-production-abc123',
      environment: 'production',
      release: 'abc123',
      input: { by: 'alice', comment: 'p95' },
    });
    const bad = (() => {
      try {
        parseDecision('promoteCanary', { id: 'd', by: 'bad name' });
      } catch (err) {
        return err as CliExit;
      }
    })();
    expect(bad).toBeInstanceOf(CliExit);
    expect(bad?.code).toBe(ExitCode.invalidInput);
    expect(bad?.message).toMatch(/^--by: value "bad name" must be a user name/);
    expect(() => parseDecision('resumeCanary', { env: 'production', by: 'alice' })).toThrow(
      'canary resume needs --env with --release (or --id); nothing was sent',
    );
    expect(() => parseDecision('pauseCanary', { id: 'd', by: 'a', text: 'x'.repeat(501) })).toThrow(
      /^--comment: value "x+\.\.\." \(501 characters\) must be at most 500 characters; nothing was sent$/,
    );
  });
});

describe('which deployments take a canary control', () => {
  const id = 'deploy-production-abc123';
  test.each<[string, Partial<DeploymentStatus>, string | undefined]>([
    ['a running canary', canaryStatus, undefined],
    [
      'a canary whose colours are known but whose first step has not run',
      { colours: canaryStatus.colours },
      undefined,
    ],
    [
      'a finished one',
      { ...canaryStatus, outcome: 'succeeded' },
      `deployment ${id} is not running (outcome: succeeded)`,
    ],
    [
      'one being undone',
      { ...canaryStatus, failure: { step: 'analyse 10 %', message: 'canary at 10 % failed its analysis' } },
      `deployment ${id} failed at "analyse 10 %" and is being undone (canary at 10 % failed its analysis)`,
    ],
    [
      'one without colours yet',
      { stage: 'approval' },
      `deployment ${id} is not a canary: its status shows no colours yet (stage: approval)`,
    ],
    [
      'a blue-green one',
      { colours: { strategy: 'blue-green', stable: 'blue', target: 'green' } },
      `deployment ${id} is not a canary (strategy: blue-green)`,
    ],
    [
      'a switch-back',
      { colours: { strategy: 'canary', stable: 'green', target: 'blue', reused: true } },
      `deployment ${id} is a switch-back to blue: it moves all traffic at once, with no canary steps`,
    ],
    [
      'the first release on colours',
      { colours: { strategy: 'canary', target: 'blue' } },
      `deployment ${id} has no live colour to compare against: it moves all traffic at once, with no canary steps`,
    ],
    [
      'a canary at 100 %',
      { ...canaryStatus, canary: { plan: [10, 100], weight: 100, steps: [] } },
      `the canary of deployment ${id} is over: all traffic is on green`,
    ],
  ])('%s', (_, partial, refusal) => {
    expect(canaryRefusal(status(partial))).toBe(refusal);
  });
});

describe('sending', () => {
  /** A client whose one deployment is running with this status; records what is signalled. */
  function fakeClient(current: DeploymentStatus) {
    const handle = {
      describe: jest.fn(async () => ({
        type: 'deployEnvironment',
        runId: 'run-1',
        status: { name: 'RUNNING' },
        typedSearchAttributes: new TypedSearchAttributes([
          { key: DEPLOY_ENVIRONMENT, value: 'production' },
          { key: DEPLOY_RELEASE, value: 'abc123' },
        ]),
      })),
      query: jest.fn(async () => current),
      signal: jest.fn(async () => undefined),
      executeUpdate: jest.fn(async (_update: { name: string }, opts: { args: [{ by: string }] }) => ({
        decision: 'approve',
        by: opts.args[0].by,
        at: '2026-12-04T00:00:00.000Z',
        effect: 'approved: the deployment goes on',
      })),
    };
    const client = { workflow: { getHandle: () => handle } } as unknown as Client;
    return { client, handle };
  }
  const send = (signal: DecisionSignal, current: DeploymentStatus) => {
    const fake = fakeClient(current);
    const decision = parseDecision(signal, { env: 'production', release: 'abc123', by: 'alice' });
    return { fake, sent: sendDecision(fake.client, settings, decision) };
  };

  test('a canary control reaches a running canary and reports the canary', async () => {
    const { fake, sent } = send('promoteCanary', canaryStatus);
    expect(await sent).toEqual({
      signal: 'promoteCanary',
      workflowId: 'deploy-production-abc123',
      runId: 'run-1',
      sent: { by: 'alice' },
      uiLink: 'http://127.0.0.1:8233/namespaces/default/workflows/deploy-production-abc123',
      stage: canaryStatus.stage,
      colours: canaryStatus.colours,
      canary: canaryStatus.canary,
    });
    expect(fake.handle.signal).toHaveBeenCalledTimes(1);
    const [definition, input] = fake.handle.signal.mock.calls[0] as unknown as [{ name: string }, unknown];
    expect(definition.name).toBe('promoteCanary');
    expect(input).toEqual({ by: 'alice' });
  });

  test('nothing is sent to a deployment that is not a canary', async () => {
    const { fake, sent } = send(
      'pauseCanary',
      status({ colours: { strategy: 'blue-green', stable: 'blue', target: 'green' } }),
    );
    await expect(sent).rejects.toEqual(
      new CliExit(
        ExitCode.invalidInput,
        'deployment deploy-production-abc123 is not a canary (strategy: blue-green); nothing was sent',
      ),
    );
    expect(fake.handle.signal).not.toHaveBeenCalled();
  });

  test('approve does not need a canary: sent as an Update, it reports the answer and no canary', async () => {
    const { fake, sent } = send('approve', status({}));
    const result = await sent;
    expect(result).not.toHaveProperty('canary');
    expect(result.answer).toEqual({
      decision: 'approve',
      by: 'alice',
      at: '2026-12-04T00:00:00.000Z',
      effect: 'approved: the deployment goes on',
    });
    expect(fake.handle.query).not.toHaveBeenCalled();
    expect(fake.handle.signal).not.toHaveBeenCalled();
    expect(fake.handle.executeUpdate.mock.calls[0][0].name).toBe('approveDeployment');
  });
});

describe('help and README', () => {
  function helpOf(command: Command): string {
    let out = '';
    command.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
    command.outputHelp();
    return out;
  }
  const program = buildProgram();
  const sub = (name: string) => program.commands.find((c) => c.name() === name)!;

  test('the program lists canary and switch-back; canary has pause, resume and promote', () => {
    const help = helpOf(program);
    expect(help).toMatch(/^ {2}rollback\|switch-back \[options\] /m);
    expect(help).toMatch(/^ {2}canary +steer a running canary deployment/m);
    expect(sub('canary').commands.map((c) => c.name())).toEqual(['pause', 'resume', 'promote']);
    for (const action of ['pause', 'resume', 'promote']) {
      const actionHelp = helpOf(sub('canary').commands.find((c) => c.name() === action)!);
      for (const flag of ['--env', '--release', '--id', '--by', '--comment', '--json'])
        expect(actionHelp).toContain(flag);
      expect(actionHelp).toContain(`Sends the "${action}Canary" signal`);
    }
    expect(helpOf(sub('deploy'))).toMatch(
      /--strategy <name> .*\n(.*\n)*.*"recreate", "blue-green", "canary"/,
    );
  });

  test("the exit codes in --help are the README's, and both say canary controls exit 0 when sent", () => {
    const helpCodes = [...helpOf(program).matchAll(/^ {2}(\d) {2}(.*)$/gm)];
    const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
    const readmeCodes = [...readme.matchAll(/^\| (\d) +\| (.*?) +\|$/gm)];
    const codes = Object.values(ExitCode).map(String);
    expect(helpCodes.map((m) => m[1])).toEqual(codes);
    expect(readmeCodes.map((m) => m[1])).toEqual(codes);
    expect(helpCodes[0][2]).toBe('succeeded (approve/abort/canary: sent; history: listed)');
    expect(readmeCodes[0][2]).toBe('succeeded (`approve`/`abort`/`canary`: sent; `history`: listed)');
  });
});
