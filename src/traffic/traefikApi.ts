import type { EnvironmentConfig, HostConfig } from '../config/schema';
import { expandUrl } from '../config/urls';
import type { Weights } from './colours';
import { colourService, routedService } from './colours';

/**
 * What the worker reads from Traefik's internal entrypoint (`traffic.adminUrl`): the routing it
 * actually serves (its API), whether it is up (ping) and its Prometheus metrics. Read-only.
 */
export class TraefikAdmin {
  readonly baseUrl: string;

  constructor(
    private readonly env: EnvironmentConfig,
    host: HostConfig,
    private readonly timeoutMs = 5_000,
  ) {
    if (!env.traffic) throw new Error(`environment ${env.name} has no traffic section: no Traefik to ask`);
    this.baseUrl = expandUrl(env.traffic.adminUrl, env, host).replace(/\/+$/, '');
  }

  private async get(path: string): Promise<{ status: number; body: string }> {
    const url = `${this.baseUrl}${path}`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), redirect: 'manual' });
      return { status: res.status, body: await res.text() };
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new Error(`Traefik's admin entrypoint ${url} did not answer: ${cause}`);
    }
  }

  async ping(): Promise<boolean> {
    return (await this.get('/ping')).status === 200;
  }

  async metricsText(): Promise<string> {
    const { status, body } = await this.get('/metrics');
    if (status !== 200) throw new Error(`Traefik's ${this.baseUrl}/metrics answered HTTP ${status}`);
    return body;
  }

  /**
   * The weights Traefik serves for every web service of the environment, or why they cannot be
   * read (the service is missing: the file was refused or not loaded yet).
   */
  async servedWeights(): Promise<{ weights: Weights } | { problem: string }> {
    let found: Weights | undefined;
    for (const service of this.env.services) {
      const name = `${routedService(this.env, service.name)}@file`;
      const { status, body } = await this.get(`/api/http/services/${encodeURIComponent(name)}`);
      if (status === 404) return { problem: `Traefik does not serve ${name}` };
      if (status !== 200) return { problem: `Traefik's API answered HTTP ${status} for ${name}` };
      const served = JSON.parse(body) as {
        status?: string;
        weighted?: { services?: { name?: string; weight?: number }[] };
      };
      const children = served.weighted?.services;
      if (!Array.isArray(children)) return { problem: `${name} is not a weighted service in Traefik` };
      if (served.status !== 'enabled')
        return { problem: `Traefik shows ${name} as ${served.status ?? 'not enabled'}` };
      const weightOf = (colour: 'blue' | 'green') =>
        children.find((c) => c.name?.replace(/@file$/, '') === colourService(this.env, service.name, colour))
          ?.weight ?? 0;
      const weights: Weights = { blue: weightOf('blue'), green: weightOf('green') };
      if (found && (found.blue !== weights.blue || found.green !== weights.green))
        return { problem: `Traefik serves different weights for ${name} than for the other services` };
      found = weights;
    }
    return { weights: found! };
  }
}
