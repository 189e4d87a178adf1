import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';

/** How the worker reports: where Prometheus scrapes it, and how its log lines look. */
export interface TelemetrySettings {
  /** host:port of the Prometheus endpoint (`/metrics`); none when unset. */
  metricsAddress?: string;
  /** `json`: one object per line, for a log pipeline; `text`: the SDK's own lines, for a terminal. */
  logFormat: 'json' | 'text';
}

export class TelemetryConfigError extends Error {}

const ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** DEPLOY_METRICS_ADDRESS and DEPLOY_LOG_FORMAT, checked: a bad value names the variable, the value and the rule. */
export function telemetrySettings(env: NodeJS.ProcessEnv): TelemetrySettings {
  const logFormat = env.DEPLOY_LOG_FORMAT || 'json';
  if (logFormat !== 'json' && logFormat !== 'text')
    throw new TelemetryConfigError(`DEPLOY_LOG_FORMAT is "${logFormat}": it must be json or text`);
  const metricsAddress = env.DEPLOY_METRICS_ADDRESS || undefined;
  if (metricsAddress !== undefined) {
    const port = Number(ADDRESS.exec(metricsAddress)?.[2] ?? 0);
    if (port < 1 || port > 65535)
      throw new TelemetryConfigError(
        `DEPLOY_METRICS_ADDRESS is ${JSON.stringify(metricsAddress)}: it must be host:port with a port from 1 to 65535 (for example 127.0.0.1:9464, or 0.0.0.0:9464 to be scraped from other machines)`,
      );
  }
  return { metricsAddress, logFormat };
}

/**
 * One JSON object per line: time, level, message, then what the SDK attaches (workflowId, runId,
 * workflowType, activityType, taskQueue) and what the workflows add (step, outcome, seconds).
 * Errors become their name and message; nothing else of them (a stack adds no secret, but no
 * value either, in a log line).
 */
export function jsonLogLine(entry: LogEntry): string {
  const { level, message, meta, timestampNanos } = entry;
  const time = new Date(Number(timestampNanos / 1_000_000n)).toISOString();
  return JSON.stringify({ time, level, msg: message, ...meta }, (_key, value: unknown) =>
    value instanceof Error ? { name: value.name, message: value.message } : value,
  );
}

/** Installs the SDK runtime once, before any connection: its logger and, when asked, the Prometheus endpoint. */
export function installRuntime(settings: TelemetrySettings): void {
  const logger =
    settings.logFormat === 'json'
      ? new DefaultLogger('INFO', (entry) => process.stderr.write(`${jsonLogLine(entry)}\n`))
      : new DefaultLogger('INFO');
  Runtime.install({
    logger,
    telemetryOptions: {
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      ...(settings.metricsAddress
        ? {
            metrics: {
              prometheus: {
                bindAddress: settings.metricsAddress,
                countersTotalSuffix: true,
                useSecondsForDurations: true,
              },
            },
          }
        : {}),
    },
  });
}
