import { Command, InvalidArgumentError, Option } from 'commander';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { ConfigError } from '../config/errors';
import { parseDeployRequest, requestFlagName, type DeployRequest } from '../config/request';
import { STRATEGIES } from '../config/schema';
import { workflowIdFor, type DeploymentStatus } from '../shared/deployment';
import { deploymentStatusQuery } from '../shared/messages';
import { loadSettings, workflowUiLink, type Settings } from '../shared/settings';
import { compactStamp } from '../shared/stamps';
import { ExitCode } from './exitCodes';
import { CliExit } from './cliExit';
import { connect } from './connect';
import { follow, startOrAttach, type DeployOutcome } from './deploy';
import { environmentStatusCommand } from './history';
import { byOption, wholeSeconds, workerWaitOption } from './options';
import { requireWorker } from './workerPresence';
import { annotation, appendJobSummary, inGithubActions, jobSummary, stepGroup } from './githubActions';
import { approvalWaitingMessage, formatDuration, releaseDetails, stepTable, summaryLine } from './format';

/**
 * deploy, rollback (switch-back) and status: start or attach to a deployment, follow it with
 * progress, and exit with the code its outcome means.
 */
function parseImageFlag(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0)
    throw new InvalidArgumentError(
      `"${value}" must be SERVICE=IMAGE (e.g. api=v2 or api=ghcr.io/acme/api:v2)`,
    );
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

function printOutcome(outcome: DeployOutcome, json: boolean): void {
  if (inGithubActions()) {
    const message = outcome.error ?? (outcome.status ? summaryLine(outcome.status) : outcome.workflowId);
    const note = annotation(outcome.exitCode, message, outcome.uiLink);
    if (note) (json ? console.error : console.log)(note);
    appendJobSummary(jobSummary(outcome));
  }
  if (json) {
    console.log(JSON.stringify(outcome, null, 2));
    return;
  }
  if (outcome.status) {
    console.log(`\n${stepTable(outcome.status.steps)}\n`);
    for (const line of releaseDetails(outcome.status)) console.log(line);
    console.log(summaryLine(outcome.status));
  } else if (outcome.error) {
    console.log(outcome.error);
  }
  console.log(`Temporal UI: ${outcome.uiLink}`);
}

interface WaitFlags {
  wait: boolean;
  json: boolean;
  timeout: number;
  workerWait: number;
}

function validatedRequest(input: Record<string, unknown>, source: string): DeployRequest {
  try {
    return parseDeployRequest(input, source, requestFlagName);
  } catch (err) {
    if (err instanceof ConfigError)
      throw new CliExit(ExitCode.invalidInput, `${err.message}\nnothing was started`);
    throw err;
  }
}

async function deployCommand(
  opts: WaitFlags & {
    env: string;
    release: string;
    image: Record<string, string>;
    by: string;
    commit?: string;
    onBusy?: 'wait' | 'fail';
    strategy?: string;
    overrideFreeze?: boolean;
    reason?: string;
  },
): Promise<ExitCode> {
  if (opts.overrideFreeze && opts.reason === undefined)
    throw new CliExit(
      ExitCode.invalidInput,
      '--override-freeze needs --reason "<why>" (it goes into the hosts\' audit logs)\nnothing was started',
    );
  if (!opts.overrideFreeze && opts.reason !== undefined)
    throw new CliExit(
      ExitCode.invalidInput,
      '--reason only goes with --override-freeze\nnothing was started',
    );
  const request = validatedRequest(
    {
      environment: opts.env,
      release: opts.release,
      images: opts.image ?? {},
      requestedBy: opts.by,
      ...(opts.commit !== undefined ? { commit: opts.commit } : {}),
      ...(opts.onBusy ? { onBusy: opts.onBusy } : {}),
      ...(opts.strategy ? { strategy: opts.strategy } : {}),
      ...(opts.overrideFreeze ? { overrideFreeze: { reason: opts.reason } } : {}),
    },
    'deploy flags',
  );
  return runDeployment(request, opts);
}

/** Deploy the previous good release the hosts recorded (or the one --to names): no images typed by hand. */
async function rollbackCommand(
  opts: WaitFlags & { env: string; by: string; onBusy?: 'wait' | 'fail'; to?: string },
): Promise<ExitCode> {
  const request = validatedRequest(
    {
      environment: opts.env,
      release: 'rollback',
      images: {},
      requestedBy: opts.by,
      rollback: true,
      ...(opts.to !== undefined ? { rollbackTo: opts.to } : {}),
      ...(opts.onBusy ? { onBusy: opts.onBusy } : {}),
    },
    'rollback flags',
  );
  // Each rollback is its own deployment; the release it restores is learned from the hosts.
  const stamp = compactStamp(new Date());
  const target = request.rollbackTo ? `-to-${request.rollbackTo}` : '';
  return runDeployment(request, opts, `rollback-${request.environment}${target}-${stamp}`);
}

