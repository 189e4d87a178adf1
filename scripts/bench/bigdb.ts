/**
 * Backups and restores of a big database against plain pg_dump and pg_restore of the same
 * database on the same machine. lab-staging's database (lab-1) is grown to `--size-mb` (the
 * schema bench_big: customers, orders, events with JSON payloads; lab/seedDatabase.ts), then:
 *
 * - raw backup: `pg_dump -Fc` through `compose exec` into a file on lab-1, what a script does;
 * - pipeline backup: a verified backup (`deployctl backup`): its dump step (pg_dump -Fc at
 *   `database.dumpCompression`, with the table fingerprints of the same snapshot and its
 *   checksum, atomic and idempotent) against the raw one, then its copy to the store and its
 *   verification;
 * - raw restore: `pg_restore --single-transaction` of the raw dump into an empty database on
 *   lab-1;
 * - pipeline restore: a restore drill (`deployctl drill`) of that backup into a scratch stack
 *   on lab-2: its restore step (the copy's checksum checked first, one transaction) against
 *   the raw one, and the drill's RTO (restore start to the app answering).
 *
 * `--pairs` runs both sides that many times, alternately, and prints medians and each pair's
 * ratio: on a shared machine one run's raw figures move by a third.
 *
 *   npm run bench:bigdb [-- --size-mb 1024 --pairs 3 --keep --json]     (10 GB: --size-mb 10240)
 *
 * Needs the lab (`npm run lab -- up`). The seeded schema is dropped at the end unless --keep
 * (a second run then skips most of the seeding); the raw dump and scratch database always go.
 * Figures, never assertions: tests do not fail on timing.
 */
import { posix } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { followOperation, startOperation, type OperationWorkflow } from '../../src/client/operations';
import { psql } from '../../src/commands/database';
import { composeBase } from '../../src/commands/compose';
import type { EnvironmentConfig } from '../../src/config/schema';
import { withHost } from '../../src/remote/executor';
import { backupWorkflowId, type BackupReport } from '../../src/shared/backups';
import { drillWorkflowId, type DrillReport } from '../../src/shared/drills';
import { WorkflowType } from '../../src/shared/messages';
import type { StepState } from '../../src/shared/deployment';
import { compactStamp } from '../../src/shared/stamps';
import { dropSeed, seedDatabase } from '../../lab/seedDatabase';
import { requireLab, startHarness, type Harness } from '../../tests/integration/harness';
import { median, positive, printTable, seconds, spread } from './figures';

/** Every wait of the bench: a 10 GB restore on the lab takes a while. */
const HOUR_MS = 3_600_000;

function stepMs(steps: StepState[] | undefined, name: string): number {
  const step = steps?.find((s) => s.name === name);
  if (step?.durationMs === undefined)
    throw new Error(`no finished step "${name}" in ${JSON.stringify(steps)}`);
  return step.durationMs;
}

/** Runs `argv` on the environment's first host; resolves with how long it took. */
async function timed(environment: EnvironmentConfig, argv: readonly string[]): Promise<number> {
  const t0 = Date.now();
  await withHost(environment.hosts[0]!, (h) => h.run(argv, { timeoutMs: HOUR_MS }));
  return Date.now() - t0;
}

interface Pair {
  raw: { dumpMs: number; restoreMs: number; dumpBytes: number };
  pipeline: {
    dumpMs: number;
    copyMs: number;
    verifyMs: number;
    restoreMs: number;
    uploadMs: number;
    rtoSeconds: number;
  };
}

