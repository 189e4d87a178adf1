import { Context, sleep } from '@temporalio/activity';
import type { Colour } from '../config/schema';
import { expandUrl } from '../config/urls';
import type { DeployPlan } from '../shared/deployment';
import { colourService } from '../traffic/colours';
import { parsePrometheusText, serviceSnapshot, type ServiceSnapshot } from '../traffic/metrics';
import { TraefikAdmin } from '../traffic/traefikApi';
import { keepAlive } from './heartbeat';

export interface ObserveInput {
  plan: DeployPlan;
  colour: Colour;
  dwellSeconds: number;
}

/** What one canary step saw: Traefik's counters for the canary at its start and end, and probes. */
export interface CanaryObservation {
  before: ServiceSnapshot;
  after: ServiceSnapshot;
  /**
   * Probes answered (ok: 2xx; failed: any other status or a timeout) and probes that never reached
   * Traefik (connection refused or cut): the proxy was down, which says nothing about the canary.
   */
  probes: { ok: number; failed: number; proxyUnreachable: number };
  /** The last failed probes, so an operator sees what failed. */
  failedProbes: string[];
}

/**
 * Connection errors that mean the proxy itself was not there (restarting, stopped). Behind a
 * running Traefik a canary that is down or broken answers 502/503/504, never one of these.
 */
const PROXY_UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

type ProbeOutcome = { kind: 'ok' } | { kind: 'failed' | 'proxyUnreachable'; problem: string };

/** Counters of the colour's services summed over every host's Traefik. */
async function snapshotAll(plan: DeployPlan, colour: Colour): Promise<ServiceSnapshot> {
  const env = plan.environment;
  const services = env.services.map((s) => `${colourService(env, s.name, colour)}@file`);
  const snapshots = await Promise.all(
    env.hosts.map(async (host) =>
      serviceSnapshot(parsePrometheusText(await new TraefikAdmin(env, host).metricsText()), services),
    ),
  );
  return sumSnapshots(snapshots);
}

function sumSnapshots(snapshots: ServiceSnapshot[]): ServiceSnapshot {
  const buckets = new Map<number | null, number>();
  for (const s of snapshots) for (const b of s.buckets) buckets.set(b.le, (buckets.get(b.le) ?? 0) + b.count);
  return {
    requests: snapshots.reduce((n, s) => n + s.requests, 0),
    errors: snapshots.reduce((n, s) => n + s.errors, 0),
    buckets: [...buckets.entries()]
      .map(([le, count]) => ({ le, count }))
      .sort((a, b) => (a.le === null ? 1 : b.le === null ? -1 : a.le - b.le)),
  };
}

export function createCanaryActivities() {
  return {
    /**
     * One canary step's observation: a snapshot of Traefik's counters for the canary colour, a
     * dwell during which every service's readiness URL is probed through the canary's preview
     * route once a second (a probe that cannot reach Traefik at all is counted apart), and a
     * second snapshot. The verdict is the workflow's (a pure function of this). Heartbeats every
     * second; a retry observes afresh.
     */
    async observeCanary(input: ObserveInput): Promise<CanaryObservation> {
      const { plan, colour } = input;
      const env = plan.environment;
      const ctx = Context.current();
      const headers = { [env.traffic!.previewHeader]: colour };
      const urls = env.hosts.flatMap((host) => env.services.map((s) => expandUrl(s.readinessUrl, env, host)));
      const probes = { ok: 0, failed: 0, proxyUnreachable: 0 };
      // Snapshots and probes wait up to their own timeouts: the timer keeps the heartbeats coming.
      const stopHeartbeats = keepAlive(() => ({ probes }));
      try {
        const before = await snapshotAll(plan, colour);
        const failedProbes: string[] = [];
        const end = Date.now() + input.dwellSeconds * 1000;
        while (Date.now() < end) {
          const results = await Promise.all(
            urls.map(async (url): Promise<ProbeOutcome> => {
              try {
                const res = await fetch(url, {
                  headers,
                  signal: AbortSignal.timeout(5_000),
                  redirect: 'manual',
                });
                await res.arrayBuffer();
                return res.ok ? { kind: 'ok' } : { kind: 'failed', problem: `${url}: HTTP ${res.status}` };
              } catch (err) {
                const code = (err as { cause?: { code?: string } }).cause?.code;
                return {
                  kind: code && PROXY_UNREACHABLE.has(code) ? 'proxyUnreachable' : 'failed',
                  problem: `${url}: ${code ?? (err as Error).message}`,
                };
              }
            }),
          );
          for (const result of results) {
            if (result.kind === 'ok') probes.ok += 1;
            else {
              probes[result.kind] += 1;
              failedProbes.push(result.problem);
            }
          }
          ctx.heartbeat({ probes });
          await sleep(Math.max(0, Math.min(1_000, end - Date.now())));
        }
        const after = await snapshotAll(plan, colour);
        return { before, after, probes, failedProbes: failedProbes.slice(-5) };
      } finally {
        stopHeartbeats();
      }
    },
  };
}
