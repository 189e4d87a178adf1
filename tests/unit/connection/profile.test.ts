import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issue, makeCa, type Issued, type LabCa } from '../../../lab/certificates';
import {
  ConnectionConfigError,
  connectFailureHint,
  connectOptions,
  loadTemporalConnection,
} from '../../../src/connection/profile';
import { loadSettings } from '../../../src/shared/settings';

let dir: string;
let ca: LabCa;
let client: Issued;
let other: Issued;
let expired: Issued;
let noFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'connection-profile-'));
  ca = makeCa(dir, 'unit-ca');
  client = issue(ca, { name: 'client', use: 'client' });
  other = issue(ca, { name: 'other', use: 'client' });
  expired = issue(ca, { name: 'old', use: 'client', expired: true });
  noFile = join(dir, 'empty.toml');
  writeFileSync(noFile, '');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** No file of the machine's user is read: every case names its own. */
const load = (env: NodeJS.ProcessEnv) => loadTemporalConnection({ TEMPORAL_CONFIG_FILE: noFile, ...env });

function failure(env: NodeJS.ProcessEnv): string {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectionConfigError);
    return (err as Error).message;
  }
  throw new Error('the settings were accepted');
}

test('without settings: the local dev server, plain', () => {
  const c = load({});
  expect(connectOptions(c)).toEqual({ address: '127.0.0.1:7233', tls: false });
  expect(c.namespace).toBe('default');
  expect(load({ TEMPORAL_ADDRESS: '' }).address).toBe('127.0.0.1:7233');
});

