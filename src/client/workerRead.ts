import { randomUUID } from 'node:crypto';
import { ApplicationFailure, TimeoutFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import { DEPLOY_ENVIRONMENT } from '../shared/searchAttributes';
import { workflowUiLink, type Settings } from '../shared/settings';
import { CliExit } from './cliExit';
import { ExitCode, operationExitCode } from './exitCodes';

/**
 * Something only a worker can read (its backup store, the hosts it holds keys for), read
 * through a short workflow of one activity: the client never reaches a host or the store.
 * With no worker it fails after `timeoutMs` saying so (exit 8); a refused input exits 2.
 */
export async function readThroughWorker<I, R>(
  client: Client,
  settings: Settings,
  read: {
    workflowType: string;
    /** What is read, for messages and the workflow's summary: "the audit logs of production". */
    what: string;
    environment: string;
    /** The workflow id's start (a random suffix follows), so the UI's list says what each read was. */
    idPrefix: string;
    input: I;
    timeoutMs: number;
  },
): Promise<R> {
  const workflowId = `${read.idPrefix}-${randomUUID().slice(0, 8)}`;
  try {
    return await client.workflow.execute<(input: I) => Promise<R>>(read.workflowType, {
      taskQueue: settings.taskQueue,
      workflowId,
      args: [read.input],
      workflowExecutionTimeout: read.timeoutMs,
      staticSummary: `Read ${read.what}`,
      // Only the environment: a read has no stages, so a DeployStatus would stay "running".
      typedSearchAttributes: [{ key: DEPLOY_ENVIRONMENT, value: read.environment }],
    });
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    if (err.cause instanceof TimeoutFailure)
      throw new CliExit(
        ExitCode.operationFailed,
        `no worker read ${read.what} within ${read.timeoutMs / 1000} s: is a worker running on task queue "${settings.taskQueue}"? (${workflowUiLink(settings, workflowId)})`,
      );
    const type = err.cause instanceof ApplicationFailure ? (err.cause.type ?? undefined) : undefined;
    throw new CliExit(
      operationExitCode(type),
      `reading ${read.what} failed: ${err.cause?.message ?? err.message}`,
    );
  }
}
