/**
 * Payload encryption end to end: a worker and deployctl sharing AES-256-GCM keys run a config
 * check of lab-production (real SSH to lab-2) and a setup of an unknown environment (a failure
 * whose message names a private path). deployctl shows both in clear; the history Temporal
 * stores, exported with `temporal workflow show --output json`, holds neither the host's
 * address, the key path, the base dir nor the failure's message, only encrypted payloads.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolveTemporalCli } from '../../src/devserver/binaries';
import { LAB_CONFIG_DIR, requireLab, runDeployctl, startHarness, type Harness } from './harness';

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
function exportedHistory(prefix: string): string {
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
    ['workflow', 'show', ...address, '--workflow-id', run.execution.workflowId, '--output', 'json'],
    { encoding: 'utf8', timeout: 30_000 },
  );
}

const ENCRYPTED = Buffer.from('binary/encrypted').toString('base64');

test('a config check with encryption: deployctl reads the report, the stored history shows no host, path or dir', async () => {
  const host = lab.production.hosts[0];
  const { code, out } = await runDeployctl(
    harness.settings,
    ['config', 'check', '--env', 'lab-production', '--json'],
    keyEnv,
  );
  expect(out).toContain(host.address);
  expect(code).toBe(0);

  const history = exportedHistory('config-check-lab-production-');
  expect(history).toContain(ENCRYPTED);
  for (const secret of [host.address, host.privateKeyPath, host.baseDir])
    expect({ secret, found: history.includes(secret) }).toEqual({ secret, found: false });
});

test("a failure's message is encrypted too; deployctl still shows it", async () => {
  const { code, out } = await runDeployctl(harness.settings, ['setup', '--env', 'nosuch'], keyEnv);
  expect(out).toContain(`${LAB_CONFIG_DIR}/nosuch.yaml does not exist`);
  expect(code).toBe(2);
  const history = exportedHistory('setup-nosuch-');
  expect(history).toContain(ENCRYPTED);
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
