import { Context } from '@temporalio/activity';

const MINUTE = 60_000;

/**
 * How long each kind of command an activity runs (over SSH, or git on the worker) may take, in
 * one table. What a command actually gets is the smaller of this and its activity's own limit
 * less a margin (commandDeadlineMs), so a command never outlives its activity: the activity
 * reports the timeout itself, cleans up, and Temporal retries it, instead of the activity
 * being cut off mid-command.
 */
export const COMMAND_DEADLINES_MS = {
  /** Opening an SSH connection for the config check. */
  connect: 10_000,
  /** A small file read, written or copied; a directory made; an audit line appended. */
  smallFile: 15_000,
  /** A file written over SFTP, a directory listed, `df`, git rev-parse or show, a version, log lines. */
  quick: 30_000,
  /** compose config or ps, tables counted, dumps pruned, git checkout, a project directory removed. */
  query: MINUTE,
  /** compose up or down of one service, one colour or the database. */
  compose: 4 * MINUTE,
  /** git clone or fetch of the app's repository; a project's containers and volumes destroyed; pending migrations listed. */
  transfer: 5 * MINUTE,
  /** Fingerprints of every table of the database. */
  scan: 10 * MINUTE,
  /** Server setup: packages installed, the engine started. */
  setup: 20 * MINUTE,
  /**
   * The activity's one long command (an image pull, pg_dump or pg_restore, the migrations, a
   * colour started): all of the activity's time but the margin.
   */
  whole: 60 * MINUTE,
} as const;

export type CommandKind = keyof typeof COMMAND_DEADLINES_MS;

/**
 * What an activity keeps back from its limit for the work after its longest command (cleanup,
 * the release record, the reply): a tenth of the limit, and at least 15 s where the limit
 * leaves half of it for the command.
 */
export function cleanupMarginMs(limitMs: number): number {
  return Math.max(limitMs / 10, Math.min(15_000, limitMs / 2));
}

/** The running activity's start-to-close limit, as its policy scheduled it; none outside an activity. */
function currentActivityLimitMs(): number | undefined {
  try {
    const limit = Context.current().info.startToCloseTimeoutMs;
    return limit > 0 ? limit : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The deadline of one command of `kind`: the table's, shortened to the activity's limit less
 * the cleanup margin. `limitMs` is the running activity's (from its policy) unless given.
 */
export function commandDeadlineMs(kind: CommandKind, limitMs = currentActivityLimitMs()): number {
  const natural = COMMAND_DEADLINES_MS[kind];
  if (limitMs === undefined) return natural;
  return Math.min(natural, Math.floor(limitMs - cleanupMarginMs(limitMs)));
}