async function runDeployment(
  request: DeployRequest,
  opts: WaitFlags,
  workflowId?: string,
): Promise<ExitCode> {
  const settings = loadSettings();
  const client = await connect(settings);
  try {
    await requireWorker(client, settings, opts.workerWait, opts.json ? console.error : console.log);
    const { handle, attached, redeploysAfter } = await startOrAttach(client, settings, request, workflowId);
    const uiLink = workflowUiLink(settings, handle.workflowId);
    if (!opts.json) {
      console.log(`${attached ? 'attached to' : 'started'} ${handle.workflowId}`);
      if (redeploysAfter)
        console.log(
          `  (a new run: release ${request.release} was deployed before, then ${redeploysAfter} replaced it)`,
        );
      console.log(`Temporal UI: ${uiLink}`);
    }
    if (!opts.wait) {
      if (opts.json) console.log(JSON.stringify({ workflowId: handle.workflowId, uiLink, attached }));
      else console.log(`not waiting; follow it with: npx deployctl status --id ${handle.workflowId} --wait`);
      return ExitCode.succeeded;
    }
    const outcome = await followPrinting(handle, settings, opts);
    outcome.attached = attached;
    printOutcome(outcome, opts.json);
    return outcome.exitCode;
  } finally {
    await client.connection.close();
  }
}

/**
 * Follow a deployment to its end, printing each step as it changes and, once, the approval
 * hint. With --json the progress and the hint go to stderr, so stdout stays one JSON document
 * and a CI log is never silent for a long step.
 */
async function followPrinting(
  handle: WorkflowHandle,
  settings: Settings,
  opts: { json: boolean; timeout: number },
): Promise<DeployOutcome> {
  const uiLink = workflowUiLink(settings, handle.workflowId);
  const progress = opts.json ? console.error : console.log;
  const printed = new Map<string, string>();
  const github = inGithubActions();
  let approvalHintShown = false;
  const onChange = (status: DeploymentStatus) => {
    const hint = approvalHintShown ? undefined : approvalWaitingMessage(status, uiLink);
    if (hint) {
      approvalHintShown = true;
      progress(hint);
    }
    for (const s of status.steps) {
      if (printed.get(s.name) === s.status) continue;
      printed.set(s.name, s.status);
      // In a GitHub Actions job a finished step is a collapsible group holding its details.
      if (github && s.status !== 'running') {
        for (const line of stepGroup(s, status)) progress(line);
        continue;
      }
      const extra = s.status === 'running' ? '' : ` ${formatDuration(s.durationMs)}`;
      progress(`  ${s.status.padEnd(11)} ${s.name}${extra}${s.detail ? `: ${s.detail}` : ''}`);
    }
  };
  const outcome = await follow(handle, settings, { timeoutMs: opts.timeout * 1000, onChange });
  // Steps that ended after the last poll are in the final status only: print them too.
  if (outcome.status) onChange(outcome.status);
  return outcome;
}

/**
 * A deployment's steps now; with --wait, followed to its end like `deploy` (for a CI job that
 * started it with --no-wait). Either way a finished deployment exits with its outcome's code.
 */
async function statusCommand(opts: {
  env: string;
  release?: string;
  id?: string;
  json: boolean;
  wait: boolean;
  timeout: number;
}): Promise<ExitCode> {
  // An environment alone: what it runs by the record of its deployments.
  if (!opts.id && !opts.release && opts.env && !opts.wait)
    return environmentStatusCommand({ env: opts.env, json: opts.json });
  const settings = loadSettings();
  const workflowId = opts.id ?? (opts.release ? workflowIdFor(opts.env, opts.release) : undefined);
  if (!workflowId)
    throw new CliExit(
      ExitCode.invalidInput,
      'status needs --env, --env with --release, or --id (--wait: a deployment)',
    );
  const client = await connect(settings);
  try {
    const handle = client.workflow.getHandle(workflowId);
    const description = await handle.describe();
    if (opts.wait) {
      if (!opts.json) console.log(`following ${workflowId} (${description.status.name})`);
      const outcome = await followPrinting(handle, settings, opts);
      printOutcome(outcome, opts.json);
      return outcome.exitCode;
    }
    const status = await handle.query(deploymentStatusQuery);
    // The finished run's result says how it ended (a failure's type included); it is there at once.
    const exitCode =
      description.status.name === 'RUNNING'
        ? ExitCode.succeeded
        : (await follow(handle, settings, { timeoutMs: 30_000 })).exitCode;
    if (opts.json) {
      console.log(
        JSON.stringify({ workflowId, runStatus: description.status.name, exitCode, status }, null, 2),
      );
    } else {
      console.log(`${workflowId}: ${description.status.name}`);
      console.log(stepTable(status.steps));
      for (const line of releaseDetails(status)) console.log(line);
      console.log(summaryLine(status));
      console.log(`Temporal UI: ${workflowUiLink(settings, workflowId)}`);
    }
    return exitCode;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new CliExit(ExitCode.invalidInput, `no deployment ${workflowId}`);
    throw err;
  } finally {
    await client.connection.close();
  }
}

