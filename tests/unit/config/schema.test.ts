import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, describeZodIssues } from '../../../src/config/errors';
import { loadEnvironment, parseEnvironment } from '../../../src/config/load';
import {
  MAX_PROJECT_FOR_COLOUR_DRILLS,
  MAX_PROJECT_FOR_DRILLS,
  environmentSchema,
  SCHEDULE_RULE,
  scheduleSchema,
} from '../../../src/config/schema';
import { envValuesFor, expandUrl } from '../../../src/config/urls';
import { FIXTURES, stagingFixture } from '../helpers';

const plain = stagingFixture();
const stagingYaml = readFileSync(join(FIXTURES, 'staging.yaml'), 'utf8');
const EVERY_RULE = 'must be a number and a unit s, m, h or d, e.g. "6h"';
const VALUE_RULE = 'must be a single line of letters, digits, spaces and _ . , : / @ % + = - only';

/** The fixture with `change` applied to a copy, validated: its problems as the config error lists them. */
function problemsOf(change: (doc: any) => void): string[] {
  const doc: any = structuredClone(plain);
  change(doc);
  const r = environmentSchema.safeParse(doc);
  return r.success ? [] : describeZodIssues(r.error, doc);
}

const parsed = (extra: object) => environmentSchema.parse({ ...plain, ...extra });

describe('scheduleSchema', () => {
  test.each([{ every: '30s' }, { every: '15m' }, { every: '6h' }, { every: '1d' }, { every: '999999s' }])(
    '%j is a schedule',
    (s) => {
      expect(scheduleSchema.parse(s)).toEqual(s);
    },
  );
  test.each([{ cron: '0 3 * * 1' }, { cron: '*/15 * * * *' }, { cron: '0 0,12 1-7 * *' }])(
    '%j is a schedule',
    (s) => {
      expect(scheduleSchema.parse(s)).toEqual(s);
    },
  );

  test('the rule says exactly one of the two', () => {
    expect(SCHEDULE_RULE).toBe('exactly one of every (e.g. "30s", "6h", "1d") or cron (five fields, UTC)');
  });

  test.each(['0s', '5 m', '1w', '6H', '1.5h', '06h', 'h', '1000000s', ''])('every %j is refused', (every) => {
    const r = scheduleSchema.safeParse({ every });
    expect(r.error?.issues.map((i) => [i.path, i.message])).toEqual([[['every'], EVERY_RULE]]);
  });

  test.each([
    ['both every and cron', { every: '6h', cron: '0 3 * * 1' }],
    ['neither', {}],
  ])('%s is refused with the rule', (_label, s) => {
    const r = scheduleSchema.safeParse(s);
    expect(r.error?.issues.map((i) => [i.path, i.message])).toEqual([[[], `must give ${SCHEDULE_RULE}`]]);
  });

  test.each(['0 3 * *', '0 3 * * 1 2', '@daily', '0 3 * * MON'])('cron %j is refused', (cron) => {
    const r = scheduleSchema.safeParse({ cron });
    expect(r.error?.issues.map((i) => [i.path, i.message])).toEqual([
      [['cron'], 'must be five cron fields of digits and * / , - only, e.g. "0 3 * * 1"'],
    ]);
  });

  test('an unknown key is refused', () => {
    expect(scheduleSchema.safeParse({ every: '6h', at: '03:00' }).error?.issues[0]).toMatchObject({
      code: 'unrecognized_keys',
      keys: ['at'],
    });
  });
});

