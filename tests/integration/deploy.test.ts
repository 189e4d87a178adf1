import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { stringify, parse } from 'yaml';
import { follow, startOrAttach } from '../../src/client/deploy';
import { ExitCode } from '../../src/client/exitCodes';
import { stepTable } from '../../src/client/format';
import { readOptionalFile } from '../../src/commands/files';
import { remoteLayout } from '../../src/commands/layout';
import type { EnvironmentConfig } from '../../src/config/schema';
import type { ServiceLogs } from '../../src/shared/serviceLogs';
import { workflowIdFor } from '../../src/shared/deployment';
import { HostKeyMismatchError, withHost } from '../../src/remote/executor';
import {
  demoDeployArgs,
  LAB_CONFIG_DIR,
  reportedReleases,
  requireLab,
  runDeployctl,
  startHarness,
  type Harness,
} from './harness';

/**
 * The slice end to end on the lab: real Temporal, real worker, real SSH, real podman
 * containers pulled from the real local registry, real HTTP checks of what answers.
 */

const lab = requireLab();
const stamp = Date.now().toString(36);
const release = (tag: string) => `${tag}-${stamp}`;
const allImages = (tag: string) => ({ site: tag, saas: tag, api: tag });

let harness: Harness;
let client: Client;

beforeAll(async () => {
  harness = await startHarness({ workerEnv: lab.workerEnv });
  client = harness.env.client;
});

afterAll(async () => {
  await harness?.stop();
});

async function deploy(environment: string, tag: string, images = allImages(tag)) {
  // The lab's app repository tags each image's sources with the image tag.
  const request = {
    environment,
    release: release(tag),
    images,
    requestedBy: 'integration-test',
    commit: tag,
  };
  const { handle, attached } = await startOrAttach(client, harness.settings, request);
  const outcome = await follow(handle, harness.settings, { timeoutMs: 300_000 });
  return { ...outcome, attached };
}

async function readRemote(
  environment: EnvironmentConfig,
  which: 'currentRelease' | 'previousRelease' | 'auditLog',
) {
  const host = environment.hosts[0];
  const path = remoteLayout(environment, host)[which];
  return (await withHost(host, (h) => h.run(readOptionalFile(path), { timeoutMs: 15_000 }))).stdout;
}

const deployctl = (args: string[], env: NodeJS.ProcessEnv = {}) => runDeployctl(harness.settings, args, env);

