import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { actorSchema, releaseSchema } from '../config/request';
import { nameSchema } from '../config/schema';
import { workflowIdFor } from '../shared/deployment';
import { abortSignal, approveSignal, type DecisionInput } from '../shared/messages';
import { DEPLOY_ENVIRONMENT, DEPLOY_RELEASE } from '../shared/searchAttributes';
import { workflowUiLink, type Settings } from '../shared/settings';
import { CliExit } from './cliExit';
import { ExitCode } from './exitCodes';

/** The workflow keeps at most this much of a comment; longer ones are refused before sending. */
export const COMMENT_MAX = 500;

export type DecisionSignal = 'approve' | 'abort';

export interface DecisionFlags {
  env?: string;
  release?: string;
  id?: string;
  by?: string;
  /** --comment (approve) or --reason (abort). */
  text?: string;
}

export interface ParsedDecision {
  signal: DecisionSignal;
  workflowId: string;
  /** Checked against the deployment's search attributes when --id is given as well. */
  environment?: string;
  release?: string;
  input: DecisionInput;
}

/** The flag that carries the free text for each signal. */
export const TEXT_FLAG: Record<DecisionSignal, string> = { approve: '--comment', abort: '--reason' };

function shown(value: string): string {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}..." (${value.length} characters)` : text;
}

function invalid(flag: string, value: string | undefined, rule: string): CliExit {
  const what = value === undefined ? 'is missing:' : `value ${shown(value)}`;
  return new CliExit(ExitCode.invalidInput, `${flag}: ${what} ${rule}; nothing was sent`);
}

function check(flag: string, value: string, schema: typeof nameSchema): string {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalid(flag, value, parsed.error.issues[0]?.message ?? 'is invalid');
  return parsed.data;
}

/**
 * Validate approve/abort flags before anything is sent: who (actorSchema), the comment's
 * length, and which deployment (--id, or --env with --release). Throws CliExit(invalidInput)
 * with a message naming the flag, the value and the rule.
 */
export function parseDecision(signal: DecisionSignal, flags: DecisionFlags): ParsedDecision {
  const textFlag = TEXT_FLAG[signal];
  if (flags.by === undefined) throw invalid('--by', undefined, 'must name who decides (a user name)');
  // actorSchema's message names the alphabet; its length limit (64) is said here.
  if (flags.by.length > 64) throw invalid('--by', flags.by, 'must be a user name of at most 64 characters');
  const by = check('--by', flags.by, actorSchema);
  let comment: string | undefined;
  if (flags.text !== undefined) {
    if (flags.text.length > COMMENT_MAX)
      throw invalid(textFlag, flags.text, `must be at most ${COMMENT_MAX} characters`);
    comment = flags.text.trim() || undefined;
  }
  const environment = flags.env === undefined ? undefined : check('--env', flags.env, nameSchema);
  const release = flags.release === undefined ? undefined : check('--release', flags.release, releaseSchema);
  let workflowId: string;
  if (flags.id !== undefined) {
    // eslint-disable-next-line no-control-regex
    if (!flags.id || flags.id.length > 255 || /[\u0000-\u001f\u007f]/.test(flags.id))
      throw invalid('--id', flags.id, 'must be a workflow id of 1 to 255 printable characters');
    workflowId = flags.id;
  } else if (environment !== undefined && release !== undefined) {
    workflowId = workflowIdFor(environment, release);
  } else {
    throw new CliExit(
      ExitCode.invalidInput,
      `${signal} needs --env with --release (or --id); nothing was sent`,
    );
  }
  const input: DecisionInput = comment === undefined ? { by } : { by, comment };
  return { signal, workflowId, environment, release, input };
}

export interface DecisionResult {
  signal: DecisionSignal;
  workflowId: string;
  runId: string;
  sent: DecisionInput;
  uiLink: string;
}

/**
 * Send approve/abort with its one JSON argument to a running deployment. A deployment that does
 * not exist, is not a deployEnvironment, does not match --env/--release, or has already finished
 * is invalid input: nothing is sent.
 */
export async function sendDecision(
  client: Client,
  settings: Settings,
  decision: ParsedDecision,
): Promise<DecisionResult> {
  const { workflowId } = decision;
  const notFound = () =>
    new CliExit(
      ExitCode.invalidInput,
      `no deployment ${workflowId} in namespace ${settings.namespace} at ${settings.temporalAddress}` +
        ` (check --env/--release, or list them with: deployctl history --env <name>); nothing was sent`,
    );
  const handle = client.workflow.getHandle(workflowId);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw notFound();
    throw err;
  }
  if (description.type !== 'deployEnvironment')
    throw new CliExit(
      ExitCode.invalidInput,
      `${workflowId} is a ${description.type} workflow, not a deployment; nothing was sent`,
    );
  const attrs = description.typedSearchAttributes;
  for (const [flag, expected, key] of [
    ['--env', decision.environment, DEPLOY_ENVIRONMENT],
    ['--release', decision.release, DEPLOY_RELEASE],
  ] as const) {
    const actual = attrs.get(key);
    if (expected !== undefined && actual !== undefined && actual !== expected)
      throw new CliExit(
        ExitCode.invalidInput,
        `${workflowId} deploys ${key.name}=${actual}, not ${flag} ${expected}; nothing was sent`,
      );
  }
  if (description.status.name !== 'RUNNING')
    throw new CliExit(
      ExitCode.invalidInput,
      `deployment ${workflowId} has already finished (${description.status.name}); nothing was sent`,
    );
  const definition = decision.signal === 'approve' ? approveSignal : abortSignal;
  try {
    await handle.signal(definition, decision.input);
  } catch (err) {
    // It finished between describe and signal.
    if (err instanceof WorkflowNotFoundError) throw notFound();
    throw err;
  }
  return {
    signal: decision.signal,
    workflowId,
    runId: description.runId,
    sent: decision.input,
    uiLink: workflowUiLink(settings, workflowId),
  };
}
