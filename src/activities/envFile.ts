import type { HostConfig } from '../config/schema';
import { envValuesFor } from '../config/urls';
import type { DeployPlan } from '../shared/deployment';

/** Characters a secret may not contain: compose v1 and v2 read env files differently for these. */
const UNSAFE_SECRET = /[\s$'"`\\#]/;

export class MissingSecretError extends Error {
  name = 'MissingSecretError';
}

/** The env-file key holding `traffic.network`, for the app's compose files to name their shared network. */
export const TRAFFIC_NETWORK_VARIABLE = 'TRAFFIC_NETWORK';

/** Why a secret cannot be written to an env file (unset, or characters it cannot carry); never its value. */
export function secretProblem(
  key: string,
  fromEnv: string,
  workerEnv: NodeJS.ProcessEnv,
): string | undefined {
  const value = workerEnv[fromEnv];
  if (value === undefined || value === '')
    return `secret ${key}: the worker's environment variable ${fromEnv} is not set`;
  if (UNSAFE_SECRET.test(value))
    return `secret ${key}: the value of ${fromEnv} contains whitespace, quotes, $, \\, \` or #, which env files cannot carry safely`;
  return undefined;
}

/** `SITE_IMAGE` for service "site", `MY_API_IMAGE` for "my-api". */
export const imageVariable = (service: string) => `${service.toUpperCase().replace(/-/g, '_')}_IMAGE`;

/**
 * The env file compose reads on each host: settings, the image of every service, the release
 * id, the shared network of colours (`TRAFFIC_NETWORK`, with a traffic section), and secrets taken from the worker's environment (names in config, values never). The
 * result contains secrets: it goes to the host as a 0600 file and nowhere else.
 */
export function buildEnvFile(
  plan: Pick<DeployPlan, 'environment' | 'images' | 'request'>,
  host: HostConfig,
  workerEnv: NodeJS.ProcessEnv,
): { content: string; secretValues: string[] } {
  const lines: string[] = [
    '# Written by deployctl; every deployment replaces it.',
    `APP_RELEASE=${plan.request.release}`,
  ];
  // The shared stack creates the network the colours join: the one name both must agree on.
  if (plan.environment.traffic) lines.push(`${TRAFFIC_NETWORK_VARIABLE}=${plan.environment.traffic.network}`);
  for (const [key, value] of Object.entries(envValuesFor(plan.environment, host)))
    lines.push(`${key}=${value}`);
  for (const service of plan.environment.services)
    lines.push(`${imageVariable(service.name)}=${plan.images[service.name]}`);
  const secretValues: string[] = [];
  for (const [key, { fromEnv }] of Object.entries(plan.environment.secrets)) {
    const problem = secretProblem(key, fromEnv, workerEnv);
    if (problem) throw new MissingSecretError(problem);
    const value = workerEnv[fromEnv] as string;
    secretValues.push(value);
    lines.push(`${key}=${value}`);
  }
  return { content: `${lines.join('\n')}\n`, secretValues };
}
