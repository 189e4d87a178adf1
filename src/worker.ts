import { resolve } from 'node:path';
import { Command } from 'commander';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from './activities';
import { dataConverterFor } from './codec/dataConverter';
import {
  ConnectionConfigError,
  connectOptions,
  explainConnectFailure,
  loadTemporalConnection,
  type TemporalConnection,
} from './connection/profile';
import { projectRoot } from './shared/projectRoot';
import { HEARTBEAT_FLUSH_MS, STICKY_QUEUE_TIMEOUT_MS } from './shared/heartbeats';
import { loadSettings, temporalAddressProblem, workflowUiLink, type Settings } from './shared/settings';
import { needsReport, workerNeeds } from './worker/needs';
import { DoraGaugeConfigError, doraRefreshSeconds, startDoraGauges } from './worker/doraGauges';
import {
  installRuntime,
  TelemetryConfigError,
  telemetrySettings,
  type TelemetrySettings,
} from './worker/telemetry';
import { describeSlots, SlotConfigError, workerSlots, type WorkerSlots } from './worker/slots';
import { closeIdleConnections } from './remote/executor';

/**
 * Heartbeats are flushed to the server every HEARTBEAT_FLUSH_MS (the SDK's default is 80 % of
 * the heartbeat timeout): a live step is never taken for a dead one, and a cancelled step
 * learns of it, and stops, within about a second, so an abort's compensation (which waits for
 * it to stop) starts soon after.
 */
export const HEARTBEAT_THROTTLE = {
  maxHeartbeatThrottleInterval: HEARTBEAT_FLUSH_MS,
  defaultHeartbeatThrottleInterval: HEARTBEAT_FLUSH_MS,
} as const;

export async function createWorker(
  settings: Settings,
  connection: NativeConnection,
  workerEnv: NodeJS.ProcessEnv = process.env,
  slots: WorkerSlots = workerSlots(workerEnv),
): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    maxConcurrentActivityTaskExecutions: slots.activities,
    maxConcurrentWorkflowTaskExecutions: slots.workflowTasks,
    ...HEARTBEAT_THROTTLE,
    // A deployment's next step waits for its workflow task; on a dead worker's sticky queue it
    // would sit 10 s (the default) before another worker may take it.
    stickyQueueScheduleToStartTimeout: STICKY_QUEUE_TIMEOUT_MS,
    workflowsPath: require.resolve('./workflows'),
    dataConverter: dataConverterFor(workerEnv),
    activities: createActivities({
      configDir: resolve(settings.configDir),
      projectRoot: settings.filesRoot ? resolve(settings.filesRoot) : projectRoot(),
      workerEnv,
      workspaceRoot: resolve(settings.workspaceRoot),
      backupRoot: resolve(settings.backupRoot),
      workflowLink: (workflowId) => workflowUiLink(settings, workflowId),
    }),
  });
}

async function main(argv: string[]): Promise<void> {
  const opts = new Command()
    .name('worker')
    .description(
      'the deployment worker: runs the workflows and activities of the task queue DEPLOY_TASK_QUEUE on TEMPORAL_ADDRESS (settings from the environment, see the README)',
    )
    .option(
      '--check',
      'check what the worker needs (configs, tools, directories, key files, secrets), print every finding and exit: 0 nothing failed, 1 something did',
    )
    .parse(argv)
    .opts<{ check?: boolean }>();
  const settings = loadSettings();
  let telemetry: TelemetrySettings;
  let slots: WorkerSlots;
  let doraRefresh: number;
  try {
    telemetry = telemetrySettings(process.env);
    slots = workerSlots(process.env);
    doraRefresh = doraRefreshSeconds(process.env);
  } catch (err) {
    if (!(
      err instanceof TelemetryConfigError ||
      err instanceof SlotConfigError ||
      err instanceof DoraGaugeConfigError
    ))
      throw err;
    console.error(`worker: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  // TLS and API key from the Temporal profile and TEMPORAL_TLS_*/TEMPORAL_API_KEY, read and checked once.
  let profile: TemporalConnection | undefined;
  let connectionProblem: string | undefined;
  try {
    profile = loadTemporalConnection(process.env);
  } catch (err) {
    if (!(err instanceof ConnectionConfigError)) throw err;
    connectionProblem = err.message;
  }
  const problem = temporalAddressProblem(settings.temporalAddress) ?? connectionProblem;
  // What the environments need of this worker, reported before it takes work: a missing tool or
  // secret is named now, not when a deployment reaches the step that needs it.
  const needs = await workerNeeds(settings, process.env);
  if (opts.check) {
    console.log(needsReport(needs, true).join('\n'));
    if (problem) console.log(`  FAILED temporal ${settings.temporalAddress}  ${problem}`);
    process.exitCode = problem || needs.some((c) => c.verdict === 'failed') ? 1 : 0;
    return;
  }
  console.error(needsReport(needs).join('\n'));
  if (problem || !profile) throw new Error(problem);
  // Before the first connection: the runtime's logger and metrics endpoint are set only once.
  installRuntime(telemetry);
  const reached = { ...profile, address: settings.temporalAddress };
  const connection = await NativeConnection.connect(connectOptions(reached)).catch(async (err: Error) => {
    const explained = await explainConnectFailure(reached, err.message);
    throw new Error(explained ?? `cannot reach Temporal at ${settings.temporalAddress}: ${err.message}`);
  });
  try {
    const worker = await createWorker(settings, connection, process.env, slots);
    console.log(
      `worker: task queue "${settings.taskQueue}" on ${settings.temporalAddress} (namespace ${settings.namespace}), configs in ${resolve(settings.configDir)}, ${describeSlots(slots)}` +
        (telemetry.metricsAddress ? `, metrics on http://${telemetry.metricsAddress}/metrics` : ''),
    );
    // Prometheus scrapes the DORA figures only where there is an endpoint.
    const stopGauges = telemetry.metricsAddress
      ? startDoraGauges(settings, connection, process.env, doraRefresh, (line) => console.error(line))
      : () => undefined;
    // Worker.run resolves after SIGINT/SIGTERM, once in-flight tasks are done.
    await worker.run().finally(stopGauges);
  } finally {
    // The activities are done: their pooled SSH connections would only hold the process open.
    closeIdleConnections();
    await connection.close();
  }
}

if (require.main === module) {
  main(process.argv).catch((err) => {
    console.error(`worker failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
