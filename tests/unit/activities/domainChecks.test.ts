import type { Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { parse, stringify } from 'yaml';
import { issue, makeCa, type LabCa } from '../../../lab/certificates';
import { serveDns } from '../../../lab/dnsServer';
import {
  canonicalIp,
  domainChecks,
  judgeCertificate,
  judgeResolution,
  resolveDomain,
} from '../../../src/activities/domainChecks';
import { ConfigError } from '../../../src/config/errors';
import { parseEnvironment } from '../../../src/config/load';
import type { EnvironmentConfig, TlsCheckConfig } from '../../../src/config/schema';
import { FIXTURES, stagingFixture } from '../helpers';

const NOW = new Date('2026-12-05T12:00:00Z');

describe('judging a certificate', () => {
  const good = { authorized: true, validTo: new Date('2027-03-05T12:00:00Z'), issuer: 'Acme CA' };

  test('trusted, valid for the name and for long enough: the detail says until when', () => {
    expect(judgeCertificate('shop.example.com', 'web-1', good, 14, NOW)).toEqual({
      name: 'tls shop.example.com',
      host: 'web-1',
      ok: true,
      detail: 'valid until 2027-03-05T12:00:00Z (90 days), issued by Acme CA',
    });
  });

  test('too close to its expiry: names the expiry, the days left and the days required', () => {
    const r = judgeCertificate('shop.example.com', 'web-1', good, 120, NOW);
    expect(r.ok).toBe(false);
    expect(r.detail).toBe(
      'certificate expires 2027-03-05T12:00:00Z, in 90 days: under the 120 days required',
    );
  });

  test('expired, untrusted and for another name: every problem, each once', () => {
    const r = judgeCertificate(
      'shop.example.com',
      'web-1',
      {
        authorized: false,
        authorizationError: 'CERT_HAS_EXPIRED',
        validTo: new Date('2026-01-02T00:00:00Z'),
        nameError: "Host: shop.example.com. is not in the cert's altnames: DNS:old.example.com",
        altNames: 'DNS:old.example.com',
      },
      14,
      NOW,
    );
    expect(r.detail).toBe(
      'certificate expired on 2026-01-02T00:00:00Z; certificate not valid for shop.example.com (it covers DNS:old.example.com)',
    );
    const untrusted = judgeCertificate(
      'shop.example.com',
      'web-1',
      { ...good, authorized: false, authorizationError: 'SELF_SIGNED_CERT_IN_CHAIN' },
      14,
      NOW,
    );
    expect(untrusted.detail).toBe('certificate not trusted (SELF_SIGNED_CERT_IN_CHAIN)');
  });
});

describe('judging where a name resolves', () => {
  const hosts = new Map([
    ['10.0.0.1', 'web-1'],
    ['10.0.0.2', 'web-2'],
  ]);

  test("only the environment's addresses: ok, naming the hosts", () => {
    expect(judgeResolution('shop.example.com', 'production', ['10.0.0.2'], hosts)).toEqual({
      name: 'dns shop.example.com',
      host: 'production',
      ok: true,
      detail: 'resolves to 10.0.0.2 (web-2)',
    });
  });

  test('a stray address, no address, or no name: fails saying which', () => {
    expect(judgeResolution('shop.example.com', 'production', ['10.0.0.1', '10.9.9.9'], hosts).detail).toBe(
      "resolves to 10.9.9.9, not one of production's addresses (web-1 10.0.0.1, web-2 10.0.0.2)",
    );
    expect(judgeResolution('shop.example.com', 'production', [], hosts)).toMatchObject({
      ok: false,
      detail: 'resolves to no address',
    });
    expect(
      judgeResolution('shop.example.com', 'production', { error: 'no such name (NXDOMAIN)' }, hosts),
    ).toEqual({
      name: 'dns shop.example.com',
      host: 'production',
      ok: false,
      detail: 'does not resolve: no such name (NXDOMAIN)',
    });
  });

  test('no answer (a resolver timing out) is transient: the checks are asked again before a release is undone', () => {
    expect(judgeResolution('shop.example.com', 'production', { error: 'ETIMEOUT' }, hosts)).toMatchObject({
      ok: false,
      transient: true,
    });
  });

  test('IPv6 addresses compare in one spelling; a resolver Node refuses is a failed check, not a crash', async () => {
    expect(canonicalIp('2001:DB8:0::1')).toBe('2001:db8::1');
    expect(canonicalIp('[2001:db8::1]')).toBe('2001:db8::1');
    expect(canonicalIp('10.0.0.1')).toBe('10.0.0.1');
    expect(await resolveDomain('shop.example.com', ['010.0.0.1'])).toEqual({
      error: expect.stringMatching(/^resolvers 010\.0\.0\.1 refused: /),
    });
  });
});

/**
 * Against real parts: a TLS server on loopback presenting, by SNI, certificates of a CA made for
 * the test (one good, one expired, one for another name), and the lab's DNS server answering
 * from a records file.
 */
describe('domain checks against a real TLS server and DNS server', () => {
  let dir: string;
  let ca: LabCa;
  let server: tls.Server;
  let port: number;
  let dns: Socket;
  let resolver: string;
  let recordsFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'domain-checks-'));
    ca = makeCa(dir, 'web-ca');
    const contexts = new Map(
      [
        issue(ca, { name: 'good', use: 'server', altNames: ['good.lab.test'] }),
        issue(ca, { name: 'old', use: 'server', altNames: ['old.lab.test'], expired: true }),
      ].map((cert, i) => [
        ['good.lab.test', 'old.lab.test'][i]!,
        tls.createSecureContext({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }),
      ]),
    );
    // Any other name gets the good certificate, which does not cover it.
    server = tls.createServer(
      {
        SNICallback: (name, done) => done(null, contexts.get(name) ?? contexts.get('good.lab.test')),
      },
      (socket) => socket.end(),
    );
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    port = (server.address() as AddressInfo).port;
    recordsFile = join(dir, 'records.json');
    writeFileSync(
      recordsFile,
      JSON.stringify({
        'good.lab.test': ['127.0.0.1'],
        'old.lab.test': ['127.0.0.1'],
        'other.lab.test': ['127.0.0.1'],
        'stray.lab.test': ['127.0.0.1', '127.0.0.9'],
      }),
    );
    dns = await serveDns(recordsFile);
    resolver = `127.0.0.1:${dns.address().port}`;
  });

  afterAll(async () => {
    await new Promise((done) => server?.close(done));
    await new Promise<void>((done) => (dns ? dns.close(done) : done()));
    rmSync(dir, { recursive: true, force: true });
  });

  function environment(): EnvironmentConfig {
    const env = stagingFixture();
    return { ...env, hosts: [{ ...env.hosts[0]!, name: 'web-1', address: '127.0.0.1' }] };
  }

  const config = (domains: string[], extra: Partial<TlsCheckConfig> = {}): TlsCheckConfig => ({
    domains,
    port,
    minValidDays: 7,
    resolvers: [resolver],
    caFile: ca.cert,
    ...extra,
  });

  test('a good name: it resolves to the host and its certificate is trusted for 29 days and more', async () => {
    const results = await domainChecks(environment(), config(['good.lab.test']));
    expect(results).toEqual([
      { name: 'dns good.lab.test', host: 'staging', ok: true, detail: 'resolves to 127.0.0.1 (web-1)' },
      {
        name: 'tls good.lab.test',
        host: 'web-1',
        ok: true,
        detail: expect.stringMatching(
          /^valid until \d{4}-\d\d-\d\dT[\d:]+Z \((29|30) days\), issued by web-ca$/,
        ),
      },
    ]);
  });

  test('an expired certificate, one for another name, too few days left, a stray address: each named', async () => {
    const results = await domainChecks(
      environment(),
      config(['old.lab.test', 'other.lab.test', 'stray.lab.test'], { minValidDays: 60 }),
    );
    const byName = Object.fromEntries(results.map((r) => [`${r.name}@${r.host}`, r]));
    expect(byName['tls old.lab.test@web-1']).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/^certificate expired on 2020-01-02T00:00:00Z$/),
    });
    expect(byName['tls other.lab.test@web-1']).toMatchObject({
      ok: false,
      detail: expect.stringMatching(
        /^certificate expires \S+, in (29|30) days: under the 60 days required; certificate not valid for other.lab.test \(it covers DNS:good.lab.test\)$/,
      ),
    });
    expect(byName['dns stray.lab.test@staging']).toMatchObject({
      ok: false,
      detail: "resolves to 127.0.0.9, not one of staging's addresses (web-1 127.0.0.1)",
    });
    expect(byName['dns old.lab.test@staging']!.ok).toBe(true);
  });

  test("without the lab CA the certificate is not trusted; a name the DNS server does not hold doesn't resolve", async () => {
    const { caFile: _, ...noCa } = config(['good.lab.test', 'missing.lab.test']);
    const results = await domainChecks(environment(), noCa);
    const byName = Object.fromEntries(results.map((r) => [`${r.name}@${r.host}`, r]));
    expect(byName['tls good.lab.test@web-1']!.detail).toMatch(
      /^certificate not trusted \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)$/,
    );
    expect(byName['dns missing.lab.test@staging']!.detail).toBe(
      `does not resolve: no such name (NXDOMAIN) (asked ${resolver})`,
    );
  });

  test('a host that does not answer, a resolver that is down and a caFile that is missing: clear failures', async () => {
    const closed = await new Promise<number>((done) => {
      const probe = tls.createServer();
      probe.listen(0, '127.0.0.1', () => {
        const p = (probe.address() as AddressInfo).port;
        probe.close(() => done(p));
      });
    });
    const refused = await domainChecks(environment(), config(['good.lab.test'], { port: closed }));
    expect(refused.find((r) => r.name === 'tls good.lab.test')).toMatchObject({
      ok: false,
      detail: `127.0.0.1:${closed}: ECONNREFUSED`,
    });
    const deadResolver = await domainChecks(
      environment(),
      config(['good.lab.test'], { resolvers: [`127.0.0.1:${closed}`] }),
    );
    expect(deadResolver.find((r) => r.name === 'dns good.lab.test')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(
        new RegExp(`^does not resolve: (ECONNREFUSED|ETIMEOUT) \\(asked 127.0.0.1:${closed}\\)$`),
      ),
    });
    expect(
      await domainChecks(environment(), config(['good.lab.test'], { caFile: join(dir, 'nope.pem') })),
    ).toEqual([
      {
        name: 'tls',
        host: 'staging',
        ok: false,
        detail: `caFile ${join(dir, 'nope.pem')} cannot be read on the worker: ENOENT`,
      },
    ]);
  });
});

