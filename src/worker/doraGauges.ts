import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { Runtime } from '@temporalio/worker';
import { listEnvironments } from '../config/load';
import { dataConverterFor } from '../codec/dataConverter';
import { doraReport, type DoraReport } from '../report/dora';
import { listDeploymentRecords } from '../report/records';
import type { Settings } from '../shared/settings';

/** The window the gauges cover, as `report`'s default. */
export const DORA_WINDOW_DAYS = 30;
const DEFAULT_REFRESH_SECONDS = 300;

export class DoraGaugeConfigError extends Error {}

/** DEPLOY_DORA_REFRESH_SECONDS: how often the gauges are computed again (1 to 86400, default 300). */
export function doraRefreshSeconds(env: NodeJS.ProcessEnv): number {
  const raw = env.DEPLOY_DORA_REFRESH_SECONDS;
  if (raw === undefined || raw === '') return DEFAULT_REFRESH_SECONDS;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > 86_400)
    throw new DoraGaugeConfigError(
      `DEPLOY_DORA_REFRESH_SECONDS is ${JSON.stringify(raw)}: it must be a whole number of seconds from 1 to 86400`,
    );
  return n;
}

/** The gauges' values for one environment's report; a figure nothing measured is left out. */
export function doraGaugeValues(r: DoraReport): Record<string, number> {
  return {
    deployctl_dora_deployments: r.deployments.total,
    deployctl_dora_deployment_frequency_per_day: r.deploymentFrequencyPerDay,
    ...(r.leadTime.medianSeconds !== undefined
      ? { deployctl_dora_lead_time_median_seconds: r.leadTime.medianSeconds }
      : {}),
    ...(r.changeFailureRate !== null ? { deployctl_dora_change_failure_rate: r.changeFailureRate } : {}),
    ...(r.timeToRestore.medianSeconds !== undefined
      ? { deployctl_dora_time_to_restore_median_seconds: r.timeToRestore.medianSeconds }
      : {}),
  };
}

/**
 * The DORA figures of every configured environment as Prometheus gauges (labelled by
 * environment), computed as `deployctl report` does over the last 30 days, now and then every
 * refresh. A failed round is logged and tried again at the next; it never stops the worker.
 * Returns a stop function.
 */
export function startDoraGauges(
  settings: Settings,
  connection: NativeConnection,
  workerEnv: NodeJS.ProcessEnv,
  refreshSeconds: number,
  log: (line: string) => void,
): () => void {
  const client = new Client({
    connection,
    namespace: settings.namespace,
    dataConverter: dataConverterFor(workerEnv),
  });
  const meter = Runtime.instance().metricMeter;
  const gauges = new Map<string, ReturnType<typeof meter.createGauge>>();
  const gauge = (name: string) => {
    let g = gauges.get(name);
    if (!g) {
      g = meter.createGauge(
        name,
        'float',
        '',
        `DORA figure over the last ${DORA_WINDOW_DAYS} days (deployctl report)`,
      );
      gauges.set(name, g);
    }
    return g;
  };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const round = async () => {
    const until = new Date();
    const since = new Date(until.getTime() - DORA_WINDOW_DAYS * 86_400_000).toISOString();
    for (const { name: environment } of listEnvironments(settings.configDir)) {
      if (stopped) return;
      try {
        const { records } = await listDeploymentRecords(client, environment, since);
        const report = doraReport(environment, records, { since, until: until.toISOString() });
        for (const [name, value] of Object.entries(doraGaugeValues(report)))
          gauge(name).set(value, { environment });
      } catch (err) {
        log(`DORA gauges of ${environment}: not computed this round (${(err as Error).message})`);
      }
    }
  };
  const loop = async () => {
    await round().catch((err: Error) => log(`DORA gauges: ${err.message}`));
    if (!stopped) timer = setTimeout(() => void loop(), refreshSeconds * 1000);
  };
  void loop();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
