/**
 * `deployctl config check` on the lab, as a new user runs it before a first deploy: the real
 * CLI, a real worker and Temporal, real SSH to lab-2 (read-only: nothing is deployed). A good
 * environment passes every check; an ignored file is pointed out; a broken config file, a
 * host key that does not match (with the key the server presented, to pin), a missing secret,
 * a missing compose file and a disk floor too high are each named, and exit 2. Uses lab-2
 * only, so it may run beside the files that cut lab-1's SSH. Fails (never skips) without the lab.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ExitCode } from '../../src/client/exitCodes';
import {
  LAB_CONFIG_DIR,
  PROJECT_ROOT,
  requireLab,
  runDeployctl,
  startHarness,
  type Harness,
} from './harness';

const lab = requireLab();
let harness: Harness;
const configDir = mkdtempSync(join(tmpdir(), 'config-check-'));
const appRepo = mkdtempSync(join(tmpdir(), 'config-check-app-'));
const production = parse(readFileSync(join(LAB_CONFIG_DIR, 'lab-production.yaml'), 'utf8'));
const variant = (name: string, change: (doc: typeof production) => void) => {
  const doc = structuredClone(production);
  doc.name = name;
  change(doc);
  writeFileSync(join(configDir, `${name}.yaml`), stringify(doc));
};

beforeAll(async () => {
  writeFileSync(join(configDir, 'lab-production.yaml'), stringify(production));
  writeFileSync(join(configDir, 'README.txt'), 'notes, not an environment\n');
  variant('wrong-key', (doc) => {
    doc.hosts[0].hostKey = lab.staging.hosts[0].hostKey;
  });
  variant('no-secret', (doc) => {
    doc.secrets = { API_TOKEN: { fromEnv: 'CONFIG_CHECK_UNSET_VARIABLE' } };
  });
  variant('no-compose', (doc) => {
    doc.composeFiles = ['compose/shared.yml', 'compose/not-there.yml'];
  });
  // The app's own repository holding the compose files (at HEAD), and one that lacks one of them.
  mkdirSync(join(appRepo, 'compose'), { recursive: true });
  for (const file of ['shared.yml', 'migrate.yml', 'web.yml'])
    copyFileSync(join(PROJECT_ROOT, 'compose', file), join(appRepo, 'compose', file));
  const git = (...args: string[]) => execFileSync('git', ['-C', appRepo, ...args], { encoding: 'utf8' });
  execFileSync('git', ['init', '--quiet', '-b', 'main', appRepo]);
  git('add', '.');
  git('-c', 'user.email=ci@example.invalid', '-c', 'user.name=ci', 'commit', '--quiet', '-m', 'app');
  variant('from-repo', (doc) => {
    doc.repository = appRepo;
  });
  variant('repo-lacks-file', (doc) => {
    doc.repository = appRepo;
    doc.composeFiles = ['compose/shared.yml', 'compose/db.yml'];
  });
  variant('full-disk', (doc) => {
    doc.minFreeDiskMb = 10_000_000;
  });
  // Secrets from a file and from a command's output (a secret manager's CLI), one command failing.
  const secretFile = join(configDir, '..', `${basename(configDir)}-secret`);
  writeFileSync(secretFile, 'from-a-file-7f3a\n', { mode: 0o600 });
  variant('other-sources', (doc) => {
    doc.secrets = {
      FILE_SECRET: { fromFile: secretFile },
      COMMAND_SECRET: { fromCommand: ['printf', '%s', 'from-a-command-9c1d'] },
      FAILING_COMMAND: { fromCommand: ['sh', '-c', 'echo vault: permission denied >&2; exit 4'] },
    };
  });
  harness = await startHarness({ configDir, workerEnv: lab.workerEnv });
}, 120_000);

afterAll(async () => {
  await harness?.stop();
});

const check = (env: string) => runDeployctl(harness.settings, ['config', 'check', '--env', env]);
const lines = (out: string) => out.split('\n');

test('a good environment passes every check; an ignored file is only a warning', async () => {
  const { code, out } = await check('lab-production');
  expect(code).toBe(ExitCode.succeeded);
  expect(out).toMatch(
    /^OK +config files .* 8 environment\(s\) valid: from-repo, full-disk, lab-production, no-compose, no-secret, other-sources, repo-lacks-file, wrong-key$/m,
  );
  expect(out).toMatch(/^WARN +config file +README\.txt +ignored: only \*\.yaml and \*\.yml files/m);
  expect(out).toMatch(
    /^OK +compose files .* compose\/shared\.yml, compose\/migrate\.yml, compose\/web\.yml$/m,
  );
  expect(out).toMatch(/^OK +secret +DB_PASSWORD +set in the worker's LAB_DB_PASSWORD$/m);
  for (const what of ['ssh', 'container engine', 'compose', 'flock', 'free disk'])
    expect(out).toMatch(new RegExp(`^OK +${what} +lab-2 \\(root@127\\.0\\.0\\.3:2222\\) `, 'm'));
  expect(out).toMatch(/free disk +lab-2 .* \d+ MB free under \S+ \(minFreeDiskMb: 1024\)/);
  expect(lines(out)).toContain('lab-production is ready to deploy (nothing was changed on any host)');
  // The secret's value is named by its variable, never shown.
  const secret = lab.workerEnv.LAB_DB_PASSWORD;
  expect(secret).toMatch(/^.{8,}$/);
  expect(out).not.toContain(secret!);
});

test('secrets from a file and a command are read by the worker; a failing command is named with its output, no value shown', async () => {
  const { code, out } = await check('other-sources');
  expect(out).toMatch(/^OK +secret +FILE_SECRET +read from file \S+-secret$/m);
  expect(out).toMatch(/^OK +secret +COMMAND_SECRET +read from command `printf %s from-a-command-9c1d`$/m);
  expect(out).toMatch(
    /^FAILED +secret +FAILING_COMMAND +secret FAILING_COMMAND: command `sh -c echo vault: permission denied >&2; exit 4` exited 4: vault: permission denied$/m,
  );
  expect(out).not.toContain('from-a-file-7f3a');
  expect(code).toBe(ExitCode.invalidInput);
});

test('a host key that does not match names the host and prints the key the server presented', async () => {
  const { code, out } = await check('wrong-key');
  expect(code).toBe(ExitCode.invalidInput);
  const [type, base64] = production.hosts[0].hostKey.split(' ');
  expect(out).toMatch(/^FAILED +ssh +lab-2 .* host key of lab-2 .* does not match the pinned key/m);
  expect(out).toContain(`the server presented: ${type} ${base64}`);
  expect(out).not.toMatch(/^OK +container engine/m);
});

test('a missing secret, a missing compose file (on the worker or in the app repository) and a disk below the floor are each named', async () => {
  const secret = await check('no-secret');
  expect(secret.code).toBe(ExitCode.invalidInput);
  expect(secret.out).toMatch(
    /^FAILED +secret +API_TOKEN +secret API_TOKEN: the worker's environment variable CONFIG_CHECK_UNSET_VARIABLE is not set$/m,
  );
  const compose = await check('no-compose');
  expect(compose.code).toBe(ExitCode.invalidInput);
  expect(compose.out).toMatch(/^FAILED +compose files .* missing on the worker: compose\/not-there\.yml/m);
  const disk = await check('full-disk');
  const fromRepo = await check('from-repo');
  expect(fromRepo.code).toBe(ExitCode.succeeded);
  expect(fromRepo.out).toMatch(
    /^OK +compose files +\S+config-check-app-\S+ +compose\/shared\.yml, compose\/migrate\.yml, compose\/web\.yml at HEAD \([0-9a-f]{12}\)$/m,
  );
  const lacking = await check('repo-lacks-file');
  expect(lacking.code).toBe(ExitCode.invalidInput);
  expect(lacking.out).toMatch(
    /^FAILED +compose files +\S+ +compose\/db\.yml is not in \S+config-check-app-\S+ at [0-9a-f]{12}/m,
  );
  expect(disk.code).toBe(ExitCode.invalidInput);
  expect(disk.out).toMatch(/^FAILED +free disk +lab-2 .* MB free under \S+ \(minFreeDiskMb: 10000000\)$/m);
  expect(lines(disk.out)).toContain('1 check(s) failed: full-disk is not ready to deploy');
});

test('a broken config file is named with its key and rule; an unknown environment exits 2', async () => {
  writeFileSync(
    join(configDir, 'broken.yml'),
    stringify({ ...production, name: 'broken', project: 'Bad Name' }),
  );
  const { code, out } = await check('lab-production');
  expect(code).toBe(ExitCode.invalidInput);
  expect(out).toMatch(/^FAILED +config file +broken\.yml +\S+broken\.yml is invalid:$/m);
  expect(out).toMatch(/^ +project: value "Bad Name" must be lowercase/m);
  const unknown = await check('nowhere');
  expect(unknown.code).toBe(ExitCode.invalidInput);
  expect(unknown.out).toMatch(/^FAILED +environment +nowhere +environment "nowhere" is not configured/m);
});

test('deployctl init reads a host key from the server itself: the key the lab pinned for lab-2', async () => {
  const app = mkdtempSync(join(tmpdir(), 'init-app-'));
  const host = production.hosts[0];
  const { code, out } = await runDeployctl(harness.settings, [
    'init',
    '--env',
    'second-app',
    '--project',
    'second',
    '--host',
    `web-1=${host.user}@${host.address}:${host.port}`,
    '--key',
    host.privateKeyPath,
    '--service',
    'web=127.0.0.1:5000/demo/api:3000',
    '--config-dir',
    join(app, 'config'),
    '--compose-file',
    join(app, 'compose', 'second.yml'),
  ]);
  expect(code).toBe(ExitCode.succeeded);
  expect(out).toContain(`host key of web-1 (read from the server): ${host.hostKey}`);
  const written = parse(readFileSync(join(app, 'config', 'second-app.yaml'), 'utf8'));
  expect(written.hosts[0].hostKey).toBe(host.hostKey);
});
