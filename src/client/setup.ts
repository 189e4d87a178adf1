import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { WorkflowType } from '../shared/messages';
import { DEPLOY_ENVIRONMENT } from '../shared/searchAttributes';
import type { SetupReport } from '../shared/setup';
import { loadSettings } from '../shared/settings';
import { connect } from './connect';
import { ExitCode } from './exitCodes';
import { parseBy, parseEnvFlag } from './operationInput';
import { workflowFailure } from './operations';
import { byOption, workerWaitOption } from './options';
import { requireWorker } from './workerPresence';

const SETUP_TIMEOUT_MS = 60 * 60_000;

/** One line per step of each host, as the script reported it; a failed host says why. */
export function setupLines(report: SetupReport): string[] {
  const width = Math.max(0, ...report.hosts.flatMap((h) => h.steps.map((s) => s.step.length)));
  return report.hosts.flatMap((h) => [
    `${h.host}:`,
    ...h.steps.map((s) => `  ${s.step.padEnd(width)}  ${s.result.padEnd(7)}  ${s.detail}`.trimEnd()),
    ...(h.failure ? [`  FAILED: ${h.failure}`] : []),
  ]);
}

export function setupExitCode(report: SetupReport): ExitCode {
  return report.hosts.some((h) => h.failure) ? ExitCode.operationFailed : ExitCode.succeeded;
}

async function setupCommand(opts: {
  env: string;
  by: string;
  json: boolean;
  workerWait: number;
}): Promise<ExitCode> {
  const environment = parseEnvFlag(opts.env);
  const requestedBy = parseBy(opts.by);
  const settings = loadSettings();
  const client = await connect(settings);
  try {
    await requireWorker(client, settings, opts.workerWait, console.error);
    if (!opts.json)
      console.error(`setting up the hosts of ${environment} (each step prints done or skipped)...`);
    let report: SetupReport;
    try {
      report = (await client.workflow.execute(WorkflowType.setup, {
        taskQueue: settings.taskQueue,
        workflowId: `setup-${environment}-${randomUUID().slice(0, 8)}`,
        args: [{ environment, requestedBy }],
        workflowExecutionTimeout: SETUP_TIMEOUT_MS,
        staticSummary: `Server setup of the hosts of ${environment} (requested by ${requestedBy})`,
        typedSearchAttributes: [{ key: DEPLOY_ENVIRONMENT, value: environment }],
      })) as SetupReport;
    } catch (err) {
      // An environment the worker does not know (or cannot read) fails the config read.
      const root = err instanceof WorkflowFailedError ? workflowFailure(err) : undefined;
      if (root?.type === 'InvalidInput') {
        console.error(`${root.message}\nnothing was changed on any host`);
        return ExitCode.invalidInput;
      }
      throw err;
    }
    const exitCode = setupExitCode(report);
    if (opts.json) console.log(JSON.stringify({ ...report, exitCode }, null, 2));
    else {
      console.log(setupLines(report).join('\n'));
      const failed = report.hosts.filter((h) => h.failure).map((h) => h.host);
      console.log(
        failed.length
          ? `server setup failed on ${failed.join(', ')}; fix what it names and run it again (done steps are skipped)`
          : `${report.hosts.length} host(s) of ${environment} are set up; next: deployctl config check --env ${environment}`,
      );
    }
    return exitCode;
  } finally {
    await client.connection.close();
  }
}

export function addSetupCommand(program: Command): void {
  program
    .command('setup')
    .description(
      "prepare every host of an environment from a worker: the container engine and compose (installed when missing), the deploy user, the project's directories, and the firewall's SSH rule and the ports the worker probes (when ufw is active)",
    )
    .requiredOption('-e, --env <name>', 'environment name')
    .addOption(byOption("in the hosts' audit log"))
    .option('--json', 'print the report as JSON', false)
    .addOption(workerWaitOption())
    .addHelpText(
      'after',
      `
Runs scripts/server-setup.sh (shipped with deployctl) over SSH as each host's configured user,
who must be root or have sudo-less rights to install packages. Safe to repeat: every step it
finds done prints skipped. Exit codes: 0 every host set up, 2 invalid input (unknown
environment), 4 Temporal unreachable, 8 setup failed on a host, 9 no worker.`,
    )
    .action(async (opts) => {
      process.exitCode = await setupCommand(opts);
    });
}
