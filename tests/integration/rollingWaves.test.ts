/**
 * A rolling release on four lab hosts (fleet-1 … fleet-4, made from nothing), one host per wave
 * and a pause between waves. A good release moves wave by wave, each host checked before the
 * next starts. Then, in the pause after wave 2, fleet-3's sshd is SIGKILLed with every session
 * it started: wave 3 fails and the release stops. fleet-1 and fleet-2 get the previous release
 * back, fleet-4 (never reached) keeps its very containers, and the failure names fleet-3, whose
 * undo could not run. Fails (never skips) when the lab is not up.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Client } from '@temporalio/client';
import { follow, startOrAttach } from '../../src/client/deploy';
import { ExitCode } from '../../src/client/exitCodes';
import type { EnvironmentConfig } from '../../src/config/schema';
import type { DeploymentStatus } from '../../src/shared/deployment';
import { dockerEnv } from '../../lab/engine';
import { fleetEnvironment } from '../../lab/fleetEnvironment';
import { createFleet } from '../../lab/fresh';
import { stopHost } from '../../lab/hosts';
import { fleetHosts, hostPaths, labPaths, PROJECT_ROOT } from '../../lab/paths';
import { descendants } from '../../lab/processes';
import { sshdPid } from '../../lab/sshd';
import { run as runLocal, setQuiet } from '../../lab/util';
import { reportedReleases, requireLab, startHarness, waitForStatus, type Harness } from './harness';

const lab = requireLab();
const HOSTS = fleetHosts(4);
const stamp = Date.now().toString(36);
let environment: EnvironmentConfig;
let harness: Harness;
let client: Client;

beforeAll(async () => {
  setQuiet(true);
  const made = await createFleet(HOSTS.length);
  setQuiet(false);
  environment = fleetEnvironment(
    'rolling',
    made.map((h) => h.host),
    { batchSize: 1, pauseSeconds: 2 },
  );
  const configDir = mkdtempSync(join(PROJECT_ROOT, '.data', 'rolling-config-'));
  writeFileSync(join(configDir, 'rolling.yaml'), stringify(environment, { lineWidth: 0 }));
  harness = await startHarness({ configDir, workerEnv: lab.workerEnv });
  client = harness.env.client;
}, 300_000);

afterAll(async () => {
  await harness?.stop();
  // The fleet hosts are only this file's: their containers, engines and sshd stop here.
  for (const host of HOSTS) await stopHost(host, labPaths()).catch(() => undefined);
}, 300_000);

function start(tag: string, release: string) {
  return startOrAttach(client, harness.settings, {
    environment: 'rolling',
    release,
    images: { api: tag },
    requestedBy: 'integration-test',
  });
}

/** When a step ran, in ms since the epoch. */
function timesOf(status: DeploymentStatus | undefined, name: string): { started: number; ended: number } {
  const step = status?.steps.find((s) => s.name === name);
  if (!step?.endedAt) throw new Error(`no ended step "${name}" in ${JSON.stringify(status?.steps)}`);
  return { started: Date.parse(step.startedAt), ended: Date.parse(step.endedAt) };
}

/** The ids of the api containers on a fleet host, read through its engine (not over SSH). */
async function apiContainers(index: number): Promise<string> {
  const hp = hostPaths(HOSTS[index]!, labPaths().root);
  const r = await runLocal(
    ['docker', 'ps', '--quiet', '--no-trunc', '--filter', 'label=com.docker.compose.service=api'],
    { env: dockerEnv(hp), timeoutMs: 30_000 },
  );
  return r.stdout.trim();
}

const base = `rolling-v1-${stamp}`;
const next = `rolling-v2-${stamp}`;

test('a good release moves wave by wave: each host starts only once the one before it answered', async () => {
  const first = await follow((await start('v1', base)).handle, harness.settings, { timeoutMs: 300_000 });
  expect({ code: first.exitCode, error: first.error }).toMatchObject({ code: ExitCode.succeeded });

  const second = await follow((await start('v2', next)).handle, harness.settings, { timeoutMs: 300_000 });
  expect({ code: second.exitCode, error: second.error }).toMatchObject({ code: ExitCode.succeeded });
  expect(Object.values(await reportedReleases(environment))).toEqual([next, next, next, next]);
  for (let wave = 1; wave < HOSTS.length; wave++) {
    const healthy = timesOf(second.status, `health (wave ${wave}/${HOSTS.length})`);
    const nextStart = timesOf(second.status, `start ${HOSTS[wave]!.name}`);
    // The pause (2 s) lies between a wave's health and the next wave's start.
    expect(nextStart.started - healthy.ended).toBeGreaterThanOrEqual(2_000);
  }
}, 600_000);

test("a host's sshd killed mid-release: the release stops at its wave, the hosts before it go back, the host after it is never touched", async () => {
  const untouched = await apiContainers(3);
  expect(untouched).toMatch(/^[0-9a-f]{64}$/);
  const { handle } = await start('v1', `rolling-back-${stamp}`);
  await waitForStatus(handle, (s) => s.stage.startsWith('pause after wave 2/4'), 300_000);

  // The listener and every session it started (the worker's pooled connection among them).
  const hp = hostPaths(HOSTS[2]!, labPaths().root);
  const listener = sshdPid(hp);
  expect(listener).toBeDefined();
  for (const pid of [...descendants(listener!), listener!]) process.kill(pid, 'SIGKILL');

  const outcome = await follow(handle, harness.settings, { timeoutMs: 300_000 });
  expect(outcome.exitCode).not.toBe(ExitCode.succeeded);
  const status = outcome.status!;
  expect(status.failure?.step).toBe('start fleet-3');
  expect(status.steps.map((s) => s.name)).not.toContain('start fleet-4');
  const actions = status.rollback?.actions ?? [];
  expect(actions).toEqual(
    expect.arrayContaining([
      `put release ${next}'s files back on fleet-4 (the release never reached its containers)`,
      `restored release ${next} on fleet-2`,
      `restored release ${next} on fleet-1`,
    ]),
  );
  // fleet-3 cannot be reached: the failure says so, and its undo is reported as not done.
  expect(status.failure?.message).toMatch(/fleet-3/);
  expect(actions.filter((a) => a.startsWith('NOT done'))).toEqual([
    expect.stringMatching(/^NOT done \(.*\): restored release .* on fleet-3$/),
  ]);
  expect(status.outcome).toBe('failed');

  const releases = await reportedReleases(environment);
  expect(releases).toMatchObject({
    'fleet-1/api': next,
    'fleet-2/api': next,
    'fleet-3/api': next,
    'fleet-4/api': next,
  });
  expect(await apiContainers(3)).toBe(untouched);
}, 600_000);
