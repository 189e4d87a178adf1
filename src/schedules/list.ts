import {
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleSpecDescription,
} from '@temporalio/client';
import { DEPLOY_ENVIRONMENT } from '../shared/searchAttributes';
import { markerOf } from './apply';
import { msToEvery, parseScheduleId, SCHEDULE_KINDS, type ScheduleKind } from './desired';

export interface ScheduleRow {
  id: string;
  environment: string;
  kind: ScheduleKind;
  /** "every 6h", "cron 0 4 * * 1 (UTC)". */
  spec: string;
  paused: boolean;
  note?: string;
  /** Upcoming fire times (ISO 8601, UTC), soonest first. */
  nextRuns: string[];
  /** The most recent run the schedule started, if any. */
  lastRun?: { scheduledAt: string; takenAt: string; workflowId: string };
  /** Runs it started that are still going (at most one: overlapping runs are skipped). */
  running: string[];
  workflowType: string;
  taskQueue: string;
}

/**
 * The spec in words when the schedule carries no marker of ours (created by hand): intervals
 * read back exactly; cron lines come back compiled into calendars, so only their count is said.
 */
export function describeSpec(spec: ScheduleSpecDescription): string {
  const parts = (spec.intervals ?? []).map(
    (i) => `every ${msToEvery(i.every)}${i.offset ? ` (offset ${msToEvery(i.offset)})` : ''}`,
  );
  const calendars = spec.calendars?.length ?? 0;
  if (calendars) parts.push(`${calendars} calendar spec${calendars > 1 ? 's' : ''}`);
  return parts.join(', ') || 'no spec';
}

export function toScheduleRow(description: ScheduleDescription): ScheduleRow | undefined {
  const parsed = parseScheduleId(description.scheduleId);
  // A backup-/drill- id alone is not enough: only schedules that start our workflows are ours.
  if (!parsed || description.action.workflowType !== SCHEDULE_KINDS[parsed.kind].workflowType)
    return undefined;
  const last = description.info.recentActions.at(-1);
  return {
    id: description.scheduleId,
    environment: description.typedSearchAttributes.get(DEPLOY_ENVIRONMENT) ?? parsed.environment,
    kind: parsed.kind,
    spec: markerOf(description)?.spec ?? describeSpec(description.spec),
    paused: description.state.paused,
    note: description.state.note,
    nextRuns: description.info.nextActionTimes.map((t) => t.toISOString()),
    lastRun: last
      ? {
          scheduledAt: last.scheduledAt.toISOString(),
          takenAt: last.takenAt.toISOString(),
          workflowId: last.action.workflow.workflowId,
        }
      : undefined,
    running: description.info.runningActions.map((a) => a.workflow.workflowId),
    workflowType: description.action.workflowType,
    taskQueue: description.action.taskQueue,
  };
}

/**
 * Our backup and drill schedules, sorted by id. Each listed schedule is described, because the
 * list is eventually consistent and lacks next run times; one deleted meanwhile is left out.
 */
export async function listSchedules(client: Client): Promise<ScheduleRow[]> {
  const rows: ScheduleRow[] = [];
  for await (const summary of client.schedule.list()) {
    if (!parseScheduleId(summary.scheduleId)) continue;
    try {
      const row = toScheduleRow(await client.schedule.getHandle(summary.scheduleId).describe());
      if (row) rows.push(row);
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
  }
  return rows.sort((a, b) => a.id.localeCompare(b.id));
}
