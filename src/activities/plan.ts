import { ApplicationFailure, Context } from '@temporalio/activity';
import { loadEnvironment } from '../config/load';
import { ConfigError } from '../config/errors';
import { parseDeployRequest, parseImageRef, type DeployRequest } from '../config/request';
import type { EnvironmentConfig } from '../config/schema';
import { freeDiskKib, listNewestFirst, readOptionalFile } from '../commands/files';
import { releaseHistoryRecord, remoteLayout } from '../commands/layout';
import type { DeployPlan, ReleaseFiles, ReleaseRecord } from '../shared/deployment';
import { withHost, type RemoteHost } from '../remote/executor';
import { FailureType, toApplicationFailure } from './failures';
import { closedWindowMessage, deployWindowVerdict, type WindowVerdict } from '../config/deployWindows';
import { audit } from './audit';
import type { SourceCache } from './sourceCache';
import { commandDeadlineMs } from '../remote/deadlines';

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
  return readRecordAt(host, remoteLayout(environment, host.config)[which]);
}

/**
 * The record of a chosen earlier release on the first host: its history entry, or previous.json
 * for a release deployed before the history existed. Refused, listing the releases the host
 * knows, when there is none; refused when it is the live release.
 */
async function releaseToReturnTo(
  environment: EnvironmentConfig,
  release: string,
  current: ReleaseRecord | undefined,
): Promise<ReleaseRecord> {
  if (current?.release === release) {
    throw new ConfigError(
      `nothing to roll back: release ${release} is what "${environment.name}" runs now`,
      'rollback',
      [`--to: value ${JSON.stringify(release)} is the live release`],
    );
  }
  return withHost(environment.hosts[0], async (host) => {
    const layout = remoteLayout(environment, host.config);
    const recorded =
      (await readRecordAt(host, releaseHistoryRecord(layout, release))) ??
      [await readRecordAt(host, layout.previousRelease)].find((r) => r?.release === release);
    if (recorded) return recorded;
    const { stdout } = await host.run(listNewestFirst(layout.releaseHistoryDir), {
      timeoutMs: commandDeadlineMs('quick'),
    });
    const known = stdout
      .split('\n')
      .filter((name) => name.endsWith('.json'))
      .map((name) => name.slice(0, -'.json'.length))
      .slice(0, 10);
    throw new ConfigError(
      `nothing to roll back to: ${host.config.name} has no record of release ${release} in "${environment.name}"` +
        (known.length
          ? ` (recorded, newest first: ${known.join(', ')})`
          : ' (no release history recorded yet)'),
      'rollback',
      [`--to: value ${JSON.stringify(release)} was never recorded on ${host.config.name}`],
    );
  });
}

