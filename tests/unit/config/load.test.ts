import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { listEnvironments, loadEnvironment, parseEnvironment } from '../../../src/config/load';
import { ConfigError } from '../../../src/config/errors';
import { FIXTURES } from '../helpers';

const good = parse(readFileSync(join(FIXTURES, 'staging.yaml'), 'utf8'));

function problemsOf(mutate: (doc: any) => void): string[] {
  const doc = structuredClone(good);
  mutate(doc);
  try {
    parseEnvironment(stringify(doc), 'envs/staging.yaml', 'staging');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('envs/staging.yaml');
    return (err as ConfigError).problems;
  }
  throw new Error('expected the config to be rejected');
}

describe('environment config', () => {
  test('the fixture loads with defaults filled in', () => {
    const env = loadEnvironment(FIXTURES, 'staging');
    expect(env.name).toBe('staging');
    expect(env.hosts[0].port).toBe(22);
    expect(env.deadlines.healthSeconds).toBe(120);
    expect(env.services.map((s) => s.name)).toEqual(['site', 'api']);
  });

  test.each([
    [
      'project name with a shell metacharacter',
      (d: any) => (d.project = 'shop;rm'),
      'project: value "shop;rm" must be lowercase letters',
    ],
    [
      'base dir traversal',
      (d: any) => (d.hosts[0].baseDir = '/srv/../etc'),
      'hosts.0.baseDir: value "/srv/../etc" must not contain ".." segments',
    ],
    [
      'relative base dir',
      (d: any) => (d.hosts[0].baseDir = 'srv'),
      'hosts.0.baseDir: value "srv" must be an absolute path',
    ],
    ['host key not pinned', (d: any) => delete d.hosts[0].hostKey, 'hosts.0.hostKey: value missing'],
    [
      'gates with nowhere to check out',
      (d: any) => (d.gates = { checks: [{ name: 'unit', command: ['npm', 'test'] }] }),
      'gates.repository: value missing is required when the environment has no repository',
    ],
    [
      'a repository that is not a path or URL',
      (d: any) => (d.repository = 'acme/shop'),
      'repository: value "acme/shop" must be an absolute path or an https://, ssh:// or git@host:path URL',
    ],
    [
      'image with a tag',
      (d: any) => (d.services[0].image = 'ghcr.io/acme/site:latest'),
      'services.0.image: value "ghcr.io/acme/site:latest" must be a lowercase registry/path',
    ],
    [
      'env value with a newline',
      (d: any) => (d.env.BIND_ADDRESS = '1\nEVIL=1'),
      'env.BIND_ADDRESS: value "1\\nEVIL=1" must be a single line',
    ],
    ['lowercase env key', (d: any) => (d.env.lower = 'x'), 'env.lower'],
    ['secret given as a value', (d: any) => (d.secrets.DB_PASSWORD = 'hunter2'), 'secrets.DB_PASSWORD'],
    ['unknown key', (d: any) => (d.colour = 'blue'), '(root): unknown key(s) "colour" are not allowed'],
    [
      'duplicate service',
      (d: any) => d.services.push({ ...d.services[0] }),
      'services.2.name: value "site" duplicate service "site"',
    ],
    ['port out of range', (d: any) => (d.hosts[0].port = 70000), 'hosts.0.port: value 70000'],
  ])('%s is rejected with key, value and rule', (_label, mutate, expected) => {
    const problems = problemsOf(mutate);
    expect(problems.join('\n')).toContain(expected);
  });

  test('a file whose name differs from its name key is rejected', () => {
    expect(() =>
      parseEnvironment(readFileSync(join(FIXTURES, 'staging.yaml'), 'utf8'), 'envs/prod.yaml', 'prod'),
    ).toThrow('name: value "staging" must equal the file name "prod"');
  });

  test('invalid YAML names the file', () => {
    expect(() => parseEnvironment('name: [unclosed', 'envs/x.yaml')).toThrow(
      /envs\/x.yaml is not valid YAML/,
    );
  });

  test('an unknown environment names the file it looked for', () => {
    const dir = mkdtempSync(join(tmpdir(), 'envs-'));
    expect(() => loadEnvironment(dir, 'nowhere')).toThrow(
      `environment "nowhere" is not configured: ${join(dir, 'nowhere.yaml')} does not exist (nor nowhere.yml)`,
    );
  });

  test('a .yml file is read like a .yaml one; both spellings of one environment are refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'envs-'));
    const staging = readFileSync(join(FIXTURES, 'staging.yaml'), 'utf8');
    writeFileSync(join(dir, 'staging.yml'), staging);
    expect(loadEnvironment(dir, 'staging').name).toBe('staging');
    expect(listEnvironments(dir).map((e) => e.name)).toEqual(['staging']);
    writeFileSync(join(dir, 'staging.yaml'), staging);
    const twice = `environment "staging" is configured twice: ${join(dir, 'staging.yaml')} and ${join(dir, 'staging.yml')}; keep one`;
    expect(() => loadEnvironment(dir, 'staging')).toThrow(twice);
    expect(() => listEnvironments(dir)).toThrow(twice);
  });

  test('a hostile environment name never reaches the file system', () => {
    const dir = mkdtempSync(join(tmpdir(), 'envs-'));
    writeFileSync(join(dir, 'x.yaml'), 'name: x');
    expect(() => loadEnvironment(dir, '../etc/passwd')).toThrow(
      /environment name is invalid:\n {2}\(root\): value "..\/etc\/passwd" must be lowercase/,
    );
  });
});

