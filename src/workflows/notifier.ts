import { CancellationScope, ParentClosePolicy, startChild, workflowInfo } from '@temporalio/workflow';
import type { NotificationsConfig, WebhookConfig } from '../config/schema';
import { notificationWorkflowId, type Notification } from '../shared/notifications';
import { notifyWebhooks } from './notifyWebhooks';

/** What a workflow says about an event; the notifier adds where, when and the delivery id. */
export type NotificationFields = Omit<Notification, 'environment' | 'workflowId' | 'deliveryId' | 'at'>;

export interface Notifier {
  /** The environment's webhooks, once its config is known; none until then. */
  use(config: NotificationsConfig | undefined): void;
  /** Hand one event to its webhooks, without waiting: delivery runs in a child workflow of its own. */
  send(fields: NotificationFields): void;
  /** Wait until every event sent so far is handed over (not delivered): call before the workflow ends. */
  handedOver(): Promise<void>;
}

/**
 * Notifications of one workflow. Nothing is scheduled for an environment without webhooks, so
 * histories recorded before notifications existed replay unchanged. Each event gets its own
 * child (ids `<workflow>-notify-<run>-<n>`), abandoned when this workflow ends, which goes on retrying.
 */
export function createNotifier(environment: string): Notifier {
  const { workflowId, runId } = workflowInfo();
  let webhooks: WebhookConfig[] = [];
  let sequence = 0;
  const starts: Promise<unknown>[] = [];
  return {
    use(config) {
      webhooks = config?.webhooks ?? [];
    },
    send(fields) {
      const to = webhooks.filter((w) => !w.events || w.events.includes(fields.event));
      if (to.length === 0) return;
      sequence += 1;
      const notification: Notification = {
        ...fields,
        environment,
        workflowId,
        deliveryId: `${workflowId}/${sequence}-${fields.event}`,
        at: new Date().toISOString(),
      };
      // An abort cancels the pipeline's scope: its own events must still go out.
      const start = CancellationScope.nonCancellable(() =>
        startChild(notifyWebhooks, {
          // A later run of the same id (a re-deploy) must not collide with this run's deliveries.
          workflowId: notificationWorkflowId(workflowId, runId, sequence),
          args: [{ webhooks: to, notification }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          staticSummary: `Notify ${to.map((w) => w.name).join(', ')}: ${fields.event} of ${environment}`,
        }),
      );
      // A notification that cannot even be started is lost, never the deployment's failure.
      starts.push(start.catch(() => undefined));
    },
    async handedOver() {
      await Promise.all(starts);
    },
  };
}
