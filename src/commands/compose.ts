import type { EnvironmentConfig, HostConfig } from '../config/schema';
import type { Argv } from './argv';
import { remoteLayout } from './layout';

/** The compose invocation every command shares: project name, directory, env file and files pinned. */
export function composeBase(env: EnvironmentConfig, host: HostConfig): string[] {
  const layout = remoteLayout(env, host);
  return [
    ...env.composeCommand,
    '--project-name',
    env.project,
    '--project-directory',
    layout.appDir,
    '--env-file',
    layout.envFile,
    ...layout.composeFiles.flatMap((f) => ['--file', f]),
  ];
}

export function composePull(env: EnvironmentConfig, host: HostConfig): Argv {
  return [...composeBase(env, host), 'pull', '--quiet'];
}

/** Bring one service up (its dependencies too, if they are missing or changed). */
export function composeUpService(env: EnvironmentConfig, host: HostConfig, service: string): Argv {
  return [...composeBase(env, host), 'up', '--detach', service];
}

/** Bring the rest of the stack (e.g. the proxy) up and remove services no longer in the files. */
export function composeUpAll(env: EnvironmentConfig, host: HostConfig): Argv {
  return [...composeBase(env, host), 'up', '--detach', '--remove-orphans'];
}

export function composePs(env: EnvironmentConfig, host: HostConfig): Argv {
  return [...composeBase(env, host), 'ps'];
}

/** Every service the compose files define (one-off ones included). */
export function composeConfiguredServices(env: EnvironmentConfig, host: HostConfig): Argv {
  return [...composeBase(env, host), 'config', '--services'];
}

/**
 * A compose project's running containers, straight from the engine by the labels compose puts
 * on them: a fraction of a compose invocation's time, which parses every file first. One line
 * per container, "<service>\t<one-off>": runningServicesOf reads it.
 */
export function runningProjectContainers(project: string): Argv {
  return [
    'docker',
    'ps',
    '--filter',
    `label=com.docker.compose.project=${project}`,
    '--filter',
    'status=running',
    '--format',
    '{{.Label "com.docker.compose.service"}}\t{{.Label "com.docker.compose.oneoff"}}',
  ];
}

/**
 * The services runningProjectContainers found running, once each, without one-off containers
 * (`compose run`). Filtered here, not by the engine: not every compose sets the one-off label.
 */
export function runningServicesOf(stdout: string): string[] {
  const services = stdout
    .split('\n')
    .map((line) => line.split('\t').map((field) => field.trim()))
    .filter(([service, oneOff]) => service && oneOff !== 'True')
    .map(([service]) => service!);
  return [...new Set(services)];
}

/**
 * Runs in a service's running container the way `compose exec -T` does (stdin attached, no TTY,
 * the container compose numbers first, never a one-off), but found by the labels compose puts
 * on its containers: a compose invocation would cost the host half a second of parsing first.
 * $1 project, $2 service, then the command. Exit 1, saying so, when no container of the
 * service runs. Fields are split on "|", so a label an engine leaves out is an empty field, not
 * a shift of the next one.
 */
export const EXEC_IN_SERVICE_SCRIPT = [
  'set -eu',
  'project=$1; service=$2; shift 2',
  'containers=$(docker ps --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$service" --filter status=running --format \'{{.Label "com.docker.compose.container-number"}}|{{.ID}}|{{.Label "com.docker.compose.oneoff"}}\')',
  'id=$(printf \'%s\\n\' "$containers" | sort -n | while IFS="|" read -r number id oneoff; do [ -z "$id" ] || [ "$oneoff" = True ] || { echo "$id"; break; }; done)',
  '[ -n "$id" ] || { echo "service \\"$service\\" of compose project \\"$project\\" is not running" >&2; exit 1; }',
  'exec docker exec -i "$id" "$@"',
].join('\n');

export function execInService(project: string, service: string, argv: readonly string[]): Argv {
  return ['sh', '-c', EXEC_IN_SERVICE_SCRIPT, 'exec-in-service', project, service, ...argv];
}

export function composeDown(env: EnvironmentConfig, host: HostConfig): Argv {
  return [...composeBase(env, host), 'down', '--remove-orphans'];
}

/**
 * Remove a scratch stack completely: containers, networks and its volumes (a restore drill's
 * data must not outlive it). Never used on an environment's own project.
 */
export function composeDestroy(env: EnvironmentConfig, host: HostConfig): Argv {
  return [...composeBase(env, host), 'down', '--volumes', '--remove-orphans', '--timeout', '5'];
}

/** The container engine answers (its server, not only the CLI): what `config check` asks first. */
export function engineVersion(): Argv {
  return ['docker', 'version', '--format', '{{.Server.Version}}'];
}

/** The environment's compose command works on the host. */
export function composeVersion(env: EnvironmentConfig): Argv {
  return [...env.composeCommand, 'version'];
}

/** A time `docker logs --since` takes: RFC 3339 in UTC, as `--timestamps` prints them. */
const LOG_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** What serviceLogTail prints when the project has no container of the service. */
export const NO_CONTAINER = 'no container of ';

/**
 * The last `lines` lines (stdout and stderr) of the newest container of one compose service,
 * found by compose's labels, so it works for any project (an environment's, or a colour's);
 * `since` (a UTC time) leaves out older lines, `timestamps` prefixes each with its time.
 */
export function serviceLogTail(
  project: string,
  service: string,
  lines: number,
  opts: { since?: string; timestamps?: boolean } = {},
): Argv {
  if (!Number.isInteger(lines) || lines < 1)
    throw new Error(`lines must be a positive whole number, not ${lines}`);
  if (opts.since !== undefined && !LOG_TIME.test(opts.since))
    throw new Error(`since must be a UTC time like 2026-12-01T08:00:00Z, not ${JSON.stringify(opts.since)}`);
  return [
    'sh',
    '-c',
    'p=$1 s=$2 n=$3; shift 3; ' +
      'id=$(docker ps -a -q --latest --filter "label=com.docker.compose.project=$p" --filter "label=com.docker.compose.service=$s") && ' +
      `if [ -n "$id" ]; then docker logs --tail "$n" "$@" "$id" 2>&1; else echo "${NO_CONTAINER}$s in project $p"; fi`,
    'service-logs',
    project,
    service,
    String(lines),
    ...(opts.since !== undefined ? ['--since', opts.since] : []),
    ...(opts.timestamps ? ['--timestamps'] : []),
  ];
}
