import { Command, Option } from 'commander';
import { ConfigError } from '../config/errors';
import { listEnvironments } from '../config/load';
import type { EnvironmentConfig } from '../config/schema';
import { applySchedules, type ApplyResult } from '../schedules/apply';
import { listSchedules, type ScheduleRow } from '../schedules/list';
import { backupWorkflowId, type BackupInput, type BackupReport, type StoredBackup } from '../shared/backups';
import { type CatalogInput } from '../shared/catalog';
import { drillWorkflowId, type DrillInput, type DrillReport, type DrillTargets } from '../shared/drills';
import {
  emergencyWorkflowId,
  type EmergencyDeployInput,
  type EmergencyDeployReport,
} from '../shared/emergency';
import type { StepState } from '../shared/deployment';
import { WorkflowType } from '../shared/messages';
import { loadSettings, workflowUiLink, type Settings } from '../shared/settings';
import { CliExit } from './cliExit';
import { withClient } from './connect';
import { ExitCode } from './exitCodes';
import { formatTime, parseLimit } from './history';
import {
  backupsTable,
  backupSummary,
  drillReportText,
  drillsTable,
  drillTrend,
  emergencySummary,
  operationFailureText,
  stepPrinter,
  table,
  trendLine,
} from './operationFormat';
import { compactStamp } from '../shared/stamps';
import { parseBackupId, parseBy, parseEnvFlag, parseHostFile, parseSeconds } from './operationInput';
import {
  followOperation,
  readCatalog,
  startOperation,
  type OperationOutcome,
  type OperationWorkflow,
} from './operations';
import { byOption } from './options';

const DEFAULT_TIMEOUT_SECONDS = 3600;
const CATALOG_DEFAULT_LIMIT = 20;

const exitHelp = (failed: string) => `
Exit codes: 0 succeeded, 2 invalid input (nothing started), 4 Temporal unreachable,
7 stopped waiting (--timeout; the workflow goes on), 8 ${failed}.`;

interface WaitOptions {
  wait: boolean;
  json: boolean;
  timeoutSeconds: number;
}

/**
 * Start, print the UI link, follow the steps as they finish, then print the outcome: the one
 * flow the backup, drill and emergency-deploy commands share. With --json, stdout is one document.
 */
async function runOperation<R, I extends { environment: string } = { environment: string }>(
  settings: Settings,
  opts: WaitOptions,
  start: { workflowType: OperationWorkflow; workflowId: string; input: I; summary: string },
  render: (outcome: OperationOutcome<R>) => string,
  finalSteps: (outcome: OperationOutcome<R>) => StepState[] | undefined,
): Promise<ExitCode> {
  return withClient(settings, async (client) => {
    const handle = await startOperation(
      client,
      settings,
      start.workflowType,
      start.workflowId,
      start.input,
      start.summary,
    );
    const uiLink = workflowUiLink(settings, handle.workflowId);
    if (!opts.json) {
      console.log(`started ${handle.workflowId}`);
      console.log(`Temporal UI: ${uiLink}`);
    }
    if (!opts.wait) {
      if (opts.json) console.log(JSON.stringify({ workflowId: handle.workflowId, uiLink }));
      return ExitCode.succeeded;
    }
    const print = stepPrinter((line) => console.log(line));
    const outcome = await followOperation<R>(handle, settings, {
      timeoutMs: opts.timeoutSeconds * 1000,
      onStatus: (status) => {
        if (!opts.json) print(status.steps);
      },
    });
    if (opts.json) {
      console.log(JSON.stringify(outcome, null, 2));
      return outcome.exitCode;
    }
    print(finalSteps(outcome) ?? outcome.status?.steps ?? []);
    console.log('');
    if (outcome.outcome === 'still-running') console.log(`${outcome.error}: follow it in the Temporal UI`);
    else console.log(render(outcome));
    console.log(`Temporal UI: ${outcome.uiLink}`);
    return outcome.exitCode;
  });
}

function waitOptions(opts: { wait?: boolean; json?: boolean; timeout?: string }): WaitOptions {
  return {
    wait: opts.wait !== false,
    json: opts.json === true,
    timeoutSeconds:
      opts.timeout === undefined
        ? DEFAULT_TIMEOUT_SECONDS
        : parseSeconds('--timeout', opts.timeout, 1, 7 * 86_400),
  };
}

