/**
 * The environment lock (src/workflows/environmentLock.ts) on a real Temporal server with its
 * real activity: holders and waiters are `holdLock` workflows (fixtures/lockHolders.ts), which
 * take the lock exactly as deployments do. What a deployment needs from it: the lock goes to
 * waiters in the order they asked, a holder that dies without letting go loses it, `--on-busy
 * fail` is refused at once with the holder named, a waiter that gives up leaves the queue, and
 * a waiter's history does not grow with the time it waits.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createLockActivities } from '../../src/activities/locks';
import { lockStateQuery, type ForcedRelease, type LockState } from '../../src/shared/messages';
import type { LockView } from '../../src/client/lockCommands';
import { doneSignal, holdStageQuery, type HoldInput, type HoldStage } from './fixtures/lockHolders';
import { runDeployctl, saveHistory, startLocalTemporal } from './testEnv';

let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundleWithSourceMap;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `locks-${randomUUID()}`;
const forcedAudited: { environment: string; forced: ForcedRelease }[] = [];

beforeAll(async () => {
  env = await startLocalTemporal();
  workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./fixtures/lockHolders') });
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle,
    activities: {
      ...createLockActivities(),
      // The real one appends to the hosts' audit.log (tests/integration/pipeline.test.ts).
      async auditForcedRelease(input: { environment: string; forced: ForcedRelease }) {
        forcedAudited.push(input);
      },
    },
    workflowFailureErrorTypes: { '*': ['NondeterminismError', 'DeterminismViolationError'] },
  });
  running = worker.run();
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

const environment = () => `env-${randomUUID().slice(0, 8)}`;

function hold(input: Omit<HoldInput, 'lockWaitSeconds'> & { lockWaitSeconds?: number }) {
  return env.client.workflow.start('holdLock', {
    taskQueue,
    workflowId: `hold-${input.environment}-${input.release}`,
    args: [{ lockWaitSeconds: 600, ...input }],
  });
}

/** Polls a query until `ok`, for at most 30 s, then fails naming what it last saw. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read().catch(() => undefined as T);
    if (last !== undefined && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}

const stageOf = (h: WorkflowHandle) => h.query(holdStageQuery);
const untilStage = (h: WorkflowHandle, stage: HoldStage) =>
  until(
    () => stageOf(h),
    (s) => s === stage,
    `${h.workflowId} to be ${stage}`,
  );
const lockOf = (name: string) => env.client.workflow.getHandle(`lock-${name}`).query(lockStateQuery);
/** Who holds the lock and who waits, by release. */
const queueOf = async (name: string) => {
  const state: LockState = await lockOf(name);
  return { holder: state.holder?.release, waiting: state.waiting.map((w) => w.release) };
};

test('the lock goes to waiters in the order they asked, and a holder that dies without letting go loses it', async () => {
  const name = environment();
  const a = await hold({ environment: name, release: 'a' });
  await untilStage(a, 'holding');
  const waiters = [];
  for (const release of ['b', 'c', 'd']) {
    const h = await hold({ environment: name, release });
    await untilStage(h, 'waiting');
    waiters.push(h);
  }
  const [b, c, d] = waiters;
  expect(await queueOf(name)).toEqual({ holder: 'a', waiting: ['b', 'c', 'd'] });

  await a.signal(doneSignal);
  await untilStage(b, 'holding');
  expect(await queueOf(name)).toEqual({ holder: 'b', waiting: ['c', 'd'] });
  expect([await stageOf(c), await stageOf(d)]).toEqual(['waiting', 'waiting']);

  await b.signal(doneSignal);
  await untilStage(c, 'holding');
  // c dies holding the lock (as a deployment an operator terminates): the lock's watch on its
  // run sees it closed and hands the lock to d.
  const killedAt = Date.now();
  await c.terminate('test: the holder dies without letting go');
  await untilStage(d, 'holding');
  const handedOnMs = Date.now() - killedAt;
  console.log(`lock handed on ${handedOnMs} ms after its holder was terminated`);
  expect(await queueOf(name)).toEqual({ holder: 'd', waiting: [] });

  await d.signal(doneSignal);
  const results = await Promise.all([a, b, d].map((h) => h.result()));
  const granted = results.map((r) => r.grantedAt);
  expect([...granted].sort((x, y) => x - y)).toEqual(granted);
  expect(await queueOf(name)).toEqual({ holder: undefined, waiting: [] });
});

