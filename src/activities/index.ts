import { createPlanActivities } from './plan';
import { createReleaseActivities } from './release';
import { createHealthActivities } from './health';
import { createDatabaseActivities } from './database';
import { createGateActivities } from './gates';
import { createCheckActivities } from './checks';

export interface ActivityDeps {
  /** Where environment configs live (DEPLOY_CONFIG_DIR). */
  configDir: string;
  /** Compose files in configs are relative to this directory. */
  projectRoot: string;
  /** Secrets are read from here at the moment they are written to a host. */
  workerEnv: NodeJS.ProcessEnv;
  /** Where gates check out the release (one folder per deployment, removed afterwards). */
  workspaceRoot: string;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createPlanActivities(deps),
    ...createReleaseActivities(deps),
    ...createHealthActivities(),
    ...createDatabaseActivities(deps),
    ...createGateActivities(deps),
    ...createCheckActivities(),
  };
}

export type DeployActivities = ReturnType<typeof createActivities>;
