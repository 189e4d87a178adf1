import { existsSync, readFileSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { makeDirectory, readOptionalFile } from '../commands/files';
import { keptReleaseFilesDir, remoteLayout, type ReleaseFileSet } from '../commands/layout';
import type { DeployPlan } from '../shared/deployment';
import type { RemoteHost } from '../remote/executor';
import { FailureType } from './failures';
import { inBatches } from './hostStep';
import type { SourceCache } from './sourceCache';
import { commandDeadlineMs } from '../remote/deadlines';

export interface ReleaseFileSources {
  /** The worker's files dir (DEPLOY_FILES_DIR): compose files of environments without a repository. */
  projectRoot: string;
  sources: SourceCache;
}

export interface ComposeTexts {
  texts: string[];
  /** Where they came from, for the audit line: "repository at <commit>", "kept", "worker". */
  from: string;
}

function fileList(plan: DeployPlan, set: ReleaseFileSet): string[] {
  return set === 'stack' ? plan.environment.composeFiles : (plan.environment.traffic?.composeFiles ?? []);
}

/** The commit the plan's release was deployed from, when the plan knows it. */
function commitOf(plan: DeployPlan): string | undefined {
  const { release } = plan.request;
  if (plan.files?.release === release) return plan.files.commit;
  if (plan.previous?.release === release) return plan.previous.commit;
  return undefined;
}

async function readKept(host: RemoteHost, dir: string, files: string[]): Promise<string[] | undefined> {
  const texts: string[] = [];
  for (const file of files) {
    const { stdout } = await host.run(readOptionalFile(posix.join(dir, posix.basename(file))), {
      timeoutMs: commandDeadlineMs('smallFile'),
    });
    if (!stdout) return undefined;
    texts.push(stdout);
  }
  return texts;
}

/**
 * The compose files of the release the plan puts on the host. A new release's files come from
 * the app's repository at its commit (or the worker's files dir), and the host keeps a copy
 * under the release's name. Going back to a release (rollback, an undo) uses that kept copy,
 * so the returned release runs with its own files, whatever the repository or the worker holds now.
 */
export async function releaseComposeFiles(
  host: RemoteHost,
  plan: DeployPlan,
  set: ReleaseFileSet,
  deps: ReleaseFileSources,
  signal: AbortSignal,
): Promise<ComposeTexts> {
  const files = fileList(plan, set);
  const { release } = plan.request;
  const keptDir = keptReleaseFilesDir(remoteLayout(plan.environment, host.config), release, set);
  const newRelease = plan.files?.release === release && !plan.request.rollback;
  if (!newRelease) {
    const kept = await readKept(host, keptDir, files);
    if (kept) return { texts: kept, from: `kept with release ${release}` };
  }
  const { repository } = plan.environment;
  const commit = commitOf(plan);
  let composed: ComposeTexts;
  if (repository && commit) {
    composed = {
      texts: await deps.sources.readFiles(repository, commit, files, signal),
      from: `app repository at ${commit.slice(0, 12)}`,
    };
  } else {
    const paths = files.map((f) => resolve(deps.projectRoot, f));
    const missing = files.filter((_, i) => !existsSync(paths[i]));
    if (missing.length) {
      throw ApplicationFailure.nonRetryable(
        repository
          ? `the compose files of release ${release} are not kept on ${host.config.name} and no commit is recorded for it, so they cannot be read from the app's repository; ${missing.join(', ')} not in the worker's files dir ${deps.projectRoot} either`
          : `compose files missing on the worker: ${missing.join(', ')} (paths are relative to ${deps.projectRoot})`,
        FailureType.invalidInput,
      );
    }
    composed = { texts: paths.map((p) => readFileSync(p, 'utf8')), from: "the worker's files dir" };
  }
  await host.run(makeDirectory(keptDir), { timeoutMs: commandDeadlineMs('smallFile') });
  await inBatches(files, (file, i) =>
    host.writeFile(posix.join(keptDir, posix.basename(file)), composed.texts[i]!, {
      timeoutMs: commandDeadlineMs('quick'),
    }),
  );
  return composed;
}

/**
 * A compose project's files on the host: its compose files, any generated ones, and last the env
 * file (0600, secrets inside). Each write is atomic, so repeating it is safe.
 */
export async function writeProjectFiles(
  host: RemoteHost,
  files: { compose: { path: string; text: string }[]; envFile: string; envContent: string },
): Promise<void> {
  // The compose files at once (each write is atomic on its own); the env file after them, so a
  // host with an env file has the files it goes with.
  await inBatches(files.compose, ({ path, text }) =>
    host.writeFile(path, text, { timeoutMs: commandDeadlineMs('quick') }),
  );
  await host.writeFile(files.envFile, files.envContent, {
    mode: 0o600,
    timeoutMs: commandDeadlineMs('quick'),
  });
}
