/**
 * The README's demo: real Temporal, a real worker, the lab, two real deployments (v1 then v2
 * of the demo app to lab-staging, the second a blue-green release: v2 starts next to v1 and
 * takes the traffic in one routing write), a verified backup and a restore drill of it.
 * `npm run demo -- --help` for options.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { follow, startOrAttach, type DeployOutcome } from '../src/client/deploy';
import { coloursLine, formatDuration, stepTable, summaryLine } from '../src/client/format';
import { loadEnvironment } from '../src/config/load';
import { startDevServer, stopDevServer } from '../src/devserver/devServer';
import { projectRoot } from '../src/shared/projectRoot';
import { isAlive, signal, waitForExit } from '../src/devserver/processes';
import { expandUrl } from '../src/config/urls';
import { readLabSecrets } from '../lab/config';
import { followOperation, startOperation, type OperationWorkflow } from '../src/client/operations';
import {
  backupSummary,
  drillReportText,
  operationFailureText,
  stepPrinter,
} from '../src/client/operationFormat';
import { backupWorkflowId, type BackupReport } from '../src/shared/backups';
import { drillWorkflowId, type DrillReport } from '../src/shared/drills';
import { WorkflowType } from '../src/shared/messages';
import { compactStamp } from '../src/shared/stamps';
import { loadSettings, workflowUiLink, type Settings } from '../src/shared/settings';

const ROOT = projectRoot();
const LAB_DIR = process.env.LAB_DIR ?? join(ROOT, '.lab');
const DATA_DIR = join(ROOT, '.data');
const WORKER_PID = join(DATA_DIR, 'worker.pid');
const WORKER_LOG = join(DATA_DIR, 'worker.log');
/** Run TypeScript in this very process (`node --import tsx`): the pid we record is the program's. */
const TSX = ['--import', 'tsx'];
const ENVIRONMENT = 'lab-staging';

const clock = () => new Date().toISOString().slice(11, 19);
const say = (text: string) => console.log(`[${clock()}] ${text}`);

function lab(command: 'up' | 'down'): void {
  const res = spawnSync(process.execPath, [...TSX, 'lab/main.ts', command], { cwd: ROOT, stdio: 'inherit' });
  if (res.status !== 0) throw new Error(`npm run lab -- ${command} failed (exit ${res.status})`);
}

function runningWorkerPid(): number | undefined {
  if (!existsSync(WORKER_PID)) return undefined;
  const pid = Number(readFileSync(WORKER_PID, 'utf8'));
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** A detached worker that outlives this script (for --keep), logging to .data/worker.log. */
function startWorker(settings: Settings): number {
  const existing = runningWorkerPid();
  if (existing) {
    say(`worker already running (pid ${existing})`);
    return existing;
  }
  mkdirSync(DATA_DIR, { recursive: true });
  const log = openSync(WORKER_LOG, 'a');
  const child = spawn(process.execPath, [...TSX, 'src/worker.ts'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      ...readLabSecrets(join(LAB_DIR, 'secrets.env')),
      TEMPORAL_ADDRESS: settings.temporalAddress,
      DEPLOY_CONFIG_DIR: settings.configDir,
      DEPLOY_TASK_QUEUE: settings.taskQueue,
    },
  });
  closeSync(log);
  child.unref();
  if (!child.pid) throw new Error('could not start the worker');
  writeFileSync(WORKER_PID, String(child.pid));
  say(`worker started (pid ${child.pid}, log ${WORKER_LOG})`);
  return child.pid;
}

async function stopWorker(): Promise<void> {
  const pid = runningWorkerPid();
  if (pid) {
    signal(pid, 'SIGTERM');
    if (!(await waitForExit(pid, 15_000))) signal(pid, 'SIGKILL');
    say(`worker stopped (pid ${pid})`);
  }
  rmSync(WORKER_PID, { force: true });
}

async function deploy(
  client: Client,
  settings: Settings,
  release: string,
  tag: string,
): Promise<DeployOutcome> {
  say(`deploying ${release} (images ${tag}) to ${ENVIRONMENT}`);
  const request = {
    environment: ENVIRONMENT,
    release,
    images: { site: tag, saas: tag, api: tag },
    requestedBy: 'demo',
    commit: tag, // the lab's app repository tags each image's sources with the image tag
  };
  const { handle } = await startOrAttach(client, settings, request);
  const shown = new Set<string>();
  const outcome = await follow(handle, settings, {
    timeoutMs: 10 * 60_000,
    onChange: (status) => {
      for (const s of status.steps) {
        const key = `${s.name}:${s.status}`;
        if (shown.has(key)) continue;
        shown.add(key);
        say(
          `  ${s.status.padEnd(10)} ${s.name}${s.status === 'running' ? '' : ` ${formatDuration(s.durationMs)}`}`,
        );
      }
    },
  });
  if (outcome.status) {
    const colours = outcome.status.colours ? `\n${coloursLine(outcome.status.colours)}` : '';
    console.log(`\n${stepTable(outcome.status.steps)}\n${summaryLine(outcome.status)}${colours}\n`);
  }
  if (outcome.exitCode !== 0)
    throw new Error(`deployment of ${release} failed: ${outcome.error ?? 'see the UI'}`);
  return outcome;
}