test('--on-busy fail is refused at once, naming the holder; the holder keeps the lock', async () => {
  const name = environment();
  const a = await hold({ environment: name, release: 'a' });
  await untilStage(a, 'holding');
  const started = Date.now();
  const refused = await hold({ environment: name, release: 'b', onBusy: 'fail' });
  const error = await refused.result().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const cause = (error as WorkflowFailedError).cause as Error & { type?: string };
  expect(cause.type).toBe('EnvironmentBusy');
  expect(cause.message).toMatch(
    new RegExp(
      `^environment ${name} is locked by another deployment \\(hold-${name}-a, release a, requested by tester at [0-9T:.Z-]+\\); --on-busy fail was given$`,
    ),
  );
  // Refused without waiting for any deadline (the lock answers by signal).
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(await queueOf(name)).toEqual({ holder: 'a', waiting: [] });
  await a.signal(doneSignal);
  await a.result();
});

test('a waiter whose deadline passes fails with the holder named and leaves the queue', async () => {
  const name = environment();
  const a = await hold({ environment: name, release: 'a' });
  await untilStage(a, 'holding');
  const late = await hold({ environment: name, release: 'late', lockWaitSeconds: 2 });
  const error = await late.result().then(
    () => undefined,
    (err: unknown) => err,
  );
  const cause = (error as WorkflowFailedError).cause as Error & { type?: string };
  expect(cause.type).toBe('EnvironmentBusy');
  expect(cause.message).toContain(`(hold-${name}-a, release a, requested by tester at `);
  expect(cause.message).toMatch(/; waited 2 s$/);
  expect(await queueOf(name)).toEqual({ holder: 'a', waiting: [] });
  await a.signal(doneSignal);
  await a.result();
});

/**
 * How many workflow tasks a run takes depends on the machine's load (a signal landing during a
 * task, a task timing out), not on how long it waited: those events are left out of the count.
 */
type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];
function isWorkflowTaskEvent(e: HistoryEvent): boolean {
  return Boolean(
    e.workflowTaskScheduledEventAttributes ||
    e.workflowTaskStartedEventAttributes ||
    e.workflowTaskCompletedEventAttributes ||
    e.workflowTaskTimedOutEventAttributes ||
    e.workflowTaskFailedEventAttributes,
  );
}

// Real time, not the time-skipping test server: that server does not skip time while an activity
// runs, and the lock's watch on its holder is an activity for as long as the holder holds.
test("a waiter's history does not grow with the time it waits (1 s against 12 s), nor does the lock's", async () => {
  const eventsAfterWaiting = async (holdMs: number) => {
    const name = environment();
    const holder = await hold({ environment: name, release: 'holder', holdMs });
    await untilStage(holder, 'holding');
    const waiter = await hold({ environment: name, release: 'waiter', holdMs: 0 });
    const { askedAt, grantedAt } = await waiter.result();
    const { events } = await waiter.fetchHistory();
    await until(
      () => queueOf(name),
      (q) => q.holder === undefined && q.waiting.length === 0,
      'the lock to be free',
    );
    const lock = await env.client.workflow.getHandle(`lock-${name}`).fetchHistory();
    return {
      waitedMs: grantedAt - askedAt,
      events: (events ?? []).filter((e) => !isWorkflowTaskEvent(e)).length,
      lockEvents: lock.events?.length ?? 0,
    };
  };
  const short = await eventsAfterWaiting(1_000);
  const long = await eventsAfterWaiting(12_000);
  console.log(`waiter history: ${JSON.stringify({ short, long })}`);
  expect(long.waitedMs).toBeGreaterThan(5 * Math.max(short.waitedMs, 1));
  expect(long.events).toBe(short.events);
  expect(long.events).toBeLessThan(50);
  // The lock's watch on the holder heartbeats, which adds nothing to history while it runs.
  // (within the few events of the last watch's cancellation, which may land after the count).
  expect(long.lockEvents).toBeLessThanOrEqual(short.lockEvents + 4);
});

