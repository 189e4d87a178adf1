/**
 * A rolling release of four hosts in one wave against the same release on one host: the wall
 * time of each, their ratio (the target is at most 1.3×) and where the time went. The four
 * hosts are fleet-1 … fleet-4 as one environment (`rollout.batchSize: 4`); the single host is
 * fleet-5, its own environment. Both run the fleet's app (the demo api alone), and the order
 * alternates from pair to pair; every deployment changes the image, so each one really pulls
 * and recreates. `--waves-of N` releases the four hosts in waves of N instead (a rolling release
 * with 4/N health waits), to see what the waves cost.
 *
 *   npm run bench:waves [-- --pairs 3 --waves-of 4 --json]
 *
 * Needs the lab (`npm run lab -- up`); makes the five fleet hosts from nothing (`npm run lab --
 * down` stops them). Figures, never assertions: tests do not fail on timing.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { follow, startOrAttach } from '../../src/client/deploy';
import type { EnvironmentConfig } from '../../src/config/schema';
import type { StepState } from '../../src/shared/deployment';
import { fleetEnvironment } from '../../lab/fleetEnvironment';
import { createFleet } from '../../lab/fresh';
import { PROJECT_ROOT } from '../../lab/paths';
import { setQuiet } from '../../lab/util';
import { requireLab, startHarness, type Harness } from '../../tests/integration/harness';
import { cpuTicks, median, positive, printTable, seconds, spread } from './figures';

const TAGS = ['v1', 'v2'] as const;

interface Run {
  wallMs: number;
  /** CPU seconds the whole machine spent while it ran (the lab's hosts, the worker, Temporal). */
  cpuSeconds: number;
  /** Per kind of step (the host and wave left out): from the first one's start to the last one's end. */
  spans: Record<string, number>;
}

/** A step's kind: `start fleet-3` and `health (wave 2/4)` become `start` and `health`. */
const kindOf = (name: string) => name.replace(/ fleet-\d+$/, '').replace(/ \(wave \d+\/\d+\)$/, '');

function spansOf(steps: StepState[]): Record<string, number> {
  const range = new Map<string, { from: number; to: number }>();
  for (const s of steps) {
    if (!s.endedAt) continue;
    const kind = kindOf(s.name);
    const [from, to] = [Date.parse(s.startedAt), Date.parse(s.endedAt)];
    const seen = range.get(kind);
    range.set(kind, seen ? { from: Math.min(seen.from, from), to: Math.max(seen.to, to) } : { from, to });
  }
  return Object.fromEntries([...range].map(([kind, r]) => [kind, r.to - r.from]));
}

