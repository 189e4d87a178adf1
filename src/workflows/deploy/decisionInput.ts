import { patched } from '@temporalio/workflow';
import type { Decision } from '../../shared/deployment';
import { ACTOR_PATTERN, ACTOR_RULE, type DecisionInput } from '../../shared/messages';

/**
 * Deployments started before this patch took any non-empty `by` (trimmed, cut at 64) and any
 * comment: a name with a NUL byte was recorded as an approver. Now both follow the CLI's rules.
 */
export const STRICT_DECISION_INPUT = 'strict-decision-input';

/** C0 controls and DEL, but a comment may span lines and hold tabs. */
const hasControl = (text: string) =>
  [...text].some((c) => {
    const code = c.charCodeAt(0);
    return (code < 0x20 && c !== '\n' && c !== '\t') || code === 0x7f;
  });

/**
 * A decision from a signal's argument (the Web UI's or deployctl's), or why it was ignored:
 * the reason goes to the status's ignoredSignals, so the operator sees it in the UI.
 */
export function decisionFrom(
  signal: string,
  input: DecisionInput,
): { decision: Decision } | { ignored: string } {
  if (patched(STRICT_DECISION_INPUT)) return strictDecisionFrom(signal, input);
  const at = new Date().toISOString();
  const rawBy: unknown = input?.by;
  const by = typeof rawBy === 'string' ? rawBy.trim().slice(0, 64) : '';
  if (!by) return { ignored: `${signal} at ${at}: argument must be {"by": "<who>", ...}` };
  const comment = typeof input.comment === 'string' ? input.comment.slice(0, 500) : undefined;
  return { decision: { by, comment, at } };
}

/**
 * The CLI's rules for a decision's argument, without a patch check: what Updates (which came
 * after the patch) use, also in their validators, where nothing may be recorded.
 */
export function strictDecisionFrom(
  signal: string,
  input: DecisionInput,
): { decision: Decision } | { ignored: string } {
  const at = new Date().toISOString();
  const rawBy: unknown = input?.by;
  if (typeof rawBy !== 'string' || rawBy === '')
    return { ignored: `${signal} at ${at}: argument must be {"by": "<who>", ...}` };
  if (!ACTOR_PATTERN.test(rawBy))
    return {
      ignored: `${signal} at ${at}: "by" ${JSON.stringify(rawBy.slice(0, 80))} must be ${ACTOR_RULE}`,
    };
  const comment: unknown = input.comment;
  if (comment !== undefined && (typeof comment !== 'string' || comment.length > 500 || hasControl(comment)))
    return {
      ignored: `${signal} at ${at}: "comment" must be text of at most 500 characters without control characters`,
    };
  return { decision: { by: rawBy, comment, at } };
}

/** The keys a decision's argument may have: the CLI sends exactly these. */
const DECISION_KEYS: readonly string[] = ['by', 'comment'];

/**
 * Why an Update's argument has keys a decision does not know (the Web UI sends any JSON), or
 * undefined. Only the Updates' validators ask: refusing there records nothing, while a signal's
 * handler that started to refuse would change what recorded histories replay to.
 */
export function unknownDecisionKeys(name: string, input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return undefined;
  const unknown = Object.keys(input).filter((key) => !DECISION_KEYS.includes(key));
  if (!unknown.length) return undefined;
  const shown = unknown.map((key) => JSON.stringify(key.slice(0, 40))).join(', ');
  return `${name}: unknown key(s) ${shown} are not allowed: the argument is {"by": "<who>", "comment": "<text>"}`;
}
