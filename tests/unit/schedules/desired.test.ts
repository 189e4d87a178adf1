import { compactStamp } from '../../../src/shared/stamps';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScheduleDescription } from '@temporalio/client';
import { CliExit } from '../../../src/client/cliExit';
import { ExitCode } from '../../../src/client/exitCodes';
import {
  backupsTable,
  drillReportText,
  drillsTable,
  drillTrend,
  formatBytes,
  stepPrinter,
  trendLine,
} from '../../../src/client/operationFormat';
import { parseBackupId, parseEnvFlag, parseHostFile, parseSeconds } from '../../../src/client/operationInput';
import { operationExitCode } from '../../../src/client/exitCodes';
import { ConfigError } from '../../../src/config/errors';
import { listEnvironments } from '../../../src/config/load';
import type { EnvironmentConfig } from '../../../src/config/schema';
import { drift } from '../../../src/schedules/apply';
import {
  CATCHUP_WINDOW_MS,
  desiredSchedules,
  everyToMs,
  MARKER_MEMO_KEY,
  msToEvery,
  parseScheduleId,
  stableStringify,
} from '../../../src/schedules/desired';
import { describeSpec } from '../../../src/schedules/list';
import type { StoredBackup } from '../../../src/shared/backups';
import type { DrillReport } from '../../../src/shared/drills';
import { DEPLOY_ENVIRONMENT, DEPLOY_STAGE, DEPLOY_STATUS } from '../../../src/shared/searchAttributes';
import { FIXTURES, stagingFixture } from '../helpers';

const database = { service: 'db', user: 'app', name: 'app' };
const retention = { keepLast: 7, dailyDays: 7, weeklyWeeks: 4 };
const drills = { env: {}, targets: { rpoSeconds: 86_400, rtoSeconds: 900 } };

function environment(name: string, extra: Partial<EnvironmentConfig>): EnvironmentConfig {
  return { ...stagingFixture(), name, ...extra };
}

const staging = environment('staging', {
  database,
  backups: { schedule: { every: '6h' }, retention },
  drills: { ...drills, schedule: { cron: '0 4 * * 1' } },
});
const production = environment('production', {
  database,
  backups: { schedule: { cron: '30 2 * * *' }, retention },
});
const plain = environment('qa', {});

function exitOf(fn: () => unknown): CliExit {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliExit) return err;
    throw err;
  }
  throw new Error('expected a CliExit');
}

