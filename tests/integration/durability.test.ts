import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { follow, startOrAttach } from '../../src/client/deploy';
import { ExitCode } from '../../src/client/exitCodes';
import { psql } from '../../src/commands/database';
import { readOptionalFile } from '../../src/commands/files';
import { remoteLayout } from '../../src/commands/layout';
import { withHost } from '../../src/remote/executor';
import { allPids, cmdline, descendants, inHostContainer, procFile } from '../../lab/processes';
import {
  LAB_DIR,
  reportedReleases,
  requireLab,
  runningActivity,
  spawnWorker,
  startHarness,
  STARTED,
  waitForStatus,
  type Described,
  type Harness,
  type RunningActivity,
} from './harness';

/**
 * Durability on the lab: the worker process is killed with SIGKILL in the middle of a step,
 * a new worker takes over, and the deployment finishes with nothing done twice that must not
 * be. Then an SSH connection is cut in the middle of a remote command.
 */

const lab = requireLab();
const stamp = Date.now().toString(36);
let harness: Harness;

beforeAll(async () => {
  harness = await startHarness({ workerEnv: lab.workerEnv, inProcessWorker: false });
});

afterAll(async () => {
  await harness?.stop();
});

async function remote(which: 'currentRelease' | 'previousRelease' | 'auditLog'): Promise<string> {
  const host = lab.staging.hosts[0];
  const path = remoteLayout(lab.staging, host)[which];
  return (await withHost(host, (h) => h.run(readOptionalFile(path), { timeoutMs: 15_000 }))).stdout;
}

