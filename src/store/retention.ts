import type { BackupsConfig } from '../config/schema';

/**
 * Which verified backups to keep: the newest `keepLast`, plus the newest of each UTC day for
 * the last `dailyDays` days and of each ISO week for the last `weeklyWeeks` weeks (the usual
 * grandfather-father-son rotation). Pure, so the rules are tested without a store.
 */
export interface RetentionCandidate {
  id: string;
  createdAt: string;
}

export interface RetentionDecision {
  keep: Map<string, string[]>;
  remove: string[];
}

const DAY_MS = 86_400_000;

function utcDay(t: Date): string {
  return t.toISOString().slice(0, 10);
}

/** ISO 8601 week, e.g. "2026-W48" (weeks start on Monday; week 1 holds the first Thursday). */
export function isoWeek(t: Date): string {
  const d = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
  const weekday = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / DAY_MS + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

export function selectRetained(
  backups: RetentionCandidate[],
  policy: BackupsConfig['retention'],
  now: Date,
): RetentionDecision {
  const newestFirst = [...backups].sort(
    (a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id),
  );
  const keep = new Map<string, string[]>();
  const reason = (id: string, why: string) => keep.set(id, [...(keep.get(id) ?? []), why]);

  const keepLast = Math.max(1, policy.keepLast);
  newestFirst.slice(0, keepLast).forEach((b, i) => reason(b.id, `last ${i + 1} of ${keepLast}`));

  const dailySince = now.getTime() - policy.dailyDays * DAY_MS;
  const weeklySince = now.getTime() - policy.weeklyWeeks * 7 * DAY_MS;
  const seenDays = new Set<string>();
  const seenWeeks = new Set<string>();
  for (const b of newestFirst) {
    const t = new Date(b.createdAt);
    if (policy.dailyDays > 0 && t.getTime() > dailySince && !seenDays.has(utcDay(t))) {
      seenDays.add(utcDay(t));
      reason(b.id, `daily ${utcDay(t)}`);
    }
    if (policy.weeklyWeeks > 0 && t.getTime() > weeklySince && !seenWeeks.has(isoWeek(t))) {
      seenWeeks.add(isoWeek(t));
      reason(b.id, `weekly ${isoWeek(t)}`);
    }
  }
  return { keep, remove: newestFirst.filter((b) => !keep.has(b.id)).map((b) => b.id) };
}