describe('backups and drills sections', () => {
  test('both are optional: the fixture has neither, its hosts no env of their own', () => {
    expect(plain.backups).toBeUndefined();
    expect(plain.drills).toBeUndefined();
    expect(plain.hosts[0].env).toEqual({});
  });

  test('empty sections take the defaults: daily backups kept 7/7/4, weekly drills on Monday 04:00 UTC', () => {
    const env = parsed({ database: {}, backups: {}, drills: {} });
    expect(env.backups).toEqual({
      schedule: { every: '24h' },
      retention: { keepLast: 7, dailyDays: 7, weeklyWeeks: 4 },
    });
    expect(env.drills).toEqual({
      schedule: { cron: '0 4 * * 1' },
      env: {},
      targets: { rpoSeconds: 86_400, rtoSeconds: 900 },
    });
    expect(env.drills?.host).toBeUndefined();
  });

  test('a partial retention or targets keeps the other defaults', () => {
    const env = parsed({
      database: {},
      backups: { schedule: { cron: '0 3 * * *' }, retention: { keepLast: 3 } },
      drills: { schedule: { every: '1d' }, targets: { rtoSeconds: 300 } },
    });
    expect(env.backups).toEqual({
      schedule: { cron: '0 3 * * *' },
      retention: { keepLast: 3, dailyDays: 7, weeklyWeeks: 4 },
    });
    expect(env.drills?.targets).toEqual({ rpoSeconds: 86_400, rtoSeconds: 300 });
  });

  test.each([
    [
      'backups without a database',
      (d: any) => (d.backups = {}),
      ['backups: value {} needs a database section to back up'],
    ],
    [
      'drills without a database',
      (d: any) => (d.drills = { targets: { rtoSeconds: 60 } }),
      ['drills: value {"targets":{"rtoSeconds":60}} needs a database section to restore into'],
    ],
    [
      'both without a database',
      (d: any) => Object.assign(d, { backups: {}, drills: {} }),
      [
        'backups: value {} needs a database section to back up',
        'drills: value {} needs a database section to restore into',
      ],
    ],
    [
      'a backup schedule in weeks',
      (d: any) => Object.assign(d, { database: {}, backups: { schedule: { every: '1w' } } }),
      [`backups.schedule.every: value "1w" ${EVERY_RULE}`],
    ],
    [
      'a drill schedule with both every and cron',
      (d: any) =>
        Object.assign(d, { database: {}, drills: { schedule: { every: '6h', cron: '0 3 * * 1' } } }),
      [`drills.schedule: value {"every":"6h","cron":"0 3 * * 1"} must give ${SCHEDULE_RULE}`],
    ],
    [
      'a backup schedule with neither',
      (d: any) => Object.assign(d, { database: {}, backups: { schedule: {} } }),
      [`backups.schedule: value {} must give ${SCHEDULE_RULE}`],
    ],
    [
      'keepLast 0',
      (d: any) => Object.assign(d, { database: {}, backups: { retention: { keepLast: 0 } } }),
      ['backups.retention.keepLast: value 0 Too small: expected number to be >=1'],
    ],
    [
      'an unknown retention key',
      (d: any) => Object.assign(d, { database: {}, backups: { retention: { monthlyMonths: 6 } } }),
      ['backups.retention: unknown key(s) "monthlyMonths" are not allowed'],
    ],
    [
      'a drill env value with a quote',
      (d: any) => Object.assign(d, { database: {}, drills: { env: { SITE_PORT: '2808"1' } } }),
      [`drills.env.SITE_PORT: value "2808\\"1" ${VALUE_RULE}`],
    ],
    [
      'a drill target of 0 seconds',
      (d: any) => Object.assign(d, { database: {}, drills: { targets: { rpoSeconds: 0 } } }),
      ['drills.targets.rpoSeconds: value 0 Too small: expected number to be >=1'],
    ],
    [
      'a drill host without a pinned key',
      (d: any) => {
        const { hostKey: _dropped, ...host } = d.hosts[0];
        Object.assign(d, { database: {}, drills: { host: { ...host, name: 'spare-1' } } });
      },
      ['drills.host.hostKey: value missing Invalid input: expected string, received undefined'],
    ],
  ])('%s is refused at its key', (_label, change, expected) => {
    expect(problemsOf(change)).toEqual(expected);
  });

  test('a store host is an SSH account with a pinned key and a directory, no app layout of its own', () => {
    const { name: _name, baseDir: _baseDir, env: _env, ...ssh } = plain.hosts[0];
    const env = parsed({
      database: {},
      backups: { store: { ...ssh, name: 'backups-1', dir: '/srv/backups' } },
    });
    expect(env.backups?.store).toEqual({ ...ssh, name: 'backups-1', dir: '/srv/backups' });
    expect(parsed({ database: {}, backups: {} }).backups?.store).toBeUndefined();
  });

  test.each([
    [
      'a relative directory',
      { dir: 'backups' },
      ['backups.store.dir: value "backups" must be an absolute path of letters, digits and _ . / - only'],
    ],
    [
      'a ".." segment',
      { dir: '/srv/../etc' },
      ['backups.store.dir: value "/srv/../etc" must not contain ".." segments'],
    ],
    [
      'a baseDir (an app host key)',
      { baseDir: '/srv' },
      ['backups.store: unknown key(s) "baseDir" are not allowed'],
    ],
  ])('a store host with %s is refused at its key', (_label, change, expected) => {
    const { baseDir: _baseDir, env: _env, ...ssh } = plain.hosts[0];
    expect(
      problemsOf((d) =>
        Object.assign(d, {
          database: {},
          backups: { store: { ...ssh, name: 'backups-1', dir: '/srv/b', ...change } },
        }),
      ),
    ).toEqual(expected);
  });

  test('through the YAML loader the error names the file, the key and the rule', () => {
    expect(() => parseEnvironment(`${stagingYaml}backups: {}\n`, 'envs/staging.yaml', 'staging')).toThrow(
      new ConfigError(
        'envs/staging.yaml is invalid:\n  backups: value {} needs a database section to back up',
        'envs/staging.yaml',
        [],
      ),
    );
    const env = parseEnvironment(
      `${stagingYaml}database: {}\nbackups:\n  schedule: {every: 6h}\ndrills:\n  env: {SITE_PORT: '28081'}\n`,
      'envs/staging.yaml',
      'staging',
    );
    expect(env.backups?.schedule).toEqual({ every: '6h' });
    expect(env.drills?.env).toEqual({ SITE_PORT: '28081' });
  });
});

