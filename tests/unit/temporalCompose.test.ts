/**
 * docker-compose.temporal.yml (self-hosted Temporal on PostgreSQL) cannot start here (no public
 * images), so it is checked through the compose tool itself: `config` must accept it, interpolate
 * the secrets from the environment, and refuse to render without POSTGRES_PASSWORD.
 *
 * The compose command: $COMPOSE_COMMAND (e.g. "docker compose"), else `docker-compose` (Debian's
 * v1, installed by `npm run bootstrap`), else `docker compose`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { resolveTemporalCli } from '../../src/devserver/binaries';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/shared/searchAttributes';

const COMPOSE_FILE = join(__dirname, '..', '..', 'docker-compose.temporal.yml');

interface Service {
  image: string;
  environment?: Record<string, string | null>;
  ports?: (string | { host_ip?: string; published?: string | number; target: number })[];
  volumes?: (string | { type?: string; source?: string; target: string })[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] | string };
  command?: string[] | string;
  profiles?: string[];
  restart?: string;
}
interface ComposeModel {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

function findComposeCommand(): string[] {
  const candidates = process.env.COMPOSE_COMMAND
    ? [process.env.COMPOSE_COMMAND.split(/\s+/)]
    : [['docker-compose'], ['docker', 'compose']];
  for (const argv of candidates) {
    const probe = spawnSync(argv[0], [...argv.slice(1), 'version'], { encoding: 'utf8' });
    if (probe.status === 0) return argv;
  }
  throw new Error(
    `No Docker Compose found (tried ${candidates.map((c) => c.join(' ')).join(', ')}). ` +
      'Run "npm run bootstrap" (installs docker-compose) or set COMPOSE_COMMAND="docker compose".',
  );
}

const compose = findComposeCommand();
const workDir = mkdtempSync(join(tmpdir(), 'temporal-compose-'));
const emptyEnvFile = join(workDir, 'empty.env');
writeFileSync(emptyEnvFile, '');
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** `compose config` with only the given variables (plus PATH/HOME), so a developer's shell cannot leak in. */
function composeConfig(vars: Record<string, string>) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...vars };
  return spawnSync(
    compose[0],
    [...compose.slice(1), '--env-file', emptyEnvFile, '-f', COMPOSE_FILE, 'config'],
    { cwd: workDir, env, encoding: 'utf8' },
  );
}

function render(vars: Record<string, string>): ComposeModel {
  const result = composeConfig(vars);
  if (result.status !== 0) throw new Error(`compose config failed: ${result.stderr}`);
  return parse(result.stdout) as ComposeModel;
}

/** host_ip:published:target, for both compose v1 strings and v2 long syntax. */
function portBindings(service: Service): string[] {
  return (service.ports ?? []).map((p) =>
    typeof p === 'string' ? p.replace(/\/tcp$/, '') : `${p.host_ip ?? ''}:${p.published}:${p.target}`,
  );
}

function volumeSources(service: Service): string[] {
  return (service.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[0] : (v.source ?? '')));
}

const SECRET = 'not-a-real-password-7f3a';

