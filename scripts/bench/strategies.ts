/**
 * Recreate vs blue-green vs canary, in one run on the lab, under the same open-loop load through
 * Traefik: for each strategy a release of the demo app while the load generator records every
 * request, then a table of failed requests, the error window, latency percentiles while traffic
 * moved, the switch-back time and the canary's observed shares per step.
 *
 *   npm run bench:strategies [-- --rate 100 --dwell 6 --json]
 *
 * Needs the lab (`npm run lab -- up`); uses its own project, network and address on lab-1, and
 * removes them at the end. Figures, never assertions: tests do not fail on timing.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { follow, startOrAttach, type DeployOutcome } from '../../src/client/deploy';
import type { DeployRequest } from '../../src/config/request';
import type { Strategy } from '../../src/config/schema';
import { sharesPerWindow, startLoad, summarize, type LoadRecord } from '../../src/load/loadGenerator';
import type { StepState } from '../../src/shared/deployment';
import { colourEnvironment, destroyColourEnvironment } from '../../lab/colourEnvironment';
import { requireLab, startHarness, type Harness } from '../../tests/integration/harness';
import { positive } from './figures';

const BIND = '127.0.0.70';
const PROXY = `http://${BIND}:18680`;

interface Row {
  strategy: string;
  requests: number;
  failed: number;
  errorWindowMs?: number;
  p50?: number;
  p95?: number;
  p99?: number;
  deployMs: number;
  note: string;
}

/** Steps that move traffic (or, for recreate, replace what answers), in the load's clock. */
function switchWindow(steps: StepState[], loadStart: number): { from: number; to: number } | undefined {
  const moving = steps.filter((s) => /^(start (blue|green)|route |analyse |drain)/.test(s.name));
  if (!moving.length) return undefined;
  const from = Math.min(...moving.map((s) => Date.parse(s.startedAt))) - loadStart;
  const to = Math.max(...moving.map((s) => Date.parse(s.endedAt ?? s.startedAt))) - loadStart;
  return { from, to: to + 1 };
}

