import { ApplicationFailure, Context, sleep } from '@temporalio/activity';
import { copyIfExists, readOptionalFile } from '../commands/files';
import { lastGoodRoutingFile, routingFile } from '../commands/colours';
import type { Colour } from '../config/schema';
import { colourService, type Weights } from '../traffic/colours';
import { parsePrometheusText, serviceSnapshot, type ServiceSnapshot } from '../traffic/metrics';
import { buildRoutingFile, readRoutingWeights } from '../traffic/routing';
import { TraefikAdmin } from '../traffic/traefikApi';
import { hostOf, onHost, type HostStepInput } from './hostStep';
import { commandDeadlineMs } from '../remote/deadlines';

export const ROUTING_REFUSED = 'RoutingRefused';

/** How long Traefik gets to pick up a new routing file before it counts as refused. */
const CONFIRM_DEADLINE_MS = 15_000;

export interface SwitchInput extends HostStepInput {
  weights: Weights;
}

export interface SwitchReport {
  weights: Weights;
  /** From the rename to Traefik's API serving the new weights. */
  confirmedAfterMs: number;
  /** False when the host already held these weights (a retry after the write). */
  written: boolean;
}

export function createTrafficActivities() {
  return {
    /**
     * The weights the host's routing file holds: which colour is live, read from the host at
     * every start so a crash between two steps is reconciled. Undefined: no colour yet.
     */
    async readRouting(input: HostStepInput): Promise<Weights | undefined> {
      const env = input.plan.environment;
      return onHost(input, 'read-routing', async (host) => {
        const file = routingFile(env, host.config);
        const { stdout } = await host.run(readOptionalFile(file), {
          timeoutMs: commandDeadlineMs('smallFile'),
        });
        if (!stdout.trim()) return undefined;
        try {
          return readRoutingWeights(stdout, env, `${host.config.name}:${file}`);
        } catch (err) {
          throw ApplicationFailure.nonRetryable((err as Error).message, 'CorruptRoutingFile');
        }
      });
    },

    /**
     * One routing write: the whole file, atomically (temp file and rename), then confirmed
     * through Traefik's API. When Traefik does not serve the new weights by the deadline (it
     * refused the file, or is down), the last confirmed file is put back and the step fails.
     * Safe to retry: the file is rewritten whole and confirmed again.
     */
    async switchTraffic(input: SwitchInput): Promise<SwitchReport> {
      const env = input.plan.environment;
      const admin = new TraefikAdmin(env, hostOf(input.plan, input.hostName));
      const text = buildRoutingFile({
        environment: env,
        weights: input.weights,
        writtenBy: input.plan.deploymentId,
      });
      return onHost(
        input,
        `route blue ${input.weights.blue} % green ${input.weights.green} %`,
        async (host) => {
          const file = routingFile(env, host.config);
          const lastGood = lastGoodRoutingFile(env, host.config);
          const current = (
            await host.run(readOptionalFile(file), { timeoutMs: commandDeadlineMs('smallFile') })
          ).stdout;
          const written = current !== text;
          if (written) await host.writeFile(file, text, { timeoutMs: commandDeadlineMs('quick') });
          const started = Date.now();
          const problem = await confirmServed(admin, input.weights);
          if (problem) {
            // Traefik keeps serving the last valid routing; the file on disk must say the same.
            await host.run(copyIfExists(lastGood, file), { timeoutMs: commandDeadlineMs('smallFile') });
            throw ApplicationFailure.nonRetryable(
              `Traefik did not take the new routing within ${CONFIRM_DEADLINE_MS / 1000} s (${problem}); ${file} was put back to the last routing Traefik confirmed, if there was one`,
              ROUTING_REFUSED,
            );
          }
          await host.run(copyIfExists(file, lastGood), { timeoutMs: commandDeadlineMs('smallFile') });
          return { weights: input.weights, confirmedAfterMs: Date.now() - started, written };
        },
        { detail: (r) => `confirmed by Traefik after ${r.confirmedAfterMs} ms` },
      );
    },

    /** Request counters and latency histogram of one colour's web services, from Traefik. */
    async scrapeColourMetrics(input: HostStepInput & { colour: Colour }): Promise<ServiceSnapshot> {
      const env = input.plan.environment;
      const admin = new TraefikAdmin(env, hostOf(input.plan, input.hostName));
      const services = env.services.map((s) => `${colourService(env, s.name, input.colour)}@file`);
      return serviceSnapshot(parsePrometheusText(await admin.metricsText()), services);
    },
  };
}

/** Poll Traefik's API until it serves `weights`; undefined when it does, else the last problem. */
async function confirmServed(admin: TraefikAdmin, weights: Weights): Promise<string | undefined> {
  const deadline = Date.now() + CONFIRM_DEADLINE_MS;
  let problem = 'not asked yet';
  for (;;) {
    try {
      const served = await admin.servedWeights();
      if ('weights' in served) {
        if (served.weights.blue === weights.blue && served.weights.green === weights.green) return undefined;
        problem = `it still serves blue ${served.weights.blue} % green ${served.weights.green} %`;
      } else {
        problem = served.problem;
      }
    } catch (err) {
      problem = (err as Error).message;
    }
    Context.current().heartbeat({ confirming: problem });
    if (Date.now() >= deadline) return problem;
    await sleep(100);
  }
}
