import {
  compareFingerprints,
  fingerprintScheme,
  operationPlan,
  parseFingerprints,
} from '../../../src/activities/backups';
import { composeDestroy, EXEC_IN_SERVICE_SCRIPT } from '../../../src/commands/compose';
import { pgRestoreList, removeBackupFiles, tableFingerprints } from '../../../src/commands/database';
import { removeDirectory } from '../../../src/commands/files';
import { environmentSchema } from '../../../src/config/schema';
import { STAGING_COMPOSE_BASE, stagingFixture } from '../helpers';

const plain = stagingFixture();
const env = environmentSchema.parse({ ...plain, database: {} });
const host = env.hosts[0];
const base = STAGING_COMPOSE_BASE;
const psql = ['psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1'];
const MD5_A = '0cc175b9c0f1b6a831c399e269772661';
const MD5_B = '92eb5ffee6ae2fec3ad71c777531578f';

describe('recovery commands: exact argv', () => {
  test('table fingerprints: one constant statement through psql in the database container', () => {
    expect(tableFingerprints(env)).toEqual([
      'sh',
      '-c',
      EXEC_IN_SERVICE_SCRIPT,
      'exec-in-service',
      'shop',
      'db',
      ...psql,
      '-U',
      'app',
      '-d',
      'app',
      '-c',
      [
        "select format('%I.%I', schemaname, tablename) || '|' || (xpath('/row/n/text()', x))[1]::text || '|' || (xpath('/row/h/text()', x))[1]::text",
        "from (select schemaname, tablename, query_to_xml(format('select count(*) as n, ''hash64:'' || coalesce(sum(hashtextextended(fingerprinted_row::text collate \"C\", 0)), 0) as h from %I.%I fingerprinted_row', schemaname, tablename), false, true, '') as x",
        "  from pg_catalog.pg_tables where schemaname not in ('pg_catalog', 'information_schema')) tables",
        'order by schemaname, tablename',
      ].join('\n'),
    ]);
  });

  test('a backup taken before the 64-bit content hash is checked its own way: sum60 or ordered md5', () => {
    expect(tableFingerprints(env, 'ordered-md5').at(-1)).toContain(
      "md5(string_agg(t::text, '','' order by t::text))",
    );
    expect(fingerprintScheme([{ table: 'public.a', rows: 1, md5: MD5_A }])).toBe('ordered-md5');
    // An empty table said '' then; the content hash always has its prefix.
    expect(fingerprintScheme([{ table: 'public.a', rows: 0, md5: '' }])).toBe('ordered-md5');
    expect(
      fingerprintScheme([
        { table: 'public.a', rows: 0, md5: 'sum60:0' },
        { table: 'public.b', rows: 2, md5: 'sum60:1031946468325804693' },
      ]),
    ).toBe('sum60');
    expect(tableFingerprints(env, 'sum60').at(-1)).toContain(
      "''sum60:'' || coalesce(sum((''x'' || substr(md5(fingerprinted_row::text), 1, 15))::bit(60)::bigint), 0)",
    );
    expect(
      fingerprintScheme([
        { table: 'public.a', rows: 0, md5: 'hash64:0' },
        { table: 'public.b', rows: 2, md5: 'hash64:-3902167346117540437' },
      ]),
    ).toBe('content-hash');
    expect(fingerprintScheme([])).toBe('content-hash');
  });

  test('table fingerprints follow the configured service, role and database', () => {
    const other = environmentSchema.parse({
      ...plain,
      database: { service: 'pg', user: 'shop', name: 'orders' },
    });
    const argv = tableFingerprints(other);
    expect(argv.slice(0, 6)).toEqual(['sh', '-c', EXEC_IN_SERVICE_SCRIPT, 'exec-in-service', 'shop', 'pg']);
    expect(argv.slice(6, -1)).toEqual([...psql, '-U', 'shop', '-d', 'orders', '-c']);
  });

  test('table fingerprints need a database section', () => {
    expect(() => tableFingerprints(plain)).toThrow('environment "staging" has no database section');
  });

  test('remove a host dump: the dump, its checksum file and its verified mark, forced', () => {
    expect(removeBackupFiles('/srv/apps/shop/backups/backup-staging-20260330T180000Z-1a2b.dump')).toEqual([
      'rm',
      '-f',
      '--',
      '/srv/apps/shop/backups/backup-staging-20260330T180000Z-1a2b.dump',
      '/srv/apps/shop/backups/backup-staging-20260330T180000Z-1a2b.dump.sha256',
      '/srv/apps/shop/backups/backup-staging-20260330T180000Z-1a2b.dump.verified',
    ]);
  });

  test.each([
    '/srv/apps/shop/backups/x.dump.sha256',
    '/srv/apps/shop/backups/x',
    '/srv/apps/shop/.env',
    '/srv/apps/shop/backups/../../../etc/x.dump',
    '../x.dump',
    '/srv/apps/..',
    '',
    'backups/x.dump',
    '-rf.dump',
    '/srv/./x.dump',
  ])('removing %j is refused', (path) => {
    expect(() => removeBackupFiles(path)).toThrow(`${JSON.stringify(path)} is not an absolute .dump path`);
  });

  test('pg_restore --list on the worker reads a dump without restoring it', () => {
    expect(pgRestoreList('/var/lib/deploy/backups/staging/backups/b1.dump')).toEqual([
      'pg_restore',
      '--list',
      '/var/lib/deploy/backups/staging/backups/b1.dump',
    ]);
  });

  test('compose destroy: down with volumes and orphans, short stop timeout', () => {
    expect(composeDestroy(env, host)).toEqual([
      ...base,
      'down',
      '--volumes',
      '--remove-orphans',
      '--timeout',
      '5',
    ]);
  });

  test("compose destroy acts on the given (scratch) project, not the live one's name", () => {
    const scratch = { ...env, project: 'shop-drill-1a2b' };
    expect(composeDestroy(scratch, { ...host, baseDir: '/srv/drills' })).toEqual([
      'docker',
      'compose',
      '--project-name',
      'shop-drill-1a2b',
      '--project-directory',
      '/srv/drills/shop-drill-1a2b',
      '--env-file',
      '/srv/drills/shop-drill-1a2b/.env',
      '--file',
      '/srv/drills/shop-drill-1a2b/docker-compose.yml',
      'down',
      '--volumes',
      '--remove-orphans',
      '--timeout',
      '5',
    ]);
  });

  test.each(['/srv/drills/shop-drill-1a2b', '/srv/apps'])('remove directory %j: rm -rf after --', (dir) => {
    expect(removeDirectory(dir)).toEqual(['rm', '-rf', '--', dir]);
  });

  test.each([
    'srv/apps/shop',
    './shop',
    '',
    '/',
    '//',
    '/srv',
    '/srv/',
    '//srv',
    '/srv/../etc',
    '/srv/apps/..',
    '/srv/.',
    '/./srv',
    '/srv/apps/./',
  ])('removing directory %j is refused', (dir) => {
    expect(() => removeDirectory(dir)).toThrow(
      `refusing to remove ${JSON.stringify(dir)}: not an absolute path at least two levels deep`,
    );
  });
});