async function main(opts: { pairs: number; wavesOf: number; json?: boolean }): Promise<void> {
  const lab = requireLab();
  const say = (line: string) => {
    if (!opts.json) process.stderr.write(`[bench] ${line}\n`);
  };
  const stamp = Date.now().toString(36);
  say('making fleet-1 … fleet-5 from nothing');
  setQuiet(true);
  const hosts = (await createFleet(5)).map((h) => h.host);
  setQuiet(false);
  const four = fleetEnvironment('waves-four', hosts.slice(0, 4), { batchSize: Math.min(opts.wavesOf, 4) });
  const one = fleetEnvironment('waves-one', hosts.slice(4));
  const configDir = mkdtempSync(join(PROJECT_ROOT, '.data', 'bench-waves-config-'));
  for (const env of [four, one])
    writeFileSync(join(configDir, `${env.name}.yaml`), stringify(env, { lineWidth: 0 }));

  let harness: Harness | undefined;
  let serial = 0;
  const deploy = async (env: EnvironmentConfig, tag: string): Promise<Run> => {
    const h = harness!;
    const started = Date.now();
    const cpuBefore = cpuTicks();
    const { handle } = await startOrAttach(h.env.client, h.settings, {
      environment: env.name,
      release: `waves-${stamp}-${++serial}`,
      images: { api: tag },
      requestedBy: 'bench-waves',
    });
    const outcome = await follow(handle, h.settings, { timeoutMs: 600_000 });
    const wallMs = Date.now() - started;
    const cpuSeconds = (cpuTicks().busy - cpuBefore.busy) / 100;
    if (outcome.status?.outcome !== 'succeeded')
      throw new Error(`${env.name} did not deploy: ${outcome.error ?? outcome.status?.failure?.message}`);
    return { wallMs, cpuSeconds, spans: spansOf(outcome.status.steps) };
  };

  const pairs: { one: Run; four: Run }[] = [];
  try {
    harness = await startHarness({ configDir, workerEnv: lab.workerEnv });
    say('warm-up: a first deployment of each (stacks created, images pulled)');
    await deploy(one, TAGS[0]);
    await deploy(four, TAGS[0]);
    for (let i = 0; i < opts.pairs; i++) {
      const tag = TAGS[(i + 1) % 2]!;
      let pair: { one: Run; four: Run };
      if (i % 2 === 0) {
        const o = await deploy(one, tag);
        pair = { one: o, four: await deploy(four, tag) };
      } else {
        const f = await deploy(four, tag);
        pair = { four: f, one: await deploy(one, tag) };
      }
      pairs.push(pair);
      say(
        `pair ${i + 1}: one host ${seconds(pair.one.wallMs)} s, four hosts ${seconds(pair.four.wallMs)} s (${(pair.four.wallMs / pair.one.wallMs).toFixed(2)}×)`,
      );
    }
  } finally {
    await harness?.stop().catch(() => undefined);
  }

  const ratios = pairs.map((p) => p.four.wallMs / p.one.wallMs);
  const kinds = [
    ...new Set(pairs.flatMap((p) => [...Object.keys(p.one.spans), ...Object.keys(p.four.spans)])),
  ];
  const steps = kinds.map((kind) => ({
    step: kind,
    oneMs: median(pairs.map((p) => p.one.spans[kind] ?? 0)),
    fourMs: median(pairs.map((p) => p.four.spans[kind] ?? 0)),
  }));
  const waves = Math.ceil(4 / Math.min(opts.wavesOf, 4));
  const cores = cpus().length;
  const oneCpu = median(pairs.map((p) => p.one.cpuSeconds));
  const fourCpu = median(pairs.map((p) => p.four.cpuSeconds));
  const result = {
    pairs: opts.pairs,
    waves,
    cores,
    /** Median CPU seconds the machine spent per deployment, and how busy its cores were meanwhile. */
    oneCpuSeconds: Number(oneCpu.toFixed(1)),
    fourCpuSeconds: Number(fourCpu.toFixed(1)),
    fourCpuBusyPercent: Math.round(
      (100 * fourCpu) / (median(pairs.map((p) => p.four.wallMs)) / 1000) / cores,
    ),
    oneWallMs: pairs.map((p) => p.one.wallMs),
    fourWallMs: pairs.map((p) => p.four.wallMs),
    ratios: ratios.map((r) => Number(r.toFixed(3))),
    medianRatio: Number(median(ratios).toFixed(3)),
    target: 1.3,
    steps,
  };
  if (opts.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const table = [
    ['step (first start to last end)', 'one host (median s)', `four hosts, ${waves} wave(s) (median s)`],
    ...steps.map((s) => [s.step, seconds(s.oneMs), seconds(s.fourMs)]),
    ['total (wall)', spread(result.oneWallMs), spread(result.fourWallMs)],
  ];
  console.log(`\n${opts.pairs} pairs, images cached; the fleet's app (the demo api alone) on each host`);
  printTable(table);
  console.log(
    `four hosts / one host: median ${result.medianRatio.toFixed(2)}× (pairs: ${result.ratios.map((r) => r.toFixed(2)).join(', ')}); target ≤ 1.30× for one wave of four`,
  );
  // The lab's hosts share this machine's cores: four hosts' own work cannot finish faster than
  // the cores can do it, a floor that separate servers do not have.
  console.log(
    `CPU: one host's deployment used ${seconds(oneCpu * 1000)} CPU s, four hosts' ${seconds(fourCpu * 1000)} CPU s, ` +
      `the machine's ${cores} cores ${result.fourCpuBusyPercent} % busy meanwhile`,
  );
}

new Command('bench-waves')
  .description('a release on four hosts in one wave against the same release on one host; prints a table')
  .option('--pairs <n>', 'measured pairs of runs, after one warm-up of each', positive, 3)
  .option('--waves-of <n>', 'hosts per wave of the four-host environment', positive, 4)
  .option('--json', 'one JSON document instead of the table')
  .action(async (opts: { pairs: number; wavesOf: number; json?: boolean }) => main(opts))
  .parseAsync(process.argv)
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    process.stderr.write(`bench-waves: ${(err as Error).message}\n`);
    process.exit(1);
  });