async function readRecordAt(host: RemoteHost, path: string): Promise<ReleaseRecord | undefined> {
  const { stdout } = await host.run(readOptionalFile(path), { timeoutMs: commandDeadlineMs('quick') });
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

/** Free MB under the host's baseDir; an answer that is not a number is an error, never "enough". */
export async function freeDiskMb(host: RemoteHost): Promise<number> {
  const { config } = host;
  const { stdout } = await host.run(freeDiskKib(config.baseDir), { timeoutMs: commandDeadlineMs('quick') });
  const kib = stdout.trim();
  if (!/^\d+$/.test(kib))
    throw new Error(`${config.name}: could not read the free disk under ${config.baseDir}: ${kib}`);
  return Math.floor(Number(kib) / 1024);
}

/**
 * Refuse, naming each short host, when a host has less free disk than the environment's floor
 * under its baseDir: a deploy that fills the disk half way breaks the release that runs.
 */
export async function checkDiskFloor(environment: EnvironmentConfig): Promise<void> {
  const floorMb = environment.minFreeDiskMb;
  if (!floorMb) return;
  const short = await Promise.all(
    environment.hosts.map((config) =>
      withHost(config, async (host) => {
        const freeMb = await freeDiskMb(host);
        return freeMb < floorMb ? `${config.name} has ${freeMb} MB free under ${config.baseDir}` : undefined;
      }),
    ),
  );
  const problems = short.filter((line): line is string => line !== undefined);
  if (problems.length) {
    throw ApplicationFailure.nonRetryable(
      `not enough free disk to deploy to "${environment.name}": ${problems.join('; ')} ` +
        `(minFreeDiskMb: ${floorMb}). Free space (old images: docker image prune; old dumps in backups/) ` +
        'or lower minFreeDiskMb in the environment config; nothing was changed',
      FailureType.diskBelowFloor,
    );
  }
}

/**
 * The release's commit and when it was made, for reports' lead time: from the app's repository,
 * else the one the gates check out. Best effort: a ref the gates' repository lacks fails the
 * gates step, not this one.
 */
async function commitOf(
  environment: EnvironmentConfig,
  request: DeployRequest,
  files: ReleaseFiles,
  sources: SourceCache,
): Promise<{ commit: string; committedAt?: string } | undefined> {
  const signal = Context.current().cancellationSignal;
  let repository = files.repository;
  let commit = files.commit;
  if (!commit && environment.gates?.repository) {
    repository = environment.gates.repository;
    commit = await sources
      .resolveCommit(repository, request.commit ?? request.release, signal)
      .catch(() => undefined);
  }
  if (!repository || !commit) return undefined;
  const committedAt = await sources.commitTime(repository, commit, signal);
  return { commit, ...(committedAt ? { committedAt } : {}) };
}

/** Where the release's compose files come from; a ref the app's repository lacks is refused here. */
async function releaseFilesOf(
  environment: EnvironmentConfig,
  request: DeployRequest,
  target: ReleaseRecord | undefined,
  sources: SourceCache,
): Promise<ReleaseFiles> {
  const { repository } = environment;
  if (!repository) return { release: request.release };
  if (target) {
    // A rollback returns to the commit the release was deployed from, when the host recorded it.
    return { release: request.release, ...(target.commit ? { repository, commit: target.commit } : {}) };
  }
  const ref = request.commit ?? request.release;
  const commit = await sources.resolveCommit(repository, ref, Context.current().cancellationSignal);
  return { release: request.release, repository, commit };
}

/**
 * The environment's deploy windows at `now`, when they are closed to this request: a rollback is
 * never held back (an incident needs it), and a closed window without --override-freeze is refused.
 */
function closedWindow(
  environment: EnvironmentConfig,
  request: DeployRequest,
  now: Date,
): Extract<WindowVerdict, { open: false }> | undefined {
  if (!environment.deployWindows || request.rollback) return undefined;
  const verdict = deployWindowVerdict(environment.deployWindows, now);
  if (verdict.open) return undefined;
  if (!request.overrideFreeze)
    throw ApplicationFailure.nonRetryable(
      closedWindowMessage(environment.name, environment.deployWindows, verdict, now),
      FailureType.deployWindowClosed,
    );
  return verdict;
}

/** A deploy that overrode a closed window says so, with its reason, in every host's audit log. */
async function auditFreezeOverride(
  plan: DeployPlan,
  reason: string,
  closed: Extract<WindowVerdict, { open: false }>,
): Promise<void> {
  await Promise.all(
    plan.environment.hosts.map((config) =>
      withHost(config, (host) =>
        audit(host, plan, {
          step: 'deploy-window',
          result: 'overridden',
          detail: `${reason} (${closed.why})`,
        }),
      ),
    ),
  );
}

export function createPlanActivities(deps: { configDir: string; sources: SourceCache }) {
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
        const closed = closedWindow(environment, request, new Date());
        // A rollback is never held back for disk: in an incident it usually needs nothing new.
        if (!request.rollback) await checkDiskFloor(environment);
        const previous = await readReleaseRecord(environment, 'currentRelease');
        let target: ReleaseRecord | undefined;
        if (request.rollback && request.rollbackTo) {
          target = await releaseToReturnTo(environment, request.rollbackTo, previous);
          request = { ...request, release: target.release, images: target.images };
        } else if (request.rollback) {
          target = await readReleaseRecord(environment, 'previousRelease');
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
        const files = await releaseFilesOf(environment, request, target, deps.sources);
        const commit = request.rollback
          ? undefined
          : await commitOf(environment, request, files, deps.sources);
        const plan: DeployPlan = {
          deploymentId: input.deploymentId,
          request,
          environment,
          images,
          previous,
          strategy,
          files,
          report: {
            ...(request.rollback ? { rollback: true } : {}),
            ...(commit?.commit ? { commit: commit.commit } : {}),
            ...(commit?.committedAt ? { committedAt: commit.committedAt } : {}),
          },
          ...(closed && request.overrideFreeze ? { windowOverridden: closed.why } : {}),
        };
        // Last, so that a retry after any other failure does not write it twice.
        if (closed && request.overrideFreeze)
          await auditFreezeOverride(plan, request.overrideFreeze.reason, closed);
        return plan;
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  };
}
