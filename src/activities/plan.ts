import { ApplicationFailure } from '@temporalio/activity';
import { loadEnvironment } from '../config/load';
import { ConfigError } from '../config/errors';
import { parseDeployRequest, parseImageRef, type DeployRequest } from '../config/request';
import type { EnvironmentConfig } from '../config/schema';
import { readOptionalFile } from '../commands/files';
import { remoteLayout } from '../commands/layout';
import type { DeployPlan, ReleaseRecord } from '../shared/deployment';
import { withHost, type RemoteHost } from '../remote/executor';
import { toApplicationFailure } from './failures';

/** Resolve each requested image to a full reference, and fill services not requested from the running release. */
export function resolveImages(
  request: DeployRequest,
  environment: EnvironmentConfig,
  previous: ReleaseRecord | undefined,
): Record<string, string> {
  const known = environment.services.map((s) => s.name);
  const problems: string[] = [];
  const images: Record<string, string> = {};
  for (const [service, ref] of Object.entries(request.images)) {
    const config = environment.services.find((s) => s.name === service);
    if (!config) {
      problems.push(
        `images.${service}: service "${service}" is not in environment "${environment.name}" (known: ${known.join(', ')})`,
      );
      continue;
    }
    const parsed = parseImageRef(ref);
    if (!parsed) {
      problems.push(`images.${service}: value ${JSON.stringify(ref)} is not a valid image reference`);
      continue;
    }
    if (parsed.repository !== undefined && parsed.repository !== config.image) {
      problems.push(
        `images.${service}: value ${JSON.stringify(ref)} must come from the configured repository "${config.image}"`,
      );
      continue;
    }
    images[service] = parsed.digest ? `${config.image}@${parsed.digest}` : `${config.image}:${parsed.tag}`;
  }
  for (const service of known) {
    if (images[service] || problems.some((p) => p.startsWith(`images.${service}:`))) continue;
    const running = previous?.images[service];
    if (running) images[service] = running;
    else problems.push(`images.${service}: no image given and none is deployed yet in "${environment.name}"`);
  }
  if (problems.length) {
    throw new ConfigError(
      `deploy request is invalid:\n  ${problems.join('\n  ')}`,
      'deploy request',
      problems,
    );
  }
  return images;
}

/** The release record the first host keeps: `current` (what runs) or `previous` (the one before). */
export async function readReleaseRecord(
  environment: EnvironmentConfig,
  which: 'currentRelease' | 'previousRelease' = 'currentRelease',
): Promise<ReleaseRecord | undefined> {
  return withHost(environment.hosts[0], (h) => readReleaseRecordOn(h, environment, which));
}

/** The same, on a host already connected (no second SSH connection). */
export async function readReleaseRecordOn(
  host: RemoteHost,
  environment: EnvironmentConfig,
  which: 'currentRelease' | 'previousRelease' = 'currentRelease',
): Promise<ReleaseRecord | undefined> {
  const path = remoteLayout(environment, host.config)[which];
  const { stdout } = await host.run(readOptionalFile(path), { timeoutMs: 30_000 });
  if (!stdout.trim()) return undefined;
  try {
    return JSON.parse(stdout) as ReleaseRecord;
  } catch {
    throw ApplicationFailure.nonRetryable(
      `${host.config.name}: ${path} is not valid JSON; fix or remove it before deploying`,
      'CorruptReleaseRecord',
    );
  }
}

export function createPlanActivities(deps: { configDir: string }) {
  return {
    /** Validate the request against the environment's config and the hosts' current state. */
    async resolvePlan(input: { request: DeployRequest; deploymentId: string }): Promise<DeployPlan> {
      try {
        let request = parseDeployRequest(input.request);
        const environment = loadEnvironment(deps.configDir, request.environment);
        const strategy = request.strategy ?? environment.strategy ?? 'recreate';
        if (strategy !== 'recreate' && !environment.traffic) {
          throw new ConfigError(
            `deploy request is invalid:\n  strategy: value "${strategy}" needs colours behind Traefik, and environment "${environment.name}" has no traffic section (only --strategy recreate works there)`,
            'deploy request',
            [`strategy: value "${strategy}" needs a traffic section in environment "${environment.name}"`],
          );
        }
        if (strategy !== 'recreate' && environment.migrations && !environment.migrations.phases) {
          throw new ConfigError(
            `deploy request is invalid:\n  strategy: value "${strategy}" keeps the old release serving while migrations run, and environment "${environment.name}" declares no migrations.phases (pending, expand, contract commands), so nothing says they are backward compatible; use --strategy recreate or declare the phases`,
            'deploy request',
            [`strategy: value "${strategy}" needs migrations.phases in environment "${environment.name}"`],
          );
        }
        const previous = await readReleaseRecord(environment, 'currentRelease');
        if (request.rollback) {
          const target = await readReleaseRecord(environment, 'previousRelease');
          if (!target) {
            throw new ConfigError(
              `nothing to roll back to: no previous release is recorded for "${environment.name}"`,
              'rollback',
              [`${environment.hosts[0].name}: no previous release record`],
            );
          }
          request = { ...request, release: target.release, images: target.images };
        }
        const images = resolveImages(request, environment, previous);
        return { deploymentId: input.deploymentId, request, environment, images, previous, strategy };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  };
}
