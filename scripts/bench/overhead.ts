/**
 * What the durable pipeline costs against a plain shell script doing the same deployment: the
 * demo app in one compose project on lab-1 (database, migrations, three web services behind its
 * proxy), deployed alternately by scripts/bench/shell-deploy.sh (one ssh command per step,
 * nothing durable) and by `deployEnvironment` on a real Temporal server with the real worker.
 * Each side has its own project and address on the same host; every run changes the images, so
 * each one really pulls, dumps, migrates and recreates. After a warm-up of each, `--pairs` pairs
 * (the order alternates), then per-step medians, each pair's ratio and the spread.
 *
 *   npm run bench:overhead [-- --pairs 3 --json]
 *
 * Needs the lab (`npm run lab -- up`); removes both stacks at the end. Figures, never
 * assertions: tests do not fail on timing.
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { follow, startOrAttach } from '../../src/client/deploy';
import { composeDestroy } from '../../src/commands/compose';
import { removeDirectory } from '../../src/commands/files';
import { loadEnvironment } from '../../src/config/load';
import type { EnvironmentConfig, HostConfig } from '../../src/config/schema';
import { withHost } from '../../src/remote/executor';
import {
  COMPOSE_FILE,
  DEMO_MIGRATIONS,
  MIGRATE_COMPOSE_FILE,
  plainDemoEnvironment,
  plainStackEnv,
  SECRET_ENV,
} from '../../lab/config';
import { demoImage, PROJECT_ROOT, PROXY_PORT, WEB_SERVICES } from '../../lab/paths';
import {
  LAB_DIR,
  labConfigCopy,
  requireLab,
  startHarness,
  type Harness,
} from '../../tests/integration/harness';
import { median, seconds, positive, printTable, spread } from './figures';

const ENVIRONMENT = 'lab-overhead';
/** Loopback addresses of their own for each side's published ports. */
const PIPELINE_ADDRESS = '127.0.0.71';
const SHELL_ADDRESS = '127.0.0.72';
const TAGS = ['v1', 'v2'] as const;
/** The shell script's steps, in order; the pipeline's steps are put under these names. */
const STEPS = ['upload', 'pull', 'backup', 'migrate', 'up', 'health', 'record'] as const;

interface Run {
  side: 'shell' | 'pipeline';
  wallMs: number;
  /** Per step of STEPS, plus (pipeline) the steps a shell script does not have. */
  steps: Record<string, number>;
}

/** A pipeline step's name under the shell script's step it does the work of. */
function shellStepOf(name: string): string {
  const [first] = name.split(' ');
  if (first === 'start') return 'up';
  return (STEPS as readonly string[]).includes(first!) ? first! : name;
}

function plainEnvironment(staging: EnvironmentConfig, stamp: string) {
  return {
    ...plainDemoEnvironment(staging, {
      name: ENVIRONMENT,
      project: `overhead${stamp}`,
      dirName: `overhead-pipeline-${stamp}`,
      address: PIPELINE_ADDRESS,
    }),
    composeFiles: [COMPOSE_FILE, MIGRATE_COMPOSE_FILE],
    database: { service: 'db', user: 'app', name: 'app' },
    migrations: DEMO_MIGRATIONS,
  };
}

