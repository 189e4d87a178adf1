import { Context } from '@temporalio/activity';
import { composeDown, composePull, composeUpAll, composeUpService } from '../commands/compose';
import { copyIfExists, makeDirectory, readOptionalFile } from '../commands/files';
import { releaseHistoryRecord, remoteLayout } from '../commands/layout';
import type { DeployPlan, ReleaseRecord } from '../shared/deployment';
import { buildEnvFile } from './envFile';
import { resolveSecrets } from './secrets';
import { onHost, withProgress, runUnderHostLock, type HostStepInput } from './hostStep';
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

    async pullImages(input: HostStepInput): Promise<void> {
      await onHost(input, 'pull', async (host) => {
        await withProgress('pull', async (progress) => {
          await host.run(composePull(input.plan.environment, host.config), {
            timeoutMs: commandDeadlineMs('whole'),
            ...progress,
          });
        });
      });
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
          for (const service of input.together ? [] : environment.services) {
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
        const layout = remoteLayout(plan.environment, host.config);
        const current = await host.run(readOptionalFile(layout.currentRelease), {
          timeoutMs: commandDeadlineMs('smallFile'),
        });
        // A retry after the rename must not push the new record into previous.json.
        const alreadyRecorded = current.stdout.includes(
          `"deploymentId":${JSON.stringify(plan.deploymentId)}`,
        );
        if (!alreadyRecorded) {
          await host.run(copyIfExists(layout.currentRelease, layout.previousRelease), {
            timeoutMs: commandDeadlineMs('smallFile'),
          });
          await host.writeFile(layout.currentRelease, JSON.stringify(record), {
            timeoutMs: commandDeadlineMs('quick'),
          });
        }
        await host.run(makeDirectory(layout.releaseHistoryDir), {
          timeoutMs: commandDeadlineMs('smallFile'),
        });
        await host.writeFile(releaseHistoryRecord(layout, record.release), JSON.stringify(record), {
          timeoutMs: commandDeadlineMs('quick'),
        });
      });
      return record;
    },
  };
}