export async function backupCommand(opts: {
  env: string;
  by: string;
  wait?: boolean;
  json?: boolean;
  timeout?: string;
}): Promise<ExitCode> {
  // Everything is checked before connecting: a bad flag starts nothing.
  const input: BackupInput = { environment: parseEnvFlag(opts.env), requestedBy: parseBy(opts.by) };
  const wait = waitOptions(opts);
  const settings = loadSettings();
  return runOperation<BackupReport>(
    settings,
    wait,
    {
      workflowType: WorkflowType.backup,
      workflowId: backupWorkflowId(input.environment, compactStamp(new Date())),
      input,
      summary: `Verified backup of ${input.environment} (requested by ${input.requestedBy})`,
    },
    (o) => (o.report ? backupSummary(o.report) : operationFailureText(o.status, o.error)),
    () => undefined,
  );
}

export async function drillCommand(opts: {
  env: string;
  by: string;
  backup?: string;
  rpoTarget?: string;
  rtoTarget?: string;
  wait?: boolean;
  json?: boolean;
  timeout?: string;
}): Promise<ExitCode> {
  const environment = parseEnvFlag(opts.env);
  const targets: Partial<DrillTargets> = {};
  if (opts.rpoTarget !== undefined) targets.rpoSeconds = parseSeconds('--rpo-target', opts.rpoTarget);
  if (opts.rtoTarget !== undefined) targets.rtoSeconds = parseSeconds('--rto-target', opts.rtoTarget);
  const input: DrillInput = {
    environment,
    requestedBy: parseBy(opts.by),
    ...(opts.backup !== undefined ? { backupId: parseBackupId(opts.backup, environment) } : {}),
    ...(Object.keys(targets).length ? { targets } : {}),
  };
  const wait = waitOptions(opts);
  const settings = loadSettings();
  return runOperation<DrillReport>(
    settings,
    wait,
    {
      workflowType: WorkflowType.drill,
      workflowId: drillWorkflowId(environment, compactStamp(new Date())),
      input,
      summary: `Restore drill of ${environment}${input.backupId ? ` from ${input.backupId}` : ''} (requested by ${input.requestedBy})`,
    },
    (o) => (o.report ? drillReportText(o.report) : operationFailureText(o.status, o.error)),
    (o) => o.report?.steps,
  );
}

export async function emergencyDeployCommand(opts: {
  env: string;
  by: string;
  hostFile: string;
  backup?: string;
  json?: boolean;
  timeout?: string;
}): Promise<ExitCode> {
  const environment = parseEnvFlag(opts.env);
  const input: EmergencyDeployInput = {
    environment,
    requestedBy: parseBy(opts.by),
    host: parseHostFile(opts.hostFile),
    ...(opts.backup !== undefined ? { backupId: parseBackupId(opts.backup, environment) } : {}),
  };
  const wait = waitOptions({ ...opts, wait: true });
  const settings = loadSettings();
  return runOperation<EmergencyDeployReport>(
    settings,
    wait,
    {
      workflowType: WorkflowType.emergencyDeploy,
      workflowId: emergencyWorkflowId(environment, compactStamp(new Date())),
      input,
      summary: `Emergency deploy of ${environment} to new host ${input.host.name} (${input.host.address}), requested by ${input.requestedBy}`,
    },
    (o) => (o.report ? emergencySummary(o.report) : operationFailureText(o.status, o.error)),
    (o) => o.report?.steps,
  );
}

type CatalogFlags = { env: string; limit?: string; json?: boolean };

/** Flags checked, then the worker's store read through the catalog workflow. */
async function readCatalogFor(opts: CatalogFlags, kind: CatalogInput['kind']) {
  const environment = parseEnvFlag(opts.env);
  const limit = opts.limit === undefined ? CATALOG_DEFAULT_LIMIT : parseLimit(opts.limit);
  const settings = loadSettings();
  const result = await withClient(settings, (client) =>
    readCatalog(client, settings, { environment, kind, limit }),
  );
  return { environment, result };
}

export async function backupsCommand(opts: CatalogFlags): Promise<ExitCode> {
  const { environment, result } = await readCatalogFor(opts, 'backups');
  const backups: StoredBackup[] = result.kind === 'backups' ? result.backups : [];
  if (opts.json) console.log(JSON.stringify({ environment, backups }, null, 2));
  else console.log(backups.length ? backupsTable(backups) : `no verified backups of ${environment} yet`);
  return ExitCode.succeeded;
}

