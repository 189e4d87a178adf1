import { isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { unbracketed } from '../config/urls';
import type { TemporalConnection } from './profile';

/** Errors that say the server was not reached at all: not the TLS settings' fault. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** How long to wait after our side of the handshake for the server's verdict on our certificate. */
const VERDICT_MS = 1_500;

/** OpenSSL's reason alone, without its error queue prefix and source location. */
function readable(message: string): string {
  const first = message.split('\n')[0];
  const reason = /SSL routines:[^:]*:([^:]+)/.exec(first);
  return reason ? reason[1] : first;
}

function hostAndPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return {
    host: unbracketed(address.slice(0, colon)),
    port: Number(address.slice(colon + 1)),
  };
}

/**
 * A TLS handshake with the server, with the connection's CA, server name and client certificate,
 * as the SDK would make it: the TLS error when there is one (the server's certificate not
 * trusted, its name not matching, the server refusing our certificate or asking for one), else
 * undefined (also when the server cannot be reached: that is not a TLS problem). Bounded.
 */
export function tlsHandshakeError(
  connection: TemporalConnection,
  timeoutMs = 5_000,
): Promise<string | undefined> {
  const { host, port } = hostAndPort(connection.address);
  const tls = typeof connection.tls === 'object' ? connection.tls : {};
  const servername = tls.serverNameOverride ?? (isIP(host) ? undefined : host);
  const options: ConnectionOptions = {
    host,
    port,
    ALPNProtocols: ['h2'],
    ...(servername ? { servername } : {}),
    ...(tls.serverRootCACertificate ? { ca: Buffer.from(tls.serverRootCACertificate) } : {}),
    ...(tls.clientCertPair
      ? { cert: Buffer.from(tls.clientCertPair.crt), key: Buffer.from(tls.clientCertPair.key) }
      : {}),
  };
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      socket.destroy();
      resolve(result);
    };
    const socket = tlsConnect(options);
    const deadline = setTimeout(() => done(undefined), timeoutMs);
    let secured = false;
    socket.once('secureConnect', () => {
      secured = true;
      // TLS 1.3: the server checks our certificate after our side is done, and says so by alert.
      setTimeout(() => done(undefined), VERDICT_MS);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!secured && err.code && UNREACHABLE.has(err.code)) return done(undefined);
      if (secured && err.code === 'ECONNRESET')
        return done('the server closed the connection after the handshake');
      done(err.code ? `${err.code}: ${readable(err.message)}` : readable(err.message));
    });
  });
}
