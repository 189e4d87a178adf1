import {
  Client,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import type { SignalDefinition, UpdateDefinition } from '@temporalio/common';
import { actorSchema, releaseSchema } from '../config/request';
import { nameSchema } from '../config/schema';
import {
  workflowIdFor,
  type CanaryState,
  type ColourState,
  type DeploymentStatus,
} from '../shared/deployment';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  deploymentStatusQuery,
  pauseCanarySignal,
  promoteCanarySignal,
  resumeCanarySignal,
  type DecisionAnswer,
  type DecisionInput,
} from '../shared/messages';
import { DEPLOY_ENVIRONMENT, DEPLOY_RELEASE } from '../shared/searchAttributes';
import { workflowUiLink, type Settings } from '../shared/settings';
import { CliExit } from './cliExit';
import { ExitCode } from './exitCodes';

/** The workflow keeps at most this much of a comment; longer ones are refused before sending. */
export const COMMENT_MAX = 500;

export type CanarySignal = 'pauseCanary' | 'resumeCanary' | 'promoteCanary';
/** Every signal an operator sends with the one JSON argument {"by", "comment"}. */
export type DecisionSignal = 'approve' | 'abort' | CanarySignal;

/** `deployctl canary <action>` and the signal each action sends. */
export const CANARY_ACTIONS = {
  pause: 'pauseCanary',
  resume: 'resumeCanary',
  promote: 'promoteCanary',
} as const satisfies Record<string, CanarySignal>;

interface DecisionSpec {
  definition: SignalDefinition<[DecisionInput]>;
  /** Sent as this Update, whose answer (or refusal) the caller reads; the signal for older deployments. */
  update?: UpdateDefinition<DecisionAnswer, [DecisionInput]>;
  /** The deployctl command that sends it, as messages name it. */
  command: string;
  /** The flag that carries the free text (sent as "comment"). */
  textFlag: '--comment' | '--reason';
  /** Only a running canary takes it: its status is read before anything is sent. */
  canaryOnly: boolean;
  /** The command's one-line help. */
  description: string;
}

/** One place for what differs between the decision signals; everything else is shared. */
export const DECISIONS: Record<DecisionSignal, DecisionSpec> = {
  approve: {
    definition: approveSignal,
    update: approveUpdate,
    command: 'approve',
    textFlag: '--comment',
    canaryOnly: false,
    description:
      'approve a deployment waiting for approval (an early approval is kept until the step is reached)',
  },
  abort: {
    definition: abortSignal,
    update: abortUpdate,
    command: 'abort',
    textFlag: '--reason',
    canaryOnly: false,
    description:
      'abort a deployment: before approval it never starts; later the current step is cancelled and undone',
  },
  pauseCanary: {
    definition: pauseCanarySignal,
    command: 'canary pause',
    textFlag: '--comment',
    canaryOnly: true,
    description: 'hold a running canary at its current weight once the step under analysis is judged',
  },
  resumeCanary: {
    definition: resumeCanarySignal,
    command: 'canary resume',
    textFlag: '--comment',
    canaryOnly: true,
    description: 'let a paused canary go on with its next weight steps',
  },
  promoteCanary: {
    definition: promoteCanarySignal,
    command: 'canary promote',
    textFlag: '--comment',
    canaryOnly: true,
    description: 'send all traffic to the canary now, skipping the remaining weight steps',
  },
};

export interface DecisionFlags {
  env?: string;
  release?: string;
  id?: string;
  by?: string;
  /** The value of the signal's text flag: --comment (approve, canary) or --reason (abort). */
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
export const TEXT_FLAG = Object.fromEntries(
  Object.entries(DECISIONS).map(([signal, spec]) => [signal, spec.textFlag]),
) as Record<DecisionSignal, DecisionSpec['textFlag']>;

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
 * Validate the flags of approve, abort and the canary controls before anything is sent: who (actorSchema), the comment's
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
      `${DECISIONS[signal].command} needs --env with --release (or --id); nothing was sent`,
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
  /** What the deployment answered (approve and abort, sent as Updates); absent for a signal. */
  answer?: DecisionAnswer;
  uiLink: string;
  /** Canary controls: the deployment's stage, colours and canary as its status shows them after sending. */
  stage?: string;
  colours?: ColourState;
  canary?: CanaryState;
}

