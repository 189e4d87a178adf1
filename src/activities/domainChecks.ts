import { promises as dns } from 'node:dns';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import type { EnvironmentConfig, HostConfig, TlsCheckConfig } from '../config/schema';
import { unbracketed } from '../config/urls';
import type { CheckResult } from '../shared/deployment';

/** Each DNS question gets this long per try, and two tries: a dead resolver fails in seconds. */
const DNS_TIMEOUT_MS = 3_000;
const DNS_TRIES = 2;
/** A host that accepts the connection but never finishes the handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
const DAY_MS = 86_400_000;

/** What a host's TLS handshake for one name showed. */
export interface CertificateFacts {
  /** The chain verified against the trusted CAs (expiry aside: see authorizationError). */
  authorized: boolean;
  /** OpenSSL's reason when not authorized, e.g. CERT_HAS_EXPIRED, SELF_SIGNED_CERT_IN_CHAIN. */
  authorizationError?: string;
  validTo: Date;
  /** Why the certificate does not cover the name, when it does not. */
  nameError?: string;
  /** The names it covers ("DNS:a, DNS:b") and its issuer's common name, for the report. */
  altNames?: string;
  issuer?: string;
}

const isoSeconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * One host's certificate for one name, judged: trusted, valid for the name, and valid for at
 * least `minValidDays` more days. The detail always names the expiry.
 */
export function judgeCertificate(
  domain: string,
  host: string,
  facts: CertificateFacts,
  minValidDays: number,
  now: Date,
): CheckResult {
  const until = isoSeconds(facts.validTo);
  const daysLeft = Math.floor((facts.validTo.getTime() - now.getTime()) / DAY_MS);
  const problems: string[] = [];
  const expired = facts.validTo.getTime() <= now.getTime() || facts.authorizationError === 'CERT_HAS_EXPIRED';
  if (expired) problems.push(`certificate expired on ${until}`);
  else if (daysLeft < minValidDays)
    problems.push(
      `certificate expires ${until}, in ${daysLeft} days: under the ${minValidDays} days required`,
    );
  // Expiry and the name are reported on their own above and below.
  const judgedApart = ['CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID'];
  if (!facts.authorized && !judgedApart.includes(facts.authorizationError ?? ''))
    problems.push(`certificate not trusted (${facts.authorizationError ?? 'unknown reason'})`);
  if (facts.nameError)
    problems.push(`certificate not valid for ${domain} (it covers ${facts.altNames || 'no names'})`);
  return {
    name: `tls ${domain}`,
    host,
    ok: problems.length === 0,
    detail: problems.length
      ? problems.join('; ')
      : `valid until ${until} (${daysLeft} days)${facts.issuer ? `, issued by ${facts.issuer}` : ''}`,
  };
}

/**
 * Where one name resolves, judged against where it must: every address one of `expected`
 * (the hosts' own, or the configured front addresses), and at least one address.
 */
export function judgeResolution(
  domain: string,
  environment: string,
  resolved: string[] | { error: string },
  expected: Map<string, string>,
): CheckResult {
  const name = `dns ${domain}`;
  const wanted = [...expected]
    .map(([address, label]) => (label ? `${label} ${address}` : address))
    .join(', ');
  if (!Array.isArray(resolved))
    return {
      name,
      host: environment,
      ok: false,
      detail: `does not resolve: ${resolved.error}`,
      // Only NXDOMAIN is an answer; a timeout or a refusal says nothing about the name.
      ...(resolved.error.startsWith('no such name') ? {} : { transient: true }),
    };
  if (!resolved.length) return { name, host: environment, ok: false, detail: 'resolves to no address' };
  const stray = resolved.filter((a) => !expected.has(a));
  if (stray.length)
    return {
      name,
      host: environment,
      ok: false,
      detail: `resolves to ${stray.join(', ')}, not one of ${environment}'s addresses (${wanted})`,
    };
  return {
    name,
    host: environment,
    ok: true,
    detail: `resolves to ${resolved.map((a) => (expected.get(a) ? `${a} (${expected.get(a)})` : a)).join(', ')}`,
  };
}

const errorCode = (err: unknown) =>
  (err as NodeJS.ErrnoException).code ?? (err as Error).message ?? String(err);

