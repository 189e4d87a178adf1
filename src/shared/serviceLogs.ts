/**
 * Container logs as `deployctl logs` reads them: the newest container of one service on every
 * host (each colour's, in a blue-green or canary environment), bounded in lines and characters
 * so an answer stays far below Temporal's 2 MB payload limit.
 */

export const LOG_LINES_MAX = 500;
export const LOG_LINE_CHARS = 1000;

export interface ServiceLogsInput {
  environment: string;
  service: string;
  /** Lines from the end of each container's log (1..LOG_LINES_MAX). */
  tail: number;
  /** Only lines at or after this UTC time (RFC 3339). */
  since?: string;
  /** Each line starts with its time (RFC 3339) and a space: what `--follow` continues from. */
  timestamps?: boolean;
}

/** One container's lines: a host and the compose project the container belongs to. */
export interface LogSection {
  host: string;
  project: string;
  lines: string[];
  /** The project has no container of the service on this host. */
  missing?: boolean;
  /** Why the host could not be read. */
  error?: string;
}

export interface ServiceLogs {
  environment: string;
  service: string;
  sections: LogSection[];
}

/** A line's leading time and the rest, as `docker logs --timestamps` prints it. */
export function splitTimestamp(line: string): { at?: string; text: string } {
  const space = line.indexOf(' ');
  const at = space > 0 ? line.slice(0, space) : '';
  return /^\d{4}-\d{2}-\d{2}T[0-9:.]+Z$/.test(at) ? { at, text: line.slice(space + 1) } : { text: line };
}

/**
 * What `--follow` has shown of one container, so the next read (from the last time seen, which
 * `--since` includes) prints only what is new.
 */
export class FollowedLog {
  private last?: string;
  private atLast = new Set<string>();

  /** The lines of `read` not shown before, in order; remembers them as shown. */
  fresh(read: string[]): string[] {
    const out: string[] = [];
    for (const line of read) {
      const { at } = splitTimestamp(line);
      if (at === undefined) {
        out.push(line);
        continue;
      }
      if (this.last !== undefined && at < this.last) continue;
      if (at === this.last && this.atLast.has(line)) continue;
      if (at !== this.last) {
        this.last = at;
        this.atLast = new Set();
      }
      this.atLast.add(line);
      out.push(line);
    }
    return out;
  }

  /** Where the next read starts: the newest time shown. */
  get since(): string | undefined {
    return this.last;
  }
}
