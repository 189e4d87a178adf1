import { Context } from '@temporalio/activity';
import { parse } from 'yaml';
import {
  buildColourOverride,
  colourDown,
  colourLayout,
  colourPull,
  colourRunningContainers,
  colourUp,
  routingDir,
} from '../commands/colours';
import { composeUpAll, runningServicesOf } from '../commands/compose';
import { makeDirectory, readOptionalFile } from '../commands/files';
import type { Colour } from '../config/schema';
import type { ReleaseRecord } from '../shared/deployment';
import { buildEnvFile } from './envFile';
import { resolveSecrets } from './secrets';
import { releaseRecordOf } from './release';
import { onHost, withProgress, runUnderHostLock, type HostStepInput } from './hostStep';
import { releaseComposeFiles, writeProjectFiles, type ReleaseFileSources } from './releaseFiles';
import { commandDeadlineMs } from '../remote/deadlines';

export interface ColourStepInput extends HostStepInput {
  colour: Colour;
}

/** The `version:` of the app's first colour compose file, which the generated override must match. */
function composeVersion(text: string): string | undefined {
  const version = (parse(text) as { version?: unknown } | null)?.version;
  return typeof version === 'string' || typeof version === 'number' ? String(version) : undefined;
}

export function createColourActivities(deps: ReleaseFileSources & { workerEnv: NodeJS.ProcessEnv }) {
  return {
    /**
     * One colour's files on the host: its compose files, its env file (0600, secrets inside)
     * and the generated override that puts it on the shared network under its colour's names.
     * Also makes the routing directory, which must exist before Traefik starts watching it.
     */
    async uploadColour(input: ColourStepInput): Promise<void> {
      const { plan, colour } = input;
      const env = plan.environment;
      await onHost(
        input,
        `upload ${colour}`,
        async (host) => {
          const layout = colourLayout(env, host.config, colour);
          const { content, secretValues } = buildEnvFile(
            plan,
            host.config,
            await resolveSecrets(plan.environment, deps.workerEnv),
          );
          await host.run(makeDirectory(layout.dir), { timeoutMs: commandDeadlineMs('smallFile') });
          await host.run(makeDirectory(routingDir(env, host.config)), {
            timeoutMs: commandDeadlineMs('smallFile'),
          });
          const composed = await releaseComposeFiles(
            host,
            plan,
            'colour',
            deps,
            Context.current().cancellationSignal,
          );
          const version = composeVersion(composed.texts[0]);
          await writeProjectFiles(host, {
            compose: [
              ...composed.texts.map((text, i) => ({ path: layout.composeFiles[i]!, text })),
              { path: layout.overrideFile, text: buildColourOverride(env, colour, version) },
            ],
            envFile: layout.envFile,
            envContent: content,
          });
          secretValues.length = 0;
          return composed.from;
        },
        { detail: (from) => `compose files from ${from}` },
      );
    },

    async pullColour(input: ColourStepInput): Promise<void> {
      await onHost(input, `pull ${input.colour}`, async (host) => {
        await withProgress('pull', async (progress) => {
          await host.run(colourPull(input.plan.environment, host.config, input.colour), {
            timeoutMs: commandDeadlineMs('whole'),
            ...progress,
          });
        });
      });
    },

    /** Start (or update in place) the colour's containers; no user traffic reaches them yet. */
    async startColour(input: ColourStepInput): Promise<void> {
      await onHost(input, `start ${input.colour}`, async (host) => {
        await withProgress('start', async (progress) => {
          const env = input.plan.environment;
          await runUnderHostLock(host, env, colourUp(env, host.config, input.colour), {
            timeoutMs: commandDeadlineMs('whole'),
            ...progress,
          });
        });
      });
    },

    /**
     * Stop and remove a colour's containers (the old one after the switch-back window, or a new
     * one that never got traffic). With `onlyRelease`, a colour that now runs another release
     * (a later deployment took it over) is left alone. Returns what it did.
     */
    async stopColour(input: ColourStepInput & { onlyRelease?: string }): Promise<'stopped' | 'taken-over'> {
      const { plan, colour } = input;
      return onHost(input, `stop ${colour}`, async (host) => {
        const layout = colourLayout(plan.environment, host.config, colour);
        if (input.onlyRelease !== undefined) {
          const record = (
            await host.run(readOptionalFile(layout.releaseRecord), {
              timeoutMs: commandDeadlineMs('smallFile'),
            })
          ).stdout;
          const runs = record.trim() ? (JSON.parse(record) as ReleaseRecord).release : undefined;
          if (runs !== input.onlyRelease) return 'taken-over';
        }
        await runUnderHostLock(host, plan.environment, colourDown(plan.environment, host.config, colour), {
          timeoutMs: commandDeadlineMs('compose'),
        });
        return 'stopped';
      });
    },

    /** What the colour runs: its release record, and which of its services run now. */
    async inspectColour(
      input: ColourStepInput,
    ): Promise<{ record?: ReleaseRecord; runningServices: string[] }> {
      const { plan, colour } = input;
      return onHost(input, `inspect ${colour}`, async (host) => {
        const layout = colourLayout(plan.environment, host.config, colour);
        const record = (
          await host.run(readOptionalFile(layout.releaseRecord), {
            timeoutMs: commandDeadlineMs('smallFile'),
          })
        ).stdout;
        const running = runningServicesOf(
          (
            await host.run(colourRunningContainers(plan.environment, colour), {
              timeoutMs: commandDeadlineMs('query'),
            })
          ).stdout,
        );
        return {
          record: record.trim() ? (JSON.parse(record) as ReleaseRecord) : undefined,
          runningServices: running,
        };
      });
    },

    /**
     * The shared stack (database, cache, proxy) up as its files say; with colours it holds no
     * web service, so this never restarts one. Removes the web containers a recreate layout left.
     */
    async startSharedStack(input: HostStepInput): Promise<void> {
      await onHost(input, 'start shared', async (host) => {
        await withProgress('start shared', async (progress) => {
          const env = input.plan.environment;
          await runUnderHostLock(host, env, composeUpAll(env, host.config), {
            timeoutMs: commandDeadlineMs('whole'),
            ...progress,
          });
        });
      });
    },

    /** The release this colour now runs, written once it started (inspectColour and stopColour read it). */
    async recordColour(input: ColourStepInput): Promise<void> {
      const { plan, colour } = input;
      const record = releaseRecordOf(plan);
      await onHost(input, `record ${colour}`, async (host) => {
        const layout = colourLayout(plan.environment, host.config, colour);
        await host.writeFile(layout.releaseRecord, JSON.stringify(record), {
          timeoutMs: commandDeadlineMs('quick'),
        });
      });
    },
  };
}
