import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { DeployActivities } from '../activities';
import type { WebhookConfig } from '../config/schema';
import type { Notification } from '../shared/notifications';
import { activityPolicies } from './activityPolicies';
import { errorMessage } from './operationTracker';

const { sendWebhook } = proxyActivities<DeployActivities>(activityPolicies.sendWebhook);

export interface NotifyInput {
  webhooks: WebhookConfig[];
  notification: Notification;
}

export interface NotifyReport {
  delivered: string[];
  failed: { webhook: string; error: string }[];
}

/**
 * One event to its webhooks, each with its own retries and deadline. Started by a deployment,
 * backup or drill as an abandoned child, so a receiver that is slow or down never holds up or
 * fails what it reports on; a webhook given up on fails this workflow, where the UI shows why.
 */
export async function notifyWebhooks(input: NotifyInput): Promise<NotifyReport> {
  const report: NotifyReport = { delivered: [], failed: [] };
  await Promise.all(
    input.webhooks.map(async (webhook) => {
      try {
        await sendWebhook({ webhook, notification: input.notification });
        report.delivered.push(webhook.name);
      } catch (err) {
        report.failed.push({ webhook: webhook.name, error: errorMessage(err) });
      }
    }),
  );
  if (report.failed.length > 0)
    throw ApplicationFailure.nonRetryable(
      `${input.notification.event} of ${input.notification.environment} not delivered: ${report.failed.map((f) => f.error).join('; ')}`,
      'NotificationFailed',
      report,
    );
  return report;
}