describe('parseFingerprints', () => {
  test('one table|rows|md5 per line; blank lines and surrounding spaces ignored; empty md5 for no rows', () => {
    const stdout = `public.orders|2|${MD5_A}\n\n  public.empty|0|  \n"Odd".visits|10|${MD5_B}\n`;
    expect(parseFingerprints(stdout)).toEqual([
      { table: 'public.orders', rows: 2, md5: MD5_A },
      { table: 'public.empty', rows: 0, md5: '' },
      { table: '"Odd".visits', rows: 10, md5: MD5_B },
    ]);
  });

  test('no user tables: no fingerprints', () => {
    expect(parseFingerprints('')).toEqual([]);
    expect(parseFingerprints('\n\n')).toEqual([]);
  });

  test.each([
    'public.orders|two|abc',
    'public.orders|2',
    '|2|abc',
    'public.orders||abc',
    'public.orders|-1|abc',
    'ERROR:  permission denied for table orders',
  ])('line %j is refused, naming it', (line) => {
    expect(() => parseFingerprints(`public.ok|1|${MD5_A}\n${line}\n`)).toThrow(
      `unexpected fingerprint line ${JSON.stringify(line)}`,
    );
  });
});

describe('compareFingerprints', () => {
  const orders = { table: 'public.orders', rows: 2, md5: MD5_A };
  const users = { table: 'public.users', rows: 1, md5: MD5_B };
  const empty = { table: 'public.empty', rows: 0, md5: '' };

  test('the same tables, rows and content: no differences, whatever the order', () => {
    expect(compareFingerprints([orders, users, empty], [empty, users, orders])).toEqual([]);
    expect(compareFingerprints([], [])).toEqual([]);
  });

  test('every difference in plain words: missing, row count, content, extra (backup order, then extras)', () => {
    expect(
      compareFingerprints(
        [orders, users, empty],
        [
          { table: 'public.audit', rows: 3, md5: MD5_A },
          { ...users, md5: MD5_A },
          { ...empty, rows: 1, md5: MD5_B },
        ],
      ),
    ).toEqual([
      'public.orders: missing after the restore (had 2 rows)',
      'public.users: same 1 rows but different content',
      'public.empty: 1 rows, the backup had 0',
      'public.audit: not in the backup but present after the restore',
    ]);
  });

  test('a row count that differs is reported as such, not also as different content', () => {
    expect(compareFingerprints([orders], [{ ...orders, rows: 3, md5: MD5_B }])).toEqual([
      'public.orders: 3 rows, the backup had 2',
    ]);
  });

  test('everything gone after the restore', () => {
    expect(compareFingerprints([orders, empty], [])).toEqual([
      'public.orders: missing after the restore (had 2 rows)',
      'public.empty: missing after the restore (had 0 rows)',
    ]);
  });
});

describe('operationPlan', () => {
  test('a deploy-shaped context for a backup: no release, no images', () => {
    expect(operationPlan(env, 'backup-staging-20260330T180000Z', 'schedule')).toEqual({
      deploymentId: 'backup-staging-20260330T180000Z',
      environment: env,
      images: {},
      request: { environment: 'staging', release: 'none', images: {}, requestedBy: 'schedule' },
    });
  });

  test('with the release and images an emergency deploy starts', () => {
    const images = { site: 'ghcr.io/acme/site:v1.4.2', api: 'ghcr.io/acme/api:v1.4.2' };
    expect(operationPlan(env, 'emergency-staging-1', 'alice', 'v1.4.2', images)).toEqual({
      deploymentId: 'emergency-staging-1',
      environment: env,
      images,
      request: { environment: 'staging', release: 'v1.4.2', images, requestedBy: 'alice' },
    });
  });
});
