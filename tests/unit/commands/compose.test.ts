import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  composeBase,
  execInService,
  runningProjectContainers,
  runningServicesOf,
  composeConfiguredServices,
  composeDown,
  composePull,
  composeUpAll,
  composeUpService,
  serviceLogTail,
} from '../../../src/commands/compose';
import {
  appendAuditLine,
  copyIfExists,
  freeDiskKib,
  listNewestFirst,
  makeDirectory,
  moveIntoPlace,
  readOptionalFile,
  tailOptionalFile,
  restrictToOwner,
} from '../../../src/commands/files';
import { releaseHistoryRecord, remoteLayout } from '../../../src/commands/layout';
import { shellLine } from '../../../src/remote/executor';
import { STAGING_COMPOSE_BASE, stagingFixture } from '../helpers';

const env = stagingFixture();
const host = env.hosts[0];
const base = STAGING_COMPOSE_BASE;

describe('remote layout', () => {
  test('one directory per compose project under the host base dir', () => {
    expect(remoteLayout(env, host)).toEqual({
      appDir: '/srv/apps/shop',
      envFile: '/srv/apps/shop/.env',
      releasesDir: '/srv/apps/shop/releases',
      currentRelease: '/srv/apps/shop/releases/current.json',
      previousRelease: '/srv/apps/shop/releases/previous.json',
      releaseHistoryDir: '/srv/apps/shop/releases/history',
      auditLog: '/srv/apps/shop/audit.log',
      composeFiles: ['/srv/apps/shop/docker-compose.yml'],
    });
    expect(releaseHistoryRecord(remoteLayout(env, host), 'v1.4')).toBe(
      '/srv/apps/shop/releases/history/v1.4.json',
    );
  });
});

describe('compose commands', () => {
  test('base pins project, directory, env file and files', () => {
    expect(composeBase(env, host)).toEqual(base);
  });
  test('the lab compose command replaces the prefix only', () => {
    expect(composeBase({ ...env, composeCommand: ['docker-compose'] }, host).slice(0, 3)).toEqual([
      'docker-compose',
      '--project-name',
      'shop',
    ]);
  });
  test('pull', () => expect(composePull(env, host)).toEqual([...base, 'pull', '--quiet']));
  test('up one service', () =>
    expect(composeUpService(env, host, 'api')).toEqual([...base, 'up', '--detach', 'api']));
  test('up the rest', () =>
    expect(composeUpAll(env, host)).toEqual([...base, 'up', '--detach', '--remove-orphans']));
  test('down', () => expect(composeDown(env, host)).toEqual([...base, 'down', '--remove-orphans']));
  test('services configured, and those running', () => {
    expect(composeConfiguredServices(env, host)).toEqual([...base, 'config', '--services']);
    expect(runningProjectContainers('shop')).toEqual([
      'docker',
      'ps',
      '--filter',
      'label=com.docker.compose.project=shop',
      '--filter',
      'status=running',
      '--format',
      '{{.Label "com.docker.compose.service"}}\t{{.Label "com.docker.compose.oneoff"}}',
    ]);
  });
});

test('running services: once each, one-off containers left out, a missing one-off label is a service', () => {
  expect(runningServicesOf('db\tFalse\napi\tFalse\napi\tFalse\nmigrate\tTrue\nredis\t\nproxy\n\n')).toEqual([
    'db',
    'api',
    'redis',
    'proxy',
  ]);
  expect(runningServicesOf('')).toEqual([]);
  // A container without a service label is no service, whatever its one-off label says.
  expect(runningServicesOf('\tFalse\n\tTrue\ndb\tFalse\n')).toEqual(['db']);
});

describe('a command in a service container, found by its labels (a real sh, a stand-in docker)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'exec-in-service-'));
    // `docker ps` prints $PS_OUTPUT (or fails with $PS_FAIL) and keeps its arguments; `docker
    // exec` says what it was given and echoes its stdin.
    writeFileSync(
      join(dir, 'docker'),
      [
        '#!/bin/sh',
        'case "$1" in',
        '  ps) printf "%s\\n" "$*" > "$DIR/ps-args"; [ -z "${PS_FAIL:-}" ] || { echo "$PS_FAIL" >&2; exit 1; }; printf "%b" "$PS_OUTPUT" ;;',
        '  exec) echo "exec $*"; cat ;;',
        'esac',
      ].join('\n'),
      { mode: 0o755 },
    );
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = (psOutput: string, extra: Record<string, string> = {}) => {
    const [command, ...args] = execInService('shop', 'db', ['psql', '-c', 'select 1']);
    return spawnSync(command!, args, {
      encoding: 'utf8',
      input: 'from stdin',
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, DIR: dir, PS_OUTPUT: psOutput, ...extra },
    });
  };

  test('execs with stdin attached in the first-numbered container that is not a one-off', () => {
    const r = run('2|bbb|False\\n1|ooo|True\\n1|aaa|False\\n');
    expect({ status: r.status, stdout: r.stdout }).toEqual({
      status: 0,
      stdout: 'exec exec -i aaa psql -c select 1\nfrom stdin',
    });
    expect(readFileSync(join(dir, 'ps-args'), 'utf8')).toBe(
      'ps --filter label=com.docker.compose.project=shop --filter label=com.docker.compose.service=db --filter status=running --format {{.Label "com.docker.compose.container-number"}}|{{.ID}}|{{.Label "com.docker.compose.oneoff"}}\n',
    );
  });

  test('a label the engine leaves out is an empty field: no one-off label counts, no number sorts first', () => {
    expect(run('1|aaa|\\n').stdout).toContain('exec -i aaa psql');
    expect(run('2|bbb|False\\n|ccc|\\n').stdout).toContain('exec -i ccc psql');
    expect(run('|ooo|True\\n').status).toBe(1);
  });

  test('no running container of the service: exit 1, saying which, nothing run', () => {
    for (const output of ['', '1|ooo|True\\n']) {
      const r = run(output);
      expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 1, stdout: '' });
      expect(r.stderr).toContain('service "db" of compose project "shop" is not running');
    }
  });

  test('an engine that does not answer fails with its own error, nothing run', () => {
    const r = run('1|aaa|False\\n', { PS_FAIL: 'Cannot connect to the Docker daemon' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Cannot connect to the Docker daemon');
  });
});

