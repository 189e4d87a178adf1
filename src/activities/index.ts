import { join } from 'node:path';
import { createPlanActivities } from './plan';
import { createReleaseActivities } from './release';
import { createHealthActivities } from './health';
import { createDatabaseActivities } from './database';
import { createGateActivities } from './gates';
import { createCheckActivities } from './checks';
import { createBackupActivities } from './backups';
import { createRecoveryActivities } from './recovery';
import { createTrafficActivities } from './traffic';
import { createColourActivities } from './colours';
import { createCanaryActivities } from './canary';
import { createConfigCheckActivities } from './configCheck';
import { BackupStores } from '../store/stores';
import { SourceCache } from './sourceCache';
import { createSetupActivities } from './serverSetup';
import { createLockActivities } from './locks';
import { createDecisionActivities } from './decisions';
import { createAuditTrailActivities } from './auditTrail';
import { createLiveReleaseActivities } from './liveReleases';
import { createServiceLogActivities } from './serviceLogs';
import { createNotificationActivities } from './notifications';

export interface ActivityDeps {
  /** Where environment configs live (DEPLOY_CONFIG_DIR). */
  configDir: string;
  /** Compose files of environments without a repository are relative to this directory. */
  projectRoot: string;
  /** Secrets are read from here at the moment they are written to a host. */
  workerEnv: NodeJS.ProcessEnv;
  /** Where gates check out the release (one folder per deployment, removed afterwards). */
  workspaceRoot: string;
  /** The worker's own backup store (DEPLOY_BACKUP_DIR), for environments without a store host. */
  backupRoot: string;
  /** The Web UI's page of a workflow (notifications link to it). */
  workflowLink: (workflowId: string) => string;
}

export function createActivities(deps: ActivityDeps) {
  const stores = new BackupStores(deps.backupRoot, deps.configDir);
  // Bare copies of app repositories, beside the gates' per-deployment checkouts.
  const sources = new SourceCache(join(deps.workspaceRoot, '.sources'));
  return {
    ...createPlanActivities({ ...deps, sources }),
    ...createReleaseActivities({ ...deps, sources }),
    ...createHealthActivities(deps),
    ...createDatabaseActivities(deps),
    ...createGateActivities(deps),
    ...createCheckActivities(),
    ...createBackupActivities({ ...deps, stores }),
    ...createRecoveryActivities({ ...deps, stores }),
    ...createTrafficActivities(),
    ...createColourActivities({ ...deps, sources }),
    ...createCanaryActivities(),
    ...createConfigCheckActivities({ ...deps, sources }),
    ...createSetupActivities(),
    ...createLockActivities(),
    ...createDecisionActivities(deps),
    ...createAuditTrailActivities(deps),
    ...createLiveReleaseActivities(deps),
    ...createServiceLogActivities(deps),
    ...createNotificationActivities(deps),
  };
}

export type DeployActivities = ReturnType<typeof createActivities>;
