import {
  ActivityFailure,
  ApplicationFailure,
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { CatalogInput, CatalogResult } from '../shared/catalog';
import type { DrillReport } from '../shared/drills';
import type { OperationStatus } from '../shared/operations';
import { operationStatusQuery, WorkflowType } from '../shared/messages';
import { DEPLOY_ENVIRONMENT, DEPLOY_STAGE, DEPLOY_STATUS } from '../shared/searchAttributes';
import { workflowUiLink, type Settings } from '../shared/settings';
import { ExitCode, operationExitCode } from './exitCodes';
import { followWorkflow } from './follow';
import { readThroughWorker } from './workerRead';

export type OperationWorkflow =
  typeof WorkflowType.backup | typeof WorkflowType.drill | typeof WorkflowType.emergencyDeploy;

/**
 * Start a backup, drill or emergency deploy by name (the client never imports workflow code),
 * with the same search attributes and summary a deployment gets, so the UI lists them alike.
 * A second start with the same id in the same second attaches to the first instead of failing.
 */
export async function startOperation<I extends { environment: string }>(
  client: Client,
  settings: Settings,
  workflowType: OperationWorkflow,
  workflowId: string,
  input: I,
  summary: string,
): Promise<WorkflowHandle> {
  return client.workflow.start(workflowType, {
    taskQueue: settings.taskQueue,
    workflowId,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: summary,
    typedSearchAttributes: [
      { key: DEPLOY_ENVIRONMENT, value: input.environment },
      { key: DEPLOY_STAGE, value: 'queued' },
      { key: DEPLOY_STATUS, value: 'running' },
    ],
  });
}

export interface OperationOutcome<R> {
  exitCode: ExitCode;
  outcome: 'succeeded' | 'failed' | 'still-running';
  workflowId: string;
  uiLink: string;
  /** The workflow's result; for a failed drill, the report its failure carries. */
  report?: R;
  /** The last status seen: from the failure's details, else the last answer of the query. */
  status?: OperationStatus;
  failureType?: string;
  error?: string;
}

function isOperationStatus(value: unknown): value is OperationStatus {
  return !!value && typeof value === 'object' && 'kind' in value && 'steps' in value && 'outcome' in value;
}

function isDrillReport(value: unknown): value is DrillReport {
  return !!value && typeof value === 'object' && 'passed' in value && 'failures' in value;
}

/**
 * The ApplicationFailure that ended a workflow: the one it raised, or the one its activity
 * raised when the workflow let that activity's failure end it.
 */
export function workflowFailure(err: WorkflowFailedError): ApplicationFailure | undefined {
  const cause = err.cause instanceof ActivityFailure ? err.cause.cause : err.cause;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

const FINAL_QUERY_MS = 3000;

/**
 * Wait for the result while polling the status query; `onStatus` sees each new answer so the
 * caller can print steps as they finish. The wait has a deadline (exit 7, the workflow goes on).
 */
export async function followOperation<R>(
  handle: WorkflowHandle,
  settings: Settings,
  opts: { timeoutMs: number; pollMs?: number; onStatus?: (status: OperationStatus) => void },
): Promise<OperationOutcome<R>> {
  const end = await followWorkflow<OperationStatus, R>(handle, {
    query: operationStatusQuery,
    changeKey: (status) => JSON.stringify(status.steps.map((s) => [s.name, s.status])),
    onChange: opts.onStatus,
    timeoutMs: opts.timeoutMs,
    pollMs: opts.pollMs,
    stoppedMessage: `gave up waiting after ${opts.timeoutMs / 1000} s; it goes on`,
  });
  const base = { workflowId: handle.workflowId, uiLink: workflowUiLink(settings, handle.workflowId) };
  if (end.ended === 'completed') {
    // The steps that finished after the last poll: one more answer, read from the closed run
    // (the worker replays it). Best effort, capped: without a worker the report alone must do.
    const final = await Promise.race([
      handle.query(operationStatusQuery).catch(() => undefined),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), FINAL_QUERY_MS).unref()),
    ]);
    if (final) opts.onStatus?.(final);
    return {
      ...base,
      exitCode: ExitCode.succeeded,
      outcome: 'succeeded',
      report: end.result,
      status: final ?? end.last,
    };
  }
  if (end.ended === 'stopped-waiting')
    return {
      ...base,
      exitCode: ExitCode.stillRunning,
      outcome: 'still-running',
      status: end.last,
      error: end.message,
    };
  const err = end.error;
  if (!(err instanceof WorkflowFailedError)) throw err;
  const cause = workflowFailure(err);
  const failureType = cause?.type ?? undefined;
  const [details] = cause?.details ?? [];
  return {
    ...base,
    exitCode: operationExitCode(failureType),
    outcome: 'failed',
    report: isDrillReport(details) ? (details as R) : undefined,
    status: isOperationStatus(details) ? details : end.last,
    failureType,
    error: cause?.message ?? err.cause?.message ?? err.message,
  };
}

/** How long `backups` / `drills` wait for a worker to read the store. */
export const CATALOG_TIMEOUT_MS = 60_000;

/**
 * Read the worker's backup store (it lives where the worker runs, not where deployctl does)
 * through a short workflow. Without a worker it times out after a minute with a clear message.
 */
export async function readCatalog(
  client: Client,
  settings: Settings,
  input: CatalogInput,
  timeoutMs = CATALOG_TIMEOUT_MS,
): Promise<CatalogResult> {
  // Page by page: one payload of large records (a 300-table database's fingerprints) would
  // pass Temporal's payload limit long before --limit does.
  let result = await readCatalogPage(client, settings, { ...input, offset: 0 }, timeoutMs);
  for (let page = 1; result.nextOffset !== undefined && page < 1000; page++) {
    const next = await readCatalogPage(client, settings, { ...input, offset: result.nextOffset }, timeoutMs);
    result =
      result.kind === 'backups' && next.kind === 'backups'
        ? { kind: 'backups', backups: [...result.backups, ...next.backups], nextOffset: next.nextOffset }
        : result.kind === 'drills' && next.kind === 'drills'
          ? { kind: 'drills', drills: [...result.drills, ...next.drills], nextOffset: next.nextOffset }
          : next;
  }
  const { nextOffset: _done, ...whole } = result;
  return whole;
}

function readCatalogPage(
  client: Client,
  settings: Settings,
  input: CatalogInput,
  timeoutMs: number,
): Promise<CatalogResult> {
  return readThroughWorker(client, settings, {
    workflowType: WorkflowType.catalog,
    what: `the ${input.kind} of ${input.environment}`,
    environment: input.environment,
    idPrefix: `catalog-${input.environment}-${input.kind}`,
    input,
    timeoutMs,
  });
}
