/**
 * Deploy windows on the lab: lab-staging frozen (in a config dir of this test's own) refuses a
 * deploy before any host is touched, naming the freeze and the next open window; the same
 * deploy with --override-freeze --reason runs, and every host's audit log says who overrode it
 * and why. Real deployctl, worker, Temporal and SSH to lab-1. Fails (never skips) when the lab
 * is not up.
 */
import { ExitCode } from '../../src/client/exitCodes';
import { readOptionalFile } from '../../src/commands/files';
import { remoteLayout } from '../../src/commands/layout';
import { withHost } from '../../src/remote/executor';
import {
  demoDeployArgs,
  labConfigCopy,
  requireLab,
  runDeployctl,
  startHarness,
  type Harness,
} from './harness';
import { WEBHOOK_KEY_ENV, WEBHOOK_TOKEN_ENV } from '../../lab/config';
import type { Notification } from '../../src/shared/notifications';
import type { DoraReport } from '../../src/report/dora';
import { startWebhookReceiver, type WebhookReceiver } from '../shared/webhookReceiver';

const lab = requireLab();
const staging = lab.staging;
const stamp = Date.now().toString(36);
let harness: Harness;
let receiver: WebhookReceiver;

// A freeze from long ago until the day after tomorrow (UTC): deploys open again at its end.
const until = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
const reopens = new Date(`${until}T00:00:00Z`);
const weekday = reopens.toLocaleDateString('en-US', { weekday: 'short', timeZone: 'UTC' });

beforeAll(async () => {
  const { dir: configDir } = labConfigCopy('deploy-windows-config', staging.name, (raw) => {
    raw.deployWindows = {
      timeZone: 'UTC',
      freezes: [{ from: '2000-01-01', to: until, reason: 'integration-test freeze' }],
    };
    raw.notifications = {
      webhooks: [
        { name: 'ops', url: { fromEnv: 'LAB_TEST_HOOK_URL' }, signingKey: { fromEnv: WEBHOOK_KEY_ENV } },
      ],
    };
  });
  const token = lab.workerEnv[WEBHOOK_TOKEN_ENV];
  if (!token || !lab.workerEnv[WEBHOOK_KEY_ENV])
    throw new Error(`the lab's secrets.env has no ${WEBHOOK_TOKEN_ENV}: run "npm run lab -- up" again`);
  receiver = await startWebhookReceiver(lab.workerEnv);
  harness = await startHarness({
    configDir,
    workerEnv: { ...lab.workerEnv, LAB_TEST_HOOK_URL: `${receiver.base}/hooks/${token}/ops` },
  });
}, 120_000);

afterAll(async () => {
  await harness?.stop();
  await receiver?.stop();
});

const deployArgs = (release: string) => demoDeployArgs(staging.name, release);

test('a frozen environment refuses a deploy with exit 6, the freeze and the next open window; nothing is started on a host', async () => {
  const auditBefore = await auditLog();
  const { code, out } = await runDeployctl(harness.settings, deployArgs(`frozen-${stamp}`));
  expect({ code, out }).toMatchObject({ code: ExitCode.refused });
  expect(out).toContain(`environment "${staging.name}" is closed for deploys at `);
  expect(out).toContain(`frozen until ${weekday} ${until} 00:00 (integration-test freeze)`);
  expect(out).toContain(`the next open window starts ${weekday} ${until} 00:00 (UTC)`);
  expect(out).toContain('--override-freeze --reason');
  expect(await auditLog()).toBe(auditBefore);
  // Refused while validating: nothing started, so nobody is told.
  expect(receiver.received()).toEqual([]);
});

test('--override-freeze without --reason is refused by deployctl itself (exit 2)', async () => {
  const { code, out } = await runDeployctl(harness.settings, [
    ...deployArgs(`no-reason-${stamp}`),
    '--override-freeze',
  ]);
  expect(code).toBe(ExitCode.invalidInput);
  expect(out).toContain('--override-freeze needs --reason "<why>"');
  expect(out).toContain('nothing was started');
});

test('--override-freeze --reason deploys anyway, and the hosts audit who overrode the freeze and why', async () => {
  const release = `override-${stamp}`;
  const { code, out } = await runDeployctl(harness.settings, [
    ...deployArgs(release),
    '--override-freeze',
    '--reason',
    'hotfix for INC-42',
    '--by',
    'oncall-ann',
  ]);
  expect({ code, out }).toMatchObject({ code: ExitCode.succeeded });
  const lines = (await auditLog())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines).toContainEqual(
    expect.objectContaining({
      release,
      by: 'oncall-ann',
      step: 'deploy-window',
      result: 'overridden',
      detail: `hotfix for INC-42 (frozen until ${weekday} ${until} 00:00 (integration-test freeze))`,
    }),
  );
  const received = await receiver.waitFor(`succeeded of ${release}`, (r) =>
    r.some((x) => x.event === 'succeeded' && (x.body as Notification).release === release),
  );
  const mine = received.filter((x) => (x.body as Notification).release === release);
  expect(mine.map((x) => x.event).sort()).toEqual(['freeze-overridden', 'started', 'succeeded']);
  expect(mine.every((x) => x.status === 200 && x.tokenMatched && x.signature === 'valid')).toBe(true);
  expect(mine.find((x) => x.event === 'freeze-overridden')!.body).toMatchObject({
    environment: staging.name,
    by: 'oncall-ann',
    detail: 'hotfix for INC-42',
    summary: `oncall-ann deploys ${release} although frozen until ${weekday} ${until} 00:00 (integration-test freeze)`,
  });
});

async function auditLog(): Promise<string> {
  const host = staging.hosts[0]!;
  const r = await withHost(host, (h) =>
    h.run(readOptionalFile(remoteLayout(staging, host).auditLog), { timeoutMs: 30_000 }),
  );
  return r.stdout;
}

test('deployctl report: the refusal changed nothing, the overriding deployment went live with a lead time from its commit', async () => {
  const { code, out, stdout } = await runDeployctl(harness.settings, [
    'report',
    '--env',
    staging.name,
    '--since',
    '1d',
    '--json',
  ]);
  expect({ code, out }).toMatchObject({ code: ExitCode.succeeded });
  const report = JSON.parse(stdout) as DoraReport;
  expect(report.deployments).toEqual({
    total: 2,
    changes: 2,
    rollbacks: 0,
    byStatus: { failed: 1, succeeded: 1 },
  });
  expect(report.changeFailures).toEqual({ failed: 0, of: 1 });
  expect(report.changeFailureRate).toBe(0);
  expect(report.leadTime).toMatchObject({ count: 1, withoutCommitTime: 0 });
  // The lab's app repository committed v2 when the lab was made, before this deployment.
  expect(report.leadTime.medianSeconds).toBeGreaterThan(0);
  const bad = await runDeployctl(harness.settings, [
    'report',
    '--env',
    staging.name,
    '--since',
    "1d' OR 1=1",
  ]);
  expect(bad.code).toBe(ExitCode.invalidInput);
  expect(bad.out).toContain('--since: value "1d\' OR 1=1" must be a duration back from now');
});
