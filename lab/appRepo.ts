/**
 * The demo app's git repository, as the pipeline's quality gates see an app repository: the
 * demo-app/ sources committed once and tagged with every lab image tag (all of them are
 * built from these sources), so `--commit v2` checks out what the v2 image runs.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LAB_DEMO_TAGS } from './images';
import { PROJECT_ROOT, type LabPaths } from './paths';
import { run } from './util';

const SOURCE = path.join(PROJECT_ROOT, 'demo-app');

export function appRepoPath(p: LabPaths): string {
  return path.join(p.root, 'repos', 'demo-app');
}

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

function sourceHash(): string {
  const h = createHash('sha256');
  for (const file of listFiles(SOURCE)) h.update(path.relative(SOURCE, file)).update(fs.readFileSync(file));
  return h.digest('hex').slice(0, 16);
}

/** Create (or re-create when demo-app/ changed) the repository; returns its path. */
export async function ensureAppRepository(p: LabPaths): Promise<{ path: string; created: boolean }> {
  const repo = appRepoPath(p);
  const stamp = path.join(repo, '.git', 'lab-source-hash');
  const hash = sourceHash();
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === hash) return { path: repo, created: false };
  fs.rmSync(repo, { recursive: true, force: true });
  fs.mkdirSync(repo, { recursive: true });
  fs.cpSync(SOURCE, repo, { recursive: true });
  const git = (...args: string[]) => run(['git', '-C', repo, ...args], { timeoutMs: 30_000 });
  await git('init', '--quiet', '-b', 'main');
  await git('-c', 'user.email=lab@example.invalid', '-c', 'user.name=lab', 'add', '.');
  await git(
    '-c',
    'user.email=lab@example.invalid',
    '-c',
    'user.name=lab',
    'commit',
    '--quiet',
    '-m',
    'demo app',
  );
  for (const tag of LAB_DEMO_TAGS) await git('tag', tag);
  fs.writeFileSync(stamp, hash);
  return { path: repo, created: true };
}
