import { Command } from 'commander';
import { loadSettings } from '../shared/settings';
import { ExitCode } from './exitCodes';
import { connect } from './connect';
import {
  CANARY_ACTIONS,
  DECISIONS,
  parseDecision,
  sendDecision,
  type DecisionResult,
  type DecisionSignal,
} from './decision';
import { canaryLine, canaryTable, coloursLine } from './format';

/** approve, abort and canary pause|resume|promote: the operators' decisions, sent as signals. */
async function decisionCommand(
  signal: DecisionSignal,
  opts: {
    env?: string;
    release?: string;
    id?: string;
    by?: string;
    comment?: string;
    reason?: string;
    json: boolean;
  },
): Promise<ExitCode> {
  // Validated before connecting: bad input never reaches Temporal.
  const decision = parseDecision(signal, {
    ...opts,
    text: DECISIONS[signal].textFlag === '--reason' ? opts.reason : opts.comment,
  });
  const settings = loadSettings();
  const client = await connect(settings);
  try {
    const result = await sendDecision(client, settings, decision);
    if (opts.json) {
      console.log(JSON.stringify(result, null, 2));
    } else {
      console.log(
        result.answer
          ? `${result.workflowId}: ${result.answer.effect} (${result.answer.decision} by ${result.answer.by} at ${result.answer.at})`
          : `sent ${signal} ${JSON.stringify(result.sent)} to ${result.workflowId}`,
      );
      if (DECISIONS[signal].canaryOnly) for (const line of canaryNow(result)) console.log(line);
      console.log(`Temporal UI: ${result.uiLink}`);
    }
    return ExitCode.succeeded;
  } finally {
    await client.connection.close();
  }
}

/** After a canary control: the colours, the canary's weight and its analysed steps so far. */
function canaryNow(result: DecisionResult): string[] {
  const lines = result.colours ? [coloursLine(result.colours)] : [];
  if (!result.canary) return [...lines, `canary: no weight step yet (stage: ${result.stage})`];
  lines.push(canaryLine(result.canary));
  lines.push(result.canary.steps.length ? canaryTable(result.canary.steps) : 'no canary step analysed yet');
  return lines;
}

function decisionHelp(signal: DecisionSignal): string {
  const sends = `
Sends the "${signal}" signal with one JSON argument {"by": "<who>", "comment": "<text>"}, the same
as the Temporal UI's "Send a Signal".`;
  if (!DECISIONS[signal].canaryOnly)
    return `
Sends "${signal}" with one JSON argument {"by": "<who>", "comment": "<text>"} as an Update: the
deployment checks it and answers what it recorded, or refuses it with the reason (malformed, an
approver not in approval.approvers, nothing left to decide) and records nothing. A deployment
started before Updates existed gets the "${signal}" signal, as the Temporal UI's "Send a Signal"
sends it. Exit codes: 0 recorded, 2 invalid input, refused, or no such running deployment
(nothing recorded), 4 Temporal unreachable.`;
  return `${sends} Sent only to a running canary: the deployment's status
must show strategy canary, a live colour to compare against and a weight below 100 %. Prints
what was sent, the colours, the canary's weight and its analysed steps. Exit codes: 0 sent,
2 invalid input, no such running deployment or not a canary (nothing sent), 4 Temporal unreachable.`;
}

/** approve, abort and canary pause|resume|promote: one set of flags, one validation, one sender. */
function addDecisionCommand(parent: Command, name: string, signal: DecisionSignal): void {
  const { textFlag, canaryOnly, description } = DECISIONS[signal];
  parent
    .command(name)
    .description(description)
    .option('-e, --env <name>', 'environment name')
    .option('-r, --release <id>', 'release id')
    .option('--id <workflowId>', 'deployment (workflow) id, instead of --env with --release')
    .option('--by <name>', 'who decides (required; recorded in the deployment and the audit trail)')
    .option(
      `${textFlag} <text>`,
      `${textFlag === '--reason' ? 'the reason' : 'why'} (at most 500 characters, recorded with the decision)`,
    )
    .option('--json', `print what was sent${canaryOnly ? ' and the canary' : ''} as JSON`, false)
    .addHelpText('after', decisionHelp(signal))
    .action(async (opts) => {
      process.exitCode = await decisionCommand(signal, opts);
    });
}

/** Registers approve, abort and the canary actions on the program. */
export function addDecisionCommands(program: Command): void {
  addDecisionCommand(program, 'approve', 'approve');
  addDecisionCommand(program, 'abort', 'abort');

  const canary = program
    .command('canary')
    .description('steer a running canary deployment: pause, resume or promote it')
    .addHelpText(
      'after',
      `
Each action takes the flags of approve:
  deployctl canary pause|resume|promote (--env <name> --release <id> | --id <workflowId>)
    --by <name> [--comment <text>] [--json]

A pause holds the current weight once the step under analysis is judged; resume goes on;
promote sends all traffic to the new release now. "deployctl canary <action> --help" for more.`,
    );
  for (const [action, signal] of Object.entries(CANARY_ACTIONS)) addDecisionCommand(canary, action, signal);
}
