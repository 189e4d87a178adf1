import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { nameSchema } from '../config/schema';
import type { DeploymentFacts, DeploymentStatus } from '../shared/deployment';
import { DEPLOY_ENVIRONMENT, DEPLOY_STATUS } from '../shared/searchAttributes';
import type { DeploymentRecord } from './dora';

/** What a listing gives of one deployment run. */
export type ListedExecution = Pick<
  WorkflowExecutionInfo,
  'workflowId' | 'runId' | 'status' | 'startTime' | 'closeTime' | 'typedSearchAttributes'
>;

/** An environment name that may not reach a visibility query: the rule it breaks. */
export class InvalidEnvironmentName extends Error {}

/**
 * The visibility query for one environment's deployments. The environment is validated with
 * nameSchema first (lowercase letters, digits, "-"), so nothing unvalidated reaches the query.
 */
export function deploymentsQuery(environment: string): string {
  const parsed = nameSchema.safeParse(environment);
  if (!parsed.success)
    throw new InvalidEnvironmentName(
      `--env: value ${JSON.stringify(environment)} ${parsed.error.issues[0]?.message ?? 'is invalid'}`,
    );
  return `WorkflowType = 'deployEnvironment' AND ${DEPLOY_ENVIRONMENT.name} = '${parsed.data}'`;
}

/** The DeployStatus search attribute; the run's own status when it closed without setting one. */
export function deploymentStatusOf(info: ListedExecution): string {
  const runStatus = info.status.name;
  const deployStatus = info.typedSearchAttributes.get(DEPLOY_STATUS);
  // A run terminated or timed out by Temporal never got to set its final DeployStatus.
  return deployStatus && !(runStatus !== 'RUNNING' && deployStatus === 'running')
    ? deployStatus
    : runStatus.toLowerCase();
}

/** The record the figures need: visibility's status and times, and the deployment's own report. */
export function deploymentRecord(
  info: ListedExecution,
  report: DeploymentFacts | undefined,
): DeploymentRecord {
  return {
    workflowId: info.workflowId,
    status: deploymentStatusOf(info),
    startTime: info.startTime.toISOString(),
    ...(info.closeTime ? { closeTime: info.closeTime.toISOString() } : {}),
    rollback: report?.rollback === true,
    ...(typeof report?.committedAt === 'string' ? { committedAt: report.committedAt } : {}),
    ...(typeof report?.changedHosts === 'boolean' ? { changedHosts: report.changedHosts } : {}),
  };
}

/**
 * A finished deployment's report, from its result or its failure's details (one read of the
 * close event); undefined for a running one, one from before reports, or one Temporal ended.
 */
async function reportOf(client: Client, info: ListedExecution): Promise<DeploymentFacts | undefined> {
  if (!info.closeTime) return undefined;
  const handle = client.workflow.getHandle(info.workflowId, info.runId);
  const status = await handle.result().then(
    (result: unknown) => result as DeploymentStatus,
    (err: unknown) =>
      err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure
        ? (err.cause.details?.[0] as DeploymentStatus | undefined)
        : undefined,
  );
  return status?.report;
}

/** A window holds at most this many deployments; a busier one is reported on its newest. */
export const REPORT_MAX_DEPLOYMENTS = 2_000;
/** Reads at once while listing: enough to be quick, few enough to spare the server. */
const CONCURRENT_READS = 8;

/** The environment's deployments started since `since` (ISO), from visibility and their results. */
export async function listDeploymentRecords(
  client: Client,
  environment: string,
  since: string,
): Promise<{ query: string; records: DeploymentRecord[]; truncated: boolean }> {
  if (Number.isNaN(Date.parse(since)) || new Date(since).toISOString() !== since)
    throw new Error(`since ${JSON.stringify(since)} must be an ISO time`);
  const query = `${deploymentsQuery(environment)} AND StartTime >= '${since}'`;
  const listed: ListedExecution[] = [];
  let truncated = false;
  for await (const info of client.workflow.list({ query, pageSize: 1000 })) {
    if (listed.length >= REPORT_MAX_DEPLOYMENTS) {
      truncated = true;
      break;
    }
    listed.push(info);
  }
  const records: DeploymentRecord[] = [];
  for (let i = 0; i < listed.length; i += CONCURRENT_READS) {
    const batch = listed.slice(i, i + CONCURRENT_READS);
    const reports = await Promise.all(batch.map((info) => reportOf(client, info)));
    batch.forEach((info, j) => records.push(deploymentRecord(info, reports[j])));
  }
  return { query, records, truncated };
}
