import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { runLocal } from '../activities/localCommand';
import { pgRestoreList } from '../commands/database';
import type { StoredBackup } from '../shared/backups';
import type { DrillReport } from '../shared/drills';
import {
  type BackupStore,
  findListedBackup,
  type CopyCheck,
  type ListingResult,
  newestBackupsFirst,
  newestDrillsFirst,
  parseRecord,
  sha256File,
  StoreLayout,
  type TransferOptions,
  writeJsonAtomic,
} from './backupStore';
import type { RemoteHost } from '../remote/executor';

/**
 * The worker's own backup store (DEPLOY_BACKUP_DIR): the default, and right for one worker. With
 * several workers each has its own, so an environment they share names a store host instead.
 */
export class LocalBackupStore implements BackupStore {
  private readonly layout: StoreLayout;

  constructor(readonly root: string) {
    this.layout = new StoreLayout(root);
  }

  get description(): string {
    return `the worker's store ${this.root}`;
  }

  locationOf(environment: string, id: string): string {
    return this.dumpPath(environment, id);
  }

  dumpPath(environment: string, id: string): string {
    return this.layout.dumpPath(environment, id);
  }

  partialPath(environment: string, id: string): string {
    return this.layout.partialPath(environment, id);
  }

  ensureDir(environment: string): void {
    mkdirSync(this.layout.dir(environment, 'backups'), { recursive: true, mode: 0o700 });
    mkdirSync(this.layout.dir(environment, 'drills'), { recursive: true, mode: 0o700 });
  }

  async checkCopy(environment: string, id: string): Promise<CopyCheck | undefined> {
    const path = this.dumpPath(environment, id);
    if (!existsSync(path)) return undefined;
    return { sizeBytes: statSync(path).size, sha256: await sha256File(path) };
  }

  async listDumpContents(environment: string, id: string, timeoutMs: number): Promise<ListingResult> {
    return runLocal(pgRestoreList(this.dumpPath(environment, id)), { timeoutMs });
  }

  async receiveCopy(
    environment: string,
    id: string,
    from: { host: RemoteHost; path: string; sha256: string },
    opts: TransferOptions,
  ): Promise<void> {
    this.ensureDir(environment);
    const partial = this.partialPath(environment, id);
    await from.host.download(from.path, partial, opts);
    const copied = await sha256File(partial);
    if (copied !== from.sha256) {
      rmSync(partial, { force: true });
      throw new Error(
        `copy of ${from.path} has sha256 ${copied}, the host computed ${from.sha256}; copying again`,
      );
    }
    chmodSync(partial, 0o600);
    renameSync(partial, this.dumpPath(environment, id));
  }

  async sendCopy(
    backup: StoredBackup,
    to: RemoteHost,
    remotePath: string,
    opts: TransferOptions,
  ): Promise<void> {
    await to.upload(this.dumpPath(backup.environment, backup.id), remotePath, opts);
  }

  async listBackups(environment: string): Promise<StoredBackup[]> {
    return readRecords<StoredBackup>(this.layout.dir(environment, 'backups'))
      .filter((b) => existsSync(this.dumpPath(environment, b.id)))
      .sort(newestBackupsFirst);
  }

  async findBackup(environment: string, id?: string): Promise<StoredBackup | undefined> {
    return findListedBackup(this, environment, id);
  }

  async writeBackupRecord(record: StoredBackup): Promise<void> {
    writeJsonAtomic(this.layout.recordPath(record.environment, record.id), record);
  }

  async deleteBackup(environment: string, id: string): Promise<void> {
    rmSync(this.layout.recordPath(environment, id), { force: true });
    rmSync(this.dumpPath(environment, id), { force: true });
    rmSync(this.partialPath(environment, id), { force: true });
  }

  /** Copies and partial copies without a record (a run in progress, or one that died before verification). */
  unrecordedCopies(environment: string): string[] {
    const dir = this.layout.dir(environment, 'backups');
    if (!existsSync(dir)) return [];
    const names = readdirSync(dir);
    return names
      .filter((n) => n.endsWith('.dump') || n.endsWith('.dump.partial'))
      .map((n) => n.replace(/\.dump(\.partial)?$/, ''))
      .filter((id, i, ids) => ids.indexOf(id) === i && !names.includes(`${id}.json`));
  }

  async listDrills(environment: string): Promise<DrillReport[]> {
    return readRecords<DrillReport>(this.layout.dir(environment, 'drills')).sort(newestDrillsFirst);
  }

  async writeDrillReport(report: DrillReport): Promise<void> {
    const path = this.layout.drillPath(report.environment, report.id); // refuses a bad id before any mkdir
    this.ensureDir(report.environment);
    writeJsonAtomic(path, report);
  }
}

function readRecords<T>(dir: string): T[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .flatMap((name) => {
      const record = parseRecord<T>(readFileSync(join(dir, name), 'utf8'));
      return record ? [record] : [];
    });
}
