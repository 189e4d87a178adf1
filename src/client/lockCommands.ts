import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { leaveLockSignal, lockStateQuery, type LeaseHolder, type LockState } from '../shared/messages';
import { loadSettings, workflowUiLink, type Settings } from '../shared/settings';
import { CliExit } from './cliExit';
import { withClient } from './connect';
import { ExitCode } from './exitCodes';
import { invalidFlag, parseBy, parseEnvFlag } from './operationInput';
import { byOption } from './options';

export const REASON_MAX = 500;

/** What `lock status` shows: free, or the holder and the waiters in order, with the lock's link. */
export interface LockView extends LockState {
  environment: string;
  free: boolean;
  uiLink?: string;
}

/** --by and --reason of `lock release`: a user name, and why, in printable text. */
export function parseForce(by: string, reason: string): { by: string; reason: string } {
  const who = parseBy(by, 'nothing was sent');
  const why = reason.trim();
  // eslint-disable-next-line no-control-regex
  if (!why || why.length > REASON_MAX || /[\u0000-\u001f\u007f]/.test(why))
    throw invalidFlag(
      '--reason',
      reason,
      `must say why, in 1 to ${REASON_MAX} characters without control characters`,
      'nothing was sent',
    );
  return { by: who, reason: why };
}

export async function readLock(client: Client, settings: Settings, environment: string): Promise<LockView> {
  const handle = client.workflow.getHandle(`lock-${environment}`);
  try {
    const { status, runId } = await handle.describe();
    if (status.name !== 'RUNNING') return { environment, free: true, waiting: [] };
    const state = await handle.query(lockStateQuery);
    return {
      environment,
      free: !state.holder && state.waiting.length === 0,
      ...state,
      uiLink: workflowUiLink(settings, handle.workflowId, runId),
    };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { environment, free: true, waiting: [] };
    throw err;
  }
}

const who = (h: LeaseHolder) =>
  `${h.deploymentId} (release ${h.release}, by ${h.requestedBy}, asked ${h.since})`;

export function lockLines(view: LockView): string[] {
  if (!view.holder && view.waiting.length === 0) return [`lock of ${view.environment}: free`];
  const lines = [
    view.holder
      ? `lock of ${view.environment}: held by ${who(view.holder)} since ${view.holder.grantedAt}`
      : `lock of ${view.environment}: being handed to the first waiter`,
    ...(view.waiting.length
      ? ['waiting, in order:', ...view.waiting.map((w, i) => `  ${i + 1}. ${who(w)}`)]
      : ['nobody waits']),
  ];
  for (const f of view.forced ?? [])
    lines.push(`forced open at ${f.at} by ${f.by} (${f.reason}), from ${who(f.holder)}`);
  if (view.uiLink) lines.push(`Temporal UI: ${view.uiLink}`);
  return lines;
}

async function statusCommand(opts: { env: string; json: boolean }): Promise<ExitCode> {
  const environment = parseEnvFlag(opts.env, 'nothing was sent');
  const settings = loadSettings();
  const view = await withClient(settings, (client) => readLock(client, settings, environment));
  console.log(opts.json ? JSON.stringify(view, null, 2) : lockLines(view).join('\n'));
  return ExitCode.succeeded;
}

/** How long `lock release` waits to see the lock change hands. */
const RELEASE_SEEN_WITHIN_MS = 15_000;

async function releaseCommand(opts: {
  env: string;
  by: string;
  reason: string;
  json: boolean;
}): Promise<ExitCode> {
  const environment = parseEnvFlag(opts.env, 'nothing was sent');
  const force = parseForce(opts.by, opts.reason);
  const settings = loadSettings();
  return withClient(settings, async (client) => {
    const before = await readLock(client, settings, environment);
    const holder = before.holder;
    if (!holder) {
      throw new CliExit(ExitCode.refused, `the lock of ${environment} has no holder: nothing was released`);
    }
    await client.workflow
      .getHandle(`lock-${environment}`)
      .signal(leaveLockSignal, { deploymentId: holder.deploymentId, runId: holder.runId, ...force });
    const deadline = Date.now() + RELEASE_SEEN_WITHIN_MS;
    let after = before;
    while (after.holder?.runId === holder.runId) {
      if (Date.now() > deadline)
        throw new CliExit(
          ExitCode.stillRunning,
          `sent the release to lock-${environment}, but ${holder.deploymentId} still holds it after ${RELEASE_SEEN_WITHIN_MS / 1000} s (is a worker running?)`,
        );
      await new Promise((r) => setTimeout(r, 200));
      after = await readLock(client, settings, environment);
    }
    if (opts.json) console.log(JSON.stringify({ released: holder, ...force, lock: after }, null, 2));
    else {
      console.log(
        `released the lock of ${environment} from ${who(holder)}: ${force.reason} (by ${force.by})`,
      );
      console.log(
        `${holder.deploymentId} still runs: abort it (deployctl abort --id ${holder.deploymentId}) if it must stop.`,
      );
      for (const line of lockLines(after)) console.log(line);
    }
    return ExitCode.succeeded;
  });
}

/** `deployctl lock status|release`: the environment lock that lets one deployment run at a time. */
export function addLockCommands(program: Command): void {
  const lock = program
    .command('lock')
    .description(
      "an environment's lock (one deployment at a time): who holds it, who waits, and forcing it open",
    );
  lock
    .command('status')
    .description('who holds the lock of an environment since when, and who waits for it, in order')
    .requiredOption('-e, --env <name>', 'environment name')
    .option('--json', 'print JSON', false)
    .addHelpText('after', '\nExit codes: 0 shown (free or held), 2 invalid input, 4 Temporal unreachable.')
    .action(async (opts) => {
      process.exitCode = await statusCommand(opts);
    });
  lock
    .command('release')
    .description(
      "take the lock from its holder while it still runs (a deployment stuck at a step): the next waiter gets it at once. Who and why are kept in the lock and in every host's audit.log; the holder is not stopped",
    )
    .requiredOption('-e, --env <name>', 'environment name')
    .requiredOption('--reason <text>', 'why (kept with the release)')
    .addOption(byOption("in the lock's state and history"))
    .option('--json', 'print JSON', false)
    .addHelpText(
      'after',
      '\nExit codes: 0 released, 2 invalid input, 4 Temporal unreachable, 6 nobody holds the lock, 7 the release was not seen in time.',
    )
    .action(async (opts) => {
      process.exitCode = await releaseCommand(opts);
    });
}