async function main(opts: { sizeMb: number; pairs: number; keep?: boolean; json?: boolean }): Promise<void> {
  const lab = requireLab();
  const env = lab.staging;
  const host = env.hosts[0]!;
  const db = env.database!;
  const say = (line: string) => {
    if (!opts.json) process.stderr.write(`[bench] ${line}\n`);
  };
  const stamp = Date.now().toString(36);
  const rawDump = posix.join(host.baseDir, `bench-bigdb-${stamp}.dump`);
  const scratchDb = `bench_restore_${stamp}`;
  const inDb = (...argv: string[]) => [...composeBase(env, host), 'exec', '-T', db.service, ...argv];

  let harness: Harness | undefined;
  try {
    say(`seeding ${env.name}'s database to ${opts.sizeMb} MB`);
    const seed = await seedDatabase(env, opts.sizeMb, say);
    say(`seeded: ${seed.sizeMb} MB, ${seed.events} events, in ${seed.seconds} s`);

    // Each side starts from the same settled database: frozen, analysed, written out. No parallel
    // index vacuum: its shared memory does not fit a container's default 64 MB /dev/shm.
    const settle = () =>
      timed(env, psql(env, 'vacuum (freeze, analyze, parallel 0)')).then(() =>
        timed(env, psql(env, 'checkpoint')),
      );

    const raw = async (): Promise<Pair['raw']> => {
      await settle();
      const dumpMs = await timed(env, [
        'sh',
        '-c',
        '"$@" > "$0"',
        rawDump,
        ...inDb('pg_dump', '-U', db.user, '-Fc', db.name),
      ]);
      const dumpBytes = Number(
        (
          await withHost(host, (h) => h.run(['stat', '-c', '%s', rawDump], { timeoutMs: 60_000 }))
        ).stdout.trim(),
      );
      await timed(env, psql(env, `create database ${scratchDb}`));
      const restoreMs = await timed(env, [
        'sh',
        '-c',
        '"$@" < "$0"',
        rawDump,
        ...inDb('pg_restore', '--single-transaction', '-U', db.user, '-d', scratchDb),
      ]);
      // The restored copy and the dump go before anything else is timed: no vacuum of it runs meanwhile.
      await timed(env, psql(env, `drop database ${scratchDb} with (force)`));
      await timed(env, ['rm', '-f', rawDump]);
      say(
        `  raw: pg_dump ${seconds(dumpMs)} s (${Math.round(dumpBytes / 2 ** 20)} MB), pg_restore ${seconds(restoreMs)} s`,
      );
      return { dumpMs, restoreMs, dumpBytes };
    };

    const h = (harness = await startHarness({ workerEnv: lab.workerEnv }));
    /** A backup or drill as deployctl starts it, followed to its end. */
    const operation = async <R>(type: OperationWorkflow, id: string, input: object, summary: string) =>
      followOperation<R>(
        await startOperation(
          h.env.client,
          h.settings,
          type,
          id,
          { environment: env.name, ...input },
          summary,
        ),
        h.settings,
        { timeoutMs: HOUR_MS },
      );
    const pipeline = async (): Promise<Pair['pipeline']> => {
      await settle();
      const backup = await operation<BackupReport>(
        WorkflowType.backup,
        backupWorkflowId(env.name, compactStamp(new Date())),
        { requestedBy: 'bench-bigdb' },
        'big-database benchmark backup',
      );
      if (backup.outcome !== 'succeeded') throw new Error(`the backup failed: ${backup.error}`);
      const steps = backup.status?.steps;
      const drill = await operation<DrillReport>(
        WorkflowType.drill,
        drillWorkflowId(env.name, compactStamp(new Date())),
        {
          requestedBy: 'bench-bigdb',
          ...(backup.report ? { backupId: backup.report.backup.id } : {}),
          targets: { rpoSeconds: 24 * 3600, rtoSeconds: 24 * 3600 },
        },
        'big-database benchmark drill',
      );
      if (!drill.report?.passed)
        throw new Error(`the drill failed: ${drill.report?.failures.join('; ') ?? drill.error}`);
      const result = {
        dumpMs: stepMs(steps, 'dump'),
        copyMs: stepMs(steps, 'copy'),
        verifyMs: stepMs(steps, 'verify'),
        restoreMs: stepMs(drill.report.steps, 'restore'),
        uploadMs: stepMs(drill.report.steps, 'upload-backup'),
        rtoSeconds: drill.report.rtoSeconds ?? 0,
      };
      say(
        `  pipeline: dump ${seconds(result.dumpMs)} s (copy ${seconds(result.copyMs)} s, verify ${seconds(result.verifyMs)} s), drill restore ${seconds(result.restoreMs)} s, RTO ${result.rtoSeconds} s`,
      );
      return result;
    };

    // The order alternates, so neither side always runs on the machine the other just warmed.
    const pairs: Pair[] = [];
    for (let i = 1; i <= opts.pairs; i++) {
      say(`pair ${i} of ${opts.pairs}`);
      if (i % 2 === 1) {
        const r = await raw();
        pairs.push({ raw: r, pipeline: await pipeline() });
      } else {
        const p = await pipeline();
        pairs.push({ raw: await raw(), pipeline: p });
      }
    }

    const ratios = (side: (p: Pair) => number, base: (p: Pair) => number) =>
      pairs.map((p) => Number((side(p) / base(p)).toFixed(3)));
    const backupRatios = ratios(
      (p) => p.pipeline.dumpMs,
      (p) => p.raw.dumpMs,
    );
    const restoreRatios = ratios(
      (p) => p.pipeline.restoreMs,
      (p) => p.raw.restoreMs,
    );
    const of = (pick: (p: Pair) => number) => pairs.map(pick);
    const result = {
      databaseMb: seed.sizeMb,
      rawDumpMb: Math.round(median(of((p) => p.raw.dumpBytes)) / 2 ** 20),
      pairs,
      backup: { medianRatio: median(backupRatios), ratios: backupRatios },
      restore: { medianRatio: median(restoreRatios), ratios: restoreRatios },
      drillRtoSeconds: median(of((p) => p.pipeline.rtoSeconds)),
      target: 1.1,
    };
    if (opts.json) {
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    console.log(
      `\n${result.databaseMb} MB database (raw dump ${result.rawDumpMb} MB), lab-1; the drill restores on lab-2; ${pairs.length} pair(s), median (min–max) s`,
    );
    printTable([
      ['step', 'raw', 'pipeline', 'pipeline / raw (pairs)'],
      [
        'backup (dump)',
        spread(of((p) => p.raw.dumpMs)),
        spread(of((p) => p.pipeline.dumpMs)),
        `${median(backupRatios).toFixed(2)}× (${backupRatios.map((r) => r.toFixed(2)).join(', ')})`,
      ],
      [
        'restore',
        spread(of((p) => p.raw.restoreMs)),
        spread(of((p) => p.pipeline.restoreMs)),
        `${median(restoreRatios).toFixed(2)}× (${restoreRatios.map((r) => r.toFixed(2)).join(', ')})`,
      ],
      ['copy to the store', '-', spread(of((p) => p.pipeline.copyMs)), ''],
      ['verify in the store', '-', spread(of((p) => p.pipeline.verifyMs)), ''],
      ['upload to the drill host', '-', spread(of((p) => p.pipeline.uploadMs)), ''],
    ]);
    console.log(
      `target ≤ 1.10× for both; drill RTO (restore start to the app answering): median ${result.drillRtoSeconds} s`,
    );
  } finally {
    await harness?.stop().catch(() => undefined);
    await withHost(host, async (h) => {
      await h.run(['rm', '-f', rawDump], { timeoutMs: 60_000 });
      await h.run(psql(env, `drop database if exists ${scratchDb} with (force)`), {
        timeoutMs: 600_000,
      });
    }).catch((err: Error) => console.error(`bench: cleanup on ${host.name}: ${err.message}`));
    if (!opts.keep)
      await dropSeed(env).catch((err: Error) => console.error(`bench: the seed stays: ${err.message}`));
    else
      console.error(
        `bench: the seed stays in ${env.name}'s database (--keep): its backups, drills and tests handle it too; npm run lab -- seed-db --drop removes it`,
      );
  }
}

function sizeMb(value: string): number {
  const n = positive(value);
  if (n > 100_000) throw new InvalidArgumentError('must be at most 100000 MB');
  return n;
}

new Command('bench-bigdb')
  .description(
    'backup and restore of a big database against plain pg_dump and pg_restore; prints the figures',
  )
  .option('--size-mb <n>', 'the database size to seed, in MB, at most 100000 (10240 for 10 GB)', sizeMb, 1024)
  .option('--pairs <n>', 'raw and pipeline runs, alternately', positive, 1)
  .option('--keep', 'keep the seeded schema for the next run')
  .option('--json', 'one JSON document instead of the lines')
  .action(async (opts: { sizeMb: number; pairs: number; keep?: boolean; json?: boolean }) => main(opts))
  .parseAsync(process.argv)
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    process.stderr.write(`bench-bigdb: ${(err as Error).message}\n`);
    process.exit(1);
  });