test('a TOML profile gives address, namespace and TLS; the variables win over it', () => {
  const file = join(dir, 'temporal.toml');
  writeFileSync(
    file,
    [
      '[profile.default]',
      'address = "local:7233"',
      '[profile.prod]',
      'address = "temporal.example.com:7233"',
      'namespace = "shop"',
      '[profile.prod.tls]',
      'server_name = "frontend.example.com"',
      `server_ca_cert_path = "${ca.cert}"`,
      `client_cert_path = "${client.cert}"`,
      `client_key_path = "${client.key}"`,
      '',
    ].join('\n'),
  );
  expect(loadTemporalConnection({ TEMPORAL_CONFIG_FILE: file }).address).toBe('local:7233');
  const prod = loadTemporalConnection({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' });
  expect(prod.address).toBe('temporal.example.com:7233');
  expect(prod.namespace).toBe('shop');
  const tls = prod.tls as { serverNameOverride: string; clientCertPair: { crt: Uint8Array } };
  expect(tls.serverNameOverride).toBe('frontend.example.com');
  expect(Buffer.from(tls.clientCertPair.crt).toString()).toContain('BEGIN CERTIFICATE');
  expect(prod.origins.clientCert).toBe(
    `tls.client_cert_path or tls.client_cert_data of profile "prod" in ${file}`,
  );

  const overridden = loadTemporalConnection({
    TEMPORAL_CONFIG_FILE: file,
    TEMPORAL_PROFILE: 'prod',
    TEMPORAL_ADDRESS: 'other:7233',
    TEMPORAL_NAMESPACE: 'ops',
  });
  expect([overridden.address, overridden.namespace]).toEqual(['other:7233', 'ops']);
  expect(loadSettings({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' }).temporalAddress).toBe(
    'temporal.example.com:7233',
  );
});

test('a profile that is not in the file, and a file that is not TOML, are named', () => {
  const file = join(dir, 'one.toml');
  writeFileSync(file, '[profile.default]\naddress = "x:1"\n');
  expect(failure({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' })).toMatch(
    new RegExp(
      `^Temporal connection profile "prod" in ${file} \\(TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE\\): .*prod`,
    ),
  );
  writeFileSync(file, '[profile.default]\naddress = [\n');
  expect(failure({ TEMPORAL_CONFIG_FILE: file })).toContain(
    `Temporal connection profile "default" in ${file}`,
  );
  // Settings read by every command fall back to the variables; the error comes once, at connect.
  expect(loadSettings({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_ADDRESS: 'a:1' }).temporalAddress).toBe('a:1');
});

test('a TEMPORAL_CONFIG_FILE that does not exist is named, not read as empty', () => {
  const missing = join(dir, 'typo.toml');
  expect(failure({ TEMPORAL_CONFIG_FILE: missing })).toBe(`TEMPORAL_CONFIG_FILE ${missing}: no such file`);
  // An empty file has no profiles: the variables alone, unless a profile is asked for.
  expect(load({ TEMPORAL_ADDRESS: 'a:1' }).address).toBe('a:1');
  expect(failure({ TEMPORAL_PROFILE: 'prod' })).toBe(`TEMPORAL_PROFILE "prod": ${noFile} has no profiles`);
});

test('a certificate without its key, a key without its certificate, and unreadable files name the variable', () => {
  expect(failure({ TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert })).toBe(
    "TEMPORAL_TLS_CLIENT_CERT_PATH is set but no client key is: set TEMPORAL_TLS_CLIENT_KEY_PATH (or tls.client_key_path in the profile) to the certificate's key",
  );
  expect(failure({ TEMPORAL_TLS_CLIENT_KEY_PATH: client.key })).toMatch(
    /^TEMPORAL_TLS_CLIENT_KEY_PATH is set but no client certificate is/,
  );
  expect(
    failure({
      TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, 'gone.key'),
    }),
  ).toBe(`TEMPORAL_TLS_CLIENT_KEY_PATH: cannot read ${join(dir, 'gone.key')} (ENOENT)`);
  expect(failure({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: client.key })).toBe(
    'TEMPORAL_TLS_SERVER_CA_CERT_PATH: not a PEM certificate',
  );
});

test('an expired certificate and a key of another certificate are refused before connecting', () => {
  expect(
    failure({ TEMPORAL_TLS_CLIENT_CERT_PATH: expired.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: expired.key }),
  ).toBe('TEMPORAL_TLS_CLIENT_CERT_PATH: the certificate (CN=old) expired on 2020-01-02T00:00:00.000Z');
  expect(
    failure({ TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: other.key }),
  ).toBe(
    'TEMPORAL_TLS_CLIENT_KEY_PATH: the key does not belong to the certificate (CN=client) of TEMPORAL_TLS_CLIENT_CERT_PATH',
  );
  // Valid now, not in 2019.
  expect(() =>
    loadTemporalConnection(
      {
        TEMPORAL_CONFIG_FILE: noFile,
        TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: client.key,
      },
      new Date('2019-06-01T00:00:00Z'),
    ),
  ).toThrow(/TEMPORAL_TLS_CLIENT_CERT_PATH: the certificate \(CN=client\) is not valid before /);
});

test('an API key turns TLS on, is never in a message, and a refusal names its setting', () => {
  const key = 'k-0123456789abcdef';
  const c = load({ TEMPORAL_API_KEY: key, TEMPORAL_ADDRESS: 'ns.tmprl.cloud:7233' });
  expect(connectOptions(c)).toEqual({ address: 'ns.tmprl.cloud:7233', tls: true, apiKey: key });
  const hint = connectFailureHint(c, 'status: Unauthenticated, message: "Request unauthorized."');
  expect(hint).toBe(
    'Temporal at ns.tmprl.cloud:7233 refused the request: check the API key of TEMPORAL_API_KEY',
  );
  expect(JSON.stringify(c.origins)).not.toContain(key);
  // TEMPORAL_TLS=false keeps an API key off TLS (a proxy on loopback, say).
  expect(load({ TEMPORAL_API_KEY: key, TEMPORAL_TLS: 'false' }).tls).toBe(false);
});

test('a handshake failure names the CA, server name and client certificate settings in use', () => {
  const c = load({
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert,
    TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: client.key,
  });
  expect(connectFailureHint(c, 'transport error: invalid peer certificate: UnknownIssuer')).toBe(
    "TLS with 127.0.0.1:7233 failed: the server's certificate must be signed by the CA of TEMPORAL_TLS_SERVER_CA_CERT_PATH; its name must match the address or TEMPORAL_TLS_SERVER_NAME; the server must accept the client certificate of TEMPORAL_TLS_CLIENT_CERT_PATH",
  );
  // A server that is simply down is not a settings problem.
  expect(connectFailureHint(c, 'tcp connect error: Connection refused (os error 111)')).toBeUndefined();
  expect(connectFailureHint(load({}), 'invalid peer certificate')).toBeUndefined();
});