describe('deployctl lock', () => {
  const deployctl = (args: string[]) =>
    runDeployctl(args, { TEMPORAL_ADDRESS: env.address, DEPLOY_TASK_QUEUE: taskQueue });

  test("status shows the holder and the queue; release hands a stuck holder's lock to the next waiter and keeps who and why", async () => {
    const name = environment();
    expect(await deployctl(['lock', 'status', '--env', name])).toEqual({
      code: 0,
      out: `lock of ${name}: free\n`,
    });
    const stuck = await hold({ environment: name, release: 'stuck' });
    await untilStage(stuck, 'holding');
    const next = await hold({ environment: name, release: 'next' });
    await untilStage(next, 'waiting');

    const status = await deployctl(['lock', 'status', '--env', name, '--json']);
    expect(status.code).toBe(0);
    const view = JSON.parse(status.out) as LockView;
    expect(view).toMatchObject({
      environment: name,
      free: false,
      holder: { release: 'stuck', deploymentId: stuck.workflowId },
    });
    expect(view.waiting.map((w) => w.release)).toEqual(['next']);
    const text = await deployctl(['lock', 'status', '--env', name]);
    expect(text.out).toContain(
      `lock of ${name}: held by ${stuck.workflowId} (release stuck, by tester, asked `,
    );
    expect(text.out).toContain(
      `waiting, in order:\n  1. ${next.workflowId} (release next, by tester, asked `,
    );

    // Bad input: refused with the flag, the value and the rule; the lock is as it was.
    for (const [args, message] of [
      [
        ['--env', name, '--by', 'ops', '--reason', ' '],
        '--reason: value " " must say why, in 1 to 500 characters',
      ],
      [['--env', name, '--by', 'o ps', '--reason', 'stuck'], '--by: value "o ps"'],
      [['--env', `${name};id`, '--by', 'ops', '--reason', 'stuck'], `--env: value "${name};id"`],
      [['--env', name, '--by', 'ops', '--reason', 'a\u0007b'], '--reason: value "a\\u0007b" must say why'],
    ] as const) {
      const run = await deployctl(['lock', 'release', ...args]);
      expect(run).toEqual({ code: 2, out: expect.stringContaining(message) });
      expect(run.out).toContain('nothing was sent');
    }
    expect(await queueOf(name)).toEqual({ holder: 'stuck', waiting: ['next'] });

    const released = await deployctl([
      'lock',
      'release',
      '--env',
      name,
      '--by',
      'ops',
      '--reason',
      'stuck at health for an hour',
    ]);
    expect(released.code).toBe(0);
    expect(released.out).toContain(`released the lock of ${name} from ${stuck.workflowId} (release stuck`);
    await untilStage(next, 'holding');
    const after: LockState = await lockOf(name);
    expect(after.holder?.release).toBe('next');
    expect(after.forced).toEqual([
      {
        holder: expect.objectContaining({ deploymentId: stuck.workflowId, release: 'stuck' }),
        by: 'ops',
        reason: 'stuck at health for an hour',
        at: expect.stringMatching(/^\d{4}-/),
      },
    ]);
    // The stuck holder, still running, letting go later changes nothing.
    await stuck.signal(doneSignal);
    await stuck.result();
    expect(await queueOf(name)).toEqual({ holder: 'next', waiting: [] });
    await next.signal(doneSignal);
    await next.result();
    // The release went to the hosts' audit trail, as the lock keeps it.
    expect(forcedAudited).toEqual([{ environment: name, forced: after.forced![0] }]);
    await saveHistory(env, 'lock-forced-release', `lock-${name}`);
    const free = await deployctl(['lock', 'release', '--env', name, '--by', 'ops', '--reason', 'again']);
    expect(free).toEqual({
      code: 6,
      out: expect.stringContaining(`the lock of ${name} has no holder: nothing was released`),
    });
  });
});