/** What deploy and rollback share: who asks, what to do when busy, how to wait. */
function addDeploymentOptions(command: Command): Command {
  return command
    .addOption(byOption('in the audit trail'))
    .addOption(
      new Option(
        '--on-busy <mode>',
        'when another deployment of the environment runs: wait for it, or fail at once',
      )
        .choices(['wait', 'fail'])
        .default('wait'),
    )
    .option('--no-wait', 'start and exit without waiting for the result')
    .option('--json', 'print one JSON document on stdout (progress lines go to stderr)', false)
    .addOption(
      new Option('--timeout <seconds>', 'stop waiting after this long (the deployment continues)')
        .default(3600)
        .argParser(wholeSeconds(1)),
    )
    .addOption(workerWaitOption());
}

/** Registers deploy, rollback and status on the program. */
export function addDeployCommands(program: Command): void {
  const deploy = program
    .command('deploy')
    .description('deploy a release to an environment, or attach to the deployment of it already under way')
    .requiredOption('-e, --env <name>', 'environment name, e.g. staging')
    .requiredOption('-r, --release <id>', 'release id, e.g. the git sha')
    .option(
      '-i, --image <service=ref>',
      'image per service (repeatable): api=v2 or api=repo:tag',
      parseImageFlag,
    )
    .option('--commit <ref>', 'git sha or tag the quality gates check out (default: the release id)')
    .addOption(
      new Option(
        '--strategy <name>',
        "how the release reaches users, over the environment's own: recreate (in place), blue-green or canary (colours behind Traefik)",
      ).choices([...STRATEGIES]),
    )
    .option(
      '--override-freeze',
      "deploy although the environment's deploy windows are closed (needs --reason; audited on the hosts)",
    )
    .option('--reason <text>', 'why --override-freeze is needed');
  addDeploymentOptions(deploy).action(async (opts) => {
    process.exitCode = await deployCommand(opts);
  });

  const rollback = program
    .command('rollback')
    .alias('switch-back')
    .description(
      'deploy the previous good release the hosts recorded (no version to type), or an earlier one with --to, ' +
        'as a new deployment; inside the switch-back window of a blue-green or canary environment it only ' +
        'moves the traffic back',
    )
    .requiredOption('-e, --env <name>', 'environment name')
    .option(
      '--to <release>',
      'return to this earlier release, as recorded on the hosts when it was deployed (its images; no gates run again)',
    );
  addDeploymentOptions(rollback).action(async (opts) => {
    process.exitCode = await rollbackCommand(opts);
  });

  program
    .command('status')
    .description(
      'show the steps of a deployment (--env with --release, or --id); --wait follows it to its end; --env alone: what each host runs by its own record (release, images, who deployed it and when, read by a worker), the last deployment that succeeded and those running now',
    )
    .option('-e, --env <name>', 'environment name')
    .option('-r, --release <id>', 'release id')
    .option('--id <workflowId>', 'deployment (workflow) id')
    .option('--wait', 'follow the deployment until it ends, printing its steps (as deploy does)', false)
    .addOption(
      new Option(
        '--timeout <seconds>',
        'with --wait: stop waiting after this long (the deployment continues)',
      )
        .default(3600)
        .argParser(wholeSeconds(1)),
    )
    .option('--json', 'print JSON (with --wait: progress lines go to stderr)', false)
    .addHelpText(
      'after',
      `
Exit codes: a finished deployment's own (0 succeeded, 1 rolled back, 3 aborted, 5 failed, 6
refused, 2 invalid), 0 while it runs; with --wait, 7 when --timeout passes first. 2 also for
a deployment that does not exist, 4 Temporal unreachable. --env alone: 0 shown, 8 a host's
record could not be read (or no worker answered within 20 s).`,
    )
    .action(async (opts) => {
      process.exitCode = await statusCommand(opts);
    });
}
