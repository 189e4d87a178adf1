/**
 * N environments deploying at once, through one worker and through three, against one
 * environment deploying alone in the same run: the wall times, their ratio (the target is at
 * most 1.5×) and the worker's slot settings that got there.
 *
 *   npm run bench:fleet [-- --envs 10 --workers 1,3 --max-activities 100 --json]
 *
 * Needs the lab (`npm run lab -- up`). Makes fleet-1 … fleet-N (`npm run lab -- fleet N`), one
 * environment on each: the demo api alone (scripts/bench/fleet-compose.yml, no database, so
 * ten fit on one machine). Each worker count gets a warm-up round (images pulled, stacks up),
 * then one environment alone, then all N at once; every deployment changes the image, so each
 * one really recreates its container. `npm run lab -- down` stops the fleet hosts afterwards.
 * Figures, never assertions: tests do not fail on timing.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { stringify } from 'yaml';
import { startOrAttach } from '../../src/client/deploy';
import type { EnvironmentConfig } from '../../src/config/schema';
import type { DeploymentStatus, StepState } from '../../src/shared/deployment';
import { describeSlots, workerSlots } from '../../src/worker/slots';
import { createFleet } from '../../lab/fresh';
import { fleetEnvironment } from '../../lab/fleetEnvironment';
import { PROJECT_ROOT } from '../../lab/paths';
import { setQuiet } from '../../lab/util';
import {
  freshBackupRoot,
  requireLab,
  spawnWorker,
  startHarness,
  type Harness,
} from '../../tests/integration/harness';
import { cpuTicks, median, positive } from './figures';

const TAGS = ['v1', 'v2'] as const;

interface Round {
  workers: number;
  slots: string;
  aloneMs: number;
  allMs: number;
  ratio: number;
  /** Each deployment's own duration in the all-at-once round, slowest last. */
  eachMs: number[];
  failed: string[];
  /** How busy the machine's CPUs were while all N deployed (the lab's hosts share them). */
  cpuBusyPercent: number;
  /** CPU seconds used while all N deployed, by who used them (and the machine's busy total). */
  cpuSeconds: Record<string, number>;
  /** Steps that took longest beyond their time alone: alone → median of the N at once. */
  slowedSteps: { step: string; aloneMs: number; atOnceMs: number }[];
}

/**
 * CPU seconds by who used them, from /proc: the workers, the Temporal dev server, what ran over
 * SSH on the lab hosts (sshd and every command it started, reaped into its children's time), and
 * the hosts' container engines. Processes come and go; the sshd listeners and engines stay, so
 * their own and their reaped children's times cover the commands and containers' tooling.
 */
function cpuByRole(workerPids: number[]): Record<string, number> {
  const out: Record<string, number> = {
    workers: 0,
    temporal: 0,
    'ssh commands on hosts': 0,
    'container engines': 0,
  };
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // After the comm: utime, stime, cutime, cstime are fields 12-15 of this remainder (0-based 11-14).
    const own = (f[11] ?? 0) + (f[12] ?? 0);
    const reaped = (f[13] ?? 0) + (f[14] ?? 0);
    const pid = Number(entry);
    if (workerPids.includes(pid)) out.workers += own;
    else if (comm === 'temporal') out.temporal += own + reaped;
    else if (comm === 'sshd') out['ssh commands on hosts'] += own + reaped;
    else if (comm === 'podman') out['container engines'] += own + reaped;
  }
  for (const k of Object.keys(out)) out[k] = (out[k] ?? 0) / 100; // clock ticks (USER_HZ = 100)
  return out;
}

/** A step's name with the host left out, so the same step of every environment compares. */
const stepKey = (name: string) => name.replace(/fleet-\d+/g, '<host>');

function slowedSteps(alone: StepState[], together: StepState[][]) {
  const aloneMs = new Map(alone.map((s) => [stepKey(s.name), s.durationMs ?? 0]));
  const atOnce = new Map<string, number[]>();
  for (const steps of together)
    for (const s of steps)
      atOnce.set(stepKey(s.name), [...(atOnce.get(stepKey(s.name)) ?? []), s.durationMs ?? 0]);
  return [...atOnce.entries()]
    .map(([step, ms]) => ({ step, aloneMs: aloneMs.get(step) ?? 0, atOnceMs: median(ms) }))
    .sort((a, b) => b.atOnceMs - b.aloneMs - (a.atOnceMs - a.aloneMs))
    .slice(0, 5);
}

const workerCounts = (v: string) => {
  const counts = v.split(',').map((s) => Number(s.trim()));
  if (!counts.length || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 8))
    throw new InvalidArgumentError('must be worker counts from 1 to 8, comma-separated, e.g. "1,3"');
  return counts;
};

