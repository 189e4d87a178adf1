import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { StoredBackup } from '../shared/backups';
import type { DrillReport } from '../shared/drills';

/**
 * The worker's backup store: verified copies of database dumps, off the database host, and the
 * reports of restore drills. Layout under the store root (DEPLOY_BACKUP_DIR):
 *
 *   <environment>/backups/<id>.dump          the copy
 *   <environment>/backups/<id>.json          its record, written last: only verified copies have one
 *   <environment>/backups/<id>.dump.partial  a copy in progress (never read as a backup)
 *   <environment>/drills/<id>.json           one report per drill
 *
 * Records are written to a temporary name and renamed, so a killed worker leaves either no
 * record or a whole one.
 */

/** Ids name files: a safe alphabet and no "..", so no id can point outside the store. */
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function checkId(kind: string, id: string): string {
  if (!ID.test(id) || id.includes('..')) {
    throw new Error(`${kind} id ${JSON.stringify(id)} must be letters, digits, ".", "_" and "-" (no "..")`);
  }
  return id;
}

export class BackupStore {
  constructor(readonly root: string) {}

  private dir(environment: string, kind: 'backups' | 'drills'): string {
    return join(this.root, checkId('environment', environment), kind);
  }

  dumpPath(environment: string, id: string): string {
    return join(this.dir(environment, 'backups'), `${checkId('backup', id)}.dump`);
  }

  partialPath(environment: string, id: string): string {
    return `${this.dumpPath(environment, id)}.partial`;
  }

  private recordPath(environment: string, id: string): string {
    return join(this.dir(environment, 'backups'), `${checkId('backup', id)}.json`);
  }

  ensureDir(environment: string): void {
    mkdirSync(this.dir(environment, 'backups'), { recursive: true, mode: 0o700 });
    mkdirSync(this.dir(environment, 'drills'), { recursive: true, mode: 0o700 });
  }

  /** Verified backups, newest first. A record whose copy is gone is not listed. */
  listBackups(environment: string): StoredBackup[] {
    return readRecords<StoredBackup>(this.dir(environment, 'backups'))
      .filter((b) => existsSync(b.location))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
  }

  findBackup(environment: string, id?: string): StoredBackup | undefined {
    if (id !== undefined) checkId('backup', id);
    const all = this.listBackups(environment);
    return id === undefined ? all[0] : all.find((b) => b.id === id);
  }

  writeBackupRecord(record: StoredBackup): void {
    writeJsonAtomic(this.recordPath(record.environment, record.id), record);
  }

  /** The record goes first: a crash between the two leaves an unlisted file, never a record without its copy. */
  deleteBackup(environment: string, id: string): void {
    rmSync(this.recordPath(environment, id), { force: true });
    rmSync(this.dumpPath(environment, id), { force: true });
    rmSync(this.partialPath(environment, id), { force: true });
  }

  /** Copies and partial copies without a record (a run in progress, or one that died before verification). */
  unrecordedCopies(environment: string): string[] {
    const dir = this.dir(environment, 'backups');
    if (!existsSync(dir)) return [];
    const names = readdirSync(dir);
    return names
      .filter((n) => n.endsWith('.dump') || n.endsWith('.dump.partial'))
      .map((n) => n.replace(/\.dump(\.partial)?$/, ''))
      .filter((id, i, ids) => ids.indexOf(id) === i && !names.includes(`${id}.json`));
  }

  listDrills(environment: string): DrillReport[] {
    return readRecords<DrillReport>(this.dir(environment, 'drills')).sort((a, b) =>
      b.startedAt.localeCompare(a.startedAt),
    );
  }

  writeDrillReport(report: DrillReport): void {
    writeJsonAtomic(
      join(this.dir(report.environment, 'drills'), `${checkId('drill', report.id)}.json`),
      report,
    );
  }
}

function readRecords<T>(dir: string): T[] {
  if (!existsSync(dir)) return [];
  const out: T[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    try {
      const value: unknown = JSON.parse(readFileSync(join(dir, name), 'utf8'));
      if (value && typeof value === 'object') out.push(value as T);
    } catch {
      // A file that is not a whole record is not a record (records are renamed into place whole).
    }
  }
  return out;
}

export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
