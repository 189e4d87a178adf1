import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Settings } from '../../../src/shared/settings';
import { needsReport, workerNeeds } from '../../../src/worker/needs';

const ROOT = resolve(__dirname, '..', '..', '..');
const example = readFileSync(join(ROOT, 'config', 'environments', 'example.yaml'), 'utf8');

/** A config dir holding the example environment with its key path pointed at `keyPath`. */
function setup(keyPath: string): Settings {
  const dir = mkdtempSync(join(tmpdir(), 'needs-'));
  const configDir = join(dir, 'config');
  mkdirSync(configDir);
  writeFileSync(
    join(configDir, 'example.yaml'),
    example.replaceAll('/etc/deployctl/deploy_ed25519', keyPath),
  );
  return {
    temporalAddress: '127.0.0.1:7233',
    namespace: 'default',
    taskQueue: 'deployments',
    uiUrl: 'http://127.0.0.1:8233',
    configDir,
    workspaceRoot: join(dir, 'workspaces'),
    backupRoot: join(dir, 'backups'),
  };
}

function keyFile(): string {
  const key = join(mkdtempSync(join(tmpdir(), 'key-')), 'id');
  writeFileSync(key, 'not really a key', { mode: 0o600 });
  return key;
}

test('everything there: each need is ok and the report is one summary line', async () => {
  const settings = setup(keyFile());
  const checks = await workerNeeds(settings, {
    PATH: process.env.PATH,
    EXAMPLE_DB_PASSWORD: 's3cret',
    SLACK_WEBHOOK_URL: 'https://hooks.example/services/T0/B0/never-printed',
    DEPLOY_ENCRYPTION_KEYS: `k1=${Buffer.alloc(32, 7).toString('base64')}`,
  });
  expect(checks.filter((c) => c.verdict !== 'ok')).toEqual([]);
  expect(checks.map((c) => `${c.check} ${c.where}`)).toEqual([
    `config files ${settings.configDir}`,
    'tool git',
    'tool pg_restore',
    'encryption payloads',
    `workspace dir ${settings.workspaceRoot}`,
    `backup store ${settings.backupRoot}`,
    'ssh key example/web-1',
    'secret example/DB_PASSWORD',
    'webhook example/team-chat',
  ]);
  expect(needsReport(checks)).toEqual([`worker check: 9 ok, 0 warning(s), 0 failed`]);
  expect(JSON.stringify(checks)).not.toContain('never-printed');
});

test('missing tools, key file and secret are each named with what needs them', async () => {
  const settings = setup('/nonexistent/deploy_key');
  const checks = await workerNeeds(settings, { PATH: '/nonexistent' });
  const failed = checks.filter((c) => c.verdict === 'failed');
  expect(failed.map((c) => [c.check, c.where, c.detail])).toEqual([
    [
      'tool',
      'git',
      "git is not on the worker's PATH; environments example read their repository (compose files, gates) with it",
    ],
    [
      'tool',
      'pg_restore',
      "pg_restore is not on the worker's PATH; the backups of example are verified with it (PostgreSQL client 15 or newer)",
    ],
    [
      'ssh key',
      'example/web-1',
      'privateKeyPath /nonexistent/deploy_key is not a readable file on the worker',
    ],
    [
      'secret',
      'example/DB_PASSWORD',
      "secret DB_PASSWORD: the worker's environment variable EXAMPLE_DB_PASSWORD is not set",
    ],
    [
      'webhook',
      'example/team-chat',
      'webhook "team-chat": its url cannot be read from the worker\'s environment variable SLACK_WEBHOOK_URL on this worker',
    ],
  ]);
  expect(needsReport(checks)[0]).toBe('worker check: 3 ok, 1 warning(s), 5 failed');
});

test('the worker binary: --check prints every finding and exits 1 on a failed need, 0 when all are met', () => {
  const settings = setup(keyFile());
  const run = (extra: NodeJS.ProcessEnv) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/worker.ts', '--check'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DEPLOY_CONFIG_DIR: settings.configDir,
        DEPLOY_WORKSPACE_DIR: settings.workspaceRoot,
        DEPLOY_BACKUP_DIR: settings.backupRoot,
        ...extra,
      },
    });
  const missing = run({});
  expect(missing.status).toBe(1);
  expect(missing.stdout).toContain('FAILED secret example/DB_PASSWORD');
  expect(missing.stdout).toContain('OK     tool git');
  const met = run({
    EXAMPLE_DB_PASSWORD: 'value-never-printed',
    SLACK_WEBHOOK_URL: 'https://hooks.example/services/url-never-printed',
  });
  expect(met.stdout).toContain('worker check: 8 ok, 1 warning(s), 0 failed');
  expect(met.stdout).not.toContain('url-never-printed');
  expect(met.stdout).toContain('WARN   encryption payloads');
  expect(met.stdout).not.toContain('value-never-printed');
  expect(met.status).toBe(0);
});
