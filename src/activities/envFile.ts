import type { HostConfig } from '../config/schema';
import { envValuesFor } from '../config/urls';
import type { DeployPlan } from '../shared/deployment';

/** The env-file key holding `traffic.network`, for the app's compose files to name their shared network. */
export const TRAFFIC_NETWORK_VARIABLE = 'TRAFFIC_NETWORK';

/** `SITE_IMAGE` for service "site", `MY_API_IMAGE` for "my-api". */
export const imageVariable = (service: string) => `${service.toUpperCase().replace(/-/g, '_')}_IMAGE`;

/**
 * The env file compose reads on each host: settings, the image of every service, the release
 * id, the shared network of colours (`TRAFFIC_NETWORK`, with a traffic section), and the
 * secrets, read on the worker by resolveSecrets (names in config, values never). The result
 * contains secrets: it goes to the host as a 0600 file and nowhere else.
 */
export function buildEnvFile(
  plan: Pick<DeployPlan, 'environment' | 'images' | 'request'>,
  host: HostConfig,
  secrets: Record<string, string>,
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
  for (const key of Object.keys(plan.environment.secrets)) {
    const value = secrets[key];
    if (value === undefined) throw new Error(`secret ${key} was not resolved before the env file`);
    secretValues.push(value);
    lines.push(`${key}=${value}`);
  }
  return { content: `${lines.join('\n')}\n`, secretValues };
}