/** The shell side: its files in a local directory, and the script's environment. */
function shellSide(host: HostConfig, stamp: string, dbPassword: string) {
  const localDir = mkdtempSync(join(tmpdir(), 'bench-overhead-'));
  for (const file of [COMPOSE_FILE, MIGRATE_COMPOSE_FILE])
    copyFileSync(join(PROJECT_ROOT, file), join(localDir, basename(file)));
  // Where the pipeline's layout would put a project of that name, so the cleanup finds it.
  const baseDir = posix.join(host.baseDir, `overhead-shell-${stamp}`);
  const project = `overheadshell${stamp}`;
  const remoteDir = posix.join(baseDir, project);
  const writeEnvFile = (release: string, tag: string) => {
    const lines = {
      APP_RELEASE: release,
      ...plainStackEnv(),
      BIND_ADDRESS: SHELL_ADDRESS,
      ...Object.fromEntries(
        WEB_SERVICES.map(({ name }) => [`${name.toUpperCase()}_IMAGE`, demoImage(name, tag)]),
      ),
      DB_PASSWORD: dbPassword,
    };
    const file = join(localDir, '.env');
    writeFileSync(
      file,
      Object.entries(lines)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
      { mode: 0o600 },
    );
    chmodSync(file, 0o600);
  };
  const env = (release: string): NodeJS.ProcessEnv => ({
    ...process.env,
    SSH_TARGET: `${host.user}@${host.address}`,
    SSH_PORT: String(host.port),
    SSH_KEY: host.privateKeyPath,
    KNOWN_HOSTS: join(LAB_DIR, 'known_hosts'),
    REMOTE_DIR: remoteDir,
    COMPOSE_COMMAND: 'docker-compose',
    PROJECT: project,
    LOCAL_DIR: localDir,
    SERVICES: WEB_SERVICES.map((s) => s.name).join(' '),
    READY_URLS: WEB_SERVICES.map((s) => `http://${SHELL_ADDRESS}:${PROXY_PORT}/${s.name}/health/ready`).join(
      ' ',
    ),
    DB_SERVICE: 'db',
    DB_USER: 'app',
    DB_NAME: 'app',
    MIGRATE_SERVICE: DEMO_MIGRATIONS.service,
    MIGRATE_COMMAND: DEMO_MIGRATIONS.command.join(' '),
    RELEASE: release,
  });
  return { localDir, baseDir, remoteDir, project, writeEnvFile, env };
}

function runScript(env: NodeJS.ProcessEnv): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(__dirname, 'shell-deploy.sh')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`shell-deploy.sh exited ${code}: ${err.slice(-800)}`));
      const steps: Record<string, number> = {};
      for (const m of out.matchAll(/^step (\S+) (\d+)$/gm)) steps[m[1]!] = Number(m[2]);
      resolve({ side: 'shell', wallMs: Date.now() - started, steps });
    });
  });
}