describe('desired schedules', () => {
  const desired = desiredSchedules([staging, plain, production], { taskQueue: 'deployments' });

  test('one per backups / drills section, sorted by environment; none without a section', () => {
    expect(desired.map((d) => [d.id, d.environment, d.kind])).toEqual([
      ['backup-production', 'production', 'backup'],
      ['backup-staging', 'staging', 'backup'],
      ['drill-staging', 'staging', 'drill'],
    ]);
  });

  test('an interval: exact spec, action, policies and search attribute', () => {
    const backup = desired.find((d) => d.id === 'backup-staging')!;
    const { memo, ...action } = backup.options.action;
    expect(backup.options.spec).toEqual({ intervals: [{ every: 6 * 3_600_000, offset: 0 }] });
    expect(action).toEqual({
      type: 'startWorkflow',
      workflowType: 'backupEnvironment',
      workflowId: 'backup-staging',
      taskQueue: 'deployments',
      args: [{ environment: 'staging', requestedBy: 'schedule' }],
      staticSummary: 'Verified backup of staging (schedule backup-staging, every 6h)',
      typedSearchAttributes: [
        { key: DEPLOY_ENVIRONMENT, value: 'staging' },
        { key: DEPLOY_STAGE, value: 'queued' },
        { key: DEPLOY_STATUS, value: 'running' },
      ],
    });
    expect(backup.options.policies).toEqual({
      overlap: 'SKIP',
      catchupWindow: 60_000,
      pauseOnFailure: false,
    });
    expect(CATCHUP_WINDOW_MS).toBe(60_000);
    expect(backup.options.typedSearchAttributes).toEqual([{ key: DEPLOY_ENVIRONMENT, value: 'staging' }]);
    expect(memo).toEqual({
      [MARKER_MEMO_KEY]: {
        hash: backup.marker.hash,
        environment: 'staging',
        kind: 'backup',
        spec: 'every 6h',
      },
    });
    expect(backup.marker.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(backup.options.state?.note).toBe(
      `managed by deployctl schedules apply (every 6h, definition ${backup.marker.hash.slice(0, 12)})`,
    );
    // What update() sends is the same definition, without the create-only parts.
    expect(backup.update).toEqual({
      spec: backup.options.spec,
      action: backup.options.action,
      policies: backup.options.policies,
      typedSearchAttributes: backup.options.typedSearchAttributes,
    });
  });

  test('a cron line, read in UTC, starts the drill workflow', () => {
    const drill = desired.find((d) => d.id === 'drill-staging')!;
    expect(drill.options.spec).toEqual({ cronExpressions: ['0 4 * * 1'], timezone: 'UTC' });
    expect(drill.options.action.workflowType).toBe('drDrill');
    expect(drill.options.action.workflowId).toBe('drill-staging');
    expect(drill.options.action.args).toEqual([{ environment: 'staging', requestedBy: 'schedule' }]);
    expect(drill.marker.spec).toBe('cron 0 4 * * 1 (UTC)');
    const backup = desired.find((d) => d.id === 'backup-production')!;
    expect(backup.options.spec).toEqual({ cronExpressions: ['30 2 * * *'], timezone: 'UTC' });
  });

  test('the hash is stable for equal configs and changes with the interval or the task queue', () => {
    const again = desiredSchedules([production, plain, staging], { taskQueue: 'deployments' });
    expect(again.map((d) => d.marker.hash)).toEqual(desired.map((d) => d.marker.hash));
    const faster = desiredSchedules([{ ...staging, backups: { schedule: { every: '1h' }, retention } }], {
      taskQueue: 'deployments',
    });
    expect(faster[0].marker.hash).not.toBe(desired[1].marker.hash);
    expect(faster[1].marker.hash).toBe(desired[2].marker.hash);
    const otherQueue = desiredSchedules([staging], { taskQueue: 'ops' });
    expect(otherQueue[0].marker.hash).not.toBe(desired[1].marker.hash);
  });

  test('intervals, ids and stable JSON', () => {
    expect([everyToMs('30s'), everyToMs('15m'), everyToMs('6h'), everyToMs('1d')]).toEqual([
      30_000, 900_000, 21_600_000, 86_400_000,
    ]);
    expect(() => everyToMs('6 hours')).toThrow('must be a number and s, m, h or d');
    expect([msToEvery(30_000), msToEvery(5_400_000), msToEvery(86_400_000), msToEvery(1500)]).toEqual([
      '30s',
      '90m',
      '1d',
      '1500ms',
    ]);
    expect(parseScheduleId('backup-staging')).toEqual({ kind: 'backup', environment: 'staging' });
    expect(parseScheduleId('drill-prod-eu')).toEqual({ kind: 'drill', environment: 'prod-eu' });
    expect(parseScheduleId('nightly-report')).toBeUndefined();
    expect(parseScheduleId('backup-Staging')).toBeUndefined();
    expect(stableStringify({ b: 1, a: [{ d: 2, c: undefined, e: 'x' }] })).toBe(
      '{"a":[{"d":2,"e":"x"}],"b":1}',
    );
  });
});

describe('drift against the live schedule', () => {
  const [backup] = desiredSchedules([staging], { taskQueue: 'deployments' });
  const live = (over: { taskQueue?: string; every?: number; hash?: string }): ScheduleDescription =>
    ({
      scheduleId: backup.id,
      spec: { intervals: [{ every: over.every ?? 21_600_000, offset: 0 }], calendars: [] },
      action: {
        ...backup.options.action,
        taskQueue: over.taskQueue ?? 'deployments',
        memo: { [MARKER_MEMO_KEY]: { ...backup.marker, hash: over.hash ?? backup.marker.hash } },
      },
      policies: { overlap: 'SKIP', catchupWindow: 60_000, pauseOnFailure: false },
    }) as unknown as ScheduleDescription;

  test('nothing differs: unchanged', () => {
    expect(drift(live({}), backup)).toEqual([]);
  });

  test('a new definition, or a hand edit the hash cannot see, is named', () => {
    expect(drift(live({ hash: 'old' }), backup)).toEqual(['definition changed']);
    expect(drift(live({ taskQueue: 'other', every: 3_600_000 }), backup)).toEqual([
      'task queue is "other", wanted "deployments"',
      'intervals is [{"every":3600000,"offset":0}], wanted [{"every":21600000,"offset":0}]',
    ]);
    const foreign = live({});
    foreign.action.memo = {};
    expect(drift(foreign, backup)).toEqual(['not created by deployctl schedules apply']);
  });

  test('a spec read back from Temporal, in words', () => {
    expect(describeSpec({ intervals: [{ every: 21_600_000, offset: 0 }] })).toBe('every 6h');
    expect(describeSpec({ intervals: [{ every: 3_600_000, offset: 600_000 }] })).toBe(
      'every 1h (offset 10m)',
    );
    expect(describeSpec({ calendars: [{} as never, {} as never] })).toBe('2 calendar specs');
  });
});

describe('listEnvironments', () => {
  test('loads every *.yaml of the config dir; the example is a valid environment named as its file', () => {
    expect(
      listEnvironments(join(__dirname, '..', '..', '..', 'config', 'environments')).map((e) => e.name),
    ).toEqual(['example']);
    expect(listEnvironments(FIXTURES).map((e) => e.name)).toEqual(['production', 'staging']);
  });

  test('a bad file fails the whole load, naming the file, the key, the value and the rule', () => {
    const dir = mkdtempSync(join(tmpdir(), 'envs-'));
    const good = readFileSync(join(FIXTURES, 'staging.yaml'), 'utf8');
    writeFileSync(join(dir, 'staging.yaml'), good);
    writeFileSync(join(dir, 'notes.txt'), 'not an environment');
    expect(listEnvironments(dir).map((e) => e.name)).toEqual(['staging']);
    writeFileSync(join(dir, 'production.yaml'), good);
    expect(() => listEnvironments(dir)).toThrow(ConfigError);
    expect(() => listEnvironments(dir)).toThrow(
      `${join(dir, 'production.yaml')} is invalid:\n  name: value "staging" must equal the file name "production"`,
    );
    writeFileSync(
      join(dir, 'production.yaml'),
      good.replace('name: staging', 'name: production') + 'backups:\n  schedule: { every: 6 hours }\n',
    );
    expect(() => listEnvironments(dir)).toThrow(
      /production\.yaml is invalid:\n.*backups\.schedule\.every: value "6 hours" must be a number and a unit/,
    );
    expect(() => listEnvironments(join(dir, 'missing'))).toThrow('does not exist');
  });
});

describe('flags of the backup, drill and emergency-deploy commands', () => {
  test('each refusal names the flag, the value and the rule, and is invalid input', () => {
    const env = exitOf(() => parseEnvFlag('Prod!'));
    expect(env.code).toBe(ExitCode.invalidInput);
    expect(env.message).toBe(
      '--env: value "Prod!" must be lowercase letters, digits and "-" only, starting with a letter, at most 40 characters; nothing was started',
    );
    expect(exitOf(() => parseSeconds('--rto-target', '0')).message).toBe(
      '--rto-target: value "0" must be a whole number of seconds from 1 to 31536000; nothing was started',
    );
    expect(exitOf(() => parseSeconds('--rpo-target', '1e3')).message).toContain('--rpo-target: value "1e3"');
    expect(exitOf(() => parseSeconds('--timeout', '-5')).code).toBe(ExitCode.invalidInput);
    expect(parseSeconds('--rto-target', '900')).toBe(900);
    expect(exitOf(() => parseBackupId('production-20261123T140501Z-ab12', 'staging')).message).toBe(
      '--backup: value "production-20261123T140501Z-ab12" must be a backup of staging (its id starts with "staging-"); nothing was started',
    );
    expect(exitOf(() => parseBackupId('staging-../../etc', 'staging')).message).toContain(
      'must be a backup id',
    );
    expect(parseBackupId('staging-20261123T140501Z-ab12cd34', 'staging')).toBe(
      'staging-20261123T140501Z-ab12cd34',
    );
  });

  test('workflow ids carry the UTC second', () => {
    expect(compactStamp(new Date('2026-11-23T14:05:01.789Z'))).toBe('20261123T140501Z');
  });

  test('only InvalidInput is exit 2; every other failure of an operation is 8', () => {
    expect(operationExitCode('InvalidInput')).toBe(2);
    for (const type of ['DrillFailed', 'NoVerifiedBackup', 'NotConfigured', 'BackupCorrupt', undefined])
      expect(operationExitCode(type)).toBe(ExitCode.operationFailed);
    expect(ExitCode.operationFailed).toBe(8);
  });
});

describe('host file of an emergency deploy', () => {
  const files: Record<string, string> = {
    'good.yaml': [
      'name: web-2',
      'address: 203.0.113.20',
      'user: deploy',
      'privateKeyPath: /etc/deployctl/deploy_ed25519',
      'hostKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      'baseDir: /srv/apps',
    ].join('\n'),
    'good.json': JSON.stringify({
      name: 'web-2',
      address: '203.0.113.20',
      port: 2222,
      user: 'deploy',
      privateKeyPath: '/k',
      hostKey: 'ssh-ed25519 AAAA',
      baseDir: '/srv/apps',
      env: { BIND_ADDRESS: '0.0.0.0' },
    }),
    'bad.yaml':
      'name: Web_2\naddress: "1.2.3.4; rm -rf /"\nport: 70000\nuser: deploy\nprivateKeyPath: /k\nhostKey: nope\nbaseDir: srv\nshell: bash\n',
    'broken.json': '{"name": "web-2",',
  };
  const read = (f: string) => {
    if (!(f in files)) throw new Error(`ENOENT: no such file ${f}`);
    return files[f];
  };

  test('YAML or JSON, with the schema defaults', () => {
    expect(parseHostFile('good.yaml', read)).toEqual({
      name: 'web-2',
      address: '203.0.113.20',
      port: 22,
      user: 'deploy',
      privateKeyPath: '/etc/deployctl/deploy_ed25519',
      hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      baseDir: '/srv/apps',
      env: {},
    });
    expect(parseHostFile('good.json', read).port).toBe(2222);
  });

  test('every problem names the file, the key, the value and the rule; exit 2', () => {
    const err = exitOf(() => parseHostFile('bad.yaml', read));
    expect(err.code).toBe(ExitCode.invalidInput);
    expect(err.message.split('\n')).toEqual([
      '--host-file: bad.yaml is invalid:',
      '  name: value "Web_2" must be lowercase letters, digits and "-" only, starting with a letter, at most 40 characters',
      '  address: value "1.2.3.4; rm -rf /" must be a hostname or IP address',
      '  port: value 70000 Too big: expected number to be <=65535',
      '  hostKey: value "nope" must be a public host key "TYPE BASE64", e.g. "ssh-ed25519 AAAA...": a known_hosts line without its leading host names (deployctl config check prints the line to pin)',
      '  baseDir: value "srv" must be an absolute path of letters, digits and _ . / - only',
      '  (root): unknown key(s) "shell" are not allowed',
      'nothing was started',
    ]);
    expect(exitOf(() => parseHostFile('broken.json', read)).message).toMatch(
      /^--host-file: broken\.json is not valid YAML or JSON: .*; nothing was started$/s,
    );
    expect(exitOf(() => parseHostFile('missing.yaml', read)).message).toBe(
      '--host-file: cannot read missing.yaml: ENOENT: no such file missing.yaml; nothing was started',
    );
  });
});

function drill(startedAt: string, rtoSeconds: number | undefined, passed = true): DrillReport {
  return {
    id: `drill-staging-${startedAt.replace(/[-:]/g, '').slice(0, 15)}Z`,
    environment: 'staging',
    requestedBy: 'schedule',
    startedAt,
    finishedAt: startedAt,
    passed,
    failures: passed ? [] : [`RTO ${rtoSeconds} s is over the target of 60 s`],
    backupId: 'staging-20260101T000000Z-ab12',
    release: 'r7',
    rpoSeconds: 3600,
    rtoSeconds,
    targets: { rpoSeconds: 86_400, rtoSeconds: 60 },
    dataCheck: { matched: true, tables: 3, mismatches: [] },
    steps: [],
    teardown: 'done',
  };
}

describe('drill trend and tables', () => {
  // Newest first, as the catalog returns them.
  const rising = [
    drill('2026-01-05T04:00:00.000Z', 70, false),
    drill('2026-01-04T04:00:00.000Z', 50),
    drill('2026-01-03T04:00:00.000Z', 45),
    drill('2026-01-02T04:00:00.000Z', 30),
    drill('2026-01-01T04:00:00.000Z', 20),
  ];

  test('min / median / max, pass rate, and the direction of newer against older drills', () => {
    const trend = drillTrend(rising);
    expect(trend).toEqual({
      drills: 5,
      passed: 4,
      rtoSeconds: [20, 30, 45, 50, 70],
      rto: { min: 20, median: 45, max: 70 },
      direction: 'rising',
      olderMeanSeconds: 25,
      newerMeanSeconds: 60,
    });
    expect(trendLine(trend)).toBe(
      'RTO of the last 5: min 20.0 s, median 45.0 s, max 1m 10s; passed 4 of 5 (80%); RTO rising (older half mean 25.0 s, newer half 1m 00s)',
    );
    const falling = drillTrend(rising.map((d, i) => ({ ...d, rtoSeconds: 20 + i * 10 })));
    expect(falling.direction).toBe('falling');
    expect(drillTrend([drill('2026-01-02T00:00:00Z', 42), drill('2026-01-01T00:00:00Z', 40)]).direction).toBe(
      'steady',
    );
    expect(drillTrend([drill('2026-01-02T00:00:00Z', 40), drill('2026-01-01T00:00:00Z', 20)]).rto).toEqual({
      min: 20,
      median: 30,
      max: 40,
    });
  });

  test('too few drills for a trend say so', () => {
    expect(trendLine(drillTrend([]))).toBe('no drills yet');
    expect(trendLine(drillTrend([drill('2026-01-01T00:00:00Z', 40)]))).toBe(
      'RTO of the last 1: min 40.0 s, median 40.0 s, max 40.0 s; passed 1 of 1 (100%); one drill: no trend yet',
    );
    expect(trendLine(drillTrend([drill('2026-01-01T00:00:00Z', undefined, false)]))).toBe(
      'passed 0 of 1 (0%); no RTO measured',
    );
  });

  test('the drills table, newest first as given', () => {
    expect(drillsTable(rising.slice(0, 2)).split('\n')).toEqual([
      'WHEN                  BACKUP                         RELEASE     RPO     RTO  TARGETS (RPO/RTO)  RESULT',
      '2026-01-05 04:00:00Z  staging-20260101T000000Z-ab12  r7       1h 00m  1m 10s  24h 00m / 1m 00s   failed',
      '2026-01-04 04:00:00Z  staging-20260101T000000Z-ab12  r7       1h 00m  50.0 s  24h 00m / 1m 00s   passed',
    ]);
  });

  test('a drill report: RPO and RTO against their targets, the data check, every failure', () => {
    const text = drillReportText({
      ...drill('2026-01-05T04:00:00.000Z', 70, false),
      dataCheck: { matched: false, tables: 3, mismatches: ['public.orders: 10 rows, backup had 12'] },
    });
    expect(text).toContain('FAILED');
    expect(text).toContain('RPO         1h 00m (target 24h 00m: met)');
    expect(text).toContain('RTO         1m 10s (target 1m 00s: MISSED)');
    expect(text).toContain('data check  MISMATCH in public.orders: 10 rows, backup had 12');
    expect(text).toContain('    - RTO 70 s is over the target of 60 s');
  });

  test('the backups table and sizes', () => {
    expect([
      formatBytes(512),
      formatBytes(1536),
      formatBytes(12.34 * 1024 * 1024),
      formatBytes(1.5 * 1024 ** 3),
    ]).toEqual(['512 B', '1.50 KiB', '12.3 MiB', '1.50 GiB']);
    const backup: StoredBackup = {
      id: 'staging-20260101T000000Z-ab12',
      environment: 'staging',
      createdAt: '2026-01-01T00:00:00.000Z',
      sizeBytes: 2048,
      sha256: 'a'.repeat(64),
      durationMs: 2500,
      steps: { dumpMs: 1000, copyMs: 1000, verifyMs: 500 },
      location: '/store/staging/backups/staging-20260101T000000Z-ab12.dump',
      source: { host: 'web-1', path: '/srv/apps/shop/backups/x.dump' },
      release: {
        release: 'r7',
        images: {},
        deployedAt: '',
        deployedBy: 'ci',
        deploymentId: 'deploy-staging-r7',
      },
      tables: [
        { table: 'public.orders', rows: 12, md5: 'x' },
        { table: 'public.users', rows: 3, md5: 'y' },
      ],
      verification: { verifiedAt: '2026-01-01T00:00:03.000Z', pgRestoreListEntries: 20 },
    };
    expect(backupsTable([backup]).split('\n')).toEqual([
      'ID                             CREATED                   SIZE  DURATION  RELEASE  TABLES',
      'staging-20260101T000000Z-ab12  2026-01-01 00:00:00Z  2.00 KiB     2.5 s  r7       2 (15 rows)',
    ]);
  });

  test('steps are printed once each, when they finish', () => {
    const lines: string[] = [];
    const print = stepPrinter((l) => lines.push(l));
    const step = (name: string, status: 'running' | 'succeeded' | 'failed', durationMs?: number) => ({
      name,
      status,
      startedAt: '',
      durationMs,
    });
    print([step('dump', 'running')]);
    print([step('dump', 'succeeded', 1200), step('copy', 'running')]);
    print([step('dump', 'succeeded', 1200), step('copy', 'failed', 300)]);
    print([step('dump', 'succeeded', 1200), step('copy', 'failed', 300)]);
    expect(lines).toEqual(['  succeeded   dump 1.2 s', '  failed      copy 300 ms']);
  });
});

describe('the deployctl process', () => {
  const root = join(__dirname, '..', '..', '..');
  // Unreachable on purpose: invalid input must be refused before any connection is tried.
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/client.ts', ...args], {
      cwd: root,
      env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
      encoding: 'utf8',
      timeout: 30_000,
    });

  test('every new command has --help', () => {
    for (const command of [
      ['backup'],
      ['backups'],
      ['drill'],
      ['drills'],
      ['emergency-deploy'],
      ['schedules', 'apply'],
      ['schedules', 'list'],
    ]) {
      const result = run([...command, '--help']);
      expect(result.status).toBe(0);
      expect(result.stdout).toContain(`Usage: deployctl ${command.join(' ')}`);
      expect(result.stdout).toContain('--json');
    }
    expect(run(['--help']).stdout).toContain(
      '8  a backup, restore drill, emergency deploy or server setup failed',
    );
  }, 90_000);

  test('bad flags and bad files exit 2 before connecting; an unreachable Temporal exits 4', () => {
    const bad = run(['drill', '--env', 'staging', '--rto-target', 'fast']);
    expect(bad.status).toBe(ExitCode.invalidInput);
    expect(bad.stderr).toContain('--rto-target: value "fast" must be a whole number of seconds');
    const dir = mkdtempSync(join(tmpdir(), 'host-'));
    writeFileSync(join(dir, 'host.yaml'), 'name: web-2\naddress: 10.0.0.9\n');
    const host = run(['emergency-deploy', '--env', 'staging', '--host-file', join(dir, 'host.yaml')]);
    expect(host.status).toBe(ExitCode.invalidInput);
    expect(host.stderr).toContain(`${join(dir, 'host.yaml')} is invalid`);
    expect(host.stderr).toContain('user: value missing');
    // Subcommands of a subcommand get the usage-error override too (commander's own code is 1).
    expect(run(['schedules', 'apply', '--bogus']).status).toBe(ExitCode.invalidInput);
    const configDir = mkdtempSync(join(tmpdir(), 'envs-'));
    writeFileSync(join(configDir, 'qa.yaml'), 'name: qa\n');
    const config = run(['schedules', 'apply', '--config-dir', configDir]);
    expect(config.status).toBe(ExitCode.invalidInput);
    expect(config.stderr).toContain(`${join(configDir, 'qa.yaml')} is invalid`);
    expect(config.stderr).toContain('no schedule was changed');
    const down = run(['backups', '--env', 'staging']);
    expect(down.status).toBe(ExitCode.temporalUnreachable);
    expect(down.stderr).toContain('cannot reach Temporal at 127.0.0.1:1');
  }, 90_000);
});
