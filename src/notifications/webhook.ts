import { createHmac } from 'node:crypto';
import type { WebhookConfig } from '../config/schema';
import type { DeliveredNotification } from '../shared/notifications';

/**
 * One webhook request as data: what is posted and with which headers. Pure, so the payloads
 * and the signature have exact tests; the activity only resolves secrets and sends it.
 */
export interface WebhookRequest {
  body: string;
  headers: Record<string, string>;
}

export const SIGNATURE_HEADER = 'x-deploy-signature';
export const DELIVERY_HEADER = 'x-deploy-delivery';
export const EVENT_HEADER = 'x-deploy-event';

/** HMAC-SHA256 of the exact body bytes, as `sha256=<hex>` (what a receiver recomputes). */
export function signature(body: string, key: string): string {
  return `sha256=${createHmac('sha256', key).update(body, 'utf8').digest('hex')}`;
}

/** Slack's mrkdwn reads &, < and > as markup: a release or reason must show as typed. */
const slackEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The one line a chat channel shows, with a link to the workflow in the Web UI. */
export function slackText(n: DeliveredNotification): string {
  const detail = n.detail ? `\n${slackEscape(n.detail)}` : '';
  return `*${slackEscape(n.environment)}*: ${slackEscape(n.summary)}${detail}\n<${n.link}|Open in Temporal>`;
}

export function webhookRequest(
  format: WebhookConfig['format'],
  notification: DeliveredNotification,
  signingKey?: string,
): WebhookRequest {
  const body = JSON.stringify(format === 'slack' ? { text: slackText(notification) } : notification);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'deployctl-worker',
      [EVENT_HEADER]: notification.event,
      [DELIVERY_HEADER]: notification.deliveryId,
      ...(signingKey ? { [SIGNATURE_HEADER]: signature(body, signingKey) } : {}),
    },
  };
}

/**
 * Whether a receiver's answer is worth another try: it was busy or broken (408, 429, 5xx). Any
 * other 4xx refuses this request as it is (a wrong or revoked URL), and a retry would not help.
 */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}
