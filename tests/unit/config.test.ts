import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { loadEnvironment, parseEnvironment } from '../../src/config/load';
import { ConfigError } from '../../src/config/errors';
import { FIXTURES } from './helpers';

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
      `environment "nowhere" is not configured: ${join(dir, 'nowhere.yaml')} does not exist`,
    );
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
  const env = loadEnvironment(join(__dirname, '..', '..', 'config', 'environments'), 'example');
  expect(env.hosts[0].user).toBe('deploy');
  expect(env.composeCommand).toEqual(['docker', 'compose']);
});