test('v1 then v2 to lab-staging: every service answers the new release', async () => {
  const first = await deploy('lab-staging', 'v1');
  expect(first.error).toBeUndefined();
  expect(first.exitCode).toBe(ExitCode.succeeded);
  expect(first.status?.steps.every((s) => s.status === 'succeeded')).toBe(true);
  console.log(`a lab deployment, step by step:\n${stepTable(first.status?.steps ?? [])}`);
  expect(Object.values(await reportedReleases(lab.staging))).toEqual(
    ['v1', 'v1', 'v1'].map(() => release('v1')),
  );

  // The second deploy goes through the real CLI, as CI would run it.
  const cli = await deployctl([...demoDeployArgs('lab-staging', release('v2')), '--by', 'integration-test']);
  expect(cli.out).toMatch(/STEP\s+STATUS\s+DURATION/);
  expect(cli.out).toContain(`release ${release('v2')} is live on lab-staging`);
  expect(cli.out).toContain('Temporal UI: ');
  expect(cli.code).toBe(ExitCode.succeeded);
  expect(Object.values(await reportedReleases(lab.staging))).toEqual(
    ['v2', 'v2', 'v2'].map(() => release('v2')),
  );

  const current = JSON.parse(await readRemote(lab.staging, 'currentRelease'));
  const previous = JSON.parse(await readRemote(lab.staging, 'previousRelease'));
  expect(current).toMatchObject({ release: release('v2'), deployedBy: 'integration-test' });
  expect(current.images.api).toBe('127.0.0.1:5000/demo/api:v2');
  expect(previous.release).toBe(release('v1'));

  const audit = (await readRemote(lab.staging, 'auditLog'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const mine = audit.filter((a) => a.release === release('v2'));
  // lab-staging releases blue-green: v2 goes to the idle colour and takes the traffic in one write.
  const target = mine.map((a) => /^start (blue|green)$/.exec(a.step)?.[1]).find(Boolean);
  expect(['blue', 'green']).toContain(target);
  const weights = target === 'green' ? 'blue 0 % green 100 %' : 'blue 100 % green 0 %';
  // The expand migration (audited as `migrate`) runs only while one is pending: v2's is
  // applied by whichever test deploys v2 to lab-staging first.
  const steps = mine.map((a) => `${a.step}:${a.result}`).filter((s) => !s.startsWith('migrate:'));
  expect(steps).toEqual(
    [
      'read-routing',
      `inspect ${target}`,
      'upload',
      `upload ${target}`,
      `pull ${target}`,
      'start shared',
      'pending migrations',
      'backup',
      `start ${target}`,
      'checks',
      `record ${target}`,
      `route ${weights}`,
      'record',
    ].flatMap((step) => [`${step}:started`, `${step}:succeeded`]),
  );
  // Older deployments' pre-deploy dumps are pruned to the store's keepLast; this one's stays.
  const keepLast = lab.staging.backups!.retention.keepLast;
  const backupsDir = `${remoteLayout(lab.staging, lab.staging.hosts[0]).appDir}/backups`;
  const dumps = (
    await withHost(lab.staging.hosts[0], (h) => h.run(['ls', backupsDir], { timeoutMs: 15_000 }))
  ).stdout
    .split('\n')
    .filter((f) => /^(deploy|rollback)-.*\.dump$/.test(f));
  console.log(`pre-deploy dumps on lab-1 after v2: ${dumps.length} (keepLast ${keepLast})`);
  expect(dumps.length).toBeLessThanOrEqual(keepLast);
  // v1 left tables behind, so v2 took a dump.
  expect(dumps).toContain(`${workflowIdFor('lab-staging', release('v2'))}.dump`);
  // The env file holds the secret on the host; the audit trail never does.
  expect(JSON.stringify(audit)).not.toContain(lab.workerEnv.LAB_DB_PASSWORD);
});

test('lab-staging deploys as a user that is not root: the engine and its base dir, nothing more', async () => {
  // Runs after the v1/v2 deploys above, which wrote everything under the app dir as this user.
  const host = lab.staging.hosts[0];
  expect(host.user).not.toBe('root');
  const { appDir } = remoteLayout(lab.staging, host);
  const elsewhere = lab.production.hosts[0].baseDir;
  const facts = await withHost(host, async (h) => {
    const run = (argv: string[]) => h.run(argv, { timeoutMs: 15_000, okCodes: [0, 1, 2, 126, 127] });
    const out = async (argv: string[]) => (await run(argv)).stdout.trim();
    return {
      uid: await out(['id', '-u']),
      groups: await out(['id', '-Gn']),
      engine: await out(['docker', 'info', '--format', '{{.OSType}}']),
      writeEtc: (await run(['touch', '/etc/deploy-user-probe'])).code,
      writeOtherBaseDir: (await run(['touch', `${elsewhere}/deploy-user-probe`])).code,
      sudo: (await run(['sh', '-c', 'sudo -n true'])).code,
      notMine: await out(['find', appDir, '!', '-user', host.user]),
      readableByOthers: await out([
        'find',
        appDir,
        '(',
        '-name',
        '.env*',
        '-o',
        '-name',
        'backups',
        ')',
        '-perm',
        '/077',
      ]),
    };
  });
  console.log(`lab-1 deploy user: ${JSON.stringify(facts)}`);
  expect(facts.uid).toMatch(/^[1-9]\d*$/);
  // The engine's socket group only: no docker-and-sudo, no wheel, no adm.
  expect(facts.groups.split(' ')).toEqual(['lab-engine']);
  expect(facts.engine).toBe('linux');
  expect(facts.writeEtc).not.toBe(0);
  expect(facts.writeOtherBaseDir).not.toBe(0);
  expect(facts.sudo).not.toBe(0);
  // Everything the deploys wrote is the deploy user's; env files and dumps are for it alone.
  expect(facts.notMine).toBe('');
  expect(facts.readableByOthers).toBe('');
  // Its host key stays pinned: lab-1 presenting a key other than the pinned one is refused.
  const wrongKey = { ...host, hostKey: lab.production.hosts[0].hostKey };
  await expect(withHost(wrongKey, (h) => h.run(['true'], { timeoutMs: 15_000 }))).rejects.toThrow(
    HostKeyMismatchError,
  );
});

test("deployctl logs: the service's containers on the host, each colour's, followed without repeats", async () => {
  const deployctl = (args: string[]) => runDeployctl(harness.settings, args);
  const live = release('v2');
  const json = await deployctl([
    'logs',
    '--env',
    'lab-staging',
    '--service',
    'site',
    '--tail',
    '5',
    '--json',
  ]);
  expect(json.code).toBe(ExitCode.succeeded);
  const read = JSON.parse(json.stdout) as ServiceLogs;
  expect(read.sections.map((s) => [s.host, s.project.replace(/^.*-(blue|green)$/, '$1')])).toEqual([
    ['lab-1', 'blue'],
    ['lab-1', 'green'],
  ]);
  const liveSection = read.sections.find((s) => s.lines.some((l) => l.includes(`release=${live}`)));
  expect(liveSection?.lines.length).toBeLessThanOrEqual(5);
  expect(liveSection?.lines.every((l) => /^\d{4}-\d{2}-\d{2}T\S+Z /.test(l))).toBe(true);
  // Followed for a few seconds: the first read's lines, each shown once, then nothing new.
  const followed = await deployctl([
    'logs',
    '-e',
    'lab-staging',
    '-s',
    'site',
    '--tail',
    '3',
    '-f',
    '--for',
    '8',
  ]);
  expect(followed.code).toBe(ExitCode.succeeded);
  expect(followed.stdout).toContain(`== lab-1 (project ${liveSection!.project})`);
  const listening = followed.stdout
    .split('\n')
    .filter((l) => l.includes(`listening on :8080 release=${live}`));
  expect(listening).toHaveLength(1);
  // The engine's time is left out; what remains starts with the app's own.
  expect(listening[0]).toMatch(/^\S+Z site v2 listening on :8080/);
  const bad = await deployctl(['logs', '--env', 'lab-staging', '--service', 'site;id']);
  expect(bad.code).toBe(ExitCode.invalidInput);
  expect(bad.out).toContain('--service: value "site;id"');
});

test('a CI retry of the same release attaches instead of deploying twice', async () => {
  const again = await deploy('lab-staging', 'v2');
  expect(again.attached).toBe(true);
  expect(again.exitCode).toBe(ExitCode.succeeded);
  const audit = (await readRemote(lab.staging, 'auditLog'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(
    audit.filter(
      (a) => a.release === release('v2') && /^pull (blue|green)$/.test(a.step) && a.result === 'started',
    ),
  ).toHaveLength(1);
});

test('a release whose readiness fails is rolled back and the previous release answers again', async () => {
  const broken = await deploy('lab-staging', 'v3-unready');
  expect(broken.exitCode).toBe(ExitCode.rolledBack);
  expect(broken.status?.failure?.step).toBe('health');
  expect(broken.status?.failure?.message).toMatch(/not healthy after \d+ s .*health\/ready HTTP 503/);
  // What the failing containers said, from the colour that was checked.
  expect(broken.status?.failure?.message).toMatch(
    new RegExp(
      `\\nlast lines of site on lab-1 \\(project [a-z0-9-]+-(blue|green)\\):\\n(  .*\\n)*  .*listening on :8080 release=${release('v3-unready')}`,
    ),
  );
  expect(broken.status?.rollback).toMatchObject({ restoredRelease: release('v2'), healthy: true });
  // A figure for the record, not a timed assertion: failed health check to the previous release answering.
  const steps = broken.status?.steps ?? [];
  const failedAt = Date.parse(steps.find((s) => s.name === 'health' && s.status === 'failed')?.endedAt ?? '');
  const healthyAt = Date.parse(steps.find((s) => s.name === 'rollback: health')?.endedAt ?? '');
  console.log(
    `failed health check -> previous release answering: ${((healthyAt - failedAt) / 1000).toFixed(1)} s`,
  );
  // Blue-green: v3 never had traffic; stopping it is the whole undo, v2 kept answering throughout.
  expect(broken.error).toMatch(
    new RegExp(
      `Rolled back: stopped (blue|green) on lab-1; environment is healthy on release ${release('v2')}\\.`,
    ),
  );
  expect(Object.values(await reportedReleases(lab.staging))).toEqual(
    ['v2', 'v2', 'v2'].map(() => release('v2')),
  );
  // The failed release was never recorded as current.
  expect(JSON.parse(await readRemote(lab.staging, 'currentRelease')).release).toBe(release('v2'));
});

test('invalid input exits 2 and starts nothing; an unreachable Temporal exits 4', async () => {
  const bad = await deployctl([
    'deploy',
    '--env',
    'lab-staging',
    '--release',
    'v1;reboot',
    '--image',
    'api=v1',
  ]);
  expect(bad.code).toBe(ExitCode.invalidInput);
  expect(bad.out).toContain('release: value "v1;reboot" must be letters, digits');
  expect(bad.out).toContain('nothing was started');
  const list = client.workflow.list({ query: `WorkflowId = 'deploy-lab-staging-v1;reboot'` });
  for await (const _ of list) throw new Error('a workflow was started for invalid input');

  const down = await deployctl(['deploy', '--env', 'lab-staging', '--release', 'r1', '--image', 'api=v1'], {
    TEMPORAL_ADDRESS: '127.0.0.1:1',
  });
  expect(down.code).toBe(ExitCode.temporalUnreachable);
  expect(down.out).toContain('cannot reach Temporal at 127.0.0.1:1');
});

test('a changed host key, or a disk below minFreeDiskMb, makes the deploy refuse before anything changes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-config-'));
  const doc = parse(readFileSync(join(LAB_CONFIG_DIR, 'lab-staging.yaml'), 'utf8'));
  // The production host's key is a real key, just not this host's.
  const full = { ...structuredClone(doc), name: 'lab-full', minFreeDiskMb: 10_000_000 };
  doc.hosts[0].hostKey = lab.production.hosts[0].hostKey;
  writeFileSync(join(dir, 'lab-staging.yaml'), stringify(doc));
  // The same hosts, asking for 10 TB free: more than any lab disk has.
  writeFileSync(join(dir, 'lab-full.yaml'), stringify(full));
  const other = await startHarness({ configDir: dir, workerEnv: lab.workerEnv });
  try {
    const short = await follow(
      (
        await startOrAttach(other.env.client, other.settings, {
          environment: 'lab-full',
          release: release('v1-nodisk'),
          images: allImages('v1'),
          requestedBy: 'it',
        })
      ).handle,
      other.settings,
      { timeoutMs: 120_000 },
    );
    expect(short.exitCode).toBe(ExitCode.refused);
    expect(short.error).toMatch(
      /not enough free disk to deploy to "lab-full": lab-1 has \d+ MB free under \S+ \(minFreeDiskMb: 10000000\)/,
    );
    expect(short.status?.steps.map((s) => [s.name, s.status])).toEqual([['validate', 'failed']]);

    const request = {
      environment: 'lab-staging',
      release: release('v1-wrongkey'),
      images: allImages('v1'),
      requestedBy: 'it',
    };
    const { handle } = await startOrAttach(other.env.client, other.settings, request);
    const outcome = await follow(handle, other.settings, { timeoutMs: 120_000 });
    expect(outcome.exitCode).not.toBe(ExitCode.succeeded);
    expect(outcome.error).toContain('does not match the pinned key');
    expect(outcome.error).toContain('Nothing had been changed on any host.');
  } finally {
    await other.stop();
  }
  expect(Object.values(await reportedReleases(lab.staging))).toEqual(
    ['v2', 'v2', 'v2'].map(() => release('v2')),
  );
});