describe('docker-compose.temporal.yml', () => {
  const model = render({ POSTGRES_PASSWORD: SECRET });
  const { services } = model;

  test('has PostgreSQL, schema setup, server, namespace/search-attribute setup, UI and admin tools', () => {
    expect(Object.keys(services).sort()).toEqual([
      'postgresql',
      'temporal',
      'temporal-admin-tools',
      'temporal-schema',
      'temporal-setup',
      'temporal-ui',
    ]);
    expect(services.temporal.image).toMatch(/^temporalio\/server:/);
    expect(services['temporal-ui'].image).toMatch(/^temporalio\/ui:/);
    expect(services['temporal-schema'].image).toMatch(/^temporalio\/admin-tools:/);
    expect(services.postgresql.image).toMatch(/^postgres:/);
  });

  test('every image is pinned to a version, and server and admin-tools move together', () => {
    for (const [name, service] of Object.entries(services)) {
      expect([name, service.image]).toEqual([name, expect.stringMatching(/:\d+(\.\d+)+[\w.-]*$/)]);
    }
    const version = (image: string) => image.split(':')[1];
    for (const tools of ['temporal-schema', 'temporal-setup', 'temporal-admin-tools']) {
      expect(version(services[tools].image)).toBe(version(services.temporal.image));
    }
  });

  test('the server and UI are the versions the tests run: those of the CLI dev server the bootstrap installs', () => {
    const cli = spawnSync(resolveTemporalCli(), ['--version'], { encoding: 'utf8', timeout: 30_000 });
    const tested = /\(Server ([\d.]+), UI ([\d.]+)\)/.exec(cli.stdout);
    if (!tested) throw new Error(`temporal --version said ${JSON.stringify(cli.stdout + cli.stderr)}`);
    const version = (image: string) => image.split(':')[1];
    expect([version(services.temporal.image), version(services['temporal-ui'].image)]).toEqual([
      tested[1],
      tested[2],
    ]);
  });

  test('PostgreSQL keeps its data in a named volume and is not published', () => {
    expect(volumeSources(services.postgresql)).toEqual(['temporal-postgres-data']);
    expect(Object.keys(model.volumes ?? {})).toContain('temporal-postgres-data');
    expect(services.postgresql.ports ?? []).toEqual([]);
    expect(services.postgresql.healthcheck?.test).toEqual([
      'CMD-SHELL',
      expect.stringContaining('pg_isready'),
    ]);
  });

  test('the password comes from the environment into every service that logs in', () => {
    expect(services.postgresql.environment?.POSTGRES_PASSWORD).toBe(SECRET);
    expect(services.temporal.environment?.POSTGRES_PWD).toBe(SECRET);
    expect(services['temporal-schema'].environment?.POSTGRES_PWD).toBe(SECRET);
    expect(services['temporal-schema'].environment?.SQL_PASSWORD).toBe(SECRET);
    expect(services.temporal.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
  });

  test('no password is written in the file itself', () => {
    const raw = readFileSync(COMPOSE_FILE, 'utf8');
    const secretLines = raw
      .split('\n')
      .filter((l) => /^\s*(POSTGRES_PASSWORD|POSTGRES_PWD|SQL_PASSWORD):/.test(l));
    expect(secretLines.length).toBeGreaterThanOrEqual(3);
    for (const line of secretLines) expect(line).toMatch(/\$\{POSTGRES_PASSWORD:\?[^}]+\}\s*$/);
  });

  test('start order: PostgreSQL healthy -> schema job done -> server healthy -> setup job and UI', () => {
    expect(services['temporal-schema'].depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
    expect(services.temporal.depends_on).toEqual({
      'temporal-schema': { condition: 'service_completed_successfully' },
    });
    expect(services['temporal-setup'].depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
    expect(services['temporal-ui'].depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
    expect(services.temporal.healthcheck?.test).toBeDefined();
    expect(services['temporal-schema'].restart).toBe('no');
    expect(services['temporal-setup'].restart).toBe('no');
  });

  test('the UI and the tools point at the server service', () => {
    expect(services['temporal-ui'].environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(services['temporal-setup'].environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(services['temporal-admin-tools'].environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(services['temporal-admin-tools'].profiles).toEqual(['tools']);
  });

  test('ports are bound to loopback by default', () => {
    expect(portBindings(services.temporal)).toEqual(['127.0.0.1:7233:7233']);
    expect(portBindings(services['temporal-ui'])).toEqual(['127.0.0.1:8080:8080']);
  });

  test('bind addresses and ports can be chosen', () => {
    const custom = render({
      POSTGRES_PASSWORD: SECRET,
      TEMPORAL_BIND_IP: '10.0.0.5',
      TEMPORAL_PORT: '17233',
      TEMPORAL_UI_PORT: '18080',
    }).services;
    expect(portBindings(custom.temporal)).toEqual(['10.0.0.5:17233:7233']);
    expect(portBindings(custom['temporal-ui'])).toEqual(['127.0.0.1:18080:8080']);
  });

  test('registers exactly the search attributes of src/shared/searchAttributes.ts, as Keyword', () => {
    const setup = services['temporal-setup'];
    const declared = String(setup.environment?.DEPLOY_SEARCH_ATTRIBUTES).split(/\s+/).sort();
    expect(declared).toEqual(ALL_SEARCH_ATTRIBUTES.map((k) => `${k.name}=Keyword`).sort());
    const script = ([] as string[]).concat(setup.command ?? []).join('\n');
    expect(script).toContain('temporal operator search-attribute create');
    expect(script).toContain('temporal operator namespace create');
    expect(setup.environment?.TEMPORAL_NAMESPACE).toBe('default');
  });

  test('without POSTGRES_PASSWORD, compose refuses to render and says which variable is missing', () => {
    const result = composeConfig({});
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('POSTGRES_PASSWORD');
    expect(result.stdout).not.toContain('POSTGRES_PWD');
  });
});
