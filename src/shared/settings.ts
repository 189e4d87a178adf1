import { addressAndNamespace } from '../connection/profile';

/**
 * Where the worker and client find Temporal and the environment configs. Read from the
 * process environment, with defaults that match the embedded dev server and the lab.
 */
export interface Settings {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  uiUrl: string;
  configDir: string;
  /** Where quality gates check out releases on the worker. */
  workspaceRoot: string;
  /** The worker's backup store: verified copies of database dumps and drill reports. */
  backupRoot: string;
  /**
   * What the compose files in configs are relative to on the worker (DEPLOY_FILES_DIR): a
   * checkout of the app's repository; the worker's own project root when unset.
   */
  filesRoot?: string;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  // Address and namespace from the Temporal profile, with TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE over it.
  const { address, namespace } = addressAndNamespace(env);
  return {
    temporalAddress: address,
    namespace,
    taskQueue: env.DEPLOY_TASK_QUEUE || 'deployments',
    uiUrl: (env.TEMPORAL_UI_URL || 'http://127.0.0.1:8233').replace(/\/+$/, ''),
    configDir: env.DEPLOY_CONFIG_DIR || 'config/environments',
    workspaceRoot: env.DEPLOY_WORKSPACE_DIR || '.data/workspaces',
    backupRoot: env.DEPLOY_BACKUP_DIR || '.data/backups',
    ...(env.DEPLOY_FILES_DIR ? { filesRoot: env.DEPLOY_FILES_DIR } : {}),
  };
}

/** host:port or [ipv6]:port: what the Temporal SDKs take (they add the scheme themselves). */
const HOST_PORT = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;

/** Why TEMPORAL_ADDRESS cannot be used, naming the variable, the value and the rule; undefined when it can. */
export function temporalAddressProblem(address: string): string | undefined {
  if (HOST_PORT.test(address) && Number(address.slice(address.lastIndexOf(':') + 1)) <= 65535)
    return undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(address);
  const hint = scheme
    ? ` without the ${scheme[1]}:// scheme (TLS is configured apart), e.g. ${address.slice(scheme[0].length).replace(/\/.*$/, '')}`
    : ', e.g. temporal.example.com:7233';
  return `TEMPORAL_ADDRESS ${JSON.stringify(address)} must be host:port${hint}`;
}

export function workflowUiLink(settings: Settings, workflowId: string, runId?: string): string {
  const base = `${settings.uiUrl}/namespaces/${encodeURIComponent(settings.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
}
