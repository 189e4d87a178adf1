/**
 * The package an app's CI installs (`npm pack` of a tagged checkout; prepack builds dist/):
 * it holds the compiled CLI and worker and nothing of the lab or the tests, and its deployctl
 * runs from the unpacked tarball. Dependencies come from this checkout's node_modules (the
 * tarball is unpacked below it), so nothing downloads. Needs dist/ (npm test builds it first;
 * alone: npm run build), and fails saying so when it is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode } from '../../src/client/exitCodes';

const ROOT = join(__dirname, '..', '..');
const scratch = join(ROOT, '.data', 'package-check');

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string) {
  const result = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  return result;
}

test('npm pack holds the built CLI and worker, and its deployctl runs', () => {
  if (!existsSync(join(ROOT, 'dist', 'src', 'client.js')))
    throw new Error('dist/src/client.js is missing: run "npm run build" first (npm test does)');
  mkdirSync(scratch, { recursive: true });
  const out = mkdtempSync(join(scratch, 'pack-'));
  // The build already ran: --ignore-scripts skips prepack's second one.
  const pack = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], ROOT);
  expect(pack.status).toBe(0);
  const [{ filename, files }] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
  const paths = files.map((f) => f.path);
  for (const needed of [
    'package.json',
    'README.md',
    'bin/deployctl.js',
    'dist/src/client.js',
    'dist/src/worker.js',
    'dist/src/workflows/index.js',
    // deployctl setup and emergency deploys run it on servers: it ships with the tool.
    'scripts/server-setup.sh',
  ])
    expect(paths).toContain(needed);
  expect(
    paths.filter((p) => !/^(package\.json|README\.md|bin\/|dist\/src\/|scripts\/server-setup\.sh$)/.test(p)),
  ).toEqual([]);

  const installed = join(out, 'node_modules', 'durable-deploy');
  mkdirSync(installed, { recursive: true });
  expect(run('tar', ['-xzf', join(out, filename), '-C', installed, '--strip-components=1'], out).status).toBe(
    0,
  );
  const help = run(process.execPath, [join(installed, 'bin', 'deployctl.js'), '--help'], out);
  expect(help.status).toBe(0);
  expect(help.stdout).toContain('Usage: deployctl [options] [command]');
  const refused = run(
    process.execPath,
    [
      join(installed, 'bin', 'deployctl.js'),
      'deploy',
      '--env',
      'production',
      '--release',
      'r 1',
      '-i',
      'a=b',
    ],
    out,
  );
  expect(refused.status).toBe(ExitCode.invalidInput);
  expect(refused.stderr).toContain('--release: value "r 1" must be letters');
}, 180_000);
