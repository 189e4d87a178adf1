import { appendAuditLine } from '../commands/files';
import { remoteLayout } from '../commands/layout';
import type { DeployPlan } from '../shared/deployment';
import type { RemoteHost } from '../remote/executor';
import { commandDeadlineMs } from '../remote/deadlines';

export interface AuditEntry {
  step: string;
  result: 'started' | 'succeeded' | 'failed' | 'approved' | 'aborted' | 'released' | 'overridden';
  detail?: string;
  /** Who approved or aborted, when that is not the requester (`by`). */
  decidedBy?: string;
}

/** One JSON line per event in the host's append-only audit log: what, who, when, result. */
export function auditLine(
  plan: Pick<DeployPlan, 'deploymentId' | 'request'>,
  entry: AuditEntry,
  now = new Date(),
): string {
  return JSON.stringify({
    at: now.toISOString(),
    deployment: plan.deploymentId,
    environment: plan.request.environment,
    release: plan.request.release,
    by: plan.request.requestedBy,
    ...entry,
  });
}

export async function audit(
  host: RemoteHost,
  plan: DeployPlan,
  entry: AuditEntry,
  at = new Date(),
): Promise<void> {
  const { auditLog } = remoteLayout(plan.environment, host.config);
  await host.run(appendAuditLine(auditLog, auditLine(plan, entry, at)), {
    timeoutMs: commandDeadlineMs('smallFile'),
  });
}
