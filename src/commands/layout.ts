import { posix } from 'node:path';
import type { EnvironmentConfig, HostConfig } from '../config/schema';

/**
 * Where an environment lives on a host. One directory per compose project:
 *   <baseDir>/<project>/            compose files, uploaded as-is
 *   <baseDir>/<project>/.env        settings, images and secrets (mode 0600)
 *   <baseDir>/<project>/releases/   current.json and previous.json release records, and
 *                                   history/<release>.json: every release deployed, for rollback --to;
 *                                   files/<release>/{stack,colour}/: the compose files it ran with
 *   <baseDir>/<project>/audit.log   append-only audit trail
 */
export interface RemoteLayout {
  appDir: string;
  envFile: string;
  releasesDir: string;
  currentRelease: string;
  previousRelease: string;
  releaseHistoryDir: string;
  auditLog: string;
  composeFiles: string[];
}

export function remoteLayout(env: EnvironmentConfig, host: HostConfig): RemoteLayout {
  const appDir = posix.join(host.baseDir, env.project);
  const releasesDir = posix.join(appDir, 'releases');
  return {
    appDir,
    envFile: posix.join(appDir, '.env'),
    releasesDir,
    currentRelease: posix.join(releasesDir, 'current.json'),
    previousRelease: posix.join(releasesDir, 'previous.json'),
    releaseHistoryDir: posix.join(releasesDir, 'history'),
    auditLog: posix.join(appDir, 'audit.log'),
    composeFiles: env.composeFiles.map((f) => posix.join(appDir, posix.basename(f))),
  };
}

/** The record a host keeps of one release it ran (release ids are validated: letters, digits, . _ -). */
export function releaseHistoryRecord(layout: RemoteLayout, release: string): string {
  return posix.join(layout.releaseHistoryDir, `${release}.json`);
}

/** The environment's own compose files, or one colour's (traffic.composeFiles). */
export type ReleaseFileSet = 'stack' | 'colour';

/** Where a host keeps the compose files a release ran with, so going back to it uses them again. */
export function keptReleaseFilesDir(layout: RemoteLayout, release: string, set: ReleaseFileSet): string {
  return posix.join(layout.releasesDir, 'files', release, set);
}