/** A verified backup, then a restore drill of it: what the schedules run, on demand. */
async function backupAndDrill(client: Client, settings: Settings, stamp: string): Promise<void> {
  const print = stepPrinter((line) => say(line));
  const run = async <R>(type: OperationWorkflow, id: string, summary: string, input: object) => {
    say(summary);
    const handle = await startOperation(
      client,
      settings,
      type,
      id,
      { environment: ENVIRONMENT, requestedBy: 'demo', ...input },
      summary,
    );
    const outcome = await followOperation<R>(handle, settings, {
      timeoutMs: 10 * 60_000,
      onStatus: (s) => print(s.steps),
    });
    if (outcome.exitCode !== 0 || !outcome.report)
      throw new Error(`${summary} failed: ${operationFailureText(outcome.status, outcome.error)}`);
    return outcome.report;
  };
  const backup = await run<BackupReport>(
    WorkflowType.backup,
    backupWorkflowId(ENVIRONMENT, stamp),
    `verified backup of ${ENVIRONMENT}`,
    {},
  );
  console.log(`\n${backupSummary(backup)}\n`);
  const drill = await run<DrillReport>(
    WorkflowType.drill,
    drillWorkflowId(ENVIRONMENT, stamp),
    `restore drill of ${ENVIRONMENT}`,
    {},
  );
  console.log(`\n${drillReportText(drill)}\n`);
}

async function demo(opts: { keep: boolean }): Promise<void> {
  const started = Date.now();
  const settings: Settings = { ...loadSettings(), configDir: join(LAB_DIR, 'config') };
  const server = await startDevServer();
  say(
    `Temporal ${server.alreadyRunning ? 'already running' : `started in ${formatDuration(server.startupMs)}`} at ${server.address}, UI ${server.uiUrl}`,
  );
  const uiSettings: Settings = {
    ...settings,
    temporalAddress: server.address,
    uiUrl: server.uiUrl ?? settings.uiUrl,
  };

  const labStarted = Date.now();
  lab('up');
  say(`lab up in ${formatDuration(Date.now() - labStarted)}`);

  startWorker(uiSettings);
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: settings.namespace });
  try {
    const stamp = compactStamp(new Date());
    await deploy(client, uiSettings, `demo-v1-${stamp}`, 'v1');
    const v2 = await deploy(client, uiSettings, `demo-v2-${stamp}`, 'v2');
    await backupAndDrill(client, uiSettings, stamp);

    const environment = loadEnvironment(settings.configDir, ENVIRONMENT);
    const host = environment.hosts[0];
    const answers: string[] = [];
    for (const service of environment.services) {
      if (!service.versionUrl) continue;
      const url = expandUrl(service.versionUrl, environment, host);
      const body = (await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).json()) as {
        release?: string;
        version?: string;
      };
      if (body.release !== `demo-v2-${stamp}`)
        throw new Error(`${url} answers release ${body.release}, expected demo-v2-${stamp}`);
      answers.push(`  ${service.name.padEnd(5)} ${url} -> version ${body.version}, release ${body.release}`);
    }
    console.log('The app answers with v2:');
    console.log(answers.join('\n'));
    const colours = v2.status?.colours;
    if (environment.traffic && colours?.stable && colours.stable !== colours.target) {
      // Blue-green: the old colour still runs v1 at weight 0, so a switch-back is one routing write.
      const url = expandUrl(environment.services[0].versionUrl!, environment, host);
      const idle = (await (
        await fetch(url, {
          headers: { [environment.traffic.previewHeader]: colours.stable },
          signal: AbortSignal.timeout(5_000),
        })
      ).json()) as { release?: string };
      if (idle.release !== `demo-v1-${stamp}`)
        throw new Error(`the ${colours.stable} colour answers ${idle.release}, expected demo-v1-${stamp}`);
      console.log(
        `\nBlue-green: v2 runs on ${colours.target} and has all the traffic; v1 still runs on ${colours.stable} at weight 0\n` +
          `  (${environment.traffic.previewHeader}: ${colours.stable} -> release ${idle.release}), so\n` +
          `  npx deployctl switch-back --env ${ENVIRONMENT} --by you   puts it back in one routing write.`,
      );
    }
    console.log(`\nApp (Traefik):       ${expandUrl('http://{host}:{PROXY_PORT}/', environment, host)}`);
    console.log(`Temporal UI:         ${workflowUiLink(uiSettings, v2.workflowId)}`);
    console.log(`Deployments list:    ${uiSettings.uiUrl}/namespaces/${settings.namespace}/workflows`);
    say(`demo finished in ${formatDuration(Date.now() - started)}`);
  } finally {
    await connection.close();
    if (!opts.keep) await teardown();
  }
  if (opts.keep) {
    console.log(
      [
        '',
        'Everything keeps running (--keep). Try, for instance:',
        `  npx deployctl drills --env ${ENVIRONMENT}`,
        `  npx deployctl backups --env ${ENVIRONMENT}`,
        `  DEPLOY_CONFIG_DIR=${join(LAB_DIR, 'config')} npx deployctl schedules apply && npx deployctl schedules list`,
        '  npm run lab -- fresh-host   # then: npx deployctl emergency-deploy --env lab-staging --host-file .lab/fresh/lab-3.yaml',
        'Stop it all with: npm run demo -- stop',
      ].join('\n'),
    );
  }
}

async function teardown(): Promise<void> {
  await stopWorker();
  lab('down');
  const stopped = await stopDevServer();
  say(`Temporal ${stopped.wasRunning ? 'stopped' : 'was not running'}`);
}

const program = new Command('demo')
  .description('Deploy v1 then v2 of the demo app to the local lab through a real Temporal server and worker')
  .option('--keep', 'leave Temporal, the worker and the lab running to explore the UI', false)
  .action(async (opts: { keep: boolean }) => demo(opts));
program
  .command('stop')
  .description('stop what a --keep run left running (worker, lab, Temporal)')
  .action(teardown);

program.parseAsync(process.argv).catch((err: Error) => {
  console.error(`demo failed: ${err.message}`);
  process.exitCode = 1;
});