export async function drillsCommand(opts: CatalogFlags): Promise<ExitCode> {
  const { environment, result } = await readCatalogFor(opts, 'drills');
  const drills: DrillReport[] = result.kind === 'drills' ? result.drills : [];
  const trend = drillTrend(drills);
  if (opts.json) {
    console.log(JSON.stringify({ environment, drills, trend }, null, 2));
  } else if (drills.length === 0) {
    console.log(`no drills of ${environment} yet`);
  } else {
    console.log(drillsTable(drills));
    console.log(`\n${trendLine(trend)}`);
  }
  return ExitCode.succeeded;
}

function loadAll(configDir: string): EnvironmentConfig[] {
  try {
    return listEnvironments(configDir);
  } catch (err) {
    if (err instanceof ConfigError)
      throw new CliExit(ExitCode.invalidInput, `${err.message}\nno schedule was changed`);
    throw err;
  }
}

export function schedulesUiLink(settings: Settings, id?: string): string {
  const base = `${settings.uiUrl}/namespaces/${encodeURIComponent(settings.namespace)}/schedules`;
  return id ? `${base}/${encodeURIComponent(id)}` : base;
}

export function applyTable(results: ApplyResult[]): string {
  return table([
    ['ACTION', 'SCHEDULE', 'ENVIRONMENT', 'KIND', 'SPEC', 'WHY'],
    ...results.map((r) => [
      r.action,
      r.id,
      r.environment,
      r.kind,
      r.spec ?? '-',
      (r.reasons ?? []).join('; '),
    ]),
  ]);
}

export function schedulesTable(rows: ScheduleRow[]): string {
  return table([
    ['SCHEDULE', 'ENVIRONMENT', 'KIND', 'SPEC', 'STATE', 'NEXT RUNS', 'LAST RUN'],
    ...rows.map((r) => [
      r.id,
      r.environment,
      r.kind,
      r.spec,
      r.paused ? 'paused' : 'active',
      r.nextRuns.slice(0, 2).map(formatTime).join(', ') || '-',
      r.lastRun ? `${formatTime(r.lastRun.takenAt)} ${r.lastRun.workflowId}` : '-',
    ]),
  ]);
}

export async function schedulesApplyCommand(opts: {
  prune?: boolean;
  json?: boolean;
  configDir?: string;
}): Promise<ExitCode> {
  const settings = loadSettings();
  const configDir = opts.configDir ?? settings.configDir;
  // Every file is loaded and checked first: one bad file changes nothing.
  const environments = loadAll(configDir);
  const results = await withClient(settings, (client) =>
    applySchedules(client, settings, environments, { prune: opts.prune === true }),
  );
  if (opts.json) {
    console.log(JSON.stringify({ configDir, results }, null, 2));
    return ExitCode.succeeded;
  }
  console.log(
    results.length ? applyTable(results) : `no environment in ${configDir} has a backups or drills section`,
  );
  if (results.some((r) => r.action === 'orphaned'))
    console.log('\norphaned schedules are left as they are; run with --prune to delete them');
  console.log(`Temporal UI: ${schedulesUiLink(settings)}`);
  return ExitCode.succeeded;
}

export async function schedulesListCommand(opts: { json?: boolean }): Promise<ExitCode> {
  const settings = loadSettings();
  const rows = await withClient(settings, (client) => listSchedules(client));
  if (opts.json) {
    console.log(
      JSON.stringify(
        { schedules: rows.map((r) => ({ ...r, uiLink: schedulesUiLink(settings, r.id) })) },
        null,
        2,
      ),
    );
    return ExitCode.succeeded;
  }
  console.log(
    rows.length
      ? schedulesTable(rows)
      : 'no backup or drill schedules (create them with deployctl schedules apply)',
  );
  console.log(`Temporal UI: ${schedulesUiLink(settings)}`);
  return ExitCode.succeeded;
}

const timeoutOption = () =>
  new Option(
    '--timeout <seconds>',
    `stop waiting after this long (default ${DEFAULT_TIMEOUT_SECONDS}); the workflow goes on`,
  );

/** backup, backups, drill, drills, emergency-deploy and schedules apply|list. */