async function main(opts: { envs: number; workers: number[]; maxActivities?: number; json?: boolean }) {
  const say = (text: string) => process.stderr.write(`[bench] ${text}\n`);
  const lab = requireLab();
  const stamp = Date.now().toString(36);
  const workerEnv: NodeJS.ProcessEnv = {
    ...lab.workerEnv,
    ...(opts.maxActivities ? { DEPLOY_MAX_ACTIVITIES: String(opts.maxActivities) } : {}),
  };
  const slots = describeSlots(workerSlots(workerEnv));

  say(`making ${opts.envs} fleet hosts`);
  setQuiet(true);
  const hosts = await createFleet(opts.envs);
  setQuiet(false);
  const configDir = mkdtempSync(join(PROJECT_ROOT, '.data', 'bench-fleet-config-'));
  const environments = hosts.map((h, i) => fleetEnvironment(`fleet-${i + 1}`, [h.host]));
  for (const env of environments)
    writeFileSync(join(configDir, `${env.name}.yaml`), stringify(env, { lineWidth: 0 }));

  let harness: Harness | undefined;
  const rounds: Round[] = [];
  try {
    harness = await startHarness({ configDir, workerEnv, inProcessWorker: false });
    const h = harness;
    const current = new Map<string, number>();
    let serial = 0;
    /** One deployment that changes the image (v1 ↔ v2); resolves with its duration. */
    const deploy = async (
      env: EnvironmentConfig,
    ): Promise<{ ms: number; outcome: string; steps: StepState[] }> => {
      const next = ((current.get(env.name) ?? 1) + 1) % TAGS.length;
      current.set(env.name, next);
      const started = Date.now();
      const { handle } = await startOrAttach(h.env.client, h.settings, {
        environment: env.name,
        release: `fleet-${stamp}-${++serial}`,
        images: { api: TAGS[next] },
        requestedBy: 'bench-fleet',
      });
      const result = (await handle.result().catch((e: Error) => ({ outcome: e.message }))) as
        DeploymentStatus | { outcome: string };
      return {
        ms: Date.now() - started,
        outcome: result.outcome,
        steps: 'steps' in result ? result.steps : [],
      };
    };
    const all = async () => {
      const started = Date.now();
      const each = await Promise.all(environments.map((env) => deploy(env)));
      return { ms: Date.now() - started, each };
    };

    for (const count of opts.workers) {
      say(`${count} worker(s), ${slots}`);
      const workers = Array.from({ length: count }, () =>
        spawnWorker({ ...h.settings, backupRoot: freshBackupRoot() }, workerEnv),
      );
      try {
        await Promise.all(workers.map((w) => w.ready()));
        const warm = await all();
        say(`  warm-up: ${opts.envs} deployments in ${(warm.ms / 1000).toFixed(1)} s`);
        const alone = await deploy(environments[0] as EnvironmentConfig);
        say(`  one environment alone: ${(alone.ms / 1000).toFixed(1)} s (${alone.outcome})`);
        const pids = workers.map((w) => w.child.pid ?? -1);
        const cpuBefore = cpuTicks();
        const rolesBefore = cpuByRole(pids);
        const together = await all();
        const cpuAfter = cpuTicks();
        const rolesAfter = cpuByRole(pids);
        const cpuSeconds = Object.fromEntries(
          Object.entries(rolesAfter).map(([k, v]) => [k, Number((v - (rolesBefore[k] ?? 0)).toFixed(1))]),
        );
        cpuSeconds['machine busy'] = Number(((cpuAfter.busy - cpuBefore.busy) / 100).toFixed(1));
        say(`  ${opts.envs} at once: ${(together.ms / 1000).toFixed(1)} s`);
        rounds.push({
          workers: count,
          slots,
          aloneMs: alone.ms,
          allMs: together.ms,
          ratio: Number((together.ms / alone.ms).toFixed(2)),
          eachMs: together.each.map((d) => d.ms).sort((a, b) => a - b),
          failed: [alone, ...warm.each, ...together.each]
            .filter((d) => d.outcome !== 'succeeded')
            .map((d) => d.outcome),
          cpuSeconds,
          cpuBusyPercent: Math.round(
            (100 * (cpuAfter.busy - cpuBefore.busy)) / Math.max(1, cpuAfter.total - cpuBefore.total),
          ),
          slowedSteps: slowedSteps(
            alone.steps,
            together.each.map((d) => d.steps),
          ),
        });
      } finally {
        await Promise.all(workers.map((w) => w.kill()));
      }
    }
  } finally {
    await harness?.env.teardown();
  }

  if (opts.json) {
    console.log(
      JSON.stringify({ environments: opts.envs, cpus: cpus().length, target: 1.5, rounds }, null, 2),
    );
    return;
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  console.log(`${opts.envs} environments deploying at once against one alone (target ≤ 1.5×)`);
  console.log('workers  alone    all at once  ratio  each (min / median / max)   failed  slots per worker');
  for (const r of rounds) {
    const middle = median(r.eachMs);
    console.log(
      `${String(r.workers).padEnd(8)} ${s(r.aloneMs).padEnd(8)} ${s(r.allMs).padEnd(12)} ${`${r.ratio}×`.padEnd(6)} ` +
        `${`${s(r.eachMs[0] ?? 0)} / ${s(middle)} / ${s(r.eachMs.at(-1) ?? 0)}`.padEnd(27)} ${String(r.failed.length).padEnd(7)} ${r.slots}`,
    );
  }
  for (const r of rounds) {
    console.log(
      `${r.workers} worker(s): the machine's ${cpus().length} CPUs were ${r.cpuBusyPercent} % busy while all ${opts.envs} deployed; ` +
        `slowed most (alone → median at once): ${r.slowedSteps.map((x) => `${x.step} ${s(x.aloneMs)} → ${s(x.atOnceMs)}`).join(', ')}`,
    );
    console.log(
      `  CPU seconds meanwhile: ${Object.entries(r.cpuSeconds)
        .map(([who, sec]) => `${who} ${sec}`)
        .join(', ')}`,
    );
  }
}

const program = new Command()
  .name('bench:fleet')
  .description('N environments deploying at once through 1 and 3 workers, against one alone')
  .option('--envs <n>', 'environments (and fleet hosts), at most 20', positive, 10)
  .option('--workers <list>', 'worker counts to measure, comma-separated', workerCounts, [1, 3])
  .option('--max-activities <n>', "each worker's DEPLOY_MAX_ACTIVITIES (default: the worker's)", positive)
  .option('--json', 'print the figures as JSON')
  .parse(process.argv);

main(program.opts()).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:fleet failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
