import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  sleep,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { DeployPlan } from '../../shared/deployment';
import { releaseLeaseSignal } from '../../shared/messages';
import { environmentLease } from '../environmentLease';

/** What the lease shows about its holder, and how the holder shows that it waits. */
export interface LeaseHolderView {
  /** The release the holder deploys (read when the lease is taken). */
  release(): string;
  /** Called each time the lease is found held by someone else. */
  waiting(): void;
}

/** How often a deployment that waits for the environment tries to take its lease again. */
const RETRY_EVERY_MS = 5_000;

/**
 * One deployment per environment: the environment's lease is a child workflow with a fixed
 * id (`lock-<environment>`), so starting it is the atomic "acquire", and Temporal ends it
 * with its holder however the holder ends.
 */
export class EnvironmentLock {
  private lease: ChildWorkflowHandle<typeof environmentLease> | undefined;

  constructor(private readonly holder: LeaseHolderView) {}

  /** Take the lease; when another deployment holds it, fail now or retry until the deadline. */
  async acquire(p: DeployPlan): Promise<void> {
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
    if (!this.lease) return;
    const held = this.lease;
    this.lease = undefined;
    await CancellationScope.nonCancellable(() => held.signal(releaseLeaseSignal)).catch(() => undefined);
  }
}
