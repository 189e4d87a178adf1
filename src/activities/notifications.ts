import { ApplicationFailure } from '@temporalio/activity';
import type { WebhookConfig } from '../config/schema';
import { webhookRequest, retryableStatus } from '../notifications/webhook';
import type { Notification } from '../shared/notifications';
import { readSecret, secretSourceText } from './secrets';

/** Bounds one request; the activity's policy bounds the retries (activityPolicies.sendWebhook). */
export const WEBHOOK_REQUEST_TIMEOUT_MS = 10_000;

export interface SendWebhookInput {
  webhook: WebhookConfig;
  notification: Notification;
}

export interface SendWebhookResult {
  webhook: string;
  status: number;
}

/**
 * Posts one notification to one webhook. The URL and the signing key are secrets: read on the
 * worker when sending, and never put in a message, a log line or the result. A receiver that is
 * down or busy is retried by the policy; one that refuses the request (4xx) is not.
 */
export function createNotificationActivities(deps: {
  workerEnv: NodeJS.ProcessEnv;
  /** The Web UI's page of a workflow, for the receivers' link. */
  workflowLink: (workflowId: string) => string;
}) {
  async function secret(webhook: WebhookConfig, field: 'url' | 'signingKey'): Promise<string> {
    const read = await readWebhookSecret(webhook, field, deps.workerEnv);
    if (read.value !== undefined) return read.value;
    throw ApplicationFailure.nonRetryable(read.problem, read.type);
  }

  async function sendWebhook({ webhook, notification }: SendWebhookInput): Promise<SendWebhookResult> {
    const url = await secret(webhook, 'url');
    const key = webhook.signingKey ? await secret(webhook, 'signingKey') : undefined;
    const request = webhookRequest(
      webhook.format,
      { ...notification, link: deps.workflowLink(notification.workflowId) },
      key,
    );
    let status: number;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(WEBHOOK_REQUEST_TIMEOUT_MS),
      });
      status = response.status;
      await response.body?.cancel();
    } catch (err) {
      // fetch's own message can carry the URL; only the cause's code is kept.
      throw ApplicationFailure.retryable(
        `webhook "${webhook.name}": no answer (${failureCode(err)})`,
        'WebhookUnreachable',
      );
    }
    if (status >= 200 && status < 300) return { webhook: webhook.name, status };
    const message = `webhook "${webhook.name}": the receiver answered HTTP ${status}`;
    if (retryableStatus(status)) throw ApplicationFailure.retryable(message, 'WebhookFailed');
    throw ApplicationFailure.nonRetryable(`${message}, which a retry would not change`, 'WebhookRefused');
  }

  return { sendWebhook };
}

/**
 * A webhook's URL or signing key as the worker reads it, or why it cannot be used: the source is
 * named, the value never (a URL that is not http(s) is refused without showing it).
 */
export async function readWebhookSecret(
  webhook: WebhookConfig,
  field: 'url' | 'signingKey',
  workerEnv: NodeJS.ProcessEnv,
): Promise<{ value: string } | { value?: undefined; problem: string; type: string }> {
  const source = webhook[field];
  if (!source) return { problem: `webhook "${webhook.name}" has no ${field}`, type: 'NotConfigured' };
  // Env-file rules (quotes, $) do not apply to a URL or key: only an unreadable or empty value counts.
  const { value } = await readSecret(`${webhook.name} ${field}`, source, workerEnv);
  if (!value)
    return {
      problem: `webhook "${webhook.name}": its ${field} cannot be read from ${secretSourceText(source)} on this worker`,
      type: 'NotConfigured',
    };
  if (field === 'url' && (!/^https?:\/\/[^\s]+$/.test(value) || !URL.canParse(value)))
    return {
      problem: `webhook "${webhook.name}": the url read from ${secretSourceText(source)} must be an http(s) URL (not shown: it is a secret)`,
      type: 'InvalidInput',
    };
  return { value };
}

function failureCode(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: unknown } };
  if (e.name === 'TimeoutError') return `no response within ${WEBHOOK_REQUEST_TIMEOUT_MS / 1000} s`;
  const code = e.cause?.code;
  return typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : 'connection failed';
}
