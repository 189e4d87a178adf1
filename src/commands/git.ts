import type { Argv } from './argv';

/** Git commands for the worker's gate workspace (run locally, never through a shell). */

export function gitClone(repository: string, workspace: string): Argv {
  return ['git', 'clone', '--quiet', '--no-checkout', '--', repository, workspace];
}

/** Resolve a ref to the full commit id; fails when the ref does not exist. */
export function gitResolveCommit(workspace: string, ref: string): Argv {
  return ['git', '-C', workspace, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`];
}

/** When a commit was made (committer date, strict ISO 8601): where lead time starts. */
export function gitCommitTime(workspace: string, commit: string): Argv {
  return ['git', '-C', workspace, 'show', '--no-patch', '--format=%cI', '--end-of-options', commit];
}

export function gitCheckout(workspace: string, commit: string): Argv {
  return ['git', '-C', workspace, 'checkout', '--quiet', '--force', '--detach', commit];
}

/** A bare copy of the app's repository: the worker's cache of release files, one per repository. */
export function gitCloneBare(repository: string, dir: string): Argv {
  return ['git', 'clone', '--quiet', '--bare', '--', repository, dir];
}

/** Every branch and tag of the cached repository as the origin has them now (moved tags included). */
export function gitFetchAll(dir: string): Argv {
  return [
    'git',
    '-C',
    dir,
    'fetch',
    '--quiet',
    '--prune',
    '--force',
    'origin',
    '+refs/heads/*:refs/heads/*',
    '+refs/tags/*:refs/tags/*',
  ];
}

/** One file's content at a commit (exit 128 when the path is not in that commit). */
export function gitShowFile(dir: string, commit: string, path: string): Argv {
  return ['git', '-C', dir, 'cat-file', 'blob', `${commit}:${path}`];
}
