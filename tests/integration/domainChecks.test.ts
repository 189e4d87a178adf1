/**
 * Domain and TLS checks on the lab: lab-1's Traefik serves HTTPS for lab-staging's domains with
 * certificates of the lab web CA (lab/webTls.ts), and the names resolve through the lab DNS
 * server this test runs and controls. A deploy whose domains resolve to lab-1 and whose
 * certificates are good succeeds with each check in its status; a deploy whose checks meet an
 * expired certificate, too few days left and a name pointing elsewhere fails at the checks,
 * naming each name and expiry, and users stay on the release that was live. Real deployctl,
 * worker, Temporal, SSH, Traefik and DNS. Fails (never skips) when the lab is not up.
 */
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { ExitCode } from '../../src/client/exitCodes';
import type { DeployOutcome } from '../../src/client/deploy';
import type { ConfigCheckReport } from '../../src/shared/configCheck';
import { labPaths } from '../../lab/paths';
import { labEnvironments, PROXY_TLS_PORT } from '../../lab/config';
import { expiredDomain, labDomains, provisionWebTls, webCaCert } from '../../lab/webTls';
import { startDnsServer, type DnsServer } from '../shared/dnsServer';
import {
  demoDeployArgs,
  LAB_DIR,
  labConfigCopy,
  reportedReleases,
  requireLab,
  runDeployctl,
  startHarness,
  type Harness,
} from './harness';

const lab = requireLab();
const staging = lab.staging;
const host = staging.hosts[0]!;
const stamp = Date.now().toString(36);
const [site, , api] = labDomains(staging) as [string, string, string];
const expired = expiredDomain(staging);
const stray = `stray.${site.split('.').slice(1).join('.')}`;
let harness: Harness;
let dns: DnsServer;
let rewrite: (edit: (raw: Record<string, unknown>) => void) => void;

beforeAll(async () => {
  // Again here: a test before this one may have wiped lab-1's project directory. Every
  // environment, since the CA is made anew.
  provisionWebTls(labPaths(LAB_DIR), labEnvironments(labPaths(LAB_DIR)));
  dns = await startDnsServer({
    [site]: [host.address],
    [api]: [host.address],
    [expired]: [host.address],
    // A record left pointing at a machine that is not one of the environment's hosts.
    [stray]: ['127.0.0.9'],
  });
  const copy = labConfigCopy('domain-checks-config', staging.name, (raw) => {
    raw.postDeployChecks = {
      ...(raw.postDeployChecks as Record<string, unknown>),
      tls: {
        domains: [site, api],
        port: PROXY_TLS_PORT,
        minValidDays: 7,
        resolvers: [dns.resolver],
        caFile: webCaCert(labPaths(LAB_DIR)),
      },
    };
  });
  rewrite = copy.rewrite;
  harness = await startHarness({ configDir: copy.dir, workerEnv: lab.workerEnv });
}, 120_000);

afterAll(async () => {
  await harness?.stop();
  await dns?.stop();
});

const deployArgs = (release: string) => [...demoDeployArgs(staging.name, release), '--json'];

/** An HTTPS request to lab-1's proxy for `name`, trusting the lab web CA only. */
function httpsGet(name: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: host.address,
        port: PROXY_TLS_PORT,
        servername: name,
        headers: { host: name },
        path,
        ca: readFileSync(webCaCert(labPaths(LAB_DIR))),
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from https://${name}${path} within 10 s`)));
    req.on('error', fail);
    req.end();
  });
}

let live: Record<string, unknown>;

test('domains that resolve to lab-1 with certificates good for 29 days: the deploy succeeds, each check in its status', async () => {
  const release = `tls-ok-${stamp}`;
  const { code, out, stdout } = await runDeployctl(harness.settings, deployArgs(release));
  expect({ code, out }).toMatchObject({ code: ExitCode.succeeded });
  const { status } = JSON.parse(stdout) as DeployOutcome;
  const checks = Object.fromEntries((status?.checks ?? []).map((c) => [`${c.name}@${c.host}`, c]));
  for (const name of [site, api]) {
    expect(checks[`dns ${name}@${staging.name}`]).toMatchObject({
      ok: true,
      detail: `resolves to ${host.address} (${host.name})`,
    });
    expect(checks[`tls ${name}@${host.name}`]).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/^valid until \S+Z \((29|30) days\), issued by lab-web-ca$/),
    });
  }
  // Users reach the release over HTTPS by the domain, through the routers of the TLS entrypoint.
  const version = await httpsGet(api, '/api/version');
  expect(version.status).toBe(200);
  expect(JSON.parse(version.body)).toMatchObject({ release });
  live = await reportedReleases(staging);
  expect(Object.values(live).every((r) => r === release)).toBe(true);
});

test('an expired certificate, too few days left and a name pointing elsewhere fail the checks by name and expiry; users stay on the live release', async () => {
  rewrite((raw) => {
    const checks = raw.postDeployChecks as { tls: Record<string, unknown> };
    checks.tls = { ...checks.tls, domains: [site, expired, stray], minValidDays: 60 };
  });
  const release = `tls-bad-${stamp}`;
  const { code, out, stdout } = await runDeployctl(harness.settings, deployArgs(release));
  // Undone: the new colour stopped, the live one still serving.
  expect({ code, out }).toMatchObject({ code: ExitCode.rolledBack });
  const { status } = JSON.parse(stdout) as DeployOutcome;
  expect(status?.failure?.step).toBe('checks');
  const message = status?.failure?.message ?? '';
  expect(message).toContain(`tls ${expired}@${host.name} certificate expired on 2020-01-02T00:00:00Z`);
  expect(message).toMatch(
    new RegExp(
      `tls ${site.replace(/\./g, '\\.')}@${host.name} certificate expires \\S+Z, in (29|30) days: under the 60 days required`,
    ),
  );
  expect(message).toContain(
    `dns ${stray}@${staging.name} resolves to 127.0.0.9, not one of ${staging.name}'s addresses (${host.name} ${host.address})`,
  );
  // The new colour was checked through its preview route and never took traffic.
  expect(await reportedReleases(staging)).toEqual(live);
  const https = await httpsGet(site, '/api/version');
  expect(JSON.parse(https.body)).toMatchObject({ release: live[`${host.name}/api`] });
});

test('deployctl config check reads the same domains before any deploy: a warning for each bad one, exit 0', async () => {
  const { code, out, stdout } = await runDeployctl(harness.settings, [
    'config',
    'check',
    '--env',
    staging.name,
    '--json',
  ]);
  expect({ code, out }).toMatchObject({ code: ExitCode.succeeded });
  const { checks } = JSON.parse(stdout) as ConfigCheckReport;
  const mine = checks.filter((c) => c.check === 'domain' || c.check === 'certificate');
  expect(mine).toContainEqual({
    check: 'certificate',
    where: `${expired} @ ${host.name}`,
    verdict: 'warn',
    detail: 'certificate expired on 2020-01-02T00:00:00Z',
  });
  expect(mine).toContainEqual(
    expect.objectContaining({ check: 'domain', where: `${site} @ ${staging.name}`, verdict: 'ok' }),
  );
  expect(
    mine
      .filter((c) => c.verdict === 'warn')
      .map((c) => c.where)
      .sort(),
  ).toEqual(
    [
      `${expired} @ ${host.name}`,
      `${site} @ ${host.name}`,
      `${stray} @ ${host.name}`,
      `${stray} @ ${staging.name}`,
    ].sort(),
  );
});
