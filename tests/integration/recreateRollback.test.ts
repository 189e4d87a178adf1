/**
 * A release that never gets ready, deployed with --strategy recreate (in place, on lab-1's live
 * colour): the health wait fails at its deadline, the previous release is put back and answers.
 * Prints the figures issue 13 asks for, never asserts on them: from the first failed readiness,
 * and from the failure, to the previous release answering. A config dir of the test's own with
 * a 10 s health deadline. Fails (never skips) when the lab is not up.
 */
import { follow, startOrAttach } from '../../src/client/deploy';
import { ExitCode } from '../../src/client/exitCodes';
import type { DeploymentStatus } from '../../src/shared/deployment';
import { labConfigCopy, reportedReleases, requireLab, startHarness, type Harness } from './harness';
import type { Client } from '@temporalio/client';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadEnvironment } from '../../src/config/load';
import { composeDestroy } from '../../src/commands/compose';
import { removeDirectory } from '../../src/commands/files';
import { withHost } from '../../src/remote/executor';
import { plainDemoEnvironment } from '../../lab/config';

const lab = requireLab();
const staging = lab.staging;
const stamp = Date.now().toString(36);
const HEALTH_SECONDS = 10;
const PLAIN = 'lab-plain';
/** A loopback address of its own for the plain stack's published ports. */
const PLAIN_ADDRESS = '127.0.0.68';
let configDir: string;
/** Whether the plain stack was ever started, so there is something to take down. */
let plainDeployed = false;
let harness: Harness;
let client: Client;

beforeAll(async () => {
  const { dir } = labConfigCopy('recreate-rollback-config', staging.name, (raw) => {
    raw.deadlines = { ...(raw.deadlines as Record<string, unknown>), healthSeconds: HEALTH_SECONDS };
  });
  const plain = {
    ...plainDemoEnvironment(staging, {
      name: PLAIN,
      project: `plain${stamp}`,
      dirName: `plain-${stamp}`,
      address: PLAIN_ADDRESS,
    }),
    deadlines: { healthSeconds: HEALTH_SECONDS },
  };
  writeFileSync(join(dir, `${PLAIN}.yaml`), stringify(plain));
  configDir = dir;
  harness = await startHarness({ configDir: dir, workerEnv: lab.workerEnv });
  client = harness.env.client;
}, 120_000);

afterAll(async () => {
  await harness?.stop();
  // The plain stack's containers and volumes go; the colours stay for the tests after this one.
  // A stack whose files never reached the host has nothing to take down: only the directory goes.
  if (!configDir || !plainDeployed) return;
  const plain = loadEnvironment(configDir, PLAIN);
  const host = plain.hosts[0]!;
  await withHost(host, async (h) => {
    try {
      await h.run(composeDestroy(plain, host), { timeoutMs: 120_000 });
    } catch (err) {
      console.warn(`the plain stack was not taken down: ${(err as Error).message}`);
    }
    await h.run(removeDirectory(host.baseDir), { timeoutMs: 60_000 });
  });
});

async function deploy(tag: string, release: string, environment = staging.name) {
  const request = {
    environment,
    release,
    images: { site: tag, saas: tag, api: tag },
    requestedBy: 'integration-test',
    commit: tag,
    strategy: 'recreate' as const,
  };
  const { handle } = await startOrAttach(client, harness.settings, request);
  return follow(handle, harness.settings, { timeoutMs: 300_000 });
}

/** When a step of the status ended, in ms since the epoch. */
function endOf(status: DeploymentStatus | undefined, name: string, result?: string): number {
  const step = status?.steps.find((s) => s.name === name && (!result || s.status === result));
  if (!step?.endedAt) throw new Error(`no ended step "${name}" in ${JSON.stringify(status?.steps)}`);
  return Date.parse(step.endedAt);
}

async function failedHealthBack(environment: string, slug: string, label: string): Promise<void> {
  const base = `rr-base-${slug}-${stamp}`;
  if (environment === PLAIN) plainDeployed = true;
  const good = await deploy('v2', base, environment);
  expect({ code: good.exitCode, error: good.error }).toMatchObject({ code: ExitCode.succeeded });

  const broken = await deploy('v3-unready', `rr-unready-${slug}-${stamp}`, environment);
  expect(broken.exitCode).toBe(ExitCode.rolledBack);
  expect(broken.status?.failure?.step).toBe('health');
  expect(broken.status?.rollback).toMatchObject({ restoredRelease: base, healthy: true });
  expect(Object.values(await reportedReleases(loadEnvironment(configDir, environment)))).toEqual([
    base,
    base,
    base,
  ]);

  const status = broken.status;
  const health = status?.steps.find((s) => s.name === 'health' && s.status === 'failed');
  const firstFailedReadiness = Date.parse(health?.startedAt ?? '');
  const failedAt = endOf(status, 'health', 'failed');
  const answeringAt = endOf(status, 'rollback: health');
  expect(answeringAt).toBeGreaterThan(failedAt);
  // What the deployment itself reports: from the failure to the previous release answering.
  const reported = status?.rollback?.answeringAfterMs;
  expect(reported).toBeGreaterThan(0);
  console.log(
    [
      `recreate rollback, ${label} (health deadline ${HEALTH_SECONDS} s):`,
      `  first failed readiness -> previous release answering: ${((answeringAt - firstFailedReadiness) / 1000).toFixed(1)} s`,
      `  deadline passed -> previous release answering: ${((answeringAt - failedAt) / 1000).toFixed(1)} s (the deployment reports ${((reported ?? 0) / 1000).toFixed(1)} s)`,
      ...(status?.steps ?? [])
        .filter((s) => s.name.startsWith('rollback'))
        .map((s) => `    ${s.name}: ${((s.durationMs ?? 0) / 1000).toFixed(1)} s`),
    ].join('\n'),
  );
}

test('colours, in place: a release that never gets ready is replaced by the previous one, which answers again', () =>
  failedHealthBack(staging.name, 'colour', 'in place on the live colour'));

test('one compose project: a release that never gets ready is replaced by the previous one, which answers again', () =>
  failedHealthBack(PLAIN, 'plain', 'one compose project'));
