import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { ConfigCheck, ConfigCheckReport } from '../shared/configCheck';
import { WorkflowType } from '../shared/messages';
import { DEPLOY_ENVIRONMENT } from '../shared/searchAttributes';
import { loadSettings } from '../shared/settings';
import { connect } from './connect';
import { ExitCode } from './exitCodes';
import { parseEnvFlag } from './operationInput';
import { workerWaitOption } from './options';
import { requireWorker } from './workerPresence';

const CHECK_TIMEOUT_MS = 4 * 60_000;

/** A fixed-width table of findings: verdict, check, where, detail (the detail may span lines). */
export function configCheckTable(checks: ConfigCheck[]): string {
  const rows = checks.map((c) => [c.verdict.toUpperCase(), c.check, c.where]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), 0));
  return checks
    .map((c, i) => {
      const head = rows[i].map((cell, j) => cell.padEnd(widths[j])).join('  ');
      const [first, ...rest] = c.detail.split('\n');
      return [`${head}  ${first}`, ...rest.map((line) => `${' '.repeat(head.length + 2)}${line}`)].join('\n');
    })
    .join('\n');
}

/** 0 when nothing failed (warnings allowed), else invalid input: the config needs a fix. */
export function configCheckExitCode(report: ConfigCheckReport): ExitCode {
  return report.checks.some((c) => c.verdict === 'failed') ? ExitCode.invalidInput : ExitCode.succeeded;
}

async function configCheckCommand(opts: {
  env: string;
  json: boolean;
  workerWait: number;
}): Promise<ExitCode> {
  const environment = parseEnvFlag(opts.env);
  const settings = loadSettings();
  const client = await connect(settings);
  try {
    await requireWorker(client, settings, opts.workerWait, console.error);
    const report = (await client.workflow.execute(WorkflowType.configCheck, {
      taskQueue: settings.taskQueue,
      workflowId: `config-check-${environment}-${randomUUID().slice(0, 8)}`,
      args: [{ environment }],
      workflowExecutionTimeout: CHECK_TIMEOUT_MS,
      staticSummary: `Check the config, secrets and hosts of ${environment}`,
      typedSearchAttributes: [{ key: DEPLOY_ENVIRONMENT, value: environment }],
    })) as ConfigCheckReport;
    const exitCode = configCheckExitCode(report);
    if (opts.json) {
      console.log(JSON.stringify({ ...report, exitCode }, null, 2));
    } else {
      console.log(configCheckTable(report.checks));
      const failed = report.checks.filter((c) => c.verdict === 'failed').length;
      console.log(
        failed
          ? `${failed} check(s) failed: ${environment} is not ready to deploy`
          : `${environment} is ready to deploy (nothing was changed on any host)`,
      );
    }
    return exitCode;
  } finally {
    await client.connection.close();
  }
}

export function addConfigCommands(program: Command): void {
  const config = program.command('config').description('check environment configs and what they point at');
  config
    .command('check')
    .description(
      "check an environment from a worker, without deploying: every config file, the compose files, the secrets in the worker's environment, and per host the key file, SSH with the pinned host key, the container engine, compose and the free disk",
    )
    .requiredOption('-e, --env <name>', 'environment name')
    .option('--json', 'print the findings as JSON', false)
    .addOption(workerWaitOption())
    .addHelpText(
      'after',
      `
A host key that does not match prints the key the server presented, to verify out of band and
pin as hostKey. Secrets are named, never shown. Exit codes: 0 every check passed (warnings
allowed), 2 a check failed or invalid input, 4 Temporal unreachable, 9 no worker.`,
    )
    .action(async (opts) => {
      process.exitCode = await configCheckCommand(opts);
    });
}
