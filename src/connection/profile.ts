import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  loadClientConfigProfile,
  type ClientConfigProfile,
  type ConfigDataSource,
} from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { tlsHandshakeError } from './tlsHandshake';

/**
 * How the worker and deployctl reach Temporal: a profile of Temporal's own client config
 * (TOML, `TEMPORAL_CONFIG_FILE` and `TEMPORAL_PROFILE`) with the standard `TEMPORAL_*`
 * variables over it, so a team's existing profile for the `temporal` CLI works here as is:
 * address, namespace, TLS (client certificate and key, server CA, server name) and API key.
 */
export interface TemporalConnection {
  address: string;
  namespace: string;
  /** false: plain; true: TLS with the system's roots; an object: TLS with these materials. */
  tls: TLSConfig | boolean;
  /** Sent as a bearer token; never printed. */
  apiKey?: string;
  metadata?: Record<string, string>;
  /** Where the settings came from, for messages: names only, never values. */
  origins: Origins;
}

export interface Origins {
  clientCert?: string;
  clientKey?: string;
  serverCA?: string;
  apiKey?: string;
}

/** A connection setting that cannot be used; the message names the setting and the rule. */
export class ConnectionConfigError extends Error {
  override name = 'ConnectionConfigError';
}

export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';
const DEFAULT_PROFILE = 'default';

/** The file envconfig reads, as it resolves it (TEMPORAL_CONFIG_FILE, else the user's config dir). */
function configFile(env: NodeJS.ProcessEnv): string {
  if (env.TEMPORAL_CONFIG_FILE) return env.TEMPORAL_CONFIG_FILE;
  const base =
    process.platform === 'darwin'
      ? join(homedir(), 'Library', 'Application Support')
      : process.platform === 'win32'
        ? (env.APPDATA ?? homedir())
        : (env.XDG_CONFIG_HOME ?? join(homedir(), '.config'));
  return join(base, 'temporalio', 'temporal.toml');
}

function profileName(env: NodeJS.ProcessEnv): string {
  return env.TEMPORAL_PROFILE || DEFAULT_PROFILE;
}

/** The profile with the variables applied, as envconfig merges them; its errors made ours. */
function loadProfile(env: NodeJS.ProcessEnv): ClientConfigProfile {
  // envconfig reads a missing file as an empty one: named here, a typo would otherwise quietly
  // connect to the default address instead.
  if (env.TEMPORAL_CONFIG_FILE && !existsSync(env.TEMPORAL_CONFIG_FILE))
    throw new ConnectionConfigError(`TEMPORAL_CONFIG_FILE ${env.TEMPORAL_CONFIG_FILE}: no such file`);
  // envconfig fails on a file without any profile (an empty one, say): only the variables then.
  const file = configFile(env);
  if (existsSync(file) && !/\bprofile\b/.test(readFileSync(file, 'utf8'))) {
    if (env.TEMPORAL_PROFILE)
      throw new ConnectionConfigError(
        `TEMPORAL_PROFILE ${JSON.stringify(env.TEMPORAL_PROFILE)}: ${file} has no profiles`,
      );
    return loadClientConfigProfile({ disableFile: true, overrideEnvVars: env as Record<string, string> });
  }
  try {
    return loadClientConfigProfile({
      overrideEnvVars: env as Record<string, string>,
      ...(env.TEMPORAL_PROFILE ? { profile: env.TEMPORAL_PROFILE } : {}),
    });
  } catch (err) {
    throw new ConnectionConfigError(
      `Temporal connection profile "${profileName(env)}" in ${file} (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE): ${(err as Error).message}`,
    );
  }
}

/**
 * Who set a value: the variable when it is set (it wins), else the TOML key of the profile.
 * `kinds` pairs each variable with its TOML key (a path and a data form for files).
 */
function originOf(env: NodeJS.ProcessEnv, kinds: [envVar: string, tomlKey: string][]): string {
  for (const [envVar] of kinds) if (env[envVar] !== undefined) return envVar;
  const keys = kinds.map(([, key]) => key).join(' or ');
  return `${keys} of profile "${profileName(env)}" in ${configFile(env)}`;
}

