import { posix } from 'node:path';
import { stringify } from 'yaml';
import type { Colour, EnvironmentConfig, HostConfig } from '../config/schema';
import { colourAlias, colourProject } from '../traffic/colours';
import type { Argv } from './argv';
import { firstMissingFile } from './files';
import { runningProjectContainers } from './compose';
import { remoteLayout } from './layout';

/**
 * Where one colour of an environment lives on a host, next to the shared stack:
 *   <appDir>/colours/<colour>/                 the colour's compose files, as uploaded
 *   <appDir>/colours/<colour>/.env             its settings, images and secrets (0600)
 *   <appDir>/colours/<colour>/colour.override.yml   generated: the shared network and aliases
 *   <appDir>/colours/<colour>/release.json     the release this colour runs
 * and the routing Traefik reads: <routingDir>/<environment>.yml (written whole, atomically).
 */
export interface ColourLayout {
  dir: string;
  envFile: string;
  composeFiles: string[];
  overrideFile: string;
  releaseRecord: string;
}

export const OVERRIDE_FILE = 'colour.override.yml';

export function colourLayout(env: EnvironmentConfig, host: HostConfig, colour: Colour): ColourLayout {
  const traffic = requireTraffic(env);
  const dir = posix.join(remoteLayout(env, host).appDir, 'colours', colour);
  return {
    dir,
    envFile: posix.join(dir, '.env'),
    composeFiles: traffic.composeFiles.map((f) => posix.join(dir, posix.basename(f))),
    overrideFile: posix.join(dir, OVERRIDE_FILE),
    releaseRecord: posix.join(dir, 'release.json'),
  };
}

export function routingDir(env: EnvironmentConfig, host: HostConfig): string {
  return requireTraffic(env).routingDir ?? posix.join(remoteLayout(env, host).appDir, 'routing');
}

/** The one routing file of the environment, in the directory Traefik watches. */
export function routingFile(env: EnvironmentConfig, host: HostConfig): string {
  return posix.join(routingDir(env, host), `${env.name}.yml`);
}

/**
 * The last routing Traefik confirmed it serves, outside the watched directory: put back when a
 * new file is refused, so the file on disk and what Traefik serves never disagree for long.
 */
export function lastGoodRoutingFile(env: EnvironmentConfig, host: HostConfig): string {
  return posix.join(remoteLayout(env, host).appDir, `routing.${env.name}.last-good.yml`);
}

function requireTraffic(env: EnvironmentConfig) {
  if (!env.traffic) throw new Error(`environment ${env.name} has no traffic section (colours need one)`);
  return env.traffic;
}

/** The compose invocation of one colour: its own project name, directory, env file and files. */
export function colourComposeBase(env: EnvironmentConfig, host: HostConfig, colour: Colour): string[] {
  const layout = colourLayout(env, host, colour);
  return [
    ...env.composeCommand,
    '--project-name',
    colourProject(env, colour),
    '--project-directory',
    layout.dir,
    '--env-file',
    layout.envFile,
    ...[...layout.composeFiles, layout.overrideFile].flatMap((f) => ['--file', f]),
  ];
}

export function colourPull(env: EnvironmentConfig, host: HostConfig, colour: Colour): Argv {
  return [...colourComposeBase(env, host, colour), 'pull', '--quiet'];
}

/** Start (or update in place) every service of the colour. */
export function colourUp(env: EnvironmentConfig, host: HostConfig, colour: Colour): Argv {
  return [...colourComposeBase(env, host, colour), 'up', '--detach', '--remove-orphans'];
}

/** Stop and remove the colour's containers; their requests had `drainSeconds` to finish. */
export function colourDown(env: EnvironmentConfig, host: HostConfig, colour: Colour): Argv {
  return [...colourComposeBase(env, host, colour), 'down', '--remove-orphans', '--timeout', '10'];
}

/** The first of the colour's files that is missing (exit 1), or nothing: compose can run it. */
export function missingColourFile(env: EnvironmentConfig, host: HostConfig, colour: Colour): Argv {
  const layout = colourLayout(env, host, colour);
  return firstMissingFile([layout.envFile, ...layout.composeFiles, layout.overrideFile]);
}

/**
 * The colour's running containers (read with runningServicesOf): a switch-back waits on it, so
 * it asks the engine, not compose.
 */
export function colourRunningContainers(env: EnvironmentConfig, colour: Colour): Argv {
  return runningProjectContainers(colourProject(env, colour));
}

/**
 * The compose file the pipeline adds to a colour: every web service joins the shared network
 * under an alias unique to its colour (`<project>-<colour>-<service>`), which the routing file
 * names, so two colours of the same service never answer for each other. `version` follows
 * the app's own file (compose v1 refuses to merge files of different versions).
 */
export function buildColourOverride(env: EnvironmentConfig, colour: Colour, version?: string): string {
  const traffic = requireTraffic(env);
  const services = Object.fromEntries(
    env.services.map((s) => [
      s.name,
      { networks: { [traffic.network]: { aliases: [colourAlias(env, colour, s.name)] } } },
    ]),
  );
  const doc = {
    ...(version ? { version } : {}),
    services,
    networks: { [traffic.network]: { external: true, name: traffic.network } },
  };
  return `# Generated by durable-deploy for the ${colour} colour of ${env.name}; rewritten on every deployment.\n${stringify(doc, { lineWidth: 0 })}`;
}
