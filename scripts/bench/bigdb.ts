/**
 * Backups and restores of a big database against plain pg_dump and pg_restore of the same
 * database on the same machine. lab-staging's database (lab-1) is grown to `--size-mb` (the
 * schema bench_big: customers, orders, events with JSON payloads; lab/seedDatabase.ts), then:
 *
 * - raw backup: `pg_dump -Fc` through `compose exec` into a file on lab-1, what a script does;
 * - pipeline backup: a verified backup (`deployctl backup`): its dump step (the same dump, with
 *   its checksum, atomic and idempotent) against the raw one, then its copy to the store and
 *   its verification;
 * - raw restore: `pg_restore --single-transaction` of the raw dump into an empty database on
 *   lab-1;
 * - pipeline restore: a restore drill (`deployctl drill`) of that backup into a scratch stack
 *   on lab-2: its restore step (checksums checked first, one transaction) against the raw
 *   one, and the drill's RTO (restore start to the app answering).
 *
 *   npm run bench:bigdb [-- --size-mb 1024 --keep --json]     (10 GB: --size-mb 10240)
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
import { positive, seconds } from './figures';

/** Every wait of the bench: a 10 GB restore on the lab takes a while. */
const HOUR_MS = 3_600_000;

function stepMs(steps: StepState[] | undefined, name: string): number {
  const step = steps?.find((s) => s.name === name);
  if (step?.durationMs === undefined)
    throw new Error(`no finished step "${name}" in ${JSON.stringify(steps)}`);
  return step.durationMs;
}

/** Runs `argv` on the environment's first host; resolves with how long it took. */
async function timed(environment: EnvironmentConfig, argv: string[]): Promise<number> {
  const t0 = Date.now();
  await withHost(environment.hosts[0]!, (h) => h.run(argv, { timeoutMs: HOUR_MS }));
  return Date.now() - t0;
}

async function main(opts: { sizeMb: number; keep?: boolean; json?: boolean }): Promise<void> {
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

    // Both sides start from the same settled database: frozen, analysed, written out. No parallel
    // index vacuum: its shared memory does not fit a container's default 64 MB /dev/shm.
    const settle = () =>
      timed(env, psql(env, host, 'vacuum (freeze, analyze, parallel 0)')).then(() =>
        timed(env, psql(env, host, 'checkpoint')),
      );
    await settle();
    say('raw backup: pg_dump -Fc through compose exec into a file on the host');
    const rawBackupMs = await timed(env, [
      'sh',
      '-c',
      '"$@" > "$0"',
      rawDump,
      ...inDb('pg_dump', '-U', db.user, '-Fc', db.name),
    ]);
    const rawBytes = Number(
      (
        await withHost(host, (h) => h.run(['stat', '-c', '%s', rawDump], { timeoutMs: 60_000 }))
      ).stdout.trim(),
    );
    say(`  ${seconds(rawBackupMs)} s, ${Math.round(rawBytes / 2 ** 20)} MB`);

    say('raw restore: pg_restore --single-transaction into an empty database on the host');
    await timed(env, psql(env, host, `create database ${scratchDb}`));
    const rawRestoreMs = await timed(env, [
      'sh',
      '-c',
      '"$@" < "$0"',
      rawDump,
      ...inDb('pg_restore', '--single-transaction', '-U', db.user, '-d', scratchDb),
    ]);
    say(`  ${seconds(rawRestoreMs)} s`);
    // The restored copy goes before the pipeline's dump is timed: no vacuum of it runs meanwhile.
    await timed(env, psql(env, host, `drop database ${scratchDb} with (force)`));
    await settle();

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
    say('pipeline backup: a verified backup (dump, copy to the store, verify)');
    const backup = await operation<BackupReport>(
      WorkflowType.backup,
      backupWorkflowId(env.name, compactStamp(new Date())),
      { requestedBy: 'bench-bigdb' },
      'big-database benchmark backup',
    );
    if (backup.outcome !== 'succeeded') throw new Error(`the backup failed: ${backup.error}`);
    const backupSteps = backup.status?.steps;
    const pipelineDumpMs = stepMs(backupSteps, 'dump');
    const copyMs = stepMs(backupSteps, 'copy');
    const verifyMs = stepMs(backupSteps, 'verify');
    say(`  dump ${seconds(pipelineDumpMs)} s, copy ${seconds(copyMs)} s, verify ${seconds(verifyMs)} s`);

    say('pipeline restore: a restore drill of that backup into a scratch stack on the drill host');
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
    const pipelineRestoreMs = stepMs(drill.report.steps, 'restore');
    const uploadBackupMs = stepMs(drill.report.steps, 'upload-backup');
    const rtoSeconds = drill.report.rtoSeconds ?? 0;
    say(`  restore ${seconds(pipelineRestoreMs)} s, RTO ${rtoSeconds} s`);

    const result = {
      databaseMb: seed.sizeMb,
      dumpMb: Math.round(rawBytes / 2 ** 20),
      backup: {
        rawMs: rawBackupMs,
        pipelineDumpMs,
        ratio: Number((pipelineDumpMs / rawBackupMs).toFixed(3)),
        copyToStoreMs: copyMs,
        verifyMs,
      },
      restore: {
        rawMs: rawRestoreMs,
        pipelineMs: pipelineRestoreMs,
        ratio: Number((pipelineRestoreMs / rawRestoreMs).toFixed(3)),
        uploadToDrillHostMs: uploadBackupMs,
      },
      drillRtoSeconds: rtoSeconds,
      target: 1.1,
    };
    if (opts.json) {
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    console.log(
      `\n${result.databaseMb} MB database (dump ${result.dumpMb} MB), lab-1; the drill restores on lab-2`,
    );
    console.log(
      `backup:  raw pg_dump ${seconds(rawBackupMs)} s, pipeline dump ${seconds(pipelineDumpMs)} s (${result.backup.ratio.toFixed(2)}×; target ≤ 1.10×); then copy to the store ${seconds(copyMs)} s, verify ${seconds(verifyMs)} s`,
    );
    console.log(
      `restore: raw pg_restore ${seconds(rawRestoreMs)} s, pipeline restore ${seconds(pipelineRestoreMs)} s (${result.restore.ratio.toFixed(2)}×; target ≤ 1.10×); the backup's upload to the drill host ${seconds(uploadBackupMs)} s`,
    );
    console.log(`drill RTO (restore start to the app answering): ${rtoSeconds} s`);
  } finally {
    await harness?.stop().catch(() => undefined);
    await withHost(host, async (h) => {
      await h.run(['rm', '-f', rawDump], { timeoutMs: 60_000 });
      await h.run(psql(env, host, `drop database if exists ${scratchDb} with (force)`), {
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
  .option('--keep', 'keep the seeded schema for the next run')
  .option('--json', 'one JSON document instead of the lines')
  .action(async (opts: { sizeMb: number; keep?: boolean; json?: boolean }) => main(opts))
  .parseAsync(process.argv)
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    process.stderr.write(`bench-bigdb: ${(err as Error).message}\n`);
    process.exit(1);
  });
