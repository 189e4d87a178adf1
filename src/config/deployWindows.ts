import { DateTime } from 'luxon';
import { WEEKDAYS, type DeployWindows } from './schema';

/**
 * Whether an environment's deploy windows are open at a moment, and if not, why and when they
 * open next. Times are the environment's time zone's wall-clock times (luxon does the zone and
 * daylight-saving arithmetic); the weekly windows and the freezes both have to allow a deploy.
 */

export type WindowVerdict =
  | { open: true }
  | {
      open: false;
      /** Why, in words: the freeze and its reason, or the weekly windows it is outside of. */
      why: string;
      /** The next moment a deploy may start (ISO 8601 with offset); none within a year. */
      nextOpen?: string;
    };

/** How far ahead the next open window is looked for. */
const HORIZON_DAYS = 366;

const minuteOfDay = (clock: string) => Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));

/** "Mon 2027-01-04 09:00" in the environment's zone. */
export function wallClock(t: DateTime): string {
  return t.toFormat('ccc yyyy-MM-dd HH:mm');
}

export function deployWindowVerdict(windows: DeployWindows, now: Date): WindowVerdict {
  const zone = windows.timeZone;
  const freezes = windows.freezes.map((f) => ({
    ...f,
    start: DateTime.fromISO(f.from, { zone }),
    end: DateTime.fromISO(f.to, { zone }),
  }));
  const inWeekly = (t: DateTime) =>
    windows.weekly.length === 0 ||
    windows.weekly.some((w) => {
      const minute = t.hour * 60 + t.minute;
      return (
        w.days.includes(WEEKDAYS[t.weekday - 1] as (typeof WEEKDAYS)[number]) &&
        minute >= minuteOfDay(w.from) &&
        minute < minuteOfDay(w.to)
      );
    });
  const freezeAt = (t: DateTime) => freezes.find((f) => t >= f.start && t < f.end);
  const isOpen = (t: DateTime) => inWeekly(t) && !freezeAt(t);

  const t = DateTime.fromJSDate(now, { zone });
  if (isOpen(t)) return { open: true };

  const freeze = freezeAt(t);
  const why = freeze
    ? `frozen until ${wallClock(freeze.end)} (${freeze.reason})`
    : `outside the weekly deploy windows (${windows.weekly
        .map((w) => `${w.days.join(',')} ${w.from}-${w.to}`)
        .join('; ')})`;

  // The next open moment starts a weekly window or ends a freeze: try those in time order.
  const candidates: DateTime[] = freezes.map((f) => f.end);
  const today = t.startOf('day');
  for (let day = 0; day <= HORIZON_DAYS; day++) {
    const date = today.plus({ days: day });
    for (const w of windows.weekly) {
      if (!w.days.includes(WEEKDAYS[date.weekday - 1] as (typeof WEEKDAYS)[number])) continue;
      const minute = minuteOfDay(w.from);
      candidates.push(date.set({ hour: Math.floor(minute / 60), minute: minute % 60 }));
    }
  }
  const horizon = t.plus({ days: HORIZON_DAYS });
  const next = candidates
    .filter((c) => c > t && c <= horizon)
    .sort((a, b) => a.toMillis() - b.toMillis())
    .find(isOpen);
  return next ? { open: false, why, nextOpen: next.toISO() ?? undefined } : { open: false, why };
}

/** The refusal a closed window gives: when, why, when it opens, and how to deploy anyway. */
export function closedWindowMessage(
  environment: string,
  windows: DeployWindows,
  verdict: Extract<WindowVerdict, { open: false }>,
  now: Date,
): string {
  const zone = windows.timeZone;
  const next = verdict.nextOpen
    ? `the next open window starts ${wallClock(DateTime.fromISO(verdict.nextOpen, { zone }))} (${zone})`
    : 'no window opens within a year';
  return (
    `environment "${environment}" is closed for deploys at ${wallClock(DateTime.fromJSDate(now, { zone }))} (${zone}): ` +
    `${verdict.why}; ${next}. To deploy anyway: --override-freeze --reason "<why>" (audited on the hosts); rollbacks are never held back`
  );
}
