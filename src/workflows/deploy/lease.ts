import {
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  ParentClosePolicy,
  patched,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { DeployPlan } from '../../shared/deployment';
import {
  leaveLockSignal,
  lockAnswerSignal,
  releaseLeaseSignal,
  requestLockSignal,
  type LeaseHolder,
  type LockAnswer,
  type LockRequest,
} from '../../shared/messages';
import { environmentLease } from '../environmentLease';
import { environmentLock } from '../environmentLock';

/** What the lease shows about its holder, and how the holder shows that it waits. */
export interface LeaseHolderView {
  /** The release the holder deploys (read when the lease is taken). */
  release(): string;
  /** Called each time the lease is found held by someone else. */
  waiting(): void;
}

/** How often a deployment that waits for the environment tries to take its lease again (before the queue). */
const RETRY_EVERY_MS = 5_000;

/**
 * Deployments started before this patch polled for a child lease every 5 s (about 11 history
 * events per poll); now they join the environment lock's queue and are answered by signal.
 */
export const LOCK_QUEUE_PATCH = 'environment-lock-queue';

/**
 * A lock that has not answered a request within this long is an older lease (started by a
 * deployment from before the queue, which ignores requests) or a slow worker: ask again.
 */
const ANSWER_WITHIN_MS = 10_000;

/**
 * One deployment per environment, through the environment's lock workflow (`lock-<environment>`,
 * environmentLock.ts): the deployment asks, waits for the answer by signal (granted, queued or
 * refused) until its lockWaitSeconds deadline, and lets go by signal when it ends. Deployments
 * recorded before the queue replay the older child lease (`acquireLease`).
 */
export class EnvironmentLock {
  private lease: ChildWorkflowHandle<typeof environmentLease> | undefined;
  /** The request sent to the lock, until this deployment lets go of it. */
  private request: LockRequest | undefined;
  private lockId = '';
  private answer: LockAnswer | undefined;
  private granted = false;

  constructor(private readonly holder: LeaseHolderView) {
    // Set at once: an answer that arrives while the request is still being sent is kept.
    setHandler(lockAnswerSignal, (answer) => {
      if (answer.state === 'granted') this.granted = true;
      this.answer = answer;
    });
  }

  /** Take the lock; when another deployment holds it, fail now or wait in line until the deadline. */
  async acquire(p: DeployPlan): Promise<void> {
    if (!patched(LOCK_QUEUE_PATCH)) return this.acquireLease(p);
    const { workflowId, runId } = workflowInfo();
    const environment = p.environment.name;
    const waitMs = (p.environment.deadlines.lockWaitSeconds ?? 1800) * 1000;
    const deadline = Date.now() + waitMs;
    const onBusy = p.request.onBusy === 'fail' ? 'fail' : 'wait';
    this.lockId = `lock-${environment}`;
    this.request = {
      deploymentId: workflowId,
      runId,
      release: this.holder.release(),
      requestedBy: p.request.requestedBy,
      since: new Date().toISOString(),
      onBusy,
    };
    const busy = (holder: LeaseHolder | undefined, why: string) =>
      ApplicationFailure.nonRetryable(
        `environment ${environment} is locked by another deployment (${
          holder
            ? `${holder.deploymentId}, release ${holder.release}, requested by ${holder.requestedBy} at ${holder.since}`
            : `workflow ${this.lockId} shows who`
        }); ${why}`,
        'EnvironmentBusy',
      );
    const left = () => Math.max(1, deadline - Date.now());
    for (;;) {
      await this.ask(environment, this.request);
      if (await condition(() => this.answer !== undefined, Math.min(ANSWER_WITHIN_MS, left()))) break;
      // An older lease never answers: with --on-busy fail, that is an answer.
      if (Date.now() >= deadline || onBusy === 'fail') break;
    }
    const answer = this.answer;
    if (answer?.state === 'refused') {
      this.request = undefined;
      throw busy(answer.holder, '--on-busy fail was given');
    }
    if (answer?.state === 'queued') this.holder.waiting();
    if (!this.granted && !(await condition(() => this.granted, left()))) {
      await this.release();
      // The last queued answer names the holder the deployment waited behind.
      throw busy(
        this.answer?.state === 'queued' ? this.answer.holder : undefined,
        onBusy === 'fail' ? '--on-busy fail was given' : `waited ${waitMs / 1000} s`,
      );
    }
  }

  /** Join the queue: start the lock with this request, or signal the one that runs. */
  private async ask(environment: string, request: LockRequest): Promise<void> {
    try {
      await startChild(environmentLock, {
        workflowId: this.lockId,
        args: [{ environment, first: request }],
        // The lock outlives the deployment that started it: it serves the whole queue.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        staticSummary: `Lock of ${environment}: who holds it and who waits`,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // Already running: ask it. If it ended in between, the next round starts it again.
      await getExternalWorkflowHandle(this.lockId)
        .signal(requestLockSignal, request)
        .catch(() => undefined);
    }
  }

  /** The child lease that deployments recorded before the queue took, polling every 5 s. */
  private async acquireLease(p: DeployPlan): Promise<void> {
    const { workflowId } = workflowInfo();
    const waitMs = (p.environment.deadlines.lockWaitSeconds ?? 1800) * 1000;
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        this.lease = await startChild(environmentLease, {
          workflowId: `lock-${p.environment.name}`,
          args: [
            {
              deploymentId: workflowId,
              release: this.holder.release(),
              requestedBy: p.request.requestedBy,
              since: new Date().toISOString(),
            },
          ],
          parentClosePolicy: ParentClosePolicy.TERMINATE,
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          staticSummary: `Lock of ${p.environment.name}, held by ${workflowId}`,
        });
        return;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        if (p.request.onBusy === 'fail' || Date.now() >= deadline) {
          throw ApplicationFailure.nonRetryable(
            `environment ${p.environment.name} is locked by another deployment (workflow lock-${p.environment.name} shows who)` +
              (p.request.onBusy === 'fail' ? '; --on-busy fail was given' : `; waited ${waitMs / 1000} s`),
            'EnvironmentBusy',
          );
        }
        this.holder.waiting();
        await sleep(Math.min(RETRY_EVERY_MS, Math.max(1, deadline - Date.now())));
      }
    }
  }

  /** Let the next deployment in; safe to call twice and whatever state the holder is in. */
  async release(): Promise<void> {
    if (this.request) {
      const { deploymentId, runId } = this.request;
      this.request = undefined;
      await CancellationScope.nonCancellable(() =>
        getExternalWorkflowHandle(this.lockId).signal(leaveLockSignal, { deploymentId, runId }),
      ).catch(() => undefined);
    }
    if (!this.lease) return;
    const held = this.lease;
    this.lease = undefined;
    await CancellationScope.nonCancellable(() => held.signal(releaseLeaseSignal)).catch(() => undefined);
  }
}