test('the example environment shipped for real servers is valid', () => {
  const env = loadEnvironment(join(__dirname, '..', '..', '..', 'config', 'environments'), 'example');
  expect(env.hosts[0].user).toBe('deploy');
  expect(env.composeCommand).toEqual(['docker', 'compose']);
});

describe('strategies and colours', () => {
  const traffic = { composeFiles: ['compose/web.yml'], network: 'shop-edge', adminUrl: 'http://{host}:8082' };
  const withTraffic = (d: any) => {
    d.traffic = structuredClone(traffic);
    d.services.forEach((s: any) => (s.rule = `PathPrefix(\`/${s.name}\`)`));
  };

  test('recreate is the default; a traffic section fills in the canary defaults', () => {
    expect(loadEnvironment(FIXTURES, 'staging').strategy).toBe('recreate');
    const env = loadEnvironment(FIXTURES, 'production');
    expect(env.strategy).toBe('canary');
    expect(env.traffic?.switchBackWindowSeconds).toBe(1800);
    expect(env.traffic?.canary.thresholds).toEqual({
      maxErrorRate: 0.05,
      maxP95Seconds: 3,
      minAvailability: 0.95,
    });
  });

  test.each([
    [
      'blue-green without colours',
      (d: any) => (d.strategy = 'blue-green'),
      'strategy: value "blue-green" needs a traffic section (colours behind Traefik); without one only "recreate" works',
    ],
    ['an unknown strategy', (d: any) => (d.strategy = 'rolling'), 'strategy: value "rolling" Invalid option'],
    [
      'a service without a rule',
      (d: any) => {
        withTraffic(d);
        delete d.services[1].rule;
      },
      'services.1.rule: value missing is needed with a traffic section: the Traefik rule that sends users to this service',
    ],
    [
      'a rule that breaks out of the line',
      (d: any) => {
        withTraffic(d);
        d.services[0].rule = 'PathPrefix(`/`)\nhttp: {}';
      },
      'services.0.rule: value "PathPrefix(`/`)\\nhttp: {}" must be a one-line Traefik rule',
    ],
    [
      'canary steps that fall back',
      (d: any) => {
        withTraffic(d);
        d.traffic.canary = { steps: [10, 50, 25, 100] };
      },
      'traffic.canary.steps: value [10,50,25,100] must rise step by step',
    ],
    [
      'canary steps that stop short',
      (d: any) => {
        withTraffic(d);
        d.traffic.canary = { steps: [10, 50] };
      },
      'traffic.canary.steps: value [10,50] must end at 100',
    ],
    [
      'an admin URL with an unknown placeholder',
      (d: any) => {
        withTraffic(d);
        d.traffic.adminUrl = 'http://{host}:{ADMIN}';
      },
      'traffic.adminUrl: value "http://{host}:{ADMIN}" placeholder {ADMIN} is neither {host} nor a key of env or of every host\'s env',
    ],
    [
      'a project too long for its colours',
      (d: any) => {
        withTraffic(d);
        d.project = 'a'.repeat(36);
      },
      'must be at most 34 characters with a traffic section',
    ],
  ])('%s is refused naming the key, the value and the rule', (_what, mutate, expected) => {
    const problems = problemsOf(mutate);
    expect(problems.join('\n')).toContain(expected);
  });
});
