import { ApplicationFailure, Context, sleep } from '@temporalio/activity';
import { keepAlive } from './heartbeat';
import type { Colour, EnvironmentConfig } from '../config/schema';
import { serviceLogTail } from '../commands/compose';
import { withHost } from '../remote/executor';
import { redact } from '../remote/redact';
import { colourProject } from '../traffic/colours';
import { FailureType } from './failures';
import { secretValuesOf } from './secrets';
import { expandUrl } from '../config/urls';
import { commandDeadlineMs } from '../remote/deadlines';

export interface HealthInput {
  environment: EnvironmentConfig;
  /** The release every service's /version must report. */
  release: string;
  /** Override of the environment's deadline (compensation uses the same deadline). */
  deadlineSeconds?: number;
  /** Sent with every probe: the preview header reaches a colour before it has user traffic. */
  headers?: Record<string, string>;
  /** The colour being checked (blue-green, canary): its containers' logs explain a failure. */
  colour?: Colour;
}

export interface ProbeResult {
  url: string;
  ok: boolean;
  detail: string;
  /** Where the probe went: the host and service whose containers' logs explain a failure. */
  host?: string;
  service?: string;
}

/** Lines of each failing service's log in a readiness failure, and at most this many services. */
export const LOG_TAIL_LINES = 20;
export const LOG_TAIL_SERVICES = 4;
const LOG_LINE_CHARS = 300;

/**
 * How long a health wait sleeps between rounds of probes: briefly while containers are still
 * starting (a restarted release usually answers within a second or two, and each round it waits
 * for is time users get errors), then once a second.
 */
export function probeIntervalMs(elapsedMs: number): number {
  return elapsedMs < 5_000 ? 250 : 1_000;
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
  where: { host?: string; service?: string } = {},
): Promise<ProbeResult> {
  const result = await probeOnce(url, check, headers);
  return { ...result, ...where };
}

async function probeOnce(
  url: string,
  check: (body: string) => string | undefined,
  headers: Record<string, string>,
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
      const where = { host: host.name, service: service.name };
      probes.push(probe(expandUrl(service.readinessUrl, environment, host), () => undefined, headers, where));
      if (service.versionUrl)
        probes.push(
          probe(expandUrl(service.versionUrl, environment, host), versionCheck(release), headers, where),
        );
    }
  }
  return Promise.all(probes);
}

/**
 * The last lines of each failing service's container (the newest of its compose project), so a
 * readiness failure shows what the service said, not only the probe's answer. Secrets the
 * environment has are redacted; a log that cannot be read says why instead.
 */
export async function failingServiceLogs(
  environment: EnvironmentConfig,
  failing: ProbeResult[],
  colour: Colour | undefined,
  workerEnv: NodeJS.ProcessEnv,
): Promise<string> {
  const project = colour ? colourProject(environment, colour) : environment.project;
  const pairs = [...new Set(failing.filter((p) => p.host && p.service).map((p) => `${p.host}\0${p.service}`))]
    .slice(0, LOG_TAIL_SERVICES)
    .map((key) => key.split('\0') as [string, string]);
  if (pairs.length === 0) return '';
  const secrets = await secretValuesOf(environment, workerEnv).catch(() => []);
  const sections = await Promise.all(
    pairs.map(async ([hostName, service]) => {
      const host = environment.hosts.find((h) => h.name === hostName)!;
      let text: string;
      try {
        const { stdout } = await withHost(host, (h) =>
          h.run(serviceLogTail(project, service, LOG_TAIL_LINES), {
            timeoutMs: commandDeadlineMs('smallFile'),
          }),
        );
        text = stdout;
      } catch (err) {
        text = `(its log could not be read: ${(err as Error).message})`;
      }
      const lines = redact(text, secrets)
        .split('\n')
        .filter((l) => l.trim())
        .slice(-LOG_TAIL_LINES)
        .map((l) => `  ${l.length > LOG_LINE_CHARS ? `${l.slice(0, LOG_LINE_CHARS)}…` : l}`);
      return [`last lines of ${service} on ${hostName} (project ${project}):`, ...lines].join('\n');
    }),
  );
  return sections.join('\n');
}

export function createHealthActivities(deps: { workerEnv: NodeJS.ProcessEnv }) {
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
            const logs = await failingServiceLogs(input.environment, failing, input.colour, deps.workerEnv);
            throw ApplicationFailure.nonRetryable(
              `not healthy after ${Math.round(elapsedMs / 1000)} s (deadline ${deadlineMs / 1000} s): ${failing
                .map((p) => `${p.url} ${p.detail}`)
                .join('; ')}${logs ? `\n${logs}` : ''}`,
              FailureType.healthDeadline,
              { attempts, failing },
            );
          }
          await sleep(Math.min(probeIntervalMs(elapsedMs), Math.max(0, deadlineMs - elapsedMs)));
        }
      } finally {
        stopHeartbeats();
      }
    },
  };
}
