import { join } from 'node:path';
import { environmentFile, loadEnvironment } from '../config/load';
import type { EnvironmentConfig } from '../config/schema';
import type { BackupStore } from './backupStore';
import { LocalBackupStore } from './localStore';
import { SftpBackupStore } from './sftpStore';

/** Which store holds an environment's backups: its store host, or the worker's own directory. */
export class BackupStores {
  readonly local: LocalBackupStore;

  constructor(
    localRoot: string,
    private readonly configDir: string,
  ) {
    this.local = new LocalBackupStore(localRoot);
  }

  of(environment: EnvironmentConfig): BackupStore {
    const host = environment.backups?.store;
    return host ? new SftpBackupStore(host, join(this.local.root, '.transit')) : this.local;
  }

  /**
   * The store of an environment known by name (catalog reads, drill reports): its config as the
   * worker reads it now. One no longer configured keeps what the worker's own store holds.
   * Throws ConfigError for a config that does not load.
   */
  named(environment: string): BackupStore {
    return environmentFile(this.configDir, environment)
      ? this.of(loadEnvironment(this.configDir, environment))
      : this.local;
  }
}