describe('hosts[].env', () => {
  test('values per host are kept', () => {
    const env = parsed({
      hosts: [{ ...plain.hosts[0], env: { BIND_ADDRESS: '10.0.0.5', SITE_PORT: '18081' } }],
    });
    expect(env.hosts[0].env).toEqual({ BIND_ADDRESS: '10.0.0.5', SITE_PORT: '18081' });
  });

  test('keys and values follow the same rules as env', () => {
    const bad = { BIND_ADDRESS: '1\nEVIL=1', lower: 'x' };
    const asEnv = problemsOf((d) => (d.env = bad));
    const asHostEnv = problemsOf((d) => (d.hosts[0].env = bad));
    expect(asHostEnv).toEqual(asEnv.map((p) => `hosts.0.${p}`));
    expect(asHostEnv).toContain(`hosts.0.env.BIND_ADDRESS: value "1\\nEVIL=1" ${VALUE_RULE}`);
    expect(asHostEnv.some((p) => p.startsWith('hosts.0.env.lower'))).toBe(true);
  });
});

describe('URL placeholders', () => {
  const neither = (key: string) =>
    `placeholder {${key}} is neither {host} nor a key of env or of every host's env`;

  test.each([
    [
      'services.0.readinessUrl',
      (d: any) => (d.services[0].readinessUrl = 'http://{host}:{NOPE}/health/ready'),
      'http://{host}:{NOPE}/health/ready',
    ],
    [
      'services.0.versionUrl',
      (d: any) => (d.services[0].versionUrl = 'http://{host}:{NOPE}/version'),
      'http://{host}:{NOPE}/version',
    ],
    [
      'postDeployChecks.http.0.url',
      (d: any) => (d.postDeployChecks.http = [{ name: 'home', url: 'http://{host}:{NOPE}/' }]),
      'http://{host}:{NOPE}/',
    ],
  ])('an unknown one in %s is refused naming the path and the placeholder', (path, change, url) => {
    expect(problemsOf(change)).toEqual([`${path}: value ${JSON.stringify(url)} ${neither('NOPE')}`]);
  });

  test('each unknown placeholder is named, {HOST} and {} included', () => {
    expect(
      problemsOf((d) => (d.services[1].readinessUrl = 'http://{HOST}:{SITE_PORT}/{}/{BIND_ADDRESS}')),
    ).toEqual(
      ['HOST', 'SITE_PORT', ''].map(
        (k) => `services.1.readinessUrl: value "http://{HOST}:{SITE_PORT}/{}/{BIND_ADDRESS}" ${neither(k)}`,
      ),
    );
  });

  test.each([
    ['env', (d: any) => (d.env.SITE_PORT = '18081')],
    ['hosts[].env', (d: any) => (d.hosts[0].env = { SITE_PORT: '18081' })],
  ])('{SITE_PORT} is accepted when %s defines it', (_label, define) => {
    const urls = (d: any) => {
      d.services[0].readinessUrl = 'http://{host}:{SITE_PORT}/health/ready';
      d.services[0].versionUrl = 'http://{host}:{SITE_PORT}/version';
      d.postDeployChecks.http = [{ name: 'home', url: 'https://{BIND_ADDRESS}:{SITE_PORT}/' }];
    };
    expect(problemsOf(urls)).toHaveLength(3);
    expect(
      problemsOf((d) => {
        urls(d);
        define(d);
      }),
    ).toEqual([]);
  });

  test('a key only some hosts define is refused: the other hosts would be probed on an unfilled URL', () => {
    expect(
      problemsOf((d) => {
        d.hosts.push({ ...d.hosts[0], name: 'web-2', env: {} });
        d.hosts[0].env = { SITE_PORT: '18081' };
        d.services[0].readinessUrl = 'http://{host}:{SITE_PORT}/health/ready';
      }),
    ).toEqual([
      `services.0.readinessUrl: value "http://{host}:{SITE_PORT}/health/ready" ${neither('SITE_PORT')}`,
    ]);
  });

  test("a key only the drill's env defines is not enough: the live hosts are probed on the same URLs", () => {
    expect(
      problemsOf((d) => {
        d.services[0].readinessUrl = 'http://{host}:{SITE_PORT}/health/ready';
        Object.assign(d, { database: {}, drills: { env: { SITE_PORT: '28081' } } });
      }),
    ).toEqual([
      `services.0.readinessUrl: value "http://{host}:{SITE_PORT}/health/ready" ${neither('SITE_PORT')}`,
    ]);
  });
});

