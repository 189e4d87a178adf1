import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseEnvironment } from '../../../src/config/load';
import { ExitCode } from '../../../src/client/exitCodes';
import {
  composeSkeleton,
  environmentYaml,
  parseHostFlag,
  parseServiceFlag,
  type InitOptions,
} from '../../../src/client/init';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const options: InitOptions = {
  env: 'staging',
  project: 'shop',
  hosts: [{ name: 'web-1', user: 'deploy', address: '203.0.113.10', port: 22, hostKey: KEY }],
  key: '/etc/deployctl/deploy_ed25519',
  baseDir: '/srv/apps',
  services: [
    { name: 'web', image: 'ghcr.io/acme/web', port: 3000 },
    { name: 'worker-api', image: 'localhost:5000/acme/worker', port: 8080 },
  ],
  composeFile: 'compose/shop.yml',
};

test('host and service flags: ports, registry ports and clear refusals', () => {
  expect(parseHostFlag('web-1=deploy@203.0.113.10')).toEqual([
    { name: 'web-1', user: 'deploy', address: '203.0.113.10', port: 22, hostKey: '' },
  ]);
  expect(parseHostFlag('db=root@db.internal:2222')[0]).toMatchObject({ address: 'db.internal', port: 2222 });
  expect(() => parseHostFlag('web-1=203.0.113.10')).toThrow('must be NAME=USER@ADDRESS[:PORT]');
  expect(() => parseHostFlag('web-1=deploy@a;reboot')).not.toThrow(); // the schema refuses it (below)
  expect(parseServiceFlag('web=ghcr.io/acme/web:3000')).toEqual([
    { name: 'web', image: 'ghcr.io/acme/web', port: 3000 },
  ]);
  expect(parseServiceFlag('web=localhost:5000/acme/web')).toEqual([
    { name: 'web', image: 'localhost:5000/acme/web', port: 8080 },
  ]);
  expect(parseServiceFlag('web=localhost:5000/acme/web:9000')[0]).toMatchObject({
    image: 'localhost:5000/acme/web',
    port: 9000,
  });
  expect(() => parseServiceFlag('Web=x')).toThrow('must be NAME=REPOSITORY[:PORT]');
});

test('the environment it writes is one the worker accepts, with the contract filled in', () => {
  const env = parseEnvironment(environmentYaml(options), 'staging.yaml', 'staging');
  expect(env).toMatchObject({
    name: 'staging',
    project: 'shop',
    strategy: 'recreate',
    composeFiles: ['compose/shop.yml'],
    hosts: [
      {
        name: 'web-1',
        address: '203.0.113.10',
        port: 22,
        user: 'deploy',
        hostKey: KEY,
        baseDir: '/srv/apps',
      },
    ],
    env: { BIND_ADDRESS: '0.0.0.0' },
    minFreeDiskMb: 1024,
  });
  expect(env.services).toEqual([
    expect.objectContaining({
      name: 'web',
      image: 'ghcr.io/acme/web',
      readinessUrl: 'http://{host}:3000/health/ready',
      versionUrl: 'http://{host}:3000/version',
    }),
    expect.objectContaining({ name: 'worker-api', readinessUrl: 'http://{host}:8080/health/ready' }),
  ]);
  // Values are quoted scalars: a hostile value cannot add keys, only fail the schema.
  const hostile = { ...options, project: 'shop"\nextra: 1' };
  expect(() => parseEnvironment(environmentYaml(hostile), 'staging.yaml', 'staging')).toThrow(
    /project: value "shop\\"\\nextra: 1" must be lowercase/,
  );
});

test('with --repository, the environment reads its compose files from the app repository', () => {
  const text = environmentYaml({ ...options, repository: 'git@github.com:acme/shop.git' });
  expect(text).toContain("# compose files are read from it at each release's commit (--commit)");
  const env = parseEnvironment(text, 'staging.yaml', 'staging');
  expect(env.repository).toBe('git@github.com:acme/shop.git');
  expect(env.composeFiles).toEqual(['compose/shop.yml']);
  expect(parseEnvironment(environmentYaml(options), 'staging.yaml', 'staging').repository).toBeUndefined();
});

test('the compose file takes each image from <SERVICE>_IMAGE and publishes the probed port', () => {
  const compose = parse(composeSkeleton(options));
  expect(compose.services.web).toEqual({
    image: '${WEB_IMAGE}',
    restart: 'unless-stopped',
    environment: { APP_RELEASE: '${APP_RELEASE}' },
    ports: ['${BIND_ADDRESS:-0.0.0.0}:3000:3000'],
  });
  expect(compose.services['worker-api'].image).toBe('${WORKER_API_IMAGE}');
});

describe('deployctl init', () => {
  // Run from the project (tsx resolves there), writing into a temporary app folder.
  const run = (dir: string, args: string[]) =>
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/client.ts',
        'init',
        ...args,
        '--config-dir',
        join(dir, 'config', 'environments'),
        '--compose-file',
        join(dir, 'compose', 'shop.yml'),
      ],
      { cwd: join(__dirname, '..', '..', '..'), encoding: 'utf8', timeout: 30_000 },
    );
  const args = [
    '--env',
    'staging',
    '--project',
    'shop',
    '--host',
    'web-1=deploy@203.0.113.10',
    '--host-key',
    `web-1=${KEY}`,
    '--key',
    '/etc/deployctl/deploy_ed25519',
    '--service',
    'web=ghcr.io/acme/web:3000',
  ];

  test('writes both files once; a second run refuses to overwrite them; bad input writes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'init-'));
    const first = run(dir, args);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(ExitCode.succeeded);
    expect(first.stdout).toContain(`wrote ${join(dir, 'config', 'environments', 'staging.yaml')}`);
    expect(first.stdout).toContain(
      'next: verify the host keys, then npx deployctl config check --env staging',
    );
    const written = readFileSync(join(dir, 'config', 'environments', 'staging.yaml'), 'utf8');
    expect(parseEnvironment(written, 'staging.yaml', 'staging').hosts[0].hostKey).toBe(KEY);
    expect(parse(readFileSync(join(dir, 'compose', 'shop.yml'), 'utf8')).services.web.image).toBe(
      '${WEB_IMAGE}',
    );

    const again = run(dir, args);
    expect(again.status).toBe(ExitCode.invalidInput);
    expect(again.stderr).toContain('staging.yaml exists; pass --force to replace it (nothing was written)');
    expect(run(dir, [...args, '--force']).status).toBe(ExitCode.succeeded);

    const empty = mkdtempSync(join(tmpdir(), 'init-'));
    const bad = run(empty, [...args.slice(0, 3), 'Shop', ...args.slice(4)]);
    expect(bad.status).toBe(ExitCode.invalidInput);
    expect(bad.stderr).toContain('project: value "Shop" must be lowercase');
    expect(bad.stderr).toContain('nothing was written');
    expect(spawnSync('ls', ['-A', empty], { encoding: 'utf8' }).stdout).toBe('');
  }, 60_000);
});
