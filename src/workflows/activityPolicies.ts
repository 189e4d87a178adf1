import type { ActivityOptions } from '@temporalio/workflow';
import { HEARTBEAT_TIMEOUT_MS, RETRY_INITIAL_INTERVAL_MS } from '../shared/heartbeats';

/**
 * Timeouts and retries of every activity, in one table. Anything that waits heartbeats (every
 * HEARTBEAT_INTERVAL_MS), so a dead worker is noticed within the heartbeat timeout instead of
 * startToCloseTimeout, and the step is retried on another worker soon after (shared/heartbeats.ts).
 * The commands an activity runs take their deadlines from src/remote/deadlines.ts, which cuts
 * each one short of the limit set here.
 */
const retry = {
  initialInterval: RETRY_INITIAL_INTERVAL_MS,
  backoffCoefficient: 2,
  maximumInterval: '30s',
} as const;
const heartbeatTimeout = HEARTBEAT_TIMEOUT_MS;

export const activityPolicies = {
  /** Reads config and the current release record: quick, and a bad request is not retried. */
  resolvePlan: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } },
  /** Uploads compose files and the env file; idempotent (atomic renames). */
  uploadRelease: { startToCloseTimeout: '2m', retry: { ...retry, maximumAttempts: 5 } },
  /** Image pulls can be slow; heartbeats show it is alive. */
  pullImages: {
    startToCloseTimeout: '15m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 5 },
  },
  startServices: {
    startToCloseTimeout: '10m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  /** Its own deadline comes from the environment config; this is only the outer bound. */
  waitForHealth: {
    startToCloseTimeout: '65m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 2 },
  },
  recordRelease: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } },
  /** Gates have their own deadlines (config); this bounds the checkout plus the slowest gate. */
  runQualityGates: {
    startToCloseTimeout: '70m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 2 },
  },
  /** A dump of a large database takes a while; heartbeats show it is alive. Idempotent by deployment. */
  backupDatabase: {
    startToCloseTimeout: '60m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  /** MigrationFailed is non-retryable (no blind retry of a failed migration); transport errors retry. */
  runMigrations: {
    startToCloseTimeout: '30m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 2 },
  },
  /** Lists pending migrations (the database may start first); applies nothing, so retries are safe. */
  listPendingMigrations: {
    startToCloseTimeout: '10m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  /** Starts the database service (never recreates it) and waits for it to answer; safe to retry. */
  startDatabase: {
    startToCloseTimeout: '7m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  restoreDatabase: {
    startToCloseTimeout: '60m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  /** Read-only HTTP checks and `compose ps`: safe to retry. */
  postDeployChecks: {
    startToCloseTimeout: '5m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  stopRelease: {
    startToCloseTimeout: '5m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  /** Reads config on the worker. */
  loadEnvironmentConfig: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } },
  /** pg_dump plus fingerprints; a write during the dump makes it retry. Idempotent by backup id. */
  dumpDatabase: {
    startToCloseTimeout: '60m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 4 },
  },
  /** SFTP download; a checksum mismatch (cut transfer) retries from scratch. */
  copyBackupToStore: {
    startToCloseTimeout: '60m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 4 },
  },
  /** Local checksum and pg_restore --list; BackupCorrupt is not retried. */
  verifyStoredBackup: { startToCloseTimeout: '15m', retry: { ...retry, maximumAttempts: 3 } },
  removeHostDump: { startToCloseTimeout: '2m', retry: { ...retry, maximumAttempts: 5 } },
  discardBackup: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } },
  applyRetention: { startToCloseTimeout: '5m', retry: { ...retry, maximumAttempts: 3 } },
  /** Re-checks the store copy's checksum before it is relied on. */
  pickBackup: { startToCloseTimeout: '15m', retry: { ...retry, maximumAttempts: 3 } },
  planScratchStack: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 3 } },
  checkEmergencyTarget: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 3 } },
  planEmergency: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 3 } },
  uploadBackupToHost: {
    startToCloseTimeout: '60m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 4 },
  },
  checkRestoredData: {
    startToCloseTimeout: '15m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  /** Teardown must happen: many attempts, each bounded. */
  destroyScratchStack: {
    startToCloseTimeout: '10m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 10 },
  },
  /** May install packages on a new server; idempotent (each step skips what is done). */
  setupServer: {
    startToCloseTimeout: '30m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  /** The same script on a configured host (`deployctl setup`); a failed step is not retried blindly. */
  setupEnvironmentHost: {
    startToCloseTimeout: '30m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  recordDrillReport: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } },
  readCatalog: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 3 } },
  /** Read-only checks, each with its own short deadline; a finding is a result, not a retry. */
  checkEnvironmentConfig: { startToCloseTimeout: '3m', retry: { ...retry, maximumAttempts: 2 } },
  /** Reads the routing file on a host: which colour is live. */
  readRouting: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } },
  /** One routing write plus its confirmation through Traefik's API (15 s); RoutingRefused is final. */
  switchTraffic: {
    startToCloseTimeout: '2m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  /** A colour's files: compose files, env file, the generated override. Idempotent. */
  uploadColour: { startToCloseTimeout: '2m', retry: { ...retry, maximumAttempts: 5 } },
  pullColour: {
    startToCloseTimeout: '15m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 5 },
  },
  startColour: {
    startToCloseTimeout: '10m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  startSharedStack: {
    startToCloseTimeout: '10m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  stopColour: {
    startToCloseTimeout: '5m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 5 },
  },
  inspectColour: { startToCloseTimeout: '2m', retry: { ...retry, maximumAttempts: 5 } },
  recordColour: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } },
  /** One canary step: snapshots around a dwell (config, at most an hour) with probes every second. */
  observeCanary: {
    startToCloseTimeout: '65m',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  },
  /**
   * The environment lock's watch on its holder: lasts as long as the holder runs (at most a
   * lease's lifetime), retried without limit so the watch never ends while the holder lives.
   */
  awaitWorkflowClosed: {
    startToCloseTimeout: '8d',
    heartbeatTimeout,
    retry: { ...retry, maximumInterval: '10s' },
  },
  workflowRunning: { startToCloseTimeout: '30s', retry: { ...retry, maximumAttempts: 5 } },
  /** The last lines of every host's audit log, read in parallel (each read has its own 30 s deadline). */
  readAuditTrail: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 3 } },
  /** Every host's releases/current.json, read in parallel (each read has its own 15 s deadline). */
  readLiveReleases: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 3 } },
  /** A service's container logs on every host, read in parallel (each read has its own 30 s deadline). */
  readServiceLogs: { startToCloseTimeout: '2m', retry: { ...retry, maximumAttempts: 3 } },
  /** A forced lock release on every host's audit log (the lock goes on without waiting for it). */
  auditForcedRelease: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } },
  /** One line in a host's audit log: an approval or abort, with who and why. */
  auditDecision: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 5 } },
  /** One scrape of Traefik's metrics. */
  scrapeColourMetrics: { startToCloseTimeout: '1m', retry: { ...retry, maximumAttempts: 3 } },
  /**
   * One notification to one webhook (each request has its own 10 s deadline). A receiver that
   * stays down is given up on after about two minutes: it must never hold anything up.
   */
  sendWebhook: {
    startToCloseTimeout: '20s',
    scheduleToCloseTimeout: '2m',
    retry: { ...retry, maximumAttempts: 6 },
  },
} satisfies Record<string, ActivityOptions>;
