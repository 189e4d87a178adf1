import { readOptionalFile } from '../commands/files';
import { remoteLayout } from '../commands/layout';
import { withHost } from '../remote/executor';
import { loadEnvironmentOrFail } from './failures';
import type { ReleaseRecord } from '../shared/deployment';
import type { HostRelease, LiveReleases } from '../shared/liveReleases';
import { commandDeadlineMs } from '../remote/deadlines';

/** Reading what every host runs for `deployctl status --env`: read-only, safe to retry. */
export function createLiveReleaseActivities(deps: { configDir: string }) {
  return {
    /** Every host's releases/current.json, read in parallel; a host that cannot be read says why. */
    async readLiveReleases(input: { environment: string }): Promise<LiveReleases> {
      const environment = loadEnvironmentOrFail(deps.configDir, input.environment);
      const hosts = await Promise.all(
        environment.hosts.map(async (host): Promise<HostRelease> => {
          try {
            const { stdout } = await withHost(host, (h) =>
              h.run(readOptionalFile(remoteLayout(environment, host).currentRelease), {
                timeoutMs: commandDeadlineMs('smallFile'),
              }),
            );
            return { host: host.name, ...liveRecord(stdout) };
          } catch (err) {
            return { host: host.name, error: (err as Error).message };
          }
        }),
      );
      return { environment: environment.name, hosts };
    },
  };
}

/** The record in current.json's text; an unreadable one is reported, not guessed at. */
export function liveRecord(text: string): { live?: ReleaseRecord; error?: string } {
  if (!text.trim()) return {};
  try {
    const value = JSON.parse(text) as Partial<ReleaseRecord>;
    if (typeof value?.release !== 'string') return { error: 'releases/current.json has no release' };
    return {
      live: {
        release: value.release,
        images: typeof value.images === 'object' && value.images ? value.images : {},
        deployedAt: String(value.deployedAt ?? ''),
        deployedBy: String(value.deployedBy ?? ''),
        deploymentId: String(value.deploymentId ?? ''),
        ...(typeof value.commit === 'string' ? { commit: value.commit } : {}),
      },
    };
  } catch {
    return { error: 'releases/current.json is not JSON' };
  }
}
