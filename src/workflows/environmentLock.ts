import {
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createLockActivities } from '../activities/locks';
import type { createDecisionActivities } from '../activities/decisions';
import {
  leaveLockSignal,
  lockAnswerSignal,
  lockStateQuery,
  requestLockSignal,
  type LeaseHolder,
  type LockAnswer,
  type LockRequest,
  type LockState,
} from '../shared/messages';
import { activityPolicies } from './activityPolicies';

type LockActivities = ReturnType<typeof createLockActivities>;
const { awaitWorkflowClosed } = proxyActivities<LockActivities>(activityPolicies.awaitWorkflowClosed);
const { workflowRunning } = proxyActivities<LockActivities>(activityPolicies.workflowRunning);
const { auditForcedRelease } = proxyActivities<ReturnType<typeof createDecisionActivities>>(
  activityPolicies.auditForcedRelease,
);

/**
 * Locks started before this patch kept a forced release in their state and history only; the
 * hosts' audit.log did not say that an operator took the lock from a running deployment.
 */
export const FORCED_RELEASE_AUDITED_PATCH = 'forced-release-audited';

/** The lock starts afresh (continue-as-new, state carried over) before its history grows past this. */
export const MAX_LOCK_EVENTS = 2_000;

export interface EnvironmentLockInput {
  environment: string;
  /** The request that started the lock (its first requester starts it as a child). */
  first?: LockRequest;
  /** State carried over from the previous run. */
  holder?: LockState['holder'];
  waiting?: LockRequest[];
  forced?: LockState['forced'];
}

type Message =
  | { kind: 'request'; request: LockRequest }
  | { kind: 'leave'; runId: string; by?: string; reason?: string }
  | { kind: 'holder closed'; runId: string };

/** Forced releases the lock keeps in its state (and carries over when it starts afresh). */
const FORCED_KEPT = 20;

/**
 * The lock of one environment (workflow id `lock-<environment>`): one holder, the others
 * queued in the order they asked. Requesters ask by signal and are answered by signal (granted,
 * queued behind whom, or refused with `--on-busy fail`), so a deployment waiting a day for the
 * lock adds a handful of events to its history, not one per poll. The holder lets go by signal;
 * if it ends without doing so (terminated, timed out, its worker gone for good), the lock's watch
 * on it sees the run closed and hands the lock on. A holder keeps the lock for as long as it
 * runs: nothing expires under a live one. The lock runs only while someone holds or waits.
 */
