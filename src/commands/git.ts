import type { Argv } from './compose';

/** Git commands for the worker's gate workspace (run locally, never through a shell). */

export function gitClone(repository: string, workspace: string): Argv {
  return ['git', 'clone', '--quiet', '--no-checkout', '--', repository, workspace];
}

/** Resolve a ref to the full commit id; fails when the ref does not exist. */
export function gitResolveCommit(workspace: string, ref: string): Argv {
  return ['git', '-C', workspace, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`];
}

export function gitCheckout(workspace: string, commit: string): Argv {
  return ['git', '-C', workspace, 'checkout', '--quiet', '--force', '--detach', commit];
}
