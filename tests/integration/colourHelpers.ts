import { routingFile } from '../../src/commands/colours';
import type { DeployRequest } from '../../src/config/request';
import type { EnvironmentConfig } from '../../src/config/schema';
import { withHost } from '../../src/remote/executor';
import { readRoutingWeights } from '../../src/traffic/routing';

/** What the colour tests share: the demo app's requests, what answers, what the host routes. */

/** A deployment of the demo app's three services at `tag`, as release `<tag>-<stamp>`. */
export function demoRequest(
  environment: string,
  tag: string,
  stamp: string,
  requestedBy: string,
  extra: Partial<DeployRequest> = {},
): DeployRequest {
  return {
    environment,
    release: `${tag}-${stamp}`,
    images: { site: tag, saas: tag, api: tag },
    requestedBy,
    ...extra,
  };
}

/** The release the api answers with through the proxy, as a user reaches it. */
export async function releaseAnswering(proxy: string): Promise<string> {
  const res = await fetch(`${proxy}/api/version`, { signal: AbortSignal.timeout(3_000) });
  return ((await res.json()) as { release: string }).release;
}

/** The environment's routing file on its (first) host as text and, when it parses, its weights. */
export async function routingOnHost(environment: EnvironmentConfig) {
  const host = environment.hosts[0];
  const file = routingFile(environment, host);
  const text = (await withHost(host, (h) => h.run(['cat', '--', file], { timeoutMs: 30_000 }))).stdout;
  return { file, text, weights: readRoutingWeights(text, environment, file) };
}
