/**
 * Files written to a real host (lab-1) through the executor: atomically, with their mode, into
 * directories that do not exist yet, without leaving temporary files. Fails (never skips) when
 * the lab is not up.
 */
import { posix } from 'node:path';
import { removeDirectory } from '../../src/commands/files';
import { withHost } from '../../src/remote/executor';
import { requireLab } from './harness';

const lab = requireLab();
const host = lab.staging.hosts[0]!;
const dir = posix.join(host.baseDir, `remote-files-${Date.now().toString(36)}`);

async function remote(argv: string[]): Promise<string> {
  return withHost(host, async (h) => (await h.run(argv, { timeoutMs: 30_000 })).stdout.trim());
}

afterAll(async () => {
  await withHost(host, (h) => h.run(removeDirectory(dir), { timeoutMs: 30_000 }));
});

test('a secret file lands in a directory made for it, readable by its owner only', async () => {
  const file = posix.join(dir, 'nested', 'deeper', '.env');
  await withHost(host, (h) => h.writeFile(file, 'TOKEN=s3cr3t\n', { mode: 0o600, timeoutMs: 30_000 }));
  expect(await remote(['cat', file])).toBe('TOKEN=s3cr3t');
  expect(await remote(['stat', '-c', '%a', file])).toBe('600');
});

test('a rewrite replaces the file whole (a new inode), takes the new mode and leaves no temporary file', async () => {
  const file = posix.join(dir, 'compose.yml');
  await withHost(host, (h) => h.writeFile(file, 'first\n', { mode: 0o600, timeoutMs: 30_000 }));
  const before = await remote(['stat', '-c', '%i', file]);
  await withHost(host, (h) => h.writeFile(file, 'second\n', { timeoutMs: 30_000 }));
  expect(await remote(['cat', file])).toBe('second');
  expect(await remote(['stat', '-c', '%a', file])).toBe('644');
  expect(await remote(['stat', '-c', '%i', file])).not.toBe(before);
  expect((await remote(['ls', '-A', dir])).split('\n').sort()).toEqual(['compose.yml', 'nested']);
});