async function main(opts: { pairs: number; json?: boolean }): Promise<void> {
  const lab = requireLab();
  const staging = lab.staging;
  const stamp = Date.now().toString(36);
  const dbPassword = lab.workerEnv[SECRET_ENV];
  if (!dbPassword) throw new Error(`${SECRET_ENV} is not in the lab's secrets file`);
  const { dir } = labConfigCopy('bench-overhead-config', staging.name, () => undefined);
  writeFileSync(join(dir, `${ENVIRONMENT}.yaml`), stringify(plainEnvironment(staging, stamp)));
  const pipelineEnv = loadEnvironment(dir, ENVIRONMENT);
  const host = pipelineEnv.hosts[0]!;
  const shell = shellSide(staging.hosts[0]!, stamp, dbPassword);
  const log = (line: string) => {
    if (!opts.json) console.log(line);
  };

  let harness: Harness | undefined;
  let run = 0;
  const shellRun = async (tag: string, first = false): Promise<Run> => {
    const release = `ovh-s${run++}-${stamp}`;
    shell.writeEnvFile(release, tag);
    return runScript({ ...shell.env(release), ...(first ? { FIRST_DEPLOY: '1' } : {}) });
  };
  const pipelineRun = async (tag: string): Promise<Run> => {
    const h = harness!;
    const started = Date.now();
    const request = {
      environment: ENVIRONMENT,
      release: `ovh-p${run++}-${stamp}`,
      images: Object.fromEntries(WEB_SERVICES.map(({ name }) => [name, tag])),
      requestedBy: 'bench-overhead',
      commit: tag,
    };
    const { handle } = await startOrAttach(h.env.client, h.settings, request);
    const outcome = await follow(handle, h.settings, { timeoutMs: 300_000 });
    const wallMs = Date.now() - started;
    if (outcome.status?.outcome !== 'succeeded')
      throw new Error(
        `the pipeline's deployment did not succeed: ${outcome.error ?? outcome.status?.failure?.message}`,
      );
    const steps: Record<string, number> = {};
    for (const s of outcome.status.steps) {
      const name = shellStepOf(s.name);
      steps[name] = (steps[name] ?? 0) + (s.durationMs ?? 0);
    }
    return { side: 'pipeline', wallMs, steps };
  };

  const runs: Run[][] = [];
  try {
    harness = await startHarness({ configDir: dir, workerEnv: lab.workerEnv });
    log('warm-up: a first deployment of each side (stacks created, images pulled)');
    await shellRun(TAGS[0], true);
    await pipelineRun(TAGS[0]);
    for (let i = 0; i < opts.pairs; i++) {
      const tag = TAGS[(i + 1) % 2]!;
      const pair =
        i % 2 === 0
          ? [await shellRun(tag), await pipelineRun(tag)]
          : [await pipelineRun(tag), await shellRun(tag)];
      const [s, p] = [pair.find((r) => r.side === 'shell')!, pair.find((r) => r.side === 'pipeline')!];
      runs.push([s, p]);
      log(
        `pair ${i + 1}: shell ${seconds(s.wallMs)} s, pipeline ${seconds(p.wallMs)} s (${(p.wallMs / s.wallMs).toFixed(2)}×)`,
      );
    }
  } finally {
    await harness?.stop().catch(() => undefined);
    await withHost(host, async (h) => {
      const shellEnv: EnvironmentConfig = {
        ...pipelineEnv,
        project: shell.project,
        hosts: [{ ...host, baseDir: shell.baseDir }],
      };
      for (const [env, baseDir] of [
        [pipelineEnv, host.baseDir],
        [shellEnv, shell.baseDir],
      ] as const) {
        await h
          .run(composeDestroy(env, env.hosts[0]!), { timeoutMs: 120_000 })
          .catch((err: Error) => console.error(`bench: ${env.project} was not taken down: ${err.message}`));
        await h.run(removeDirectory(baseDir), { timeoutMs: 60_000 });
      }
    }).catch((err: Error) => console.error(`bench: cleanup on ${host.name}: ${err.message}`));
  }

  const shellRuns = runs.map(([s]) => s!);
  const pipelineRuns = runs.map(([, p]) => p!);
  const extra = [...new Set(pipelineRuns.flatMap((r) => Object.keys(r.steps)))].filter(
    (k) => !(STEPS as readonly string[]).includes(k),
  );
  const stepRows = [...STEPS, ...extra].map((step) => ({
    step,
    shellMs: STEPS.includes(step as (typeof STEPS)[number])
      ? median(shellRuns.map((r) => r.steps[step] ?? 0))
      : undefined,
    pipelineMs: median(pipelineRuns.map((r) => r.steps[step] ?? 0)),
  }));
  const ratios = runs.map(([s, p]) => p!.wallMs / s!.wallMs);
  const result = {
    pairs: opts.pairs,
    shellWallMs: shellRuns.map((r) => r.wallMs),
    pipelineWallMs: pipelineRuns.map((r) => r.wallMs),
    ratios: ratios.map((r) => Number(r.toFixed(3))),
    medianRatio: Number(median(ratios).toFixed(3)),
    steps: stepRows,
  };
  if (opts.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const table = [
    ['step', 'shell (median s)', 'pipeline (median s)'],
    ...stepRows.map((r) => [
      r.step,
      r.shellMs === undefined ? '-' : seconds(r.shellMs),
      seconds(r.pipelineMs),
    ]),
    ['total (wall)', spread(result.shellWallMs), spread(result.pipelineWallMs)],
  ];
  console.log(
    `\n${opts.pairs} pairs on ${host.name}, images cached; pipeline = deployEnvironment with --strategy recreate`,
  );
  printTable(table);
  console.log(
    `pipeline / shell: median ${result.medianRatio.toFixed(2)}× (pairs: ${result.ratios.map((r) => r.toFixed(2)).join(', ')}); target ≤ 1.00×`,
  );
}

new Command('bench-overhead')
  .description(
    'the pipeline against a plain shell script deploying the same release on the lab; prints a table',
  )
  .option('--pairs <n>', 'measured pairs of runs, after one warm-up of each', positive, 3)
  .option('--json', 'one JSON document instead of the table')
  .action(async (opts: { pairs: number; json?: boolean }) => main(opts))
  .parseAsync(process.argv)
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    process.stderr.write(`bench-overhead: ${(err as Error).message}\n`);
    process.exit(1);
  });
