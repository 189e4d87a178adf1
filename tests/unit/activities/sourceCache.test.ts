import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { gitCloneBare, gitFetchAll, gitShowFile } from '../../../src/commands/git';
import { pathInRepository, shownRepository, SourceCache } from '../../../src/activities/sourceCache';

/** A real git repository made here; the cache clones and fetches it as a worker would. */
const root = mkdtempSync(join(tmpdir(), 'source-cache-'));
const repo = join(root, 'app');
const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).trim();

function commitCompose(content: string, tag?: string): string {
  writeFileSync(join(repo, 'deploy', 'app.yml'), content);
  git('add', '.');
  git('commit', '--quiet', '-m', content.trim());
  if (tag) git('tag', tag);
  return git('rev-parse', 'HEAD');
}

let first: string;
beforeAll(() => {
  mkdirSync(join(repo, 'deploy'), { recursive: true });
  execFileSync('git', ['init', '--quiet', '-b', 'main', repo]);
  git('config', 'user.email', 'ci@example.invalid');
  git('config', 'user.name', 'ci');
  first = commitCompose('services: {one: {image: "${ONE_IMAGE}"}}\n', 'r1');
});

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApplicationFailure))
    throw new Error(`expected an ApplicationFailure, got ${String(err)}`);
  return err;
}

describe('git commands of the source cache', () => {
  test('exact argv: a bare clone, a fetch of every branch and tag, one blob at a commit', () => {
    expect(gitCloneBare('/srv/app', '/w/.sources/ab')).toEqual([
      'git',
      'clone',
      '--quiet',
      '--bare',
      '--',
      '/srv/app',
      '/w/.sources/ab',
    ]);
    expect(gitFetchAll('/w/.sources/ab')).toEqual([
      'git',
      '-C',
      '/w/.sources/ab',
      'fetch',
      '--quiet',
      '--prune',
      '--force',
      'origin',
      '+refs/heads/*:refs/heads/*',
      '+refs/tags/*:refs/tags/*',
    ]);
    expect(gitShowFile('/w/.sources/ab', 'c0ffee', 'deploy/app.yml')).toEqual([
      'git',
      '-C',
      '/w/.sources/ab',
      'cat-file',
      'blob',
      'c0ffee:deploy/app.yml',
    ]);
  });

  test('paths inside the repository only', () => {
    expect(pathInRepository('./deploy/app.yml')).toBe('deploy/app.yml');
    expect(pathInRepository('deploy//app.yml')).toBe('deploy/app.yml');
    expect(() => pathInRepository('../other/app.yml')).toThrow(/composeFiles: value "..\/other\/app.yml"/);
    expect(() => pathInRepository('/etc/app.yml')).toThrow(/inside the app's repository/);
  });

  test('credentials in an https URL are never shown', () => {
    expect(shownRepository('https://ci:s3cret@git.example.invalid/app.git')).toBe(
      'https://***@git.example.invalid/app.git',
    );
    expect(shownRepository('/srv/app')).toBe('/srv/app');
  });
});

describe('SourceCache', () => {
  test('resolves a tag, then a branch that moved since the clone (it fetches first)', async () => {
    const cache = new SourceCache(join(root, 'cache-moving'));
    expect(await cache.resolveCommit(repo, 'r1')).toBe(first);
    expect(await cache.resolveCommit(repo, 'main')).toBe(first);
    const second = commitCompose('services: {one: {image: "${ONE_IMAGE}"}, two: {image: x}}\n', 'r2');
    expect(await cache.resolveCommit(repo, 'main')).toBe(second);
    expect(await cache.resolveCommit(repo, 'r2')).toBe(second);
    expect(await cache.resolveCommit(repo, second)).toBe(second);
    // Each commit's own content, whatever the branch holds now.
    const [atFirst] = await cache.readFiles(repo, first, ['deploy/app.yml']);
    const [atSecond] = await cache.readFiles(repo, second, ['./deploy/app.yml']);
    expect(atFirst).toBe('services: {one: {image: "${ONE_IMAGE}"}}\n');
    expect(atSecond).toContain('two: {image: x}');
  });

  test('a ref the repository lacks is invalid input naming the ref and --commit', async () => {
    const cache = new SourceCache(join(root, 'cache-missing'));
    const err = await failure(cache.resolveCommit(repo, 'v404'));
    expect(err.type).toBe('InvalidInput');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(`commit "v404" does not exist in ${repo}`);
    expect(err.message).toContain('--commit');
  });

  test('a file the commit lacks is named with the commit', async () => {
    const cache = new SourceCache(join(root, 'cache-file'));
    const err = await failure(cache.readFiles(repo, first, ['deploy/app.yml', 'deploy/db.yml']));
    expect(err.type).toBe('InvalidInput');
    expect(err.message).toContain(`deploy/db.yml is not in ${repo} at ${first.slice(0, 12)}`);
  });

  test('a commit another worker resolved is fetched into this copy before reading', async () => {
    const cache = new SourceCache(join(root, 'cache-stale'));
    await cache.resolveCommit(repo, 'r1');
    const later = commitCompose('services: {three: {image: y}}\n');
    const [text] = await cache.readFiles(repo, later, ['deploy/app.yml']);
    expect(text).toBe('services: {three: {image: y}}\n');
  });

  test('a half-made clone (a worker killed mid-clone) is made again', async () => {
    const cacheRoot = join(root, 'cache-partial');
    const cache = new SourceCache(cacheRoot);
    await cache.resolveCommit(repo, 'r1');
    const [dir] = readdirSync(cacheRoot);
    // What a SIGKILL during `git clone` leaves: the partial directory, never the final one.
    execFileSync('rm', ['-rf', join(cacheRoot, dir)]);
    mkdirSync(join(cacheRoot, `${dir}.partial`, 'objects'), { recursive: true });
    const fresh = new SourceCache(cacheRoot);
    expect(await fresh.resolveCommit(repo, 'r1')).toBe(first);
    expect(existsSync(join(cacheRoot, `${dir}.partial`))).toBe(false);
  });

  test('a repository that cannot be cloned fails retryably, with its output', async () => {
    const cache = new SourceCache(join(root, 'cache-absent'));
    await expect(cache.resolveCommit(join(root, 'no-such-repo'), 'main')).rejects.toThrow(
      /git clone of .*no-such-repo failed: .*(does not exist|not a git repository|No such file)/i,
    );
  });
});
