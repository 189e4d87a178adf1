import { ApplicationFailure } from '@temporalio/activity';
import { composeConfiguredServices, runningProjectContainers, runningServicesOf } from '../commands/compose';
import { colourRunningContainers } from '../commands/colours';
import type { Colour, EnvironmentConfig, HostConfig, HttpCheckConfig } from '../config/schema';
import type { CheckResult, DeployPlan } from '../shared/deployment';
import { expandUrl } from '../config/urls';
import { domainChecks } from './domainChecks';
import { onHost, outputLines } from './hostStep';
import { allEnded } from '../shared/promises';
import { keepAlive } from './heartbeat';
import { commandDeadlineMs } from '../remote/deadlines';
import type { Argv } from '../commands/argv';

export const POST_DEPLOY_CHECKS_FAILED = 'PostDeployChecksFailed';

async function httpCheck(
  check: HttpCheckConfig,
  environment: EnvironmentConfig,
  host: HostConfig,
  headers: Record<string, string>,
): Promise<CheckResult> {
  const url = expandUrl(check.url, environment, host);
  const started = performance.now();
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(Math.max(5_000, check.latencyBudgetMs * 2)),
      redirect: 'manual',
      headers,
    });
    await res.arrayBuffer();
    const latencyMs = Math.round(performance.now() - started);
    const problems = [
      res.status !== check.expectStatus ? `HTTP ${res.status}, expected ${check.expectStatus}` : '',
      latencyMs > check.latencyBudgetMs ? `${latencyMs} ms, over the ${check.latencyBudgetMs} ms budget` : '',
    ].filter(Boolean);
    return {
      name: check.name,
      host: host.name,
      ok: problems.length === 0,
      detail: problems.length
        ? `${url}: ${problems.join('; ')}`
        : `${url}: HTTP ${res.status} in ${latencyMs} ms`,
      latencyMs,
    };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    return { name: check.name, host: host.name, ok: false, detail: `${url}: ${cause}` };
  }
}

/**
 * On one host, every compose service (but the one-off migrations one) runs; with a colour, its
 * web services in the colour's own project and the rest in the shared one. The listings are
 * read at once: each is a compose call of its own (the configured one is skipped when the pull
 * already read it).
 */
function servicesRunning(
  plan: DeployPlan,
  host: HostConfig,
  colour?: Colour,
  knownConfigured?: string[],
): Promise<CheckResult> {
  return onHost({ plan, hostName: host.name }, 'checks', async (remote) => {
    const env = plan.environment;
    const list = async (argv: Argv) =>
      outputLines((await remote.run(argv, { timeoutMs: commandDeadlineMs('query') })).stdout);
    const engineList = async (argv: Argv) =>
      runningServicesOf((await remote.run(argv, { timeoutMs: commandDeadlineMs('query') })).stdout);
    const [configured, runningList, colourRunningList] = await allEnded([
      knownConfigured ? Promise.resolve(knownConfigured) : list(composeConfiguredServices(env, host)),
      engineList(runningProjectContainers(env.project)),
      colour ? engineList(colourRunningContainers(env, colour)) : Promise.resolve([]),
    ]);
    const running = new Set(runningList);
    // The migrations service is a one-off (`run --rm`), never meant to stay up.
    const oneOff = env.migrations?.service;
    const web = env.services.map((s) => s.name);
    const expected = colour
      ? configured.filter((s) => s !== oneOff)
      : [...new Set([...configured, ...web])].filter(
          (s) => s !== oneOff || env.services.some((w) => w.name === s),
        );
    const down = expected.filter((s) => !running.has(s));
    if (colour) {
      const colourRunning = new Set(colourRunningList);
      down.push(...web.filter((s) => !colourRunning.has(s)).map((s) => `${s} (${colour})`));
      expected.push(...web.map((s) => `${s} (${colour})`));
    }
    return {
      name: 'services-running',
      host: host.name,
      ok: down.length === 0,
      detail: down.length ? `not running: ${down.join(', ')}` : `running: ${expected.sort().join(', ')}`,
    };
  });
}

export function createCheckActivities() {
  return {
    /**
     * After the health wait: the configured HTTP checks (status and latency budget) against
     * every host, on every host every compose service (but the one-off migrations one) must run,
     * and the configured domains resolve to the hosts and serve certificates good for long enough.
     * Read-only, so safe to retry; any failure fails the step and the deployment is undone.
     */
    async postDeployChecks(input: {
      plan: DeployPlan;
      colour?: Colour;
      /** Only the HTTP and domain checks (the caller just saw every service running). */
      httpOnly?: boolean;
      /** Per host, the services its compose files configure (read by the pull): one compose call fewer. */
      configuredServices?: Record<string, string[]>;
      /**
       * false: leave out the domain checks, for a stack users do not reach by its domains yet
       * (a drill's scratch copy, a server brought up in an emergency before DNS moves to it).
       */
      domains?: boolean;
    }): Promise<CheckResult[]> {
      const { plan, colour } = input;
      // A new colour is checked through its preview route, before any user reaches it.
      const headers: Record<string, string> =
        colour && plan.environment.traffic ? { [plan.environment.traffic.previewHeader]: colour } : {};
      let results: CheckResult[] = [];
      let checked = 0;
      const counted = (check: Promise<CheckResult>) => check.finally(() => checked++);
      // HTTP checks wait up to their own timeouts: the timer keeps the heartbeats coming.
      const stopHeartbeats = keepAlive(() => ({ checked }));
      const env = plan.environment;
      // Every check only reads, so they all run at once; the results keep the configured order.
      const hostChecks = (host: HostConfig): Promise<CheckResult>[] => [
        ...(env.postDeployChecks?.http ?? []).map((check) => httpCheck(check, env, host, headers)),
        ...(input.httpOnly
          ? []
          : [servicesRunning(plan, host, colour, input.configuredServices?.[host.name])]),
      ];
      const tlsConfig = env.postDeployChecks?.tls;
      try {
        const perHost = env.hosts.map((host) => allEnded(hostChecks(host).map(counted)));
        const domains =
          tlsConfig && input.domains !== false ? domainChecks(env, tlsConfig) : Promise.resolve([]);
        const [hostResults, domainResults] = await allEnded<CheckResult[]>([
          allEnded(perHost).then((r) => r.flat()),
          domains,
        ]);
        results = [...hostResults!, ...domainResults!];
      } finally {
        stopHeartbeats();
      }
      const failed = results.filter((r) => !r.ok);
      // No answer from a resolver or a host is asked again (the activity's retries) before it
      // may undo a release that is fine; the last attempt's failure ends the step all the same.
      if (failed.length) {
        throw ApplicationFailure.create({
          message: `post-deploy checks failed: ${failed.map((f) => `${f.name}@${f.host} ${f.detail}`).join('; ')}`,
          type: POST_DEPLOY_CHECKS_FAILED,
          details: [results],
          nonRetryable: !failed.some((r) => r.transient),
        });
      }
      return results;
    },
  };
}
