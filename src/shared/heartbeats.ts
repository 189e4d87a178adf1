/**
 * How fast a step whose worker died runs again. Temporal retries an activity that has not
 * heartbeated for HEARTBEAT_TIMEOUT_MS, after RETRY_INITIAL_INTERVAL_MS; long activities
 * heartbeat every HEARTBEAT_INTERVAL_MS and the worker flushes heartbeats as often, so a live
 * step's heartbeats reach the server about a second apart, well inside the timeout, and a dead
 * worker's step runs again within about 5 s of the kill when another worker polls.
 */
export const HEARTBEAT_TIMEOUT_MS = 3_000;
export const HEARTBEAT_INTERVAL_MS = HEARTBEAT_TIMEOUT_MS / 3;
/** The worker sends a heartbeat at most this long after an activity recorded it. */
export const HEARTBEAT_FLUSH_MS = HEARTBEAT_INTERVAL_MS / 2;
export const RETRY_INITIAL_INTERVAL_MS = 500;
/** How long a workflow task waits for the worker that ran the workflow last before any worker may take it. */
export const STICKY_QUEUE_TIMEOUT_MS = 2_000;
