import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkId, sha256File, writeJsonAtomic } from '../../../src/store/backupStore';
import { LocalBackupStore } from '../../../src/store/localStore';
import { type StoredBackup } from '../../../src/shared/backups';
import { catalogPage } from '../../../src/shared/catalog';
import { type DrillReport } from '../../../src/shared/drills';

let root: string;
let store: LocalBackupStore;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'backup-store-'));
  store = new LocalBackupStore(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const backupsDir = () => join(root, 'staging', 'backups');
const mode = (path: string) => statSync(path).mode & 0o777;

function record(id: string, createdAt: string): StoredBackup {
  return {
    id,
    environment: 'staging',
    createdAt,
    sizeBytes: 4,
    sha256: 'a'.repeat(64),
    durationMs: 30,
    steps: { dumpMs: 10, copyMs: 10, verifyMs: 10 },
    location: store.dumpPath('staging', id),
    source: { host: 'web-1', path: `/srv/apps/shop/backups/${id}.dump` },
    tables: [{ table: 'public.orders', rows: 2, md5: 'b'.repeat(32) }],
    verification: { verifiedAt: createdAt, pgRestoreListEntries: 12 },
  };
}

/** A verified backup as the activities leave it: the copy, then its record. */
async function storeBackup(id: string, createdAt: string): Promise<StoredBackup> {
  store.ensureDir('staging');
  const r = record(id, createdAt);
  writeFileSync(r.location, 'PGDMP');
  await store.writeBackupRecord(r);
  return r;
}

function drill(id: string, startedAt: string): DrillReport {
  return {
    id,
    environment: 'staging',
    requestedBy: 'schedule',
    startedAt,
    finishedAt: startedAt,
    passed: true,
    failures: [],
    targets: { rpoSeconds: 86_400, rtoSeconds: 900 },
    steps: [],
    teardown: 'done',
  };
}

describe('checkId', () => {
  test.each(['staging-20260330T180000Z-1a2b3c4d', 'a', 'A.b_c-1', 'x'.repeat(200)])(
    '%j is accepted',
    (id) => {
      expect(checkId('backup', id)).toBe(id);
    },
  );

  test.each([
    '..',
    '../etc/passwd',
    'a..b',
    'a/b',
    '/abs',
    'a b',
    '-rf',
    '.hidden',
    '_x',
    '',
    'x'.repeat(201),
    'a\nb',
  ])('%j is refused with a message naming it', (id) => {
    expect(() => checkId('backup', id)).toThrow(
      `backup id ${JSON.stringify(id)} must be letters, digits, ".", "_" and "-" (no "..")`,
    );
  });

  test('the kind is named too', () => {
    expect(() => checkId('drill', 'a b')).toThrow('drill id "a b" must be');
  });
});

describe('BackupStore paths', () => {
  test('<root>/<environment>/backups/<id>.dump, .dump.partial', () => {
    expect(store.dumpPath('staging', 'b1')).toBe(join(root, 'staging', 'backups', 'b1.dump'));
    expect(store.partialPath('staging', 'b1')).toBe(join(root, 'staging', 'backups', 'b1.dump.partial'));
  });

  test('an unsafe environment or backup id never becomes a path', async () => {
    expect(() => store.dumpPath('../etc', 'b1')).toThrow('environment id "../etc" must be');
    expect(() => store.dumpPath('staging', '../../etc/passwd')).toThrow(
      'backup id "../../etc/passwd" must be',
    );
    expect(() => store.partialPath('staging', 'a/b')).toThrow('backup id "a/b" must be');
    await expect(store.deleteBackup('staging', '-rf')).rejects.toThrow('backup id "-rf" must be');
    await expect(
      store.writeBackupRecord({ ...record('b1', '2026-03-01T00:00:00Z'), id: 'a b' }),
    ).rejects.toThrow('backup id "a b" must be');
    await expect(store.writeDrillReport(drill('..', '2026-03-01T00:00:00Z'))).rejects.toThrow(
      'drill id ".." must be',
    );
    await expect(store.listBackups('a b')).rejects.toThrow('environment id "a b" must be');
    expect(readdirSync(root)).toEqual([]);
  });

  test('ensureDir creates backups/ and drills/ for the worker only', () => {
    store.ensureDir('staging');
    expect(mode(join(root, 'staging', 'backups'))).toBe(0o700);
    expect(mode(join(root, 'staging', 'drills'))).toBe(0o700);
  });
});

describe('BackupStore backups', () => {
  test('an environment with nothing stored has no backups, no drills, no unrecorded copies', async () => {
    expect(await store.listBackups('staging')).toEqual([]);
    expect(await store.findBackup('staging')).toBeUndefined();
    expect(await store.listDrills('staging')).toEqual([]);
    expect(store.unrecordedCopies('staging')).toEqual([]);
  });

  test('a record is written whole, pretty, mode 0600, with no temporary file left', async () => {
    const r = await storeBackup('b1', '2026-03-01T00:00:00Z');
    const file = join(backupsDir(), 'b1.json');
    expect(readFileSync(file, 'utf8')).toBe(`${JSON.stringify(r, null, 2)}\n`);
    expect(mode(file)).toBe(0o600);
    expect(readdirSync(backupsDir()).sort()).toEqual(['b1.dump', 'b1.json']);
  });

  test('listBackups: newest first (equal times by id, greatest first), only records whose copy exists', async () => {
    await storeBackup('b-1', '2026-03-01T00:00:00Z');
    await storeBackup('b-3', '2026-03-03T00:00:00Z');
    await storeBackup('b-2a', '2026-03-02T00:00:00Z');
    await storeBackup('b-2b', '2026-03-02T00:00:00Z');
    const gone = await storeBackup('b-4', '2026-03-04T00:00:00Z');
    rmSync(gone.location);
    writeFileSync(join(backupsDir(), 'torn.json'), '{"id": "torn", "createdAt": "2026-03-05T00:');
    writeFileSync(join(backupsDir(), 'notes.txt'), 'not a record');
    expect((await store.listBackups('staging')).map((b) => b.id)).toEqual(['b-3', 'b-2b', 'b-2a', 'b-1']);
    expect((await store.listBackups('staging'))[0]).toEqual(record('b-3', '2026-03-03T00:00:00Z'));
  });

  test('findBackup: the newest without an id, else the one named; none for an unknown or copy-less id', async () => {
    await storeBackup('b-1', '2026-03-01T00:00:00Z');
    await storeBackup('b-2', '2026-03-02T00:00:00Z');
    rmSync((await storeBackup('b-3', '2026-03-03T00:00:00Z')).location);
    expect((await store.findBackup('staging'))?.id).toBe('b-2');
    expect((await store.findBackup('staging', 'b-1'))?.id).toBe('b-1');
    expect(await store.findBackup('staging', 'b-3')).toBeUndefined();
    expect(await store.findBackup('staging', 'b-9')).toBeUndefined();
    await expect(store.findBackup('staging', '../b-1')).rejects.toThrow('backup id "../b-1" must be');
  });

  test('deleteBackup removes the record, the copy and a partial, and nothing else', async () => {
    await storeBackup('b-1', '2026-03-01T00:00:00Z');
    await storeBackup('b-2', '2026-03-02T00:00:00Z');
    writeFileSync(store.partialPath('staging', 'b-1'), 'PG');
    await store.deleteBackup('staging', 'b-1');
    expect(readdirSync(backupsDir()).sort()).toEqual(['b-2.dump', 'b-2.json']);
    expect((await store.listBackups('staging')).map((b) => b.id)).toEqual(['b-2']);
    // Already gone: nothing to do, no error (a retried activity).
    await store.deleteBackup('staging', 'b-1');
    await store.deleteBackup('production', 'b-1');
  });

  test('unrecordedCopies: copies and partials without a record, never a recorded one', async () => {
    await storeBackup('recorded', '2026-03-01T00:00:00Z');
    writeFileSync(store.partialPath('staging', 'recorded'), 'PG');
    writeFileSync(store.dumpPath('staging', 'died-before-record'), 'PGDMP');
    writeFileSync(store.partialPath('staging', 'cut-copy'), 'PG');
    writeFileSync(join(backupsDir(), 'stray.json.123.tmp'), '{');
    expect(store.unrecordedCopies('staging').sort()).toEqual(['cut-copy', 'died-before-record']);
    expect((await store.listBackups('staging')).map((b) => b.id)).toEqual(['recorded']);
    // A copy and a partial of the same unrecorded id: listed once.
    writeFileSync(store.partialPath('staging', 'died-before-record'), 'PG');
    expect(store.unrecordedCopies('staging').sort()).toEqual(['cut-copy', 'died-before-record']);
  });

  test('an unsafe id is refused even when the store is empty, and a record that is not an object is no record', async () => {
    await expect(store.findBackup('empty-env', '../x')).rejects.toThrow('backup id "../x" must be');
    await storeBackup('real', '2026-03-01T00:00:00Z');
    writeFileSync(join(backupsDir(), 'null.json'), 'null');
    expect((await store.listBackups('staging')).map((b) => b.id)).toEqual(['real']);
  });
});

describe('BackupStore drills', () => {
  test('reports are listed newest first; a torn file is not a report', async () => {
    store.ensureDir('staging');
    await store.writeDrillReport(drill('d-2', '2026-03-02T04:00:00Z'));
    await store.writeDrillReport(drill('d-3', '2026-03-09T04:00:00Z'));
    await store.writeDrillReport(drill('d-1', '2026-02-23T04:00:00Z'));
    writeFileSync(join(root, 'staging', 'drills', 'd-4.json'), '{"id": "d-4"');
    expect((await store.listDrills('staging')).map((d) => d.id)).toEqual(['d-3', 'd-2', 'd-1']);
    expect((await store.listDrills('staging'))[0]).toEqual(drill('d-3', '2026-03-09T04:00:00Z'));
    expect(await store.listDrills('production')).toEqual([]);
  });
});

describe('writeJsonAtomic', () => {
  test('writes 2-space JSON with a final newline, replaces the old content, leaves no temporary file', () => {
    const file = join(root, 'x.json');
    writeFileSync(file, 'old');
    writeJsonAtomic(file, { a: 1, b: ['c'] });
    expect(readFileSync(file, 'utf8')).toBe('{\n  "a": 1,\n  "b": [\n    "c"\n  ]\n}\n');
    expect(mode(file)).toBe(0o600);
    expect(readdirSync(root)).toEqual(['x.json']);
  });

  test('into a missing directory it throws and writes nothing', () => {
    expect(() => writeJsonAtomic(join(root, 'nope', 'x.json'), {})).toThrow(/ENOENT/);
    expect(existsSync(join(root, 'nope'))).toBe(false);
  });
});

describe('sha256File', () => {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  test('equals node:crypto over the same bytes, across several read chunks', async () => {
    const bytes = Buffer.alloc(300_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) % 256;
    const file = join(root, 'big.dump');
    writeFileSync(file, bytes);
    await expect(sha256File(file)).resolves.toBe(sha(bytes));
  });

  test('known values: "abc" and the empty file', async () => {
    writeFileSync(join(root, 'abc'), 'abc');
    writeFileSync(join(root, 'empty'), '');
    await expect(sha256File(join(root, 'abc'))).resolves.toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    await expect(sha256File(join(root, 'empty'))).resolves.toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  test('a missing file rejects', async () => {
    await expect(sha256File(join(root, 'missing.dump'))).rejects.toThrow(/ENOENT/);
  });
});

describe('catalog pages', () => {
  const records = ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, pad: 'x'.repeat(90) }));
  const size = JSON.stringify(records[0]).length;

  test('a page stops at the limit, or before the byte budget, and says where the next starts', () => {
    expect(catalogPage(records, 0, 3)).toEqual({ items: records.slice(0, 3) });
    expect(catalogPage(records, 0, 10, size * 2)).toEqual({ items: records.slice(0, 2), nextOffset: 2 });
    expect(catalogPage(records, 2, 10, size * 2)).toEqual({ items: records.slice(2, 4), nextOffset: 4 });
    expect(catalogPage(records, 4, 10, size * 2)).toEqual({ items: records.slice(4) });
    expect(catalogPage(records, 2, 3, size * 2)).toEqual({ items: records.slice(2, 3) });
  });

  test('a record larger than the budget still makes a page of one, so paging always moves on', () => {
    expect(catalogPage(records, 1, 5, 10)).toEqual({ items: [records[1]], nextOffset: 2 });
    expect(catalogPage([], 0, 5)).toEqual({ items: [] });
  });
});