describe('drills need a scratch project name and URL values on the drill host', () => {
  test('a project too long for "<project>-drill-<8>" is refused when drills are configured', () => {
    const long = 'p'.repeat(MAX_PROJECT_FOR_DRILLS + 1);
    expect(MAX_PROJECT_FOR_DRILLS).toBe(25);
    expect(problemsOf((d) => Object.assign(d, { project: long }))).toEqual([]);
    expect(problemsOf((d) => Object.assign(d, { project: long, database: {}, drills: {} }))).toEqual([
      `project: value ${JSON.stringify(long)} must be at most 25 characters when drills are configured (the scratch project "<project>-drill-<8 characters>" must be a valid name)`,
    ]);
  });

  test('with colours, the scratch colour project "<project>-drill-<8>-green" must fit too', () => {
    const colours: any = structuredClone(loadEnvironment(FIXTURES, 'production'));
    const withDrills = (project: string) => {
      const doc = { ...colours, project, database: {}, drills: {} };
      const r = environmentSchema.safeParse(doc);
      return r.success ? [] : describeZodIssues(r.error, doc);
    };
    expect(MAX_PROJECT_FOR_COLOUR_DRILLS).toBe(19);
    expect(withDrills('p'.repeat(19))).toEqual([]);
    expect(withDrills('p'.repeat(20))).toEqual([
      `project: value "${'p'.repeat(20)}" must be at most 19 characters when drills and a traffic section are configured (the scratch colour project "<project>-drill-<8 characters>-green" must be a valid name)`,
    ]);
  });

  test('a placeholder every live host defines but the drill host does not is refused', () => {
    const drillHost = { ...plain.hosts[0], name: 'drill-1', env: {} };
    expect(
      problemsOf((d) => {
        d.hosts[0].env = { SITE_PORT: '18081' };
        d.services[0].readinessUrl = 'http://{host}:{SITE_PORT}/health/ready';
        Object.assign(d, { database: {}, drills: { host: drillHost } });
      }),
    ).toEqual([
      `services.0.readinessUrl: value "http://{host}:{SITE_PORT}/health/ready" placeholder {SITE_PORT} has no value on the drill host: add it to env, drills.env or the drill host's env`,
    ]);
    expect(
      problemsOf((d) => {
        d.hosts[0].env = { SITE_PORT: '18081' };
        d.services[0].readinessUrl = 'http://{host}:{SITE_PORT}/health/ready';
        Object.assign(d, { database: {}, drills: { host: drillHost, env: { SITE_PORT: '28081' } } });
      }),
    ).toEqual([]);
  });
});

describe('envValuesFor and expandUrl', () => {
  const env = parsed({ env: { BIND_ADDRESS: '0.0.0.0', SITE_PORT: '18081', API_PORT: '18083' } });
  const host = { ...env.hosts[0], env: { BIND_ADDRESS: '10.0.0.5', SITE_PORT: '28081' } };

  test("a host's env-file values: the environment's, the host's over them", () => {
    expect(envValuesFor(env, host)).toEqual({
      BIND_ADDRESS: '10.0.0.5',
      SITE_PORT: '28081',
      API_PORT: '18083',
    });
    expect(envValuesFor(env, env.hosts[0])).toEqual({
      BIND_ADDRESS: '0.0.0.0',
      SITE_PORT: '18081',
      API_PORT: '18083',
    });
  });

  test('{host} is the address; {KEY} the env value, the host one first', () => {
    expect(expandUrl('http://{host}:18081/health/ready', env, host)).toBe(
      'http://10.0.0.5:18081/health/ready',
    );
    expect(expandUrl('http://{host}:{SITE_PORT}/v?{API_PORT}', env, host)).toBe(
      'http://10.0.0.5:28081/v?18083',
    );
    expect(expandUrl('http://{host}:{SITE_PORT}/', env, env.hosts[0])).toBe('http://10.0.0.5:18081/');
    expect(expandUrl('http://{BIND_ADDRESS}:{API_PORT}/{host}', env, host)).toBe(
      'http://10.0.0.5:18083/10.0.0.5',
    );
  });

  test('an IPv6 address loses its brackets (the template brackets it)', () => {
    expect(expandUrl('http://[{host}]:{SITE_PORT}/', env, { ...host, address: '[fd00::5]' })).toBe(
      'http://[fd00::5]:28081/',
    );
  });

  test('a placeholder naming nothing is left as it is', () => {
    expect(expandUrl('http://{host}:{NOPE}/{lower}/{}/{HOST}', env, host)).toBe(
      'http://10.0.0.5:{NOPE}/{lower}/{}/{HOST}',
    );
    expect(expandUrl('http://example.test/', env, host)).toBe('http://example.test/');
  });
});