/**
 * Why a canary control must not be sent to this deployment, from its status; undefined when it is
 * a running canary that can still be steered. A canary's strategy is known once its "colours"
 * step ran; a control sent after that and before the first weight step is kept by the workflow.
 */
export function canaryRefusal(status: DeploymentStatus): string | undefined {
  const id = status.deploymentId;
  if (status.outcome !== 'running') return `deployment ${id} is not running (outcome: ${status.outcome})`;
  if (status.failure)
    return `deployment ${id} failed at "${status.failure.step}" and is being undone (${status.failure.message})`;
  const colours = status.colours;
  if (!colours)
    return `deployment ${id} is not a canary: its status shows no colours yet (stage: ${status.stage})`;
  if (colours.strategy !== 'canary')
    return `deployment ${id} is not a canary (strategy: ${colours.strategy})`;
  if (colours.reused)
    return `deployment ${id} is a switch-back to ${colours.target}: it moves all traffic at once, with no canary steps`;
  if (!colours.stable)
    return `deployment ${id} has no live colour to compare against: it moves all traffic at once, with no canary steps`;
  if (status.canary?.weight === 100)
    return `the canary of deployment ${id} is over: all traffic is on ${colours.target}`;
  return undefined;
}

async function statusOf(handle: WorkflowHandle): Promise<DeploymentStatus> {
  return handle.query(deploymentStatusQuery);
}

/**
 * Send a decision signal with its one JSON argument to a running deployment. A deployment that
 * does not exist, is not a deployEnvironment, does not match --env/--release, or has already
 * finished is invalid input: nothing is sent. The canary controls also need the deployment's
 * status to show a running canary (see canaryRefusal).
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
  const spec = DECISIONS[decision.signal];
  let status: DeploymentStatus | undefined;
  let answer: DecisionAnswer | undefined;
  try {
    if (spec.canaryOnly) {
      status = await statusOf(handle);
      const refusal = canaryRefusal(status);
      if (refusal) throw new CliExit(ExitCode.invalidInput, `${refusal}; nothing was sent`);
    }
    if (spec.update) answer = await sendUpdate(handle, spec, decision);
    else await handle.signal(spec.definition, decision.input);
  } catch (err) {
    // It finished between describe and query or signal.
    if (err instanceof WorkflowNotFoundError) throw notFound();
    throw err;
  }
  const result: DecisionResult = {
    signal: decision.signal,
    workflowId,
    runId: description.runId,
    sent: decision.input,
    ...(answer ? { answer } : {}),
    uiLink: workflowUiLink(settings, workflowId),
  };
  if (status) {
    // What the canary looks like now; the status read before sending when it cannot be read again.
    const now = await statusOf(handle).catch(() => status!);
    Object.assign(result, { stage: now.stage, colours: now.colours, canary: now.canary });
  }
  return result;
}

/**
 * The decision as an Update: the deployment's answer, or its refusal as invalid input (nothing
 * was recorded). A deployment started before the Updates existed has no handler for them: it
 * gets the signal, as before.
 */
async function sendUpdate(
  handle: WorkflowHandle,
  spec: DecisionSpec,
  decision: ParsedDecision,
): Promise<DecisionAnswer | undefined> {
  try {
    return await handle.executeUpdate(spec.update!, { args: [decision.input] });
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    const reason = err.cause?.message ?? err.message;
    if (reason.startsWith('No registered handler for update')) {
      await handle.signal(spec.definition, decision.input);
      return undefined;
    }
    throw new CliExit(ExitCode.invalidInput, `the deployment refused: ${reason}; nothing was recorded`);
  }
}