describe('file commands', () => {
  test('exact argv', () => {
    expect(makeDirectory('/a/b')).toEqual(['mkdir', '-p', '/a/b']);
    expect(moveIntoPlace('/a/.x.tmp', '/a/x')).toEqual(['mv', '-f', '/a/.x.tmp', '/a/x']);
    expect(restrictToOwner('/a/.env')).toEqual(['chmod', '600', '/a/.env']);
    expect(readOptionalFile('/a/c.json')).toEqual([
      'sh',
      '-c',
      'if [ -f "$1" ]; then cat "$1"; fi',
      'read-optional',
      '/a/c.json',
    ]);
    const script =
      'p=$1 s=$2 n=$3; shift 3; ' +
      'id=$(docker ps -a -q --latest --filter "label=com.docker.compose.project=$p" --filter "label=com.docker.compose.service=$s") && ' +
      'if [ -n "$id" ]; then docker logs --tail "$n" "$@" "$id" 2>&1; else echo "no container of $s in project $p"; fi';
    expect(serviceLogTail('shop-blue', 'api', 20)).toEqual([
      'sh',
      '-c',
      script,
      'service-logs',
      'shop-blue',
      'api',
      '20',
    ]);
    expect(
      serviceLogTail('shop', 'api', 5, { since: '2026-12-01T08:00:00.123456789Z', timestamps: true }),
    ).toEqual([
      'sh',
      '-c',
      script,
      'service-logs',
      'shop',
      'api',
      '5',
      '--since',
      '2026-12-01T08:00:00.123456789Z',
      '--timestamps',
    ]);
    expect(() => serviceLogTail('shop', 'api', 5, { since: '1h; id' })).toThrow(
      'since must be a UTC time like 2026-12-01T08:00:00Z, not "1h; id"',
    );
    expect(tailOptionalFile('/a/audit.log', 50)).toEqual([
      'sh',
      '-c',
      'if [ -f "$1" ]; then tail -n "$2" -- "$1"; fi',
      'tail-optional',
      '/a/audit.log',
      '50',
    ]);
    expect(() => tailOptionalFile('/a/audit.log', 0)).toThrow('lines must be a positive whole number, not 0');
    expect(copyIfExists('/a/c', '/a/p')).toEqual([
      'sh',
      '-c',
      'if [ -f "$1" ]; then cp -f "$1" "$2"; fi',
      'copy-if-exists',
      '/a/c',
      '/a/p',
    ]);
    expect(listNewestFirst('/a/h')).toEqual([
      'sh',
      '-c',
      'if [ -d "$1" ]; then ls -1t -- "$1"; fi',
      'list-newest-first',
      '/a/h',
    ]);
    expect(freeDiskKib('/srv/apps')).toEqual([
      'sh',
      '-c',
      'd=$1; while [ ! -d "$d" ]; do d=${d%/*}; d=${d:-/}; done; df -Pk -- "$d" | awk \'NR == 2 { print $4 }\'',
      'free-disk',
      '/srv/apps',
    ]);
    expect(appendAuditLine('/a/audit.log', '{"x":1}')).toEqual([
      'sh',
      '-c',
      'mkdir -p "${2%/*}" && printf "%s\\n" "$1" >> "$2"',
      'audit',
      '{"x":1}',
      '/a/audit.log',
    ]);
  });
});

describe('shell line quoting', () => {
  test('plain words stay plain', () => {
    expect(shellLine(composePull(env, host))).toBe(
      'docker compose --project-name shop --project-directory /srv/apps/shop --env-file /srv/apps/shop/.env --file /srv/apps/shop/docker-compose.yml pull --quiet',
    );
  });
  test('hostile values are passed as data, never interpreted', () => {
    const line = shellLine(appendAuditLine('/a/audit.log', `x'; rm -rf / #$(id)\`id\`\nnext`));
    expect(line).toBe(
      `sh -c 'mkdir -p "\${2%/*}" && printf "%s\\n" "$1" >> "$2"' audit "x'; rm -rf / #\\$(id)\\\`id\\\`\nnext" /a/audit.log`,
    );
  });
  test('an empty argument survives as an empty word', () => {
    expect(shellLine(['printf', '%s', ''])).toBe("printf %s ''");
  });
  test('an empty command is refused', () => {
    expect(() => shellLine([])).toThrow('empty command');
  });
});

describe('quoting as a real shell sees it', () => {
  const hostile = [
    `it's $(touch /tmp/pwned) \`id\` ; rm -rf / && echo "x" | cat > y\n\\ * ?`,
    '',
    ' lead',
    '--flag',
  ];
  test.each(hostile)('sh receives %j unchanged', (value) => {
    const { spawnSync } = jest.requireActual<typeof import('node:child_process')>('node:child_process');
    const out = spawnSync('sh', ['-c', shellLine(['printf', '%s', value])], { encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stdout).toBe(value);
  });
});
