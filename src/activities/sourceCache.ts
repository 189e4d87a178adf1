import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { gitCloneBare, gitFetchAll, gitResolveCommit, gitShowFile, gitCommitTime } from '../commands/git';
import { FailureType } from './failures';
import { runLocal } from './localCommand';
import { commandDeadlineMs } from '../remote/deadlines';

const FULL_COMMIT = /^[0-9a-f]{40}$/;

/** A repository URL as messages may show it: credentials in an https URL are never printed. */
export function shownRepository(repository: string): string {
  return repository.replace(/^(https:\/\/)[^/@]*@/, '$1***@');
}

/** The path of a compose file inside the repository, as `git cat-file` wants it (no ./, no ..). */
export function pathInRepository(file: string): string {
  const path = posix.normalize(file).replace(/^(\.\/)+/, '');
  if (path.startsWith('/') || path === '..' || path.startsWith('../')) {
    throw ApplicationFailure.nonRetryable(
      `composeFiles: value ${JSON.stringify(file)} must be a path inside the app's repository (relative, no ..)`,
      FailureType.invalidInput,
    );
  }
  return path;
}

/**
 * The worker's bare copies of app repositories, from which a release's compose files are read
 * at its commit. One directory per repository; git calls on the same copy run one at a time in
 * this worker, and a half-made clone (a worker killed mid-clone) is made again.
 */
export class SourceCache {
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly root: string) {}

  private dirOf(repository: string): string {
    return join(this.root, createHash('sha256').update(repository).digest('hex').slice(0, 16));
  }

  private serialized<T>(dir: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(dir) ?? Promise.resolve();
    const next = previous.then(work, work);
    this.queues.set(
      dir,
      next.catch(() => undefined),
    );
    return next;
  }

  private async ensureClone(repository: string, dir: string, signal?: AbortSignal): Promise<boolean> {
    if (existsSync(join(dir, 'HEAD'))) return false;
    const partial = `${dir}.partial`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(this.root, { recursive: true });
    const clone = await runLocal(gitCloneBare(repository, partial), {
      timeoutMs: commandDeadlineMs('transfer'),
      signal,
    });
    if (clone.code !== 0) {
      rmSync(partial, { recursive: true, force: true });
      throw new Error(
        `git clone of ${shownRepository(repository)} failed: ${redacted(clone.output, repository)}`,
      );
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
    return true;
  }

  private async fetch(repository: string, dir: string, signal?: AbortSignal): Promise<void> {
    const fetched = await runLocal(gitFetchAll(dir), { timeoutMs: commandDeadlineMs('transfer'), signal });
    if (fetched.code !== 0) {
      throw new Error(
        `git fetch of ${shownRepository(repository)} failed: ${redacted(fetched.output, repository)}`,
      );
    }
  }

  private async tryResolve(dir: string, ref: string, signal?: AbortSignal): Promise<string | undefined> {
    const resolved = await runLocal(gitResolveCommit(dir, ref), {
      timeoutMs: commandDeadlineMs('quick'),
      signal,
    });
    return resolved.code === 0 ? resolved.stdout.trim() : undefined;
  }

  /**
   * The full commit a ref names in the repository as it is now (branches and tags are fetched
   * first, since they move). A ref the repository does not have is the caller's mistake.
   */
  resolveCommit(repository: string, ref: string, signal?: AbortSignal): Promise<string> {
    const dir = this.dirOf(repository);
    return this.serialized(dir, async () => {
      const cloned = await this.ensureClone(repository, dir, signal);
      const known = FULL_COMMIT.test(ref) ? await this.tryResolve(dir, ref, signal) : undefined;
      if (known) return known;
      if (!cloned) await this.fetch(repository, dir, signal);
      const commit = await this.tryResolve(dir, ref, signal);
      if (!commit) {
        throw ApplicationFailure.nonRetryable(
          `commit "${ref}" does not exist in ${shownRepository(repository)} (give the release's commit with --commit, or tag the commit with the release's name)`,
          FailureType.invalidInput,
        );
      }
      return commit;
    });
  }

  /**
   * When a resolved commit was made, for lead time (commit to live); undefined when git cannot
   * say, which only leaves the figure out.
   */
  async commitTime(repository: string, commit: string, signal?: AbortSignal): Promise<string | undefined> {
    const shown = await runLocal(gitCommitTime(this.dirOf(repository), commit), {
      timeoutMs: commandDeadlineMs('quick'),
      signal,
    });
    const time = shown.stdout.trim();
    return shown.code === 0 && !Number.isNaN(Date.parse(time)) ? new Date(time).toISOString() : undefined;
  }

  /** Each file's content at the commit, in order; a file the commit lacks is named. */
  readFiles(repository: string, commit: string, files: string[], signal?: AbortSignal): Promise<string[]> {
    const dir = this.dirOf(repository);
    return this.serialized(dir, async () => {
      let fetched = await this.ensureClone(repository, dir, signal);
      const show = (file: string) =>
        runLocal(gitShowFile(dir, commit, pathInRepository(file)), {
          timeoutMs: commandDeadlineMs('quick'),
          signal,
        });
      const texts: string[] = [];
      for (const file of files) {
        let shown = await show(file);
        // Another worker may have resolved the commit: this copy fetches it once, and only
        // when a read fails for want of it.
        if (shown.code !== 0 && !fetched && !(await this.tryResolve(dir, commit, signal))) {
          await this.fetch(repository, dir, signal);
          fetched = true;
          shown = await show(file);
        }
        if (shown.code !== 0) {
          throw ApplicationFailure.nonRetryable(
            `${file} is not in ${shownRepository(repository)} at ${commit.slice(0, 12)}: composeFiles are read from the app's repository at the release's commit`,
            FailureType.invalidInput,
          );
        }
        texts.push(shown.stdout);
      }
      return texts;
    });
  }
}

function redacted(output: string, repository: string): string {
  return output.trim().split(repository).join(shownRepository(repository));
}
