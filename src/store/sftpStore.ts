import { mkdirSync, rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import { pgRestoreList } from '../commands/database';
import { restrictToOwner, moveIntoPlace } from '../commands/files';
import {
  makePrivateDirectories,
  parseSizeAndChecksum,
  removeFiles,
  sizeAndChecksum,
} from '../commands/store';
import type { BackupStoreConfig, HostConfig } from '../config/schema';
import { RemoteCommandError, type RemoteHost, withHost } from '../remote/executor';
import type { StoredBackup } from '../shared/backups';
import type { DrillReport } from '../shared/drills';
import {
  type BackupStore,
  checkId,
  findListedBackup,
  type CopyCheck,
  type ListingResult,
  newestBackupsFirst,
  newestDrillsFirst,
  parseRecord,
  recordText,
  StoreLayout,
  type TransferOptions,
} from './backupStore';
import { commandDeadlineMs } from '../remote/deadlines';

/** The store is an SSH account like a deploy host, with its directory in place of an app's. */
export function storeHostConfig(config: BackupStoreConfig): HostConfig {
  return { ...config, baseDir: config.dir, env: {} };
}

/**
 * A store host every worker reaches over SSH/SFTP (`backups.store` of an environment). Copies
 * travel through the worker (database host → DEPLOY_BACKUP_DIR/.transit → store host); checksums
 * and pg_restore listings run on the store host, so what is verified is the copy that is kept.
 * Each call reaches the store host through withHost (a worker reuses its idle connection to it):
 * calls come from activities that may run on any worker.
 */
export class SftpBackupStore implements BackupStore {
  private readonly layout: StoreLayout;
  private readonly host: HostConfig;

  /**
   * `transitDir`: the worker's directory for copies on their way (DEPLOY_BACKUP_DIR/.transit).
   * A copy's name there is fixed by its environment and id, so a retry overwrites what a killed
   * attempt left instead of adding to it.
   */
  constructor(
    readonly config: BackupStoreConfig,
    private readonly transitDir: string,
  ) {
    this.layout = new StoreLayout(config.dir);
    this.host = storeHostConfig(config);
  }

  get description(): string {
    return `store host ${this.config.name} (${this.config.user}@${this.config.address}:${this.config.port}, ${this.config.dir})`;
  }

  locationOf(environment: string, id: string): string {
    return `${this.config.name}:${this.layout.dumpPath(environment, id)}`;
  }

  checkCopy(environment: string, id: string): Promise<CopyCheck | undefined> {
    return withHost(this.host, (store) => checkFile(store, this.layout.dumpPath(environment, id)));
  }

  listDumpContents(environment: string, id: string, timeoutMs: number): Promise<ListingResult> {
    return withHost(this.host, async (store) => {
      try {
        // pg_restore exits 1 on a dump it cannot read: an answer about the dump, not a failed command.
        return await store.run(pgRestoreList(this.layout.dumpPath(environment, id)), {
          timeoutMs,
          okCodes: [0, 1],
        });
      } catch (err) {
        if (err instanceof RemoteCommandError && err.code === 127)
          throw new Error(`${this.description} has no pg_restore: install the PostgreSQL client there`);
        throw err;
      }
    });
  }

  async receiveCopy(
    environment: string,
    id: string,
    from: { host: RemoteHost; path: string; sha256: string },
    opts: TransferOptions,
  ): Promise<void> {
    const partial = this.layout.partialPath(environment, id);
    await this.throughTransit(environment, `${id}.dump`, async (local) => {
      await from.host.download(from.path, local, opts);
      await withHost(this.host, async (store) => {
        await store.run(this.ensureDirs(environment), { timeoutMs: commandDeadlineMs('query') });
        await store.upload(local, partial, { ...opts, mode: 0o600, inPlace: true });
        const copied = await checkFile(store, partial);
        if (copied?.sha256 !== from.sha256) {
          await store.run(removeFiles([partial]), { timeoutMs: commandDeadlineMs('query') });
          throw new Error(
            `copy of ${from.path} on ${this.description} has sha256 ${copied?.sha256 ?? 'none (no file)'}, the host computed ${from.sha256}; copying again`,
          );
        }
        await store.run(restrictToOwner(partial), { timeoutMs: commandDeadlineMs('query') });
        await store.run(moveIntoPlace(partial, this.layout.dumpPath(environment, id)), {
          timeoutMs: commandDeadlineMs('query'),
        });
      });
    });
  }

  async sendCopy(
    backup: StoredBackup,
    to: RemoteHost,
    remotePath: string,
    opts: TransferOptions,
  ): Promise<void> {
    await this.throughTransit(backup.environment, `${backup.id}.outbound.dump`, async (local) => {
      await withHost(this.host, (store) =>
        store.download(this.layout.dumpPath(backup.environment, backup.id), local, opts),
      );
      await to.upload(local, remotePath, opts);
    });
  }

  listBackups(environment: string): Promise<StoredBackup[]> {
    return withHost(this.host, async (store) => {
      const dir = this.layout.dir(environment, 'backups');
      const names = await store.listDirectory(dir, { timeoutMs: commandDeadlineMs('query') });
      const records = await readRecords<StoredBackup>(store, dir, names);
      return records.filter((b) => names.includes(`${b.id}.dump`)).sort(newestBackupsFirst);
    });
  }

  async findBackup(environment: string, id?: string): Promise<StoredBackup | undefined> {
    return findListedBackup(this, environment, id);
  }

  writeBackupRecord(record: StoredBackup): Promise<void> {
    return this.writeRecord(
      record.environment,
      this.layout.recordPath(record.environment, record.id),
      record,
    );
  }

  deleteBackup(environment: string, id: string): Promise<void> {
    // One rm, record first on its argument list: rm removes in order, so a cut leaves no record without a copy.
    return withHost(this.host, async (store) => {
      await store.run(
        removeFiles([
          this.layout.recordPath(environment, id),
          this.layout.dumpPath(environment, id),
          this.layout.partialPath(environment, id),
        ]),
        { timeoutMs: commandDeadlineMs('query') },
      );
    });
  }

  listDrills(environment: string): Promise<DrillReport[]> {
    return withHost(this.host, async (store) => {
      const dir = this.layout.dir(environment, 'drills');
      const names = await store.listDirectory(dir, { timeoutMs: commandDeadlineMs('query') });
      return (await readRecords<DrillReport>(store, dir, names)).sort(newestDrillsFirst);
    });
  }

  writeDrillReport(report: DrillReport): Promise<void> {
    return this.writeRecord(report.environment, this.layout.drillPath(report.environment, report.id), report);
  }

  private ensureDirs(environment: string) {
    return makePrivateDirectories([
      posix.dirname(this.layout.dir(environment, 'backups')),
      this.layout.dir(environment, 'backups'),
      this.layout.dir(environment, 'drills'),
    ]);
  }

  private writeRecord(environment: string, path: string, value: unknown): Promise<void> {
    return withHost(this.host, async (store) => {
      await store.run(this.ensureDirs(environment), { timeoutMs: commandDeadlineMs('query') });
      await store.writeFile(path, recordText(value), { mode: 0o600, timeoutMs: commandDeadlineMs('query') });
    });
  }

  /** The worker's private file for a copy in transit, removed when the transfer ends either way. */
  private async throughTransit(
    environment: string,
    name: string,
    fn: (path: string) => Promise<void>,
  ): Promise<void> {
    const dir = join(this.transitDir, checkId('environment', environment));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, name);
    try {
      await fn(path);
    } finally {
      rmSync(path, { force: true });
    }
  }
}

async function checkFile(store: RemoteHost, path: string): Promise<CopyCheck | undefined> {
  const r = await store.run(sizeAndChecksum(path), { timeoutMs: commandDeadlineMs('whole') });
  return parseSizeAndChecksum(r.stdout);
}

async function readRecords<T>(store: RemoteHost, dir: string, names: string[]): Promise<T[]> {
  const records: T[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const text = await store.readTextFile(`${dir}/${name}`, { timeoutMs: commandDeadlineMs('query') });
    const record = text === undefined ? undefined : parseRecord<T>(text);
    if (record) records.push(record);
  }
  return records;
}