const CLIENT_CERT: [string, string][] = [
  ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'tls.client_cert_path'],
  ['TEMPORAL_TLS_CLIENT_CERT_DATA', 'tls.client_cert_data'],
];
const CLIENT_KEY: [string, string][] = [
  ['TEMPORAL_TLS_CLIENT_KEY_PATH', 'tls.client_key_path'],
  ['TEMPORAL_TLS_CLIENT_KEY_DATA', 'tls.client_key_data'],
];
const SERVER_CA: [string, string][] = [
  ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'tls.server_ca_cert_path'],
  ['TEMPORAL_TLS_SERVER_CA_CERT_DATA', 'tls.server_ca_cert_data'],
];

function readSource(source: ConfigDataSource, where: string): Buffer {
  if ('data' in source) return Buffer.from(source.data);
  try {
    return readFileSync(source.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConnectionConfigError(`${where}: cannot read ${source.path} (${code})`);
  }
}

function subjectOf(cert: X509Certificate): string {
  return cert.subject.split('\n').join(', ');
}

/** A certificate that parses and is valid now: an expired one is named here, not by a failed handshake. */
function certificate(pem: Buffer, where: string, now: Date): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw new ConnectionConfigError(`${where}: not a PEM certificate`);
  }
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  if (notAfter < now)
    throw new ConnectionConfigError(
      `${where}: the certificate (${subjectOf(cert)}) expired on ${notAfter.toISOString()}`,
    );
  if (notBefore > now)
    throw new ConnectionConfigError(
      `${where}: the certificate (${subjectOf(cert)}) is not valid before ${notBefore.toISOString()}`,
    );
  return cert;
}

function privateKey(pem: Buffer, where: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    throw new ConnectionConfigError(`${where}: not a PEM private key`);
  }
}

/**
 * The TLS materials, read and checked before anything connects: a client certificate without
 * its key (or the reverse), an unreadable or expired file, a key of another certificate.
 */
function tlsOf(
  profile: ClientConfigProfile,
  env: NodeJS.ProcessEnv,
  origins: Origins,
  now: Date,
): TLSConfig | boolean {
  const tls = profile.tls;
  if (!tls) return profile.apiKey !== undefined;
  if (tls.disabled) return false;
  const result: TLSConfig = {};
  if (tls.serverName) result.serverNameOverride = tls.serverName;
  if (tls.serverCACert) {
    origins.serverCA = originOf(env, SERVER_CA);
    const ca = readSource(tls.serverCACert, origins.serverCA);
    certificate(ca, origins.serverCA, now);
    result.serverRootCACertificate = ca;
  }
  if (tls.clientCert || tls.clientKey) {
    origins.clientCert = originOf(env, CLIENT_CERT);
    origins.clientKey = originOf(env, CLIENT_KEY);
    if (!tls.clientKey)
      throw new ConnectionConfigError(
        `${origins.clientCert} is set but no client key is: set TEMPORAL_TLS_CLIENT_KEY_PATH (or tls.client_key_path in the profile) to the certificate's key`,
      );
    if (!tls.clientCert)
      throw new ConnectionConfigError(
        `${origins.clientKey} is set but no client certificate is: set TEMPORAL_TLS_CLIENT_CERT_PATH (or tls.client_cert_path in the profile)`,
      );
    const crt = readSource(tls.clientCert, origins.clientCert);
    const key = readSource(tls.clientKey, origins.clientKey);
    const cert = certificate(crt, origins.clientCert, now);
    if (!cert.checkPrivateKey(privateKey(key, origins.clientKey)))
      throw new ConnectionConfigError(
        `${origins.clientKey}: the key does not belong to the certificate (${subjectOf(cert)}) of ${origins.clientCert}`,
      );
    result.clientCertPair = { crt, key };
  }
  return result;
}

/** The profile's address and namespace, or the local dev server's when it names none. */
function withDefaults(profile: ClientConfigProfile): { address: string; namespace: string } {
  return { address: profile.address || DEFAULT_TEMPORAL_ADDRESS, namespace: profile.namespace || 'default' };
}

