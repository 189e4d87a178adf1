import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
} from '@temporalio/client';
import type { EnvironmentConfig } from '../config/schema';
import type { Settings } from '../shared/settings';
import {
  desiredSchedules,
  managedNote,
  MARKER_MEMO_KEY,
  parseScheduleId,
  SCHEDULE_KINDS,
  stableStringify,
  type DesiredSchedule,
  type ScheduleKind,
  type ScheduleMarker,
} from './desired';

export type ApplyAction = 'created' | 'updated' | 'unchanged' | 'deleted' | 'orphaned';

export interface ApplyResult {
  id: string;
  action: ApplyAction;
  environment: string;
  kind: ScheduleKind;
  /** The configured spec ("every 6h"); for orphans, what the live schedule said it was. */
  spec?: string;
  /** Why an update was needed, or why a schedule is orphaned. */
  reasons?: string[];
}

export function markerOf(description: Pick<ScheduleDescription, 'action'>): ScheduleMarker | undefined {
  const marker = description.action.memo?.[MARKER_MEMO_KEY];
  return marker && typeof marker === 'object' ? (marker as ScheduleMarker) : undefined;
}

/**
 * What differs between the live schedule and the desired one; empty means unchanged. The stored
 * hash catches every change of the configuration; the fields compared besides catch the common
 * hand edits in the UI (task queue, workflow, policies, interval) that leave the hash as it was.
 * A cron line comes back compiled into calendars, so a hand-edited calendar is not detected.
 */
export function drift(live: ScheduleDescription, desired: DesiredSchedule): string[] {
  const reasons: string[] = [];
  const want = desired.update;
  const marker = markerOf(live);
  if (!marker) reasons.push('not created by deployctl schedules apply');
  else if (marker.spec !== desired.marker.spec)
    reasons.push(`spec changed: ${marker.spec} -> ${desired.marker.spec}`);
  else if (marker.hash !== desired.marker.hash) reasons.push('definition changed');
  const compare = (what: string, liveValue: unknown, wantValue: unknown) => {
    if (stableStringify(liveValue) !== stableStringify(wantValue))
      reasons.push(`${what} is ${stableStringify(liveValue)}, wanted ${stableStringify(wantValue)}`);
  };
  compare('workflow type', live.action.workflowType, want.action.workflowType);
  compare('task queue', live.action.taskQueue, want.action.taskQueue);
  compare('workflow id', live.action.workflowId, want.action.workflowId);
  compare('args', live.action.args, want.action.args);
  compare('overlap policy', live.policies.overlap, want.policies?.overlap);
  compare('catchup window', live.policies.catchupWindow, want.policies?.catchupWindow);
  const wantIntervals = (want.spec.intervals ?? []).map((i) => ({ every: i.every, offset: i.offset ?? 0 }));
  compare(
    'intervals',
    (live.spec.intervals ?? []).map((i) => ({ every: i.every, offset: i.offset })),
    wantIntervals,
  );
  return [...new Set(reasons)];
}

async function applyOne(client: Client, desired: DesiredSchedule): Promise<ApplyResult> {
  const base = {
    id: desired.id,
    environment: desired.environment,
    kind: desired.kind,
    spec: desired.marker.spec,
  };
  const handle = client.schedule.getHandle(desired.id);
  let live: ScheduleDescription;
  try {
    live = await handle.describe();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    try {
      await client.schedule.create(desired.options);
      return { ...base, action: 'created' };
    } catch (createErr) {
      // Someone else created it between our describe and create: compare with theirs instead.
      if (!(createErr instanceof ScheduleAlreadyRunning)) throw createErr;
      live = await handle.describe();
    }
  }
  const reasons = drift(live, desired);
  if (reasons.length === 0) return { ...base, action: 'unchanged' };
  await handle.update((previous) => ({
    ...desired.update,
    // An operator's pause (and the note saying why) survives a re-apply; only the definition changes.
    state: {
      paused: previous.state.paused,
      note: previous.state.paused ? previous.state.note : managedNote(desired.marker),
    },
  }));
  return { ...base, action: 'updated', reasons };
}

/**
 * Our schedules (backup-/drill- ids that start our workflow type) that no configured
 * environment asks for any more. Listing is eventually consistent: a schedule deleted a moment
 * ago may still be listed, so each one is described before it is reported.
 */
async function orphans(client: Client, wanted: Set<string>): Promise<ScheduleDescription[]> {
  const found: ScheduleDescription[] = [];
  for await (const summary of client.schedule.list()) {
    const parsed = parseScheduleId(summary.scheduleId);
    if (!parsed || wanted.has(summary.scheduleId)) continue;
    try {
      const description = await client.schedule.getHandle(summary.scheduleId).describe();
      if (description.action.workflowType === SCHEDULE_KINDS[parsed.kind].workflowType)
        found.push(description);
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
  }
  return found.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

/**
 * Make Temporal's schedules match the configs: create what is missing, update what differs,
 * leave the rest untouched (so re-applying is a no-op that says "unchanged"). Schedules of
 * environments no longer configured are reported as orphaned, and deleted only with `prune`.
 */
export async function applySchedules(
  client: Client,
  settings: Pick<Settings, 'taskQueue'>,
  environments: EnvironmentConfig[],
  opts: { prune?: boolean } = {},
): Promise<ApplyResult[]> {
  const desired = desiredSchedules(environments, settings);
  const results: ApplyResult[] = [];
  for (const schedule of desired) results.push(await applyOne(client, schedule));
  const configured = new Set(environments.map((e) => e.name));
  for (const orphan of await orphans(client, new Set(desired.map((d) => d.id)))) {
    const parsed = parseScheduleId(orphan.scheduleId) as { kind: ScheduleKind; environment: string };
    const result: ApplyResult = {
      id: orphan.scheduleId,
      environment: parsed.environment,
      kind: parsed.kind,
      spec: markerOf(orphan)?.spec,
      reasons: [
        configured.has(parsed.environment)
          ? `${parsed.environment} has no ${parsed.kind === 'backup' ? 'backups' : 'drills'} section`
          : `environment ${parsed.environment} is not configured`,
      ],
      action: 'orphaned',
    };
    if (opts.prune) {
      try {
        await client.schedule.getHandle(orphan.scheduleId).delete();
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
      result.action = 'deleted';
    }
    results.push(result);
  }
  return results;
}
