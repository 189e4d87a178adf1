/**
 * The four DORA figures of one environment over a window, from its deployments as Temporal
 * visibility lists them (status, times, memo). Pure: the report command and its tests feed it.
 *
 * - Deployment frequency: changes that went live, per day of the window.
 * - Lead time: from the commit's time to the change being live (the deployment's close), for
 *   changes whose commit time is known (an environment with a repository).
 * - Change failure rate: changes that failed after changing a host (rolled back or failed) over
 *   changes that ended live or so. Refusals and failed gates changed nothing; aborts are an
 *   operator's decision; rollbacks are not changes.
 * - Time to restore: for a change the pipeline rolled back, its own duration (the environment
 *   is back on the old release when it ends); for one that failed without being undone, from
 *   its start to the end of the next deployment that succeeded (a fix or a rollback).
 */

export interface DeploymentRecord {
  workflowId: string;
  /** succeeded, rolled-back, failed, aborted, running, or Temporal's own (terminated, timed_out). */
  status: string;
  startTime: string;
  closeTime?: string;
  rollback: boolean;
  committedAt?: string;
  /** Whether a failed deployment had changed a host; unknown for those from before reports. */
  changedHosts?: boolean;
}

export interface Distribution {
  count: number;
  medianSeconds?: number;
  p90Seconds?: number;
}

export interface DoraReport {
  environment: string;
  since: string;
  until: string;
  days: number;
  deployments: {
    total: number;
    changes: number;
    rollbacks: number;
    byStatus: Record<string, number>;
  };
  deploymentFrequencyPerDay: number;
  leadTime: Distribution & { withoutCommitTime: number };
  /** null when no change ended live or failed in the window. */
  changeFailureRate: number | null;
  /** The rate's counts: changes that failed, of changes that ended live or failed. */
  changeFailures: { failed: number; of: number };
  timeToRestore: Distribution & { unrestored: number };
}

/**
 * A change that failed in production: it changed a host and then failed or was rolled back. A
 * refusal or failed gate changed nothing; a deployment from before reports that was rolled back
 * must have changed something, one that merely failed is not known to have.
 */
function isChangeFailure(r: DeploymentRecord): boolean {
  if (r.status !== 'failed' && r.status !== 'rolled-back') return false;
  return r.changedHosts ?? r.status === 'rolled-back';
}

function distribution(seconds: number[]): Distribution {
  if (seconds.length === 0) return { count: 0 };
  const sorted = [...seconds].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { count: sorted.length, medianSeconds: at(0.5), p90Seconds: at(0.9) };
}

const secondsBetween = (from: string, to: string) =>
  Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));

export function doraReport(
  environment: string,
  records: DeploymentRecord[],
  window: { since: string; until: string },
): DoraReport {
  const inWindow = records
    .filter((r) => r.startTime >= window.since && r.startTime <= window.until)
    .sort((a, b) => a.startTime.localeCompare(b.startTime));
  const changes = inWindow.filter((r) => !r.rollback);
  const byStatus: Record<string, number> = {};
  for (const r of inWindow) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  const live = changes.filter((r) => r.status === 'succeeded' && r.closeTime);
  const failedChanges = changes.filter(isChangeFailure);
  const days = Math.max(1 / 24, (Date.parse(window.until) - Date.parse(window.since)) / 86_400_000);

  const restores: number[] = [];
  let unrestored = 0;
  for (const failure of failedChanges) {
    if (failure.status === 'rolled-back' && failure.closeTime) {
      restores.push(secondsBetween(failure.startTime, failure.closeTime));
      continue;
    }
    const fixed = inWindow.find(
      (r) => r.status === 'succeeded' && r.closeTime && failure.closeTime && r.closeTime > failure.closeTime,
    );
    if (fixed) restores.push(secondsBetween(failure.startTime, fixed.closeTime!));
    else unrestored += 1;
  }

  const decided = live.length + failedChanges.length;
  return {
    environment,
    since: window.since,
    until: window.until,
    days: Math.round(days * 100) / 100,
    deployments: {
      total: inWindow.length,
      changes: changes.length,
      rollbacks: inWindow.length - changes.length,
      byStatus,
    },
    deploymentFrequencyPerDay: Math.round((live.length / days) * 100) / 100,
    leadTime: {
      ...distribution(
        live.filter((r) => r.committedAt).map((r) => secondsBetween(r.committedAt!, r.closeTime!)),
      ),
      withoutCommitTime: live.filter((r) => !r.committedAt).length,
    },
    changeFailureRate: decided === 0 ? null : Math.round((failedChanges.length / decided) * 1000) / 1000,
    changeFailures: { failed: failedChanges.length, of: decided },
    timeToRestore: { ...distribution(restores), unrestored },
  };
}