export async function environmentLock(input: EnvironmentLockInput): Promise<void> {
  const state: LockState = {
    holder: input.holder,
    waiting: [...(input.waiting ?? [])],
    ...(input.forced ? { forced: input.forced } : {}),
  };
  const inbox: Message[] = input.first ? [{ kind: 'request', request: input.first }] : [];
  let watch: CancellationScope | undefined;
  // Audit lines being written: the lock hands over at once, and ends only once they are done.
  const audits: Promise<unknown>[] = [];

  setHandler(lockStateQuery, () => state, {
    description: 'Who holds this environment since when, and who waits, in order',
  });
  setHandler(requestLockSignal, (request) => void inbox.push({ kind: 'request', request }), {
    description: 'Ask for the lock (sent by deployments)',
  });
  setHandler(
    leaveLockSignal,
    ({ runId, by, reason }) =>
      void inbox.push(
        typeof by === 'string' && typeof reason === 'string'
          ? { kind: 'leave', runId, by: by.slice(0, 64), reason: reason.slice(0, 500) }
          : { kind: 'leave', runId },
      ),
    {
      description:
        'Let go of the lock, or stop waiting for it (sent by deployments); with "by" and "reason", an operator forcing it (deployctl lock release)',
    },
  );

  /** False when the requester is gone (it ended while waiting). */
  const answer = async (to: LockRequest, message: LockAnswer): Promise<boolean> => {
    try {
      await getExternalWorkflowHandle(to.deploymentId, to.runId).signal(lockAnswerSignal, message);
      return true;
    } catch (err) {
      if (isCancellation(err)) throw err;
      return false;
    }
  };

  const watchHolder = (holder: LockRequest): void => {
    const scope = new CancellationScope();
    watch = scope;
    scope
      .run(() => awaitWorkflowClosed(runOf(holder)))
      .then(
        () => void inbox.push({ kind: 'holder closed', runId: holder.runId }),
        () => undefined, // cancelled: the holder let go
      );
  };

  const letGo = (runId: string): void => {
    if (state.holder?.runId === runId) {
      watch?.cancel();
      watch = undefined;
      state.holder = undefined;
    }
  };

  const take = async (message: Message): Promise<void> => {
    if (message.kind !== 'request') {
      const holder = state.holder;
      if (message.kind === 'leave' && message.by && message.reason && holder?.runId === message.runId) {
        const forced = {
          holder: holderView(holder),
          by: message.by,
          reason: message.reason,
          at: new Date().toISOString(),
        };
        state.forced = [...(state.forced ?? []), forced].slice(-FORCED_KEPT);
        if (patched(FORCED_RELEASE_AUDITED_PATCH))
          // A host that cannot be written to does not keep the lock: the release stands.
          audits.push(auditForcedRelease({ environment: input.environment, forced }).catch(() => undefined));
      }
      letGo(message.runId);
      if (message.kind === 'leave') state.waiting = state.waiting.filter((w) => w.runId !== message.runId);
      return;
    }
    const { request } = message;
    if (state.holder?.runId === request.runId) {
      await answer(request, { state: 'granted' });
      return;
    }
    // Before refusing, make sure the holder still runs: one terminated a moment ago is not seen
    // by the watch yet, and refusing on its behalf would be wrong.
    const holder = state.holder;
    if (holder && request.onBusy === 'fail' && !(await workflowRunning(runOf(holder)))) letGo(holder.runId);
    const ahead = state.holder ?? state.waiting.find((w) => w.runId !== request.runId);
    if (ahead && request.onBusy === 'fail') {
      await answer(request, { state: 'refused', holder: holderView(ahead) });
      return;
    }
    if (!state.waiting.some((w) => w.runId === request.runId)) state.waiting.push(request);
    if (!ahead) return; // granted below
    const position = state.waiting.findIndex((w) => w.runId === request.runId) + 1;
    if (!(await answer(request, { state: 'queued', holder: holderView(ahead), position })))
      state.waiting = state.waiting.filter((w) => w.runId !== request.runId);
  };

  const grantNext = async (): Promise<void> => {
    while (!state.holder && state.waiting.length > 0) {
      const next = state.waiting.shift()!;
      state.holder = { ...next, grantedAt: new Date().toISOString() };
      if (await answer(next, { state: 'granted' })) watchHolder(next);
      else state.holder = undefined;
    }
  };

  if (state.holder) watchHolder(state.holder);
  for (;;) {
    // Free and nobody waiting: the lock ends, and the next request starts it again.
    if (!state.holder && state.waiting.length === 0 && inbox.length === 0) {
      await Promise.all(audits.splice(0));
      if (inbox.length === 0) return;
      continue;
    }
    await condition(() => inbox.length > 0 || (!state.holder && state.waiting.length > 0));
    while (inbox.length > 0) await take(inbox.shift()!);
    await grantNext();
    const info = workflowInfo();
    if (inbox.length === 0 && (info.continueAsNewSuggested || info.historyLength > MAX_LOCK_EVENTS)) {
      // Audit lines in flight finish first; a message that came meanwhile is taken before moving on.
      await Promise.all(audits.splice(0));
      if (inbox.length > 0) continue;
      watch?.cancel();
      await continueAsNew<typeof environmentLock>({
        environment: input.environment,
        holder: state.holder,
        waiting: state.waiting,
        forced: state.forced,
      });
    }
  }
}

function holderView({ deploymentId, release, requestedBy, since }: LeaseHolder): LeaseHolder {
  return { deploymentId, release, requestedBy, since };
}

function runOf(holder: LockRequest): { workflowId: string; runId: string } {
  return { workflowId: holder.deploymentId, runId: holder.runId };
}