describe('the tls section of postDeployChecks', () => {
  const base = () => parse(readFileSync(join(FIXTURES, 'staging.yaml'), 'utf8'));
  function refusal(tlsSection: unknown): string {
    const doc = base();
    doc.postDeployChecks = { ...(doc.postDeployChecks ?? {}), tls: tlsSection };
    try {
      parseEnvironment(stringify(doc), 'staging.yaml');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error(`accepted ${JSON.stringify(tlsSection)}`);
  }

  test('defaults: port 443, 14 days, the machine resolver', () => {
    const doc = base();
    doc.postDeployChecks = { ...(doc.postDeployChecks ?? {}), tls: { domains: ['shop.example.com'] } };
    const env = parseEnvironment(stringify(doc), 'staging.yaml');
    expect(env.postDeployChecks.tls).toEqual({ domains: ['shop.example.com'], port: 443, minValidDays: 14 });
  });

  test('a hostile domain, a bad resolver, a duplicate, a relative caFile: refused naming field and value', () => {
    expect(refusal({ domains: ['shop.example.com;rm -rf /'] })).toMatch(
      /postDeployChecks\.tls\.domains\.0.*must be a lowercase DNS name/s,
    );
    expect(refusal({ domains: ['a.example.com'], resolvers: ['1.2.3.999'] })).toMatch(
      /postDeployChecks\.tls\.resolvers\.0.*must be an IP address with an optional port/s,
    );
    expect(refusal({ domains: ['a.example.com', 'a.example.com'] })).toMatch(
      /duplicate domain "a.example.com"/,
    );
    expect(refusal({ domains: ['a.example.com'], caFile: 'ca.pem' })).toMatch(
      /postDeployChecks\.tls\.caFile.*must be an absolute path/s,
    );
    expect(refusal({ domains: ['a.example.com'], minValidDays: -1 })).toMatch(
      /postDeployChecks\.tls\.minValidDays/,
    );
  });
});
