import { ApplicationFailure, Context, sleep } from '@temporalio/activity';
import { keepAlive } from './heartbeat';
import type { EnvironmentConfig } from '../config/schema';
import { FailureType } from './failures';
import { expandUrl } from '../config/urls';

export interface HealthInput {
  environment: EnvironmentConfig;
  /** The release every service's /version must report. */
  release: string;
  /** Override of the environment's deadline (compensation uses the same deadline). */
  deadlineSeconds?: number;
  /** Sent with every probe: the preview header reaches a colour before it has user traffic. */
  headers?: Record<string, string>;
}

export interface ProbeResult {
  url: string;
  ok: boolean;
  detail: string;
}

export interface HealthReport {
  elapsedMs: number;
  attempts: number;
  probes: ProbeResult[];
}

async function probe(
  url: string,
  check: (body: string) => string | undefined,
  headers: Record<string, string> = {},
): Promise<ProbeResult> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000), redirect: 'manual', headers });
    const body = (await res.text()).slice(0, 2000);
    if (!res.ok) return { url, ok: false, detail: `HTTP ${res.status} ${body.trim().slice(0, 200)}` };
    const problem = check(body);
    return problem ? { url, ok: false, detail: problem } : { url, ok: true, detail: `HTTP ${res.status}` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { url, ok: false, detail: cause ?? (err as Error).message };
  }
}

function versionCheck(release: string) {
  return (body: string): string | undefined => {
    try {
      const reported = (JSON.parse(body) as { release?: unknown }).release;
      return reported === release
        ? undefined
        : `reports release ${JSON.stringify(reported)}, expected ${JSON.stringify(release)}`;
    } catch {
      return 'version endpoint did not answer JSON';
    }
  };
}

/** One round of probes: every service's readiness and version endpoint on every host. */
export async function probeAll(
  environment: EnvironmentConfig,
  release: string,
  headers: Record<string, string> = {},
): Promise<ProbeResult[]> {
  const probes: Promise<ProbeResult>[] = [];
  for (const host of environment.hosts) {
    for (const service of environment.services) {
      probes.push(probe(expandUrl(service.readinessUrl, environment, host), () => undefined, headers));
      if (service.versionUrl)
        probes.push(probe(expandUrl(service.versionUrl, environment, host), versionCheck(release), headers));
    }
  }
  return Promise.all(probes);
}

export function createHealthActivities() {
  return {
    /**
     * Poll until every probe passes or the deadline passes. Heartbeats carry the failing
     * probes, so the UI shows what is being waited for; a retry starts a fresh deadline.
     */
    async waitForHealth(input: HealthInput): Promise<HealthReport> {
      const ctx = Context.current();
      const deadlineMs = (input.deadlineSeconds ?? input.environment.deadlines.healthSeconds) * 1000;
      const started = Date.now();
      let attempts = 0;
      let failingNow: string[] = [];
      // A probe waits up to its own timeout: the timer keeps the heartbeats coming meanwhile.
      const stopHeartbeats = keepAlive(() => ({ attempts, failing: failingNow }));
      try {
        for (;;) {
          attempts += 1;
          const probes = await probeAll(input.environment, input.release, input.headers);
          const failing = probes.filter((p) => !p.ok);
          const elapsedMs = Date.now() - started;
          if (failing.length === 0) return { elapsedMs, attempts, probes };
          failingNow = failing.map((p) => `${p.url}: ${p.detail}`);
          ctx.heartbeat({ attempts, failing: failingNow });
          if (elapsedMs >= deadlineMs) {
            throw ApplicationFailure.nonRetryable(
              `not healthy after ${Math.round(elapsedMs / 1000)} s (deadline ${deadlineMs / 1000} s): ${failing
                .map((p) => `${p.url} ${p.detail}`)
                .join('; ')}`,
              FailureType.healthDeadline,
              { attempts, failing },
            );
          }
          await sleep(Math.min(1_000, Math.max(0, deadlineMs - elapsedMs)));
        }
      } finally {
        stopHeartbeats();
      }
    },
  };
}
