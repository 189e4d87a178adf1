/**
 * Payload encryption end to end: a worker and deployctl sharing AES-256-GCM keys run a config
 * check of lab-production (real SSH to lab-2) and a setup of an unknown environment (a failure
 * whose message names a private path). deployctl shows both in clear; the history Temporal
 * stores, exported with `temporal workflow show --output json`, holds neither the host's
 * address, the key path, the base dir nor the failure's message, only encrypted payloads.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { resolveTemporalCli } from '../../src/devserver/binaries';
import { findFreePort } from '../../src/devserver/ports';
import {
  LAB_CONFIG_DIR,
  PROJECT_ROOT,
  requireLab,
  runDeployctl,
  startHarness,
  type Harness,
} from './harness';

const lab = requireLab();
const oldKey = `old=${randomBytes(32).toString('base64')}`;
const keys = `${oldKey},new=${randomBytes(32).toString('base64')}`;
const keyEnv = { DEPLOY_ENCRYPTION_KEYS: keys };
let harness: Harness;

beforeAll(async () => {
  harness = await startHarness({ workerEnv: { ...lab.workerEnv, ...keyEnv } });
});

afterAll(async () => {
  await harness?.stop();
});

/** The stored history of the one workflow whose id starts with `prefix`, as the CLI exports it. */
function exportedHistory(prefix: string, extra: string[] = []): string {
  const address = ['--address', harness.settings.temporalAddress, '--namespace', harness.settings.namespace];
  const listed = execFileSync(
    resolveTemporalCli(),
    ['workflow', 'list', ...address, '--query', `WorkflowId STARTS_WITH "${prefix}"`, '--output', 'json'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  const [run] = JSON.parse(listed) as { execution: { workflowId: string } }[];
  if (!run) throw new Error(`no workflow ${prefix}* in ${listed}`);
  return execFileSync(
    resolveTemporalCli(),
    ['workflow', 'show', ...address, '--workflow-id', run.execution.workflowId, '--output', 'json', ...extra],
    { encoding: 'utf8', timeout: 30_000 },
  );
}

/**
 * Everything an exported history says, readable: its strings, with every payload's data and
 * metadata (base64 in the export) decoded, so a value stored in clear is found.
 */
function readable(exported: string): string {
  const out: string[] = [];
  const walk = (node: unknown, key?: string): void => {
    if (typeof node === 'string') {
      out.push(node);
      if (key === 'data' || /^[A-Za-z0-9+/]+={0,2}$/.test(node))
        out.push(Buffer.from(node, 'base64').toString('utf8'));
    } else if (Array.isArray(node)) node.forEach((n) => walk(n));
    else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(v, k);
  };
  walk(JSON.parse(exported));
  return out.join('\n');
}

test('a config check with encryption: deployctl reads the report, the stored history shows no host, path or dir', async () => {
  const host = lab.production.hosts[0];
  const { code, out } = await runDeployctl(
    harness.settings,
    ['config', 'check', '--env', 'lab-production', '--json'],
    keyEnv,
  );
  expect(out).toContain(host.address);
  expect(code).toBe(0);

  const history = readable(exportedHistory('config-check-lab-production-'));
  expect(history).toContain('binary/encrypted');
  // The host, its key path and base dir, a compose file of the environment, and a secret's value.
  const password = lab.workerEnv[lab.production.secrets.DB_PASSWORD.fromEnv!]!;
  expect(password.length).toBeGreaterThan(8);
  for (const secret of [
    host.address,
    host.privateKeyPath,
    host.baseDir,
    lab.production.composeFiles[0],
    password,
  ])
    expect({ secret, found: history.includes(secret) }).toEqual({ secret, found: false });
});

test("a failure's message is encrypted too; deployctl still shows it", async () => {
  const { code, out } = await runDeployctl(harness.settings, ['setup', '--env', 'nosuch'], keyEnv);
  expect(out).toContain(`${LAB_CONFIG_DIR}/nosuch.yaml does not exist`);
  expect(code).toBe(2);
  const history = readable(exportedHistory('setup-nosuch-'));
  expect(history).toContain('binary/encrypted');
  expect(history.includes(LAB_CONFIG_DIR)).toBe(false);
});

test('deployctl lacking the newest key cannot read what the worker wrote, and names the key it lacks', async () => {
  // Its newest key is "old", which the worker still reads; the worker answers with "new".
  const { code, out } = await runDeployctl(
    harness.settings,
    ['config', 'check', '--env', 'lab-production', '--json'],
    { DEPLOY_ENCRYPTION_KEYS: `other=${randomBytes(32).toString('base64')},${oldKey}` },
  );
  expect(out).not.toContain(lab.production.hosts[0].address);
  expect(out).toContain('key id "new", which is not among the configured keys (other, old)');
  expect(code).not.toBe(0);
});

test('the temporal CLI reads the history decoded through deployctl codec-server, only with its token', async () => {
  const token = randomBytes(24).toString('hex');
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'codec-')), 'token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const listen = `127.0.0.1:${await findFreePort()}`;
  const server = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/client.ts',
      'codec-server',
      '--listen',
      listen,
      '--ui-origin',
      'http://127.0.0.1:8233',
      '--token-file',
      tokenFile,
    ],
    { cwd: PROJECT_ROOT, env: { ...process.env, ...keyEnv }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  server.stdout.on('data', (d) => (out += d));
  server.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 30_000;
    while (!out.includes('codec server on')) {
      if (Date.now() > deadline || server.exitCode !== null)
        throw new Error(`codec-server did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const endpoint = ['--codec-endpoint', `http://${listen}`];
    const host = lab.production.hosts[0].address;
    expect(
      readable(
        exportedHistory('config-check-lab-production-', [...endpoint, '--codec-auth', `Bearer ${token}`]),
      ),
    ).toContain(host);
    let withoutToken = '';
    try {
      withoutToken = readable(exportedHistory('config-check-lab-production-', endpoint));
    } catch (err) {
      withoutToken = String((err as { stderr?: unknown }).stderr ?? err);
    }
    expect(withoutToken).not.toContain(host);
  } finally {
    server.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
});