/** `backups` and `drills`: read the worker's store through the catalog workflow. */
function catalogCommand(
  program: Command,
  name: string,
  description: string,
  run: (opts: CatalogFlags) => Promise<ExitCode>,
): void {
  program
    .command(name)
    .description(description)
    .requiredOption('-e, --env <name>', 'environment name')
    .option('--limit <n>', `show at most this many (1-1000, default ${CATALOG_DEFAULT_LIMIT})`)
    .option('--json', 'print JSON', false)
    .addHelpText(
      'after',
      '\nExit codes: 0 listed (also when there are none), 2 invalid input, 4 Temporal unreachable,\n8 no worker answered within a minute, or reading the store failed.',
    )
    .action(async (opts) => {
      process.exitCode = await run(opts);
    });
}

export function addOperationCommands(program: Command): void {
  program
    .command('backup')
    .description(
      "take a verified backup of an environment's database now: dump, copy to the worker's store, verify",
    )
    .requiredOption('-e, --env <name>', 'environment name')
    .addOption(byOption('with the operation'))
    .option('--no-wait', 'start and exit without waiting for the result')
    .option('--json', 'print one JSON document instead of progress lines', false)
    .addOption(timeoutOption())
    .addHelpText(
      'after',
      exitHelp('the backup failed (the report says why; nothing is recorded as a backup)'),
    )
    .action(async (opts) => {
      process.exitCode = await backupCommand(opts);
    });

  catalogCommand(
    program,
    'backups',
    "list an environment's verified backups in the worker's store, newest first",
    backupsCommand,
  );

  program
    .command('drill')
    .description(
      'restore drill: restore a verified backup into a scratch stack, start the release live at backup time, check the data, measure RPO and RTO against the targets, tear down',
    )
    .requiredOption('-e, --env <name>', 'environment name')
    .option('--backup <id>', 'the backup to restore (default: the latest verified one)')
    .option('--rpo-target <seconds>', "the backup's maximum age for this drill (default: the environment's)")
    .option('--rto-target <seconds>', "restore to app answering, at most (default: the environment's)")
    .addOption(byOption('with the operation'))
    .option('--no-wait', 'start and exit without waiting for the result')
    .option('--json', 'print one JSON document instead of progress lines', false)
    .addOption(timeoutOption())
    .addHelpText('after', exitHelp('the drill failed (a missed target, a data mismatch) or could not run'))
    .action(async (opts) => {
      process.exitCode = await drillCommand(opts);
    });

  catalogCommand(
    program,
    'drills',
    "list an environment's drills, newest first, with the RTO trend and pass rate",
    drillsCommand,
  );

  program
    .command('emergency-deploy')
    .description(
      'bring an environment up on a brand-new server: set it up, restore a verified backup, start the release live at backup time',
    )
    .requiredOption('-e, --env <name>', 'environment name')
    .requiredOption(
      '--host-file <file>',
      'the new server, YAML or JSON: name, address, port, user, privateKeyPath, hostKey, baseDir, env',
    )
    .option('--backup <id>', 'the backup to restore (default: the latest verified one)')
    .addOption(byOption('with the operation'))
    .option('--json', 'print one JSON document instead of progress lines', false)
    .addOption(timeoutOption())
    .addHelpText('after', exitHelp('the emergency deploy failed (the report says at which step and why)'))
    .action(async (opts) => {
      process.exitCode = await emergencyDeployCommand(opts);
    });

  const schedules = program
    .command('schedules')
    .description('Temporal Schedules of the backups and drills the environment configs ask for');
  schedules
    .command('apply')
    .description(
      'create or update one backup and one drill schedule per environment with a backups / drills section; unchanged ones are left alone',
    )
    .option(
      '--prune',
      'delete our schedules whose environment no longer asks for them (else only reported)',
      false,
    )
    .option(
      '--config-dir <dir>',
      'the environment configs (default: DEPLOY_CONFIG_DIR or config/environments)',
    )
    .option('--json', 'print JSON', false)
    .addHelpText(
      'after',
      '\nExit codes: 0 applied, 2 a config file is invalid (no schedule changed), 4 Temporal unreachable.',
    )
    .action(async (opts) => {
      process.exitCode = await schedulesApplyCommand(opts);
    });
  schedules
    .command('list')
    .description('list the backup and drill schedules: environment, kind, spec, state, next and last runs')
    .option('--json', 'print JSON', false)
    .addHelpText('after', '\nExit codes: 0 listed, 4 Temporal unreachable.')
    .action(async (opts) => {
      process.exitCode = await schedulesListCommand(opts);
    });
}
