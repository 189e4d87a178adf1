import { Context } from '@temporalio/activity';
import {
  composeConfiguredServices,
  composeDown,
  composePull,
  composeUpAll,
  composeUpService,
} from '../commands/compose';
import { makeDirectory } from '../commands/files';
import { remoteLayout } from '../commands/layout';
import { recordReleaseArgv } from '../commands/releaseRecord';
import type { DeployPlan, ReleaseRecord } from '../shared/deployment';
import { buildEnvFile } from './envFile';
import { resolveSecrets } from './secrets';
import { onHost, outputLines, withProgress, runUnderHostLock, type HostStepInput } from './hostStep';
import { allEnded } from '../shared/promises';
import { releaseComposeFiles, writeProjectFiles, type ReleaseFileSources } from './releaseFiles';
import { commandDeadlineMs } from '../remote/deadlines';

export type { HostStepInput };

/** What a host records about the release a plan deploys: who deployed what, when. */
export function releaseRecordOf(plan: DeployPlan): ReleaseRecord {
  return {
    release: plan.request.release,
    images: plan.images,
    deployedAt: new Date().toISOString(),
    deployedBy: plan.request.requestedBy,
    deploymentId: plan.deploymentId,
    ...(plan.files?.release === plan.request.release && plan.files.commit
      ? { commit: plan.files.commit }
      : {}),
  };
}

export function createReleaseActivities(deps: ReleaseFileSources & { workerEnv: NodeJS.ProcessEnv }) {
  return {
    /**
     * The release's compose files (releaseFiles.ts says from where) and the env file (0600,
     * secrets inside) to the host; atomic, so safe to repeat.
     */
    async uploadRelease(input: HostStepInput): Promise<void> {
      const { plan } = input;
      await onHost(
        input,
        'upload',
        async (host) => {
          const layout = remoteLayout(plan.environment, host.config);
          const { content, secretValues } = buildEnvFile(
            plan,
            host.config,
            await resolveSecrets(plan.environment, deps.workerEnv),
          );
          await host.run(makeDirectory(layout.releasesDir), { timeoutMs: commandDeadlineMs('smallFile') });
          const composed = await releaseComposeFiles(
            host,
            plan,
            'stack',
            deps,
            Context.current().cancellationSignal,
          );
          await writeProjectFiles(host, {
            compose: composed.texts.map((text, i) => ({ path: layout.composeFiles[i]!, text })),
            envFile: layout.envFile,
            envContent: content,
          });
          // Secret values are only known here; nothing below may echo them.
          secretValues.length = 0;
          return composed.from;
        },
        { detail: (from) => `compose files from ${from}` },
      );
    },

    /**
     * The release's images onto the host. Returns the services the compose files configure, read
     * while the images pull, so the post-deploy check of running services need not ask again.
     */
    async pullImages(input: HostStepInput): Promise<{ configuredServices: string[] }> {
      const env = input.plan.environment;
      return onHost(input, 'pull', (host) =>
        withProgress('pull', async (progress) => {
          const [, configured] = await allEnded([
            host.run(composePull(env, host.config), { timeoutMs: commandDeadlineMs('whole'), ...progress }),
            host.run(composeConfiguredServices(env, host.config), { timeoutMs: commandDeadlineMs('query') }),
          ]);
          return { configuredServices: outputLines(configured.stdout) };
        }),
      );
    },

    /**
     * Services in the configured order, then the rest of the stack (proxy, orphans). `together`:
     * the whole stack in one `compose up`, which recreates what changed at once: a rollback's
     * way back to the previous release, where every second counts and the order does not.
     */
    async startServices(input: HostStepInput & { together?: boolean }): Promise<void> {
      const { environment } = input.plan;
      await onHost(input, 'start', async (host) => {
        await withProgress('start', async (progress) => {
          // The last service comes up with the rest of the stack: the same order, one compose
          // call fewer (compose recreates only what changed; a dependent is not recreated for
          // a recreated dependency).
          for (const service of input.together ? [] : environment.services.slice(0, -1)) {
            await runUnderHostLock(
              host,
              environment,
              composeUpService(environment, host.config, service.name),
              {
                timeoutMs: commandDeadlineMs('compose'),
                ...progress,
              },
            );
          }
          await runUnderHostLock(host, environment, composeUpAll(environment, host.config), {
            timeoutMs: commandDeadlineMs('compose'),
            ...progress,
          });
        });
      });
    },

    /** Compensation for a first deployment that failed: there is no previous release to return to. */
    async stopRelease(input: HostStepInput): Promise<void> {
      await onHost(input, 'stop', async (host) => {
        const env = input.plan.environment;
        await runUnderHostLock(host, env, composeDown(env, host.config), {
          timeoutMs: commandDeadlineMs('compose'),
        });
      });
    },

    /**
     * current.json becomes previous.json; the new record names who deployed what, when. It is
     * also kept under the release's own name, so `rollback --to` can return to any release.
     */
    async recordRelease(input: HostStepInput): Promise<ReleaseRecord> {
      const { plan } = input;
      const record = releaseRecordOf(plan);
      await onHost(input, 'record', async (host) => {
        await host.run(recordReleaseArgv(remoteLayout(plan.environment, host.config), record), {
          timeoutMs: commandDeadlineMs('smallFile'),
        });
      });
      return record;
    },
  };
}
