/**
 * HTTPS for the lab's environments: a lab web CA, a certificate for each environment's domains
 * (site, saas and api under <env>.lab.test) and, as a test fixture, an expired one for
 * expired.<env>.lab.test, handed to every host's Traefik in a file of its watched routing
 * directory (Traefik's `tls.certificates`, PEM inline). Made again on every `lab up`.
 *
 * Nothing resolves these names by itself: the domain checks ask a resolver the tests control
 * (lab/dnsServer.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { routingDir } from '../src/commands/colours';
import type { EnvironmentConfig } from '../src/config/schema';
import { issue, makeCa } from './certificates';
import { WEB_SERVICES, type LabPaths } from './paths';
import { writeFileAtomic } from './util';

/** The file of every host's routing directory that holds the lab's certificates. */
export const WEB_TLS_FILE = 'lab-tls.yml';
const CA_NAME = 'lab-web-ca';

const zone = (env: EnvironmentConfig) => `${env.name.replace(/^lab-/, '')}.lab.test`;

/** The names users would reach an environment's services by: site.staging.lab.test, ... */
export function labDomains(env: EnvironmentConfig): string[] {
  return WEB_SERVICES.map(({ name }) => `${name}.${zone(env)}`);
}

/** A name the proxy serves with a certificate that expired in 2020. */
export const expiredDomain = (env: EnvironmentConfig) => `expired.${zone(env)}`;

/** The lab web CA's certificate, which the domain checks trust through `caFile`. */
export const webCaCert = (p: LabPaths) => path.join(p.root, 'tls', CA_NAME, 'ca.pem');

/** mkdir -p, each directory it makes owned like `owner` (the deploy user must write below it). */
function mkdirOwned(dir: string, owner: fs.Stats): void {
  if (fs.existsSync(dir)) return;
  mkdirOwned(path.dirname(dir), owner);
  fs.mkdirSync(dir);
  fs.chownSync(dir, owner.uid, owner.gid);
}

/** The CA, the certificates, and the file in each host's routing directory. */
export function provisionWebTls(p: LabPaths, environments: EnvironmentConfig[]): string[] {
  const tlsDir = path.join(p.root, 'tls');
  fs.rmSync(path.join(tlsDir, CA_NAME), { recursive: true, force: true });
  fs.mkdirSync(tlsDir, { recursive: true });
  const ca = makeCa(tlsDir, CA_NAME);
  const written: string[] = [];
  for (const env of environments) {
    const current = issue(ca, { name: zone(env), use: 'server', altNames: labDomains(env) });
    const expired = issue(ca, {
      name: expiredDomain(env),
      use: 'server',
      altNames: [expiredDomain(env)],
      expired: true,
    });
    const certificates = [current, expired].map((c) => ({
      certFile: fs.readFileSync(c.cert, 'utf8'),
      keyFile: fs.readFileSync(c.key, 'utf8'),
    }));
    const text = [
      `# Written by \`npm run lab -- up\`: the lab web CA's certificates for ${zone(env)} (one of them expired, a test fixture).`,
      stringify({ tls: { certificates } }, { lineWidth: 0 }),
    ].join('\n');
    for (const host of env.hosts) {
      const dir = routingDir(env, host);
      fs.mkdirSync(host.baseDir, { recursive: true });
      const owner = fs.statSync(host.baseDir);
      mkdirOwned(dir, owner);
      const file = path.join(dir, WEB_TLS_FILE);
      writeFileAtomic(file, text);
      fs.chownSync(file, owner.uid, owner.gid);
      written.push(file);
    }
  }
  return written;
}