async function main(opts: { rate: number; dwell: number; json?: boolean }): Promise<void> {
  const lab = requireLab();
  const stamp = Date.now().toString(36);
  const name = 'lab-bench';
  const environment = colourEnvironment({
    name,
    project: `bench${stamp}`,
    host: lab.staging.hosts[0],
    bindAddress: BIND,
    proxyPort: 18680,
    adminPort: 18690,
    canary: { steps: [10, 25, 50, 100], dwellSeconds: opts.dwell, minRequests: 20 },
  });
  const configDir = mkdtempSync(join(tmpdir(), 'bench-config-'));
  writeFileSync(join(configDir, `${name}.yaml`), stringify(environment, { lineWidth: 0 }));
  const say = (text: string) => process.stderr.write(`[bench] ${text}\n`);
  let harness: Harness | undefined;
  try {
    harness = await startHarness({ configDir, workerEnv: lab.workerEnv });
    const h = harness;
    /** `label` makes each release id unique in the run (an id already deployed is attached to). */
    const deploy = async (
      tag: string,
      label: string,
      strategy?: Strategy,
      extra: Partial<DeployRequest> = {},
    ) => {
      const request: DeployRequest = {
        environment: name,
        release: `${tag}-${label}-${stamp}`,
        images: { site: tag, saas: tag, api: tag },
        requestedBy: 'bench',
        ...(strategy ? { strategy } : {}),
        ...extra,
      };
      const { handle } = await startOrAttach(
        h.env.client,
        h.settings,
        request,
        extra.rollback ? `rollback-${name}-${Date.now()}` : undefined,
      );
      const outcome = await follow(handle, h.settings, { timeoutMs: 600_000 });
      if (outcome.status?.outcome !== 'succeeded')
        throw new Error(
          `${request.release} did not succeed: ${outcome.status?.failure?.message ?? outcome.error}`,
        );
      return outcome;
    };
    const underLoad = async (fn: () => Promise<DeployOutcome>) => {
      const run = startLoad({
        url: `${PROXY}/api/version`,
        mode: { kind: 'open', ratePerSecond: opts.rate, maxInFlight: 1000 },
        durationMs: 600_000,
        maxRequests: 2_000_000,
        releaseHeader: 'x-app-release',
        allowHosts: [BIND],
      });
      const started = Date.now();
      try {
        const outcome = await fn();
        return { outcome, deployMs: Date.now() - started, run };
      } finally {
        run.stop();
      }
    };

    say('first release (v1, blue-green): not measured');
    await deploy('v1', 'first', 'blue-green');
    const rows: Row[] = [];
    const measure = async (strategy: Strategy, tag: string) => {
      say(`${strategy} to ${tag} under ${opts.rate} requests/s`);
      const { outcome, deployMs, run } = await underLoad(() => deploy(tag, strategy, strategy));
      say(`  steps: ${outcome.status!.steps.map((s) => s.name).join(', ')}`);
      const { records, startedAt } = await run.result;
      const window = switchWindow(outcome.status!.steps, startedAt);
      const all = summarize(records);
      const during = window ? summarize(records, window) : all;
      return {
        outcome,
        records,
        startedAt,
        row: {
          strategy,
          requests: all.total,
          failed: all.failed,
          errorWindowMs: all.errorWindowMs,
          p50: during.p50,
          p95: during.p95,
          p99: during.p99,
          deployMs,
          note: '',
        } as Row,
      };
    };

    const recreate = await measure('recreate', 'v2');
    rows.push(recreate.row);
    const blueGreen = await measure('blue-green', 'v1');
    // Switch-back inside the window: the rollback's start to the old release answering.
    const previous = `v2-recreate-${stamp}`;
    const started = Date.now();
    let switchBackMs: number | undefined;
    const watch = (async () => {
      while (Date.now() - started < 120_000 && switchBackMs === undefined) {
        const answer = await fetch(`${PROXY}/api/version`, { signal: AbortSignal.timeout(2_000) })
          .then((r) => r.headers.get('x-app-release'))
          .catch(() => null);
        if (answer === previous) switchBackMs = Date.now() - started;
        else await new Promise((r) => setTimeout(r, 25));
      }
    })();
    await deploy('rollback', 'switch-back', undefined, { rollback: true, images: {} });
    await watch;
    blueGreen.row.note = `switch-back ${switchBackMs ?? '?'} ms`;
    rows.push(blueGreen.row);

    const canary = await measure('canary', 'v1');
    const windows = canary.outcome
      .status!.steps.filter((s) => s.name.startsWith('analyse '))
      .map((s) => ({
        label: /analyse (\d+) %/.exec(s.name)![1],
        from: Date.parse(s.startedAt) - canary.startedAt,
        to: Date.parse(s.endedAt!) - canary.startedAt,
      }));
    const shares = sharesPerWindow(canary.records as LoadRecord[], windows);
    const release = `v1-canary-${stamp}`;
    canary.row.note = `shares ${shares.map((w) => `${w.label} %: ${((w.releaseShares[release] ?? 0) * 100).toFixed(1)}`).join(', ')}`;
    rows.push(canary.row);

    if (opts.json) {
      console.log(JSON.stringify({ rate: opts.rate, dwellSeconds: opts.dwell, rows }, null, 2));
      return;
    }
    const ms = (v?: number) => (v === undefined ? '-' : v.toFixed(1));
    const table = [
      [
        'strategy',
        'requests',
        'failed',
        'error window ms',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'deploy s',
        'notes',
      ],
      ...rows.map((r) => [
        r.strategy,
        String(r.requests),
        String(r.failed),
        r.errorWindowMs === undefined ? '-' : String(Math.round(r.errorWindowMs)),
        ms(r.p50),
        ms(r.p95),
        ms(r.p99),
        (r.deployMs / 1000).toFixed(1),
        r.note,
      ]),
    ];
    const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
    console.log(
      `open-loop load of ${opts.rate} requests/s on /api/version through Traefik; latencies while traffic moved`,
    );
    for (const row of table)
      console.log(
        row
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      );
  } finally {
    await harness?.stop().catch(() => undefined);
    await destroyColourEnvironment(environment).catch((err: Error) => console.error(`bench: ${err.message}`));
  }
}

new Command('bench-strategies')
  .description('recreate vs blue-green vs canary under the same load on the lab; prints a table')
  .option('--rate <n>', 'requests per second (open loop)', positive, 100)
  .option('--dwell <seconds>', 'canary dwell per step', positive, 6)
  .option('--json', 'one JSON document instead of the table')
  .action(async (opts: { rate: number; dwell: number; json?: boolean }) => main(opts))
  .parseAsync(process.argv)
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    process.stderr.write(`bench-strategies: ${(err as Error).message}\n`);
    process.exit(1);
  });
