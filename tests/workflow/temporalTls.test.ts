/**
 * The worker and deployctl reach a Temporal that only speaks TLS, the way a team's own Temporal
 * or Temporal Cloud is reached: a real Traefik terminates TLS in front of the dev server, with
 * certificates from a lab CA made by openssl. One name asks for a client certificate (mTLS),
 * the other for an API key in the Authorization header. The real worker process and the real
 * CLI run a config check through it (a workflow and its activities on the worker), configured
 * by TEMPORAL_* variables or by a TOML profile. A wrong CA, an expired certificate, a missing
 * key, no client certificate and a wrong API key each stop deployctl with exit 2 and a message
 * naming the setting, with no workflow started and no key in the output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import { issue, makeCa, type Issued, type LabCa } from '../../lab/certificates';
import { startTlsProxy, type RunningTlsProxy } from '../../lab/temporalTlsProxy';
import { loadEnvironment } from '../../src/config/load';
import { startDevServer, stopDevServer, type StartResult } from '../../src/devserver/devServer';
import { findFreePort } from '../../src/devserver/ports';

jest.setTimeout(240_000);

const ROOT = join(__dirname, '..', '..');
const MTLS_NAME = 'temporal-mtls.lab.test';
const API_KEY_NAME = 'temporal-apikey.lab.test';
const API_KEY = `lab-key-${randomBytes(12).toString('hex')}`;
const TASK_QUEUE = 'tls-check';
/** Polled only by the worker that connects with the API key. */
const API_KEY_QUEUE = 'tls-check-api-key';
const ENV_NAME = 'tls-check';

let dir: string;
let server: StartResult;
let proxy: RunningTlsProxy;
let labCa: LabCa;
let otherCa: LabCa;
let client: Issued;
let expired: Issued;
let configDir: string;
/** Every worker process a test started, stopped after all of them. */
const workers: ChildProcess[] = [];
let direct: Connection;

/** Only what the test sets (an undefined value unsets): the runner's own TEMPORAL_* must not leak in. */
function envWith(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_'))),
    DEPLOY_TASK_QUEUE: TASK_QUEUE,
    DEPLOY_CONFIG_DIR: configDir,
    // No profile file of the machine's user is read.
    TEMPORAL_CONFIG_FILE: join(dir, 'empty.toml'),
    ...extra,
  };
  return Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined));
}

function mtlsEnv(): NodeJS.ProcessEnv {
  return {
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_TLS_SERVER_NAME: MTLS_NAME,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: labCa.cert,
    TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: client.key,
  };
}