/**
 * The connection the worker and deployctl use, from the profile and the variables. Throws
 * ConnectionConfigError naming the setting when one cannot be used; nothing has connected.
 */
export function loadTemporalConnection(
  env: NodeJS.ProcessEnv = process.env,
  now: Date = new Date(),
): TemporalConnection {
  const profile = loadProfile(env);
  const origins: Origins = {};
  if (profile.apiKey !== undefined) origins.apiKey = originOf(env, [['TEMPORAL_API_KEY', 'api_key']]);
  const tls = tlsOf(profile, env, origins, now);
  return {
    ...withDefaults(profile),
    tls,
    ...(profile.apiKey ? { apiKey: profile.apiKey } : {}),
    ...(profile.grpcMeta && Object.keys(profile.grpcMeta).length ? { metadata: profile.grpcMeta } : {}),
    origins,
  };
}

/**
 * The address and namespace alone, for settings read by every command: no certificate is read.
 * Falls back to the variables when the profile cannot be read, so that the error is reported
 * once, by loadTemporalConnection, when the command connects.
 */
export function addressAndNamespace(env: NodeJS.ProcessEnv): { address: string; namespace: string } {
  let profile: ClientConfigProfile = {};
  try {
    profile = loadProfile(env);
  } catch {
    profile = { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE };
  }
  return withDefaults(profile);
}

/** What the connection's options are, for the SDKs' connect calls. */
export function connectOptions(connection: TemporalConnection) {
  return {
    address: connection.address,
    tls: connection.tls,
    ...(connection.apiKey ? { apiKey: connection.apiKey } : {}),
    ...(connection.metadata ? { metadata: connection.metadata } : {}),
  };
}

/** What to check when the TLS handshake with the server fails, from the settings in use. */
export function tlsFailureHint(connection: TemporalConnection): string {
  const { origins } = connection;
  const settings = [
    origins.serverCA
      ? `the server's certificate must be signed by the CA of ${origins.serverCA}`
      : 'no server CA is set, so the server must present a certificate the system trusts (TEMPORAL_TLS_SERVER_CA_CERT_PATH)',
    'its name must match the address or TEMPORAL_TLS_SERVER_NAME',
    origins.clientCert
      ? `the server must accept the client certificate of ${origins.clientCert}`
      : 'a server that asks for a client certificate needs TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH',
  ];
  return `TLS with ${connection.address} failed: ${settings.join('; ')}`;
}

/**
 * A failed connect explained by the settings that can cause it: a TLS failure names the server
 * CA, server name and client certificate settings in use; a refusal with an API key names it.
 * Undefined when nothing in the settings explains it (the server is down or unreachable).
 */
export function connectFailureHint(connection: TemporalConnection, message: string): string | undefined {
  if (connection.tls && /certificate|UnknownIssuer|handshake|tls|alert|ssl|x509/i.test(message))
    return tlsFailureHint(connection);
  if (
    connection.origins.apiKey &&
    /unauthenticated|permission|unauthori[sz]ed|401|403|404|unimplemented/i.test(message)
  )
    return `Temporal at ${connection.address} refused the request: check the API key of ${connection.origins.apiKey}`;
  return undefined;
}

/**
 * Why connecting failed, when the settings explain it: the SDK's gRPC client reports a refused
 * handshake only as a deadline, so a handshake of our own with the same materials finds the
 * TLS error (an unknown issuer, a name mismatch, a client certificate the server requires).
 * The whole message, ending in the underlying error; undefined when the server is unreachable.
 */
export async function explainConnectFailure(
  connection: TemporalConnection,
  message: string,
): Promise<string | undefined> {
  const tlsError = connection.tls ? await tlsHandshakeError(connection) : undefined;
  if (tlsError) return `${tlsFailureHint(connection)} (${tlsError})`;
  const hint = connectFailureHint(connection, message);
  return hint ? `${hint} (${message})` : undefined;
}
