import { condition, setHandler } from '@temporalio/workflow';
import { leaseHolderQuery, releaseLeaseSignal, type LeaseHolder } from '../shared/messages';

/** A deployment never runs longer than this; a lease outliving it would be a bug, so it ends. */
export const MAX_LEASE_MS = 7 * 24 * 3600 * 1000;

/**
 * The lock of one environment: a child workflow with the fixed id `lock-<environment>`.
 * Temporal allows one running workflow per id, so starting it is the atomic "acquire".
 * It is started with parentClosePolicy TERMINATE: when the deployment that holds it ends
 * in any way (completed, failed, terminated by an operator, timed out), the server ends
 * the lease too. A killed CI job or a crashed worker cannot leave a stale lock behind.
 */
export async function environmentLease(holder: LeaseHolder): Promise<LeaseHolder> {
  let released = false;
  setHandler(leaseHolderQuery, () => holder, { description: 'The deployment holding this environment' });
  setHandler(
    releaseLeaseSignal,
    () => {
      released = true;
    },
    { description: 'Release the lock (sent by the holder when it is done)' },
  );
  await condition(() => released, MAX_LEASE_MS);
  return holder;
}