describe('rollout', () => {
  test('a wave size, as a count or a share, and a pause that defaults to none', () => {
    expect(parsed({ rollout: { batchSize: 2 } }).rollout).toEqual({ batchSize: 2, pauseSeconds: 0 });
    expect(parsed({ rollout: { batchPercent: 25, pauseSeconds: 30 } }).rollout).toEqual({
      batchPercent: 25,
      pauseSeconds: 30,
    });
    expect(parsed({}).rollout).toBeUndefined();
  });

  test.each([
    ['both sizes', { batchSize: 2, batchPercent: 50 }],
    ['neither size', { pauseSeconds: 10 }],
  ])('%s is refused with the rule', (_label, rollout) => {
    expect(problemsOf((doc) => (doc.rollout = rollout))).toEqual([
      expect.stringMatching(
        /^rollout.*must give exactly one of batchSize \(hosts per wave\) and batchPercent \(share of the hosts per wave\)/,
      ),
    ]);
  });

  test.each([
    ['batchSize', 0],
    ['batchPercent', 101],
    ['pauseSeconds', -1],
  ])('%s %j is refused, naming the field and the value', (field, value) => {
    const problems = problemsOf((doc) => (doc.rollout = { batchSize: 1, [field]: value }));
    expect(problems.join('\n')).toContain(`rollout.${field}`);
    expect(problems.join('\n')).toContain(String(value));
  });
});

describe('rollout with the rest of the environment', () => {
  const secondHost = (doc: any) => doc.hosts.push({ ...doc.hosts[0], name: 'web-2', address: '10.0.0.9' });
  const migrations = { service: 'api', command: ['node', 'server.js', 'migrate'] };

  test('maxUnavailable caps how many hosts of a wave restart at once', () => {
    expect(parsed({ rollout: { batchSize: 4, maxUnavailable: 2 } }).rollout).toEqual({
      batchSize: 4,
      maxUnavailable: 2,
      pauseSeconds: 0,
    });
    expect(problemsOf((doc) => (doc.rollout = { batchSize: 4, maxUnavailable: 0 })).join('\n')).toContain(
      'rollout.maxUnavailable',
    );
  });

  test('a traffic section is refused beside it: colours move every host together', () => {
    const production: any = loadEnvironment(FIXTURES, 'production');
    const r = environmentSchema.safeParse({ ...production, rollout: { batchSize: 1 } });
    expect(r.success).toBe(false);
    expect(describeZodIssues(r.error!, production).join('\n')).toMatch(
      /rollout.*cannot be combined with a traffic section/,
    );
  });

  test('several hosts with migrations need their expand/contract phases', () => {
    const problems = problemsOf((doc) => {
      secondHost(doc);
      doc.rollout = { batchSize: 1 };
      doc.migrations = migrations;
    });
    expect(problems.join('\n')).toMatch(/migrations\.phases.*is needed with a rollout of more than one wave/);
    const phases = {
      pending: ['node', 'server.js', 'migrate', '--pending'],
      expand: ['node', 'server.js', 'migrate', '--phase=expand'],
      contract: ['node', 'server.js', 'migrate', '--phase=contract'],
    };
    expect(
      problemsOf((doc) => {
        secondHost(doc);
        doc.rollout = { batchSize: 1 };
        doc.migrations = { ...migrations, phases };
      }),
    ).toEqual([]);
    // One wave of every host has no later wave: plain migrations stay fine.
    expect(
      problemsOf((doc) => {
        secondHost(doc);
        doc.rollout = { batchPercent: 100 };
        doc.migrations = migrations;
      }),
    ).toEqual([]);
    // Nor does one host.
    expect(
      problemsOf((doc) => {
        doc.rollout = { batchSize: 1 };
        doc.migrations = migrations;
      }),
    ).toEqual([]);
  });
});
