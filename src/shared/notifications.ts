/**
 * What a webhook is told: one event of a deployment, backup or drill. Built in workflows
 * (deterministic: the time is the workflow's), sent by the `sendWebhook` activity.
 */

export const NOTIFICATION_EVENTS = [
  'started',
  'approval-waiting',
  'approved',
  'aborted',
  'succeeded',
  'failed',
  'rolled-back',
  'canary-verdict',
  'freeze-overridden',
  'backup-failed',
  'drill-result',
] as const;

export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

export interface Notification {
  event: NotificationEvent;
  environment: string;
  /** One line a person reads in a chat channel. */
  summary: string;
  /** The workflow the event belongs to (a deployment, backup or drill). */
  workflowId: string;
  /** Unique per event and stable across retries: receivers drop a delivery they have seen. */
  deliveryId: string;
  /** When the event happened (the workflow's clock). */
  at: string;
  release?: string;
  /** Who started, approved, aborted or overrode. */
  by?: string;
  /** Whether the drill passed, the canary step's verdict, and the like. */
  outcome?: string;
  detail?: string;
}

/** A notification and the Web UI's link to its workflow, as the receivers get it. */
export interface DeliveredNotification extends Notification {
  link: string;
}

/** The child workflow that delivers a workflow run's n-th event. */
export const notificationWorkflowId = (workflowId: string, runId: string, sequence: number) =>
  `${workflowId}-notify-${runId.slice(0, 8)}-${sequence}`;
