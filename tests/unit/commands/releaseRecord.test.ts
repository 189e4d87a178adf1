import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shellLine } from '../../../src/remote/executor';
import { RECORD_RELEASE_SCRIPT, recordReleaseArgv } from '../../../src/commands/releaseRecord';
import type { RemoteLayout } from '../../../src/commands/layout';
import type { ReleaseRecord } from '../../../src/shared/deployment';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'release-record-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const layoutIn = (root: string) =>
  ({
    currentRelease: join(root, 'releases', 'current.json'),
    previousRelease: join(root, 'releases', 'previous.json'),
    releaseHistoryDir: join(root, 'releases', 'history'),
  }) as RemoteLayout;

const recordOf = (release: string, deploymentId: string): ReleaseRecord => ({
  release,
  images: { api: `registry/api:${release}` },
  deployedAt: '2026-12-05T00:00:00.000Z',
  deployedBy: "o'brien $(touch pwned)",
  deploymentId,
});

/** The command as the host's shell runs it: quoted into one line by the executor, then run by sh. */
const record = (layout: RemoteLayout, r: ReleaseRecord) =>
  spawnSync('sh', ['-c', shellLine(recordReleaseArgv(layout, r))], { encoding: 'utf8', cwd: dir });

test('the argv: the constant script, then every value as an argument', () => {
  const layout = layoutIn('/srv/shop');
  const r = recordOf('r2', 'deploy-staging-r2');
  expect(recordReleaseArgv(layout, r)).toEqual([
    'sh',
    '-c',
    RECORD_RELEASE_SCRIPT,
    'record-release',
    '/srv/shop/releases/current.json',
    '/srv/shop/releases/previous.json',
    '/srv/shop/releases/history/r2.json',
    '"deploymentId":"deploy-staging-r2"',
    JSON.stringify(r),
  ]);
});

test('a first record, a second one that pushes the first into previous.json, and a retry that does not', () => {
  const layout = layoutIn(join(dir, 'shop'));
  const first = recordOf('r1', 'deploy-r1');
  expect(record(layout, first).status).toBe(0);
  expect(JSON.parse(readFileSync(layout.currentRelease, 'utf8'))).toEqual(first);
  expect(existsSync(layout.previousRelease)).toBe(false);
  expect(JSON.parse(readFileSync(join(layout.releaseHistoryDir, 'r1.json'), 'utf8'))).toEqual(first);

  const second = recordOf('r2', 'deploy-r2');
  expect(record(layout, second).status).toBe(0);
  expect(JSON.parse(readFileSync(layout.currentRelease, 'utf8'))).toEqual(second);
  expect(JSON.parse(readFileSync(layout.previousRelease, 'utf8'))).toEqual(first);

  // A retry of the same deployment (its worker killed after the rename) leaves previous.json alone.
  expect(record(layout, second).status).toBe(0);
  expect(JSON.parse(readFileSync(layout.previousRelease, 'utf8'))).toEqual(first);
  expect(JSON.parse(readFileSync(join(layout.releaseHistoryDir, 'r2.json'), 'utf8'))).toEqual(second);
  // No temporary file is left, and no value was ever run as a command.
  expect(readdirSync(join(dir, 'shop', 'releases')).sort()).toEqual([
    'current.json',
    'history',
    'previous.json',
  ]);
  expect(existsSync(join(dir, 'pwned'))).toBe(false);
});

test('a current.json that names another deployment is not mistaken for this one', () => {
  const layout = layoutIn(join(dir, 'shop'));
  expect(record(layout, recordOf('r1', 'deploy-r1')).status).toBe(0);
  // Same prefix, different deployment: only the exact marker counts.
  writeFileSync(layout.currentRelease, JSON.stringify(recordOf('r1', 'deploy-r1-other')));
  expect(record(layout, recordOf('r1', 'deploy-r1')).status).toBe(0);
  expect(JSON.parse(readFileSync(layout.previousRelease, 'utf8')).deploymentId).toBe('deploy-r1-other');
});

test('a release directory that cannot be written fails the command', () => {
  writeFileSync(join(dir, 'shop'), 'a file where the directory should be');
  const r = record(layoutIn(join(dir, 'shop')), recordOf('r1', 'deploy-r1'));
  expect(r.status).not.toBe(0);
});
