import type { EnvironmentConfig, HostConfig } from './schema';

/** A host address as a socket takes it: an IPv6 literal without its URL brackets ("[::1]" -> "::1"). */
export function unbracketed(address: string): string {
  return address.replace(/^\[(.*)\]$/, '$1');
}

/** The env-file settings one host gets: the environment's, then the host's own over them. */
export function envValuesFor(environment: EnvironmentConfig, host: HostConfig): Record<string, string> {
  return { ...environment.env, ...host.env };
}

/**
 * A configured URL for one host: "{host}" is its address, "{KEY}" the host's env-file value of
 * KEY (so a scratch stack on other ports is probed on its own ports). The schema rejects
 * placeholders that name nothing; one left unfilled here is kept as is and fails to connect.
 */
export function expandUrl(template: string, environment: EnvironmentConfig, host: HostConfig): string {
  const values = envValuesFor(environment, host);
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (whole, key: string) => {
    if (key === 'host') return unbracketed(host.address);
    return values[key] ?? whole;
  });
}