function deployctl(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', pathToFileURL(require.resolve('tsx')).href, join(ROOT, 'src', 'client.ts'), ...args],
      { cwd: ROOT, env: envWith(env), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** Resolves once the worker polls its task queue; fails with its output if it exits or takes a minute. */
async function polling(started: ReturnType<typeof startWorker>, how: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!started.output().includes('worker: task queue')) {
    if (started.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`the worker did not start through ${how}: ${started.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startWorker(env: NodeJS.ProcessEnv) {
  const child = spawn(
    process.execPath,
    ['--import', pathToFileURL(require.resolve('tsx')).href, 'src/worker.ts'],
    {
      cwd: ROOT,
      env: envWith(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  workers.push(child);
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

async function workflowsStarted(): Promise<number> {
  const c = new Client({ connection: direct, namespace: 'default' });
  return (await c.workflow.count()).count;
}

const configCheck = (env: NodeJS.ProcessEnv) =>
  deployctl(['config', 'check', '--env', ENV_NAME, '--json', '--worker-wait', '60'], env);

/** The report of a check that ran on the worker: its checks name the environment's host. */
function ranOnWorker(out: string): boolean {
  const start = out.indexOf('{');
  if (start < 0) return false;
  const report = JSON.parse(out.slice(start)) as { checks?: { where: string }[] };
  return (report.checks ?? []).some((c) => c.where.includes('web-1'));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'temporal-tls-'));
  writeFileSync(join(dir, 'empty.toml'), '');
  labCa = makeCa(dir, 'lab-ca');
  otherCa = makeCa(dir, 'other-ca');
  const serverCert = issue(labCa, { name: 'frontend', use: 'server', altNames: [MTLS_NAME, API_KEY_NAME] });
  client = issue(labCa, { name: 'deployctl', use: 'client' });
  expired = issue(labCa, { name: 'deployctl-old', use: 'client', expired: true });

  // An environment whose host nothing answers for: its check fails fast, on the worker.
  configDir = join(dir, 'environments');
  mkdirSync(configDir);
  const fixture = loadEnvironment(join(ROOT, 'tests', 'fixtures', 'environments'), 'staging');
  const closedPort = await findFreePort();
  writeFileSync(
    join(configDir, `${ENV_NAME}.yaml`),
    stringify({
      ...fixture,
      name: ENV_NAME,
      hosts: [{ ...fixture.hosts[0], address: '127.0.0.1', port: closedPort }],
    }),
  );

  const port = await findFreePort();
  server = await startDevServer({ dataDir: join(dir, 'temporal'), port, startTimeoutMs: 60_000 });
  direct = await Connection.connect({ address: server.address, connectTimeout: '10s' });
  let proxyPort = await findFreePort();
  while (proxyPort === port) proxyPort = await findFreePort();
  proxy = await startTlsProxy({
    dir,
    port: proxyPort,
    upstream: server.address,
    serverCert,
    clientCa: labCa.cert,
    mtlsName: MTLS_NAME,
    apiKeyName: API_KEY_NAME,
    apiKey: API_KEY,
  });
}, 180_000);

afterAll(async () => {
  const running = workers.filter((w) => w.exitCode === null);
  for (const w of running) w.kill('SIGTERM');
  if (running.length) await new Promise((r) => setTimeout(r, 2_000));
  for (const w of running) if (w.exitCode === null) w.kill('SIGKILL');
  await proxy?.stop();
  await direct?.close().catch(() => undefined);
  if (server) await stopDevServer({ dataDir: join(dir, 'temporal'), port: server.port });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('with mTLS variables, the worker and deployctl reach Temporal through the proxy and a check runs on the worker', async () => {
  await polling(startWorker(mtlsEnv()), 'mTLS');
  const { out } = await configCheck(mtlsEnv());
  expect(ranOnWorker(out)).toBe(true);
});

test('a TOML profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) with the same settings works the same', async () => {
  const file = join(dir, 'temporal.toml');
  writeFileSync(
    file,
    [
      '[profile.lab]',
      `address = "${proxy.address}"`,
      'namespace = "default"',
      '[profile.lab.tls]',
      `server_name = "${MTLS_NAME}"`,
      `server_ca_cert_path = "${labCa.cert}"`,
      `client_cert_path = "${client.cert}"`,
      `client_key_path = "${client.key}"`,
      '',
    ].join('\n'),
  );
  const { out } = await configCheck({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'lab' });
  expect(ranOnWorker(out)).toBe(true);

  // A setting the profile gets wrong is named by its key in the profile.
  writeFileSync(
    file,
    `[profile.lab]\naddress = "${proxy.address}"\n[profile.lab.tls]\nclient_cert_path = "${client.cert}"\n`,
  );
  const broken = await configCheck({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'lab' });
  expect(broken.code).toBe(2);
  expect(broken.out).toContain(
    `tls.client_cert_path or tls.client_cert_data of profile "lab" in ${file} is set but no client key is`,
  );

  const missing = await configCheck({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' });
  expect(missing.code).toBe(2);
  expect(missing.out).toMatch(/profile "prod" .*'prod' not found/);
});

test('with an API key in TEMPORAL_API_KEY the worker and deployctl reach Temporal; a wrong one is refused, and neither is printed', async () => {
  const keyEnv = {
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_TLS_SERVER_NAME: API_KEY_NAME,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: labCa.cert,
    DEPLOY_TASK_QUEUE: API_KEY_QUEUE,
  };
  // Only this worker polls API_KEY_QUEUE: the check below runs on it or not at all.
  const keyWorker = startWorker({ ...keyEnv, TEMPORAL_API_KEY: API_KEY });
  await polling(keyWorker, 'an API key');
  const good = await configCheck({ ...keyEnv, TEMPORAL_API_KEY: API_KEY });
  expect(ranOnWorker(good.out)).toBe(true);
  expect(keyWorker.output()).not.toContain(API_KEY);
  expect(good.out).not.toContain(API_KEY);

  const before = await workflowsStarted();
  const wrongKey = `wrong-${randomBytes(8).toString('hex')}`;
  const wrong = await configCheck({ ...keyEnv, TEMPORAL_API_KEY: wrongKey });
  console.log(`wrong API key: exit ${wrong.code}: ${wrong.out.trim()}`);
  expect(wrong.code).toBe(2);
  expect(wrong.out).toContain('check the API key of TEMPORAL_API_KEY');
  expect(wrong.out).toContain('nothing was started');
  expect(wrong.out).not.toContain(wrongKey);
  expect(wrong.out).not.toContain(API_KEY);
  expect(await workflowsStarted()).toBe(before);
});

test('a wrong CA, an expired certificate, a missing key or no client certificate stop deployctl naming the setting; nothing starts', async () => {
  const before = await workflowsStarted();
  const cases: [string, NodeJS.ProcessEnv, RegExp][] = [
    [
      'wrong CA',
      { ...mtlsEnv(), TEMPORAL_TLS_SERVER_CA_CERT_PATH: otherCa.cert },
      /TLS with 127\.0\.0\.1:\d+ failed: the server's certificate must be signed by the CA of TEMPORAL_TLS_SERVER_CA_CERT_PATH.*\(UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate\)/,
    ],
    [
      'expired certificate',
      {
        ...mtlsEnv(),
        TEMPORAL_TLS_CLIENT_CERT_PATH: expired.cert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: expired.key,
      },
      /TEMPORAL_TLS_CLIENT_CERT_PATH: the certificate \(CN=deployctl-old\) expired on 2020-01-02T00:00:00\.000Z/,
    ],
    [
      'missing key',
      { ...mtlsEnv(), TEMPORAL_TLS_CLIENT_KEY_PATH: undefined },
      /TEMPORAL_TLS_CLIENT_CERT_PATH is set but no client key is/,
    ],
    [
      'key of another certificate',
      { ...mtlsEnv(), TEMPORAL_TLS_CLIENT_KEY_PATH: expired.key },
      /TEMPORAL_TLS_CLIENT_KEY_PATH: the key does not belong to the certificate \(CN=deployctl\) of TEMPORAL_TLS_CLIENT_CERT_PATH/,
    ],
    [
      'no client certificate',
      { ...mtlsEnv(), TEMPORAL_TLS_CLIENT_CERT_PATH: undefined, TEMPORAL_TLS_CLIENT_KEY_PATH: undefined },
      /TLS with 127\.0\.0\.1:\d+ failed: .*needs TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: tlsv13 alert certificate required\)/,
    ],
  ];
  for (const [what, env, message] of cases) {
    const { code, out } = await configCheck(env);
    console.log(`${what}: exit ${code}: ${out.trim()}`);
    expect({ what, code }).toEqual({ what, code: 2 });
    expect(out).toMatch(message);
    expect(out).toContain('nothing was started');
  }
  expect(await workflowsStarted()).toBe(before);
});

test('a worker with a missing key stops before polling, naming the setting', async () => {
  const { child, exited, output } = startWorker({ ...mtlsEnv(), TEMPORAL_TLS_CLIENT_KEY_PATH: undefined });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await exited;
  clearTimeout(timer);
  expect(code).toBe(1);
  expect(output()).toContain('TEMPORAL_TLS_CLIENT_CERT_PATH is set but no client key is');
  expect(output()).not.toContain('worker: task queue');
});
