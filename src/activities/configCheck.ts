import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Context } from '@temporalio/activity';
import { ConfigError } from '../config/errors';
import { environmentName, isEnvironmentFile, listEnvironments, loadEnvironment } from '../config/load';
import type { BackupStoreConfig, EnvironmentConfig, HostConfig } from '../config/schema';
import type { Argv } from '../commands/argv';
import {
  checksumToolVersion,
  MIN_PG_RESTORE_MAJOR,
  pgRestoreMajor,
  pgRestoreVersion,
  writableDirectory,
} from '../commands/store';
import { storeHostConfig } from '../store/sftpStore';
import { composeVersion, engineVersion } from '../commands/compose';
import { hostLockVersion } from '../commands/hostLock';
import { HostKeyMismatchError, RemoteHost } from '../remote/executor';
import type { ConfigCheck, ConfigCheckReport } from '../shared/configCheck';
import { domainChecks } from './domainChecks';
import { readSecret, secretSourceText } from './secrets';
import { readWebhookSecret } from './notifications';
import { freeDiskMb } from './plan';
import { shownRepository, type SourceCache } from './sourceCache';
import { commandDeadlineMs } from '../remote/deadlines';

/**
 * Everything a deployment of one environment needs, checked from the worker without changing
 * anything: every config file, the compose files, the secrets, then per host the key file,
 * SSH with the pinned host key, the container engine, compose, flock (the host lock) and the free disk,
 * and a backup store host's SSH, tools and directory. Each finding
 * names what to fix; a secret's value never appears, only the variable that should hold it.
 */
export function createConfigCheckActivities(deps: {
  configDir: string;
  projectRoot: string;
  workerEnv: NodeJS.ProcessEnv;
  sources: SourceCache;
}) {
  return {
    async checkEnvironmentConfig(input: { environment: string }): Promise<ConfigCheckReport> {
      const checks: ConfigCheck[] = [...configFileChecks(deps.configDir)];
      let environment: EnvironmentConfig;
      try {
        environment = loadEnvironment(deps.configDir, input.environment);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        checks.push({
          check: 'environment',
          where: input.environment,
          verdict: 'failed',
          detail: err.message,
        });
        return { environment: input.environment, checks };
      }
      checks.push(await composeFileChecks(environment, deps.projectRoot, deps.sources));
      checks.push(...(await secretChecks(environment, deps.workerEnv)));
      for (const host of environment.hosts) checks.push(...(await hostChecks(environment, host)));
      if (environment.backups?.store) checks.push(...(await storeHostChecks(environment.backups.store)));
      checks.push(...(await domainConfigChecks(environment)));
      return { environment: input.environment, checks };
    },
  };
}

