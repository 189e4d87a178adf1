import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { traefikBinary } from './paths';

/**
 * A real Traefik in front of a Temporal frontend, the way a team's self-hosted Temporal or
 * Temporal Cloud is reached: TLS only, gRPC passed on to the frontend's plain port (h2c).
 * Two names on one port, told apart by SNI (so TEMPORAL_TLS_SERVER_NAME matters):
 * - `mtlsName` asks for a client certificate signed by `clientCa` and refuses the handshake
 *   without one;
 * - `apiKeyName` needs no client certificate but answers only requests that carry
 *   `Authorization: Bearer <apiKey>` (anything else gets a 404 from the proxy).
 */
export interface TlsProxyOptions {
  dir: string;
  port: number;
  upstream: string;
  serverCert: { cert: string; key: string };
  clientCa: string;
  mtlsName: string;
  apiKeyName: string;
  apiKey: string;
}

export interface RunningTlsProxy {
  address: string;
  output(): string;
  stop(): Promise<void>;
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startTlsProxy(options: TlsProxyOptions): Promise<RunningTlsProxy> {
  const dynamic = join(options.dir, 'traefik-dynamic.yml');
  const service = 'temporal';
  writeFileSync(
    dynamic,
    stringify({
      tls: {
        certificates: [{ certFile: options.serverCert.cert, keyFile: options.serverCert.key }],
        options: {
          mtls: { clientAuth: { caFiles: [options.clientCa], clientAuthType: 'RequireAndVerifyClientCert' } },
        },
      },
      http: {
        routers: {
          mtls: {
            entryPoints: ['temporal'],
            rule: `Host(\`${options.mtlsName}\`)`,
            service,
            tls: { options: 'mtls' },
          },
          apikey: {
            entryPoints: ['temporal'],
            rule: `Host(\`${options.apiKeyName}\`) && Header(\`Authorization\`, \`Bearer ${options.apiKey}\`)`,
            service,
            tls: {},
          },
        },
        services: { [service]: { loadBalancer: { servers: [{ url: `h2c://${options.upstream}` }] } } },
      },
    }),
    { mode: 0o600 },
  );
  const child: ChildProcess = spawn(
    traefikBinary(),
    [
      `--entryPoints.temporal.address=127.0.0.1:${options.port}`,
      `--providers.file.filename=${dynamic}`,
      '--log.level=ERROR',
      '--global.checkNewVersion=false',
      '--global.sendAnonymousUsage=false',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 20_000;
  while (!(await acceptsConnections(options.port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`Traefik did not listen on 127.0.0.1:${options.port} within 20 s: ${out.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { address: `127.0.0.1:${options.port}`, output: () => out, stop };
}