/** A name's A and AAAA records, from the configured DNS servers or the worker's own. */
export async function resolveDomain(
  domain: string,
  resolvers?: string[],
): Promise<string[] | { error: string }> {
  const resolver = new dns.Resolver({ timeout: DNS_TIMEOUT_MS, tries: DNS_TRIES });
  try {
    if (resolvers) resolver.setServers(resolvers);
  } catch (err) {
    return { error: `resolvers ${resolvers!.join(', ')} refused: ${(err as Error).message}` };
  }
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(domain), resolver.resolve6(domain)]);
  const addresses = [v4, v6].flatMap((r) => (r.status === 'fulfilled' ? r.value.map(canonicalIp) : []));
  if (addresses.length) return addresses;
  const codes = [v4, v6].flatMap((r) => (r.status === 'rejected' ? [errorCode(r.reason)] : []));
  // ENODATA for both families is an existing name without addresses.
  if (codes.every((c) => c === 'ENODATA')) return [];
  const code = codes.find((c) => c !== 'ENODATA') ?? codes[0]!;
  const via = resolvers ? ` (asked ${resolvers.join(', ')})` : '';
  return { error: (code === 'ENOTFOUND' ? 'no such name (NXDOMAIN)' : code) + via };
}

/** One spelling per address (IPv6 lower case and compressed), so equal addresses compare equal. */
export function canonicalIp(address: string): string {
  const ip = unbracketed(address);
  return isIP(ip) === 6 ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
}

/** The addresses a host answers on: its IP, or what its name resolves to on the worker. */
async function hostAddresses(host: HostConfig): Promise<string[]> {
  const address = unbracketed(host.address);
  if (isIP(address)) return [canonicalIp(address)];
  try {
    return (await dns.lookup(address, { all: true })).map((a) => canonicalIp(a.address));
  } catch {
    return [];
  }
}

/** The handshake of `domain` (as SNI) with one host, without trusting anything yet. */
export function readCertificate(
  address: string,
  port: number,
  domain: string,
  ca?: string[],
): Promise<CertificateFacts> {
  return new Promise((done, fail) => {
    const socket = tls.connect({
      host: unbracketed(address),
      port,
      servername: domain,
      ...(ca ? { ca } : {}),
      // Node would drop the connection before its certificate could be read: verification
      // still runs (socket.authorized, authorizationError) and judgeCertificate fails on it, so
      // an expired or untrusted certificate is reported with its expiry and names. Nothing is
      // sent over this connection; it is closed as soon as the certificate is read.
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new Error(`no TLS handshake within ${HANDSHAKE_TIMEOUT_MS / 1000} s`));
    }, HANDSHAKE_TIMEOUT_MS);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = socket.getPeerCertificate();
      socket.destroy();
      if (!cert || !cert.valid_to) {
        fail(new Error('no certificate was presented'));
        return;
      }
      const nameError = tls.checkServerIdentity(domain, cert);
      const authorizationError = socket.authorizationError as unknown as string | Error | undefined;
      done({
        authorized: socket.authorized,
        ...(authorizationError
          ? {
              authorizationError:
                typeof authorizationError === 'string'
                  ? authorizationError
                  : ((authorizationError as NodeJS.ErrnoException).code ?? authorizationError.message),
            }
          : {}),
        validTo: new Date(cert.valid_to),
        ...(nameError ? { nameError: nameError.message } : {}),
        ...(cert.subjectaltname ? { altNames: cert.subjectaltname } : {}),
        ...(cert.issuer?.CN ? { issuer: String(cert.issuer.CN) } : {}),
      });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
  });
}

/**
 * The domain checks of an environment: where each name resolves, and each host's certificate
 * for each name. Every question runs at once; each has its own deadline.
 */
export async function domainChecks(
  env: EnvironmentConfig,
  config: TlsCheckConfig,
  now: () => Date = () => new Date(),
): Promise<CheckResult[]> {
  let ca: string[] | undefined;
  if (config.caFile) {
    try {
      ca = [...tls.rootCertificates, await readFile(config.caFile, 'utf8')];
    } catch (err) {
      return [
        {
          name: 'tls',
          host: env.name,
          ok: false,
          detail: `caFile ${config.caFile} cannot be read on the worker: ${errorCode(err)}`,
        },
      ];
    }
  }
  const expected = new Map<string, string>();
  if (config.addresses) for (const a of config.addresses) expected.set(canonicalIp(a), '');
  else
    for (const host of env.hosts)
      for (const address of await hostAddresses(host)) expected.set(address, host.name);
  const resolutions = config.domains.map(async (domain) =>
    judgeResolution(domain, env.name, await resolveDomain(domain, config.resolvers), expected),
  );
  const certificates = config.domains.flatMap((domain) =>
    env.hosts.map(async (host): Promise<CheckResult> => {
      try {
        const facts = await readCertificate(host.address, config.port, domain, ca);
        return judgeCertificate(domain, host.name, facts, config.minValidDays, now());
      } catch (err) {
        return {
          name: `tls ${domain}`,
          host: host.name,
          ok: false,
          detail: `${host.address}:${config.port}: ${errorCode(err)}`,
          transient: true,
        };
      }
    }),
  );
  return Promise.all([...resolutions, ...certificates]);
}