/** Every config file parses and validates; files the loader ignores are pointed out. */
export function configFileChecks(configDir: string): ConfigCheck[] {
  const dir = resolve(configDir);
  if (!existsSync(dir))
    return [
      {
        check: 'config dir',
        where: dir,
        verdict: 'failed',
        detail: `${dir} does not exist (the worker reads DEPLOY_CONFIG_DIR)`,
      },
    ];
  const checks: ConfigCheck[] = [];
  const files = readdirSync(dir).sort();
  for (const file of files.filter((f) => !isEnvironmentFile(f) && !f.startsWith('.')))
    checks.push({
      check: 'config file',
      where: file,
      verdict: 'warn',
      detail: `ignored: only *.yaml and *.yml files in ${dir} are environments`,
    });
  const configs = files.filter(isEnvironmentFile);
  try {
    const environments = listEnvironments(dir);
    checks.push({
      check: 'config files',
      where: dir,
      verdict: 'ok',
      detail: `${environments.length} environment(s) valid: ${environments.map((e) => e.name).join(', ')}`,
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // listEnvironments stops at the first bad file: name each bad one with its own problems.
    for (const file of configs) {
      try {
        loadEnvironment(dir, environmentName(file));
      } catch (fileErr) {
        if (!(fileErr instanceof ConfigError)) throw fileErr;
        checks.push({ check: 'config file', where: file, verdict: 'failed', detail: fileErr.message });
      }
    }
    if (!checks.some((c) => c.verdict === 'failed'))
      checks.push({ check: 'config files', where: dir, verdict: 'failed', detail: err.message });
  }
  return checks;
}

async function composeFileChecks(
  environment: EnvironmentConfig,
  projectRoot: string,
  sources: SourceCache,
): Promise<ConfigCheck> {
  const files = [...environment.composeFiles, ...(environment.traffic?.composeFiles ?? [])];
  const { repository } = environment;
  if (repository) {
    // Each release reads them at its own commit; the default branch's head is the best guess of the next one.
    const where = shownRepository(repository);
    try {
      const commit = await sources.resolveCommit(repository, 'HEAD', Context.current().cancellationSignal);
      await sources.readFiles(repository, commit, files, Context.current().cancellationSignal);
      return {
        check: 'compose files',
        where,
        verdict: 'ok',
        detail: `${files.join(', ')} at HEAD (${commit.slice(0, 12)})`,
      };
    } catch (err) {
      return { check: 'compose files', where, verdict: 'failed', detail: (err as Error).message };
    }
  }
  const missing = files.filter((f) => !existsSync(resolve(projectRoot, f)));
  return missing.length
    ? {
        check: 'compose files',
        where: projectRoot,
        verdict: 'failed',
        detail: `missing on the worker: ${missing.join(', ')} (paths are relative to ${projectRoot})`,
      }
    : { check: 'compose files', where: projectRoot, verdict: 'ok', detail: files.join(', ') };
}

/**
 * Each secret can be read where the config says and written to an env file, and each webhook's
 * URL and key can be read; values never shown.
 */
export async function secretChecks(
  environment: EnvironmentConfig,
  workerEnv: NodeJS.ProcessEnv,
): Promise<ConfigCheck[]> {
  const secrets = await Promise.all(
    Object.entries(environment.secrets).map(async ([key, source]): Promise<ConfigCheck> => {
      const { problem } = await readSecret(key, source, workerEnv);
      if (problem) return { check: 'secret', where: key, verdict: 'failed', detail: problem };
      const detail = source.fromEnv
        ? `set in the worker's ${source.fromEnv}`
        : `read from ${secretSourceText(source)}`;
      return { check: 'secret', where: key, verdict: 'ok', detail };
    }),
  );
  return [...secrets, ...(await webhookChecks(environment, workerEnv))];
}

/** Each webhook's URL (and signing key) can be read on this worker; nothing is sent. */
async function webhookChecks(
  environment: EnvironmentConfig,
  workerEnv: NodeJS.ProcessEnv,
): Promise<ConfigCheck[]> {
  return Promise.all(
    (environment.notifications?.webhooks ?? []).map(async (webhook): Promise<ConfigCheck> => {
      const fields = webhook.signingKey ? (['url', 'signingKey'] as const) : (['url'] as const);
      for (const field of fields) {
        const read = await readWebhookSecret(webhook, field, workerEnv);
        if (read.value === undefined)
          return { check: 'webhook', where: webhook.name, verdict: 'failed', detail: read.problem };
      }
      const signed = webhook.signingKey
        ? `, signed with the key from ${secretSourceText(webhook.signingKey)}`
        : '';
      return {
        check: 'webhook',
        where: webhook.name,
        verdict: 'ok',
        detail: `${webhook.format} to the URL from ${secretSourceText(webhook.url)}${signed} (nothing sent)`,
      };
    }),
  );
}

const hostWhere = (config: HostConfig) => `${config.name} (${config.user}@${config.address}:${config.port})`;

/** The host's SSH key is a file the worker can read. */
export function keyFileCheck(config: HostConfig): ConfigCheck {
  const where = hostWhere(config);
  try {
    accessSync(config.privateKeyPath, constants.R_OK);
    return { check: 'ssh key', where, verdict: 'ok', detail: `${config.privateKeyPath} is readable` };
  } catch {
    return {
      check: 'ssh key',
      where,
      verdict: 'failed',
      detail: `privateKeyPath ${config.privateKeyPath} is not a readable file on the worker`,
    };
  }
}

/** The key file, then SSH with the pinned host key: the connected host, or the finding that stops there. */
async function connectForChecks(config: HostConfig): Promise<{ host?: RemoteHost; checks: ConfigCheck[] }> {
  const where = hostWhere(config);
  const key = keyFileCheck(config);
  if (key.verdict === 'failed') return { checks: [key] };
  try {
    const host = await RemoteHost.connect(config, { timeoutMs: commandDeadlineMs('connect') });
    return {
      host,
      checks: [
        { check: 'ssh', where, verdict: 'ok', detail: 'connected; the host key matches the pinned one' },
      ],
    };
  } catch (err) {
    const detail =
      err instanceof HostKeyMismatchError && err.presented
        ? `${err.message}; the server presented: ${err.presented}`
        : (err as Error).message;
    return { checks: [{ check: 'ssh', where, verdict: 'failed', detail }] };
  }
}

/** Each command's first output line as an ok finding, or its error as a failed one. */
async function commandChecks(
  host: RemoteHost,
  where: string,
  commands: (readonly [string, Argv])[],
): Promise<ConfigCheck[]> {
  const checks: ConfigCheck[] = [];
  for (const [check, argv] of commands) {
    try {
      const { stdout } = await host.run(argv, { timeoutMs: commandDeadlineMs('quick') });
      checks.push({ check, where, verdict: 'ok', detail: stdout.trim().split('\n')[0] ?? '' });
    } catch (err) {
      checks.push({ check, where, verdict: 'failed', detail: (err as Error).message });
    }
  }
  return checks;
}

/** A backup store host: SSH with its pinned key, the tools that verify copies there, a writable directory. */
async function storeHostChecks(store: BackupStoreConfig): Promise<ConfigCheck[]> {
  const config = storeHostConfig(store);
  const { host, checks } = await connectForChecks(config);
  if (!host) return checks.map((c) => ({ ...c, check: `store ${c.check}` }));
  try {
    const tools = await commandChecks(host, hostWhere(config), [
      ['store sha256sum', checksumToolVersion()],
      ['store pg_restore', pgRestoreVersion()],
      ['store directory', writableDirectory(store.dir)],
    ]);
    // An older client cannot list a newer dump: every backup would be called corrupt.
    const tooOld = (c: ConfigCheck) =>
      c.check === 'store pg_restore' &&
      c.verdict === 'ok' &&
      (pgRestoreMajor(c.detail) ?? 0) < MIN_PG_RESTORE_MAJOR;
    return [
      ...checks.map((c) => ({ ...c, check: `store ${c.check}` })),
      ...tools.map((c) =>
        tooOld(c)
          ? {
              ...c,
              verdict: 'failed' as const,
              detail: `${c.detail}: backups need PostgreSQL client ${MIN_PG_RESTORE_MAJOR} or newer on the store host to be verified`,
            }
          : c,
      ),
    ];
  } finally {
    host.dispose();
  }
}

/**
 * The post-deploy domain checks, run now: a warning, not a failure, since before the first
 * deploy (or before DNS moves) the proxy may rightly not serve the names yet.
 */
async function domainConfigChecks(environment: EnvironmentConfig): Promise<ConfigCheck[]> {
  const tls = environment.postDeployChecks.tls;
  if (!tls) return [];
  return (await domainChecks(environment, tls)).map((r) => {
    // Named "dns <domain>" or "tls <domain>" (just "tls" when the caFile cannot be read).
    const [kind, domain] = r.name.split(' ');
    return {
      check: kind === 'dns' ? 'domain' : 'certificate',
      where: domain ? `${domain} @ ${r.host}` : r.host,
      verdict: r.ok ? 'ok' : 'warn',
      detail: r.detail,
    };
  });
}

async function hostChecks(environment: EnvironmentConfig, config: HostConfig): Promise<ConfigCheck[]> {
  const where = hostWhere(config);
  const { host, checks } = await connectForChecks(config);
  if (!host) return checks;
  try {
    checks.push(
      ...(await commandChecks(host, where, [
        ['container engine', engineVersion()],
        ['compose', composeVersion(environment)],
        ['flock', hostLockVersion()],
      ])),
    );
    const floor = environment.minFreeDiskMb;
    try {
      const freeMb = await freeDiskMb(host);
      checks.push({
        check: 'free disk',
        where,
        verdict: floor && freeMb < floor ? 'failed' : 'ok',
        detail: `${freeMb} MB free under ${config.baseDir} (minFreeDiskMb: ${floor})`,
      });
    } catch (err) {
      checks.push({ check: 'free disk', where, verdict: 'failed', detail: (err as Error).message });
    }
  } finally {
    host.dispose();
  }
  return checks;
}