async function auditOf(deploymentId: string): Promise<{ step: string; result: string }[]> {
  return (await remote('auditLog'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((a) => a.deployment === deploymentId);
}

async function migrationLedger(): Promise<string[]> {
  const host = lab.staging.hosts[0];
  const env = lab.staging;
  const argv = psql(env, 'select name from schema_migrations order by name');
  const out = await withHost(host, (h) => h.run(argv, { timeoutMs: 30_000 }));
  return out.stdout.trim().split('\n').filter(Boolean);
}

async function deployOnce(tag: string, release: string, strategy?: 'recreate') {
  const request = {
    environment: 'lab-staging',
    release,
    images: { site: tag, saas: tag, api: tag },
    requestedBy: 'durability',
    commit: tag, // the lab's app repository tags each image's sources with the image tag
    ...(strategy ? { strategy } : {}),
  };
  const { handle } = await startOrAttach(harness.env.client, harness.settings, request);
  return handle;
}

/** The step that starts a colour on lab-1: the idle one, or the live one for a recreate in place. */
const START_COLOUR = /^start (blue|green) lab-1$/;

// Each deployment is killed once in each of its listed steps, in turn. The recreate in place runs
// the migrate step always (blue-green runs one only when an expand migration is pending) but
// its health wait is over in a moment; blue-green's waits for the new colour to come up. Tags
// alternate so every deployment changes the stack. A kill during blue-green's routing is
// colourFailures.test's.
const deployments: [string, 'recreate' | undefined, string, { label: string; step: RegExp | string }[]][] = [
  [
    'recreate',
    'recreate',
    'v2',
    [
      { label: 'backup', step: 'backup' },
      { label: 'migrate', step: 'migrate' },
      { label: 'start', step: START_COLOUR },
    ],
  ],
  ['blue-green', undefined, 'v1', [{ label: 'health', step: 'health' }]],
];
const matches = (name: string, step: RegExp | string) =>
  typeof step === 'string' ? name === step : step.test(name);

/**
 * When the killed step's next attempt started (on the surviving worker), as Temporal recorded
 * it; undefined when the step was no longer pending (it ended before the kill took effect).
 */
async function rerunStartedAt(handle: Described, killed: RunningActivity): Promise<number | undefined> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    const same = pending.find((a) => a.activityType?.name === killed.type);
    if (!same) return undefined;
    if ((same.attempt ?? 1) > killed.attempt && same.state === STARTED)
      return optionalTsToMs(same.lastStartedTime);
    if (Date.now() > deadline) throw new Error(`${killed.type} never ran again: ${JSON.stringify(same)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * lab-1's process list, sampled every 20 ms: how many `compose up` (below lab-1's sshd) and
 * `pg_dump` (in lab-1's containers) run at once, and which ones were seen. A retried step
 * must never run beside the killed attempt's command, still running on the host.
 */
function watchHostCommands() {
  const master = Number(readFileSync(join(LAB_DIR, 'hosts', 'lab-1', 'sshd.pid'), 'utf8').trim());
  const commands = {
    'compose up': () =>
      descendants(master).filter(
        (pid) => procFile(pid, 'comm').trim() === 'docker-compose' && / up( |$)/.test(cmdline(pid)),
      ),
    pg_dump: () =>
      allPids().filter((pid) => procFile(pid, 'comm').trim() === 'pg_dump' && inHostContainer(pid, 'lab-1')),
  };
  const most: Record<string, number> = { 'compose up': 0, pg_dump: 0 };
  const seen: Record<string, Set<number>> = { 'compose up': new Set(), pg_dump: new Set() };
  const timer = setInterval(() => {
    for (const [name, list] of Object.entries(commands)) {
      const running = list();
      running.forEach((pid) => seen[name].add(pid));
      most[name] = Math.max(most[name], running.length);
    }
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      return Object.keys(commands).map((name) => ({ name, most: most[name], processes: seen[name].size }));
    },
  };
}

test.each(deployments)(
  '%s: a worker killed during each long step is replaced and the deployment finishes once',
  async (label, strategy, tag, killPoints) => {
    const before = JSON.parse((await remote('currentRelease')) || '{"release":null}').release as
      string | null;
    const release = `dur-${label}-${stamp}`;
    // Workers poll as a team runs them: the one running the step is killed, another takes over,
    // and a replacement starts at once so that a survivor is always polling at the next kill.
    const workers = [1, 2, 3].map(() => spawnWorker(harness.settings, lab.workerEnv));
    try {
      await Promise.all(workers.map((w) => w.ready()));
      const handle = await deployOnce(tag, release, strategy);
      const kills: { step: string; running: RunningActivity; killedAt: number; resumedAt?: number }[] = [];
      const watched: { name: string; most: number; processes: number }[] = [];
      for (const { label: step, step: name } of killPoints) {
        await waitForStatus(handle, (s) =>
          s.steps.some((x) => matches(x.name, name) && x.status === 'running'),
        );
        const watch = watchHostCommands();
        const running = await runningActivity(handle);
        const victim = workers.find((w) => w.identity === running.worker);
        if (!victim) throw new Error(`${step} runs on ${running.worker}, none of this test's workers`);
        await victim.kill();
        const killedAt = Date.now();
        // The worker itself is gone (not just a wrapper around it).
        expect(() => process.kill(victim.child.pid!, 0)).toThrow();
        workers.push(spawnWorker(harness.settings, lab.workerEnv));
        kills.push({ step, running, killedAt, resumedAt: await rerunStartedAt(handle, running) });
        // Watched until the step's retry has finished.
        await waitForStatus(handle, (s) =>
          s.steps.some((x) => matches(x.name, name) && x.status === 'succeeded'),
        );
        watched.push(...watch.stop().map((w) => ({ ...w, name: `${w.name} (kill during ${step})` })));
      }
      const outcome = await follow(handle, harness.settings, { timeoutMs: 300_000 });
      expect(outcome.error).toBeUndefined();
      expect(outcome.exitCode).toBe(ExitCode.succeeded);
      const finishedAt = Date.now();
      for (const { step, running, killedAt, resumedAt } of kills)
        console.log(
          `killed during ${step} (${running.type}, attempt ${running.attempt}): ` +
            (resumedAt
              ? `running again ${((resumedAt - killedAt) / 1000).toFixed(1)} s after the kill`
              : 'it had ended before the kill'),
        );
      console.log(
        `deployment finished ${((finishedAt - kills[0].killedAt) / 1000).toFixed(1)} s after the first kill`,
      );
      for (const w of watched)
        console.log(`${w.name}: ${w.processes} process(es) seen, at most ${w.most} at once`);
      // The killed attempt's command and its retry's never ran together on the host.
      expect(watched.filter((w) => w.most > 1)).toEqual([]);
      // The watch saw what it counts: pg_dump when killed during backup, compose up during start.
      for (const [step, command] of [
        ['backup', 'pg_dump'],
        ['start', 'compose up'],
      ])
        if (killPoints.some((k) => k.label === step))
          expect(
            watched.find((w) => w.name === `${command} (kill during ${step})`)?.processes,
          ).toBeGreaterThan(0);
      // Every kill hit its step while it ran, and each step ran again on another worker.
      expect(kills.filter((k) => k.resumedAt === undefined).map((k) => k.step)).toEqual([]);

      expect(Object.values(await reportedReleases(lab.staging))).toEqual([release, release, release]);
      // Recorded once: previous.json holds the release before this one, not this one again.
      expect(JSON.parse(await remote('currentRelease')).release).toBe(release);
      if (before) expect(JSON.parse(await remote('previousRelease')).release).toBe(before);
      const audit = await auditOf(handle.workflowId);
      expect(audit.filter((a) => a.step === 'record' && a.result === 'succeeded')).toHaveLength(1);
      // One backup file per deployment, however often the step ran.
      const backupsDir = `${remoteLayout(lab.staging, lab.staging.hosts[0]).appDir}/backups`;
      const listing = await withHost(lab.staging.hosts[0], (h) =>
        h.run(['ls', backupsDir], { timeoutMs: 15_000 }),
      );
      const backups = listing.stdout.split('\n').filter((f) => f.startsWith(`${handle.workflowId}.dump`));
      expect(backups.sort()).toEqual([`${handle.workflowId}.dump`, `${handle.workflowId}.dump.sha256`]);
      // Each migration is in the ledger exactly once.
      const ledger = await migrationLedger();
      expect(new Set(ledger).size).toBe(ledger.length);
    } finally {
      await Promise.all(workers.map((w) => w.kill()));
    }
  },
);

test('an SSH connection cut in the middle of a remote command: the step is retried and the deploy succeeds', async () => {
  const release = `ssh-drop-${stamp}`;
  const worker = spawnWorker(harness.settings, lab.workerEnv);
  try {
    const handle = await deployOnce('v1', release);
    await waitForStatus(handle, (s) =>
      s.steps.some((x) => START_COLOUR.test(x.name) && x.status === 'running'),
    );
    // sshd forks one process per connection: killing the children cuts every session to lab-1.
    const master = readFileSync(join(LAB_DIR, 'hosts', 'lab-1', 'sshd.pid'), 'utf8').trim();
    const sessions = execFileSync('pgrep', ['-P', master], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean);
    expect(sessions.length).toBeGreaterThan(0);
    for (const pid of sessions) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const outcome = await follow(handle, harness.settings, { timeoutMs: 300_000 });
    expect(outcome.error).toBeUndefined();
    expect(outcome.exitCode).toBe(ExitCode.succeeded);
    const starts = (await auditOf(handle.workflowId)).filter((a) => /^start (blue|green)$/.test(a.step));
    expect(starts.filter((a) => a.result === 'succeeded')).toHaveLength(1);
    expect(Object.values(await reportedReleases(lab.staging))).toEqual([release, release, release]);
  } finally {
    await worker.kill();
  }
});
