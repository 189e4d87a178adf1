/**
 * An environment's audit trail as `deployctl audit` reads it: the last lines of every host's
 * append-only audit.log, merged in time order. What crosses Temporal is bounded (lines per host
 * and characters per line), so no payload nears its 2 MB limit however long the logs grow.
 */

/** At most this many events are asked for, and read from each host. */
export const AUDIT_LIMIT_MAX = 1000;
/** A `detail` longer than this is cut (a step's output tail, a long comment). */
export const AUDIT_DETAIL_MAX = 500;

export interface AuditTrailInput {
  environment: string;
  /** The newest events to return, over all hosts (1..AUDIT_LIMIT_MAX). */
  limit: number;
  /** Only events at or after this time (ISO 8601). */
  since?: string;
}

/** One line of a host's audit.log (see src/activities/audit.ts), with the host it came from. */
export interface AuditEvent {
  host: string;
  at: string;
  step: string;
  result: string;
  deployment?: string;
  environment?: string;
  release?: string;
  /** Who asked for the deployment or operation. */
  by?: string;
  /** Who approved or aborted it. */
  decidedBy?: string;
  detail?: string;
}

export interface HostTrail {
  host: string;
  /** Lines read from the end of its audit.log. */
  lines: number;
  /** Lines that were not audit events (not JSON, no time): counted, not shown. */
  unreadable: number;
  /** Why the host could not be read (unreachable, refused): its events are missing. */
  error?: string;
}

export interface AuditTrail {
  environment: string;
  /** Oldest first, at most `limit`, the newest ones. */
  events: AuditEvent[];
  hosts: HostTrail[];
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The audit events in one host's log text; lines that are not events are counted apart. */
export function parseAuditLog(host: string, log: string): { events: AuditEvent[]; unreadable: number } {
  const events: AuditEvent[] = [];
  let unreadable = 0;
  for (const line of log.split('\n')) {
    if (!line.trim()) continue;
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch {
      unreadable++;
      continue;
    }
    const at = text(value?.at);
    if (!at || Number.isNaN(Date.parse(at))) {
      unreadable++;
      continue;
    }
    const detail = text(value.detail);
    const event: AuditEvent = {
      host,
      at,
      step: text(value.step) ?? '',
      result: text(value.result) ?? '',
    };
    for (const key of ['deployment', 'environment', 'release', 'by', 'decidedBy'] as const) {
      const v = text(value[key]);
      if (v !== undefined) event[key] = v;
    }
    if (detail !== undefined)
      event.detail = detail.length > AUDIT_DETAIL_MAX ? `${detail.slice(0, AUDIT_DETAIL_MAX)}…` : detail;
    events.push(event);
  }
  return { events, unreadable };
}

/**
 * Every host's events in one time order (a host's own order kept for equal times), those
 * before `since` left out, the newest `limit` kept.
 */
export function mergeAuditEvents(perHost: AuditEvent[][], limit: number, since?: string): AuditEvent[] {
  const from = since === undefined ? undefined : Date.parse(since);
  const all = perHost
    .flatMap((events) => events.map((event, index) => ({ event, index })))
    .filter(({ event }) => from === undefined || Date.parse(event.at) >= from)
    .sort(
      (a, b) =>
        Date.parse(a.event.at) - Date.parse(b.event.at) ||
        a.event.host.localeCompare(b.event.host) ||
        a.index - b.index,
    )
    .map(({ event }) => event);
  return all.slice(Math.max(0, all.length - limit));
}
