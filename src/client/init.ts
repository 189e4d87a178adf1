import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { parse } from 'yaml';
import { ConfigError } from '../config/errors';
import { parseEnvironment } from '../config/load';
import { imageVariable } from '../activities/envFile';
import { scanHostKey } from '../remote/executor';
import { CliExit } from './cliExit';
import { ExitCode } from './exitCodes';

/** What `deployctl init` needs to write a first environment and its compose file. */
export interface InitOptions {
  env: string;
  project: string;
  hosts: { name: string; user: string; address: string; port: number; hostKey: string }[];
  key: string;
  baseDir: string;
  services: { name: string; image: string; port: number }[];
  composeFile: string;
  /** The app's git repository, when compose files are read from it at each release's commit. */
  repository?: string;
}

/** `web-1=deploy@203.0.113.10[:22]` */
export function parseHostFlag(value: string, previous: InitOptions['hosts'] = []): InitOptions['hosts'] {
  const m = /^([a-z][a-z0-9-]*)=([a-z_][a-z0-9_-]*)@([^:@\s]+)(?::(\d{1,5}))?$/.exec(value);
  if (!m)
    throw new InvalidArgumentError(
      `"${value}" must be NAME=USER@ADDRESS[:PORT], e.g. web-1=deploy@203.0.113.10`,
    );
  return [...previous, { name: m[1], user: m[2], address: m[3], port: Number(m[4] ?? 22), hostKey: '' }];
}

/** `web=ghcr.io/acme/web[:PORT]`: the service, its image repository and the port it listens on. */
export function parseServiceFlag(
  value: string,
  previous: InitOptions['services'] = [],
): InitOptions['services'] {
  // A trailing :digits is the port; a registry's port is always followed by a path.
  const m = /^([a-z][a-z0-9-]*)=(\S+?)(?::(\d{1,5}))?$/.exec(value);
  if (!m)
    throw new InvalidArgumentError(
      `"${value}" must be NAME=REPOSITORY[:PORT], e.g. web=ghcr.io/acme/web:8080`,
    );
  return [...previous, { name: m[1], image: m[2], port: Number(m[3] ?? 8080) }];
}

const q = (value: string) => JSON.stringify(value);

/**
 * A commented environment config for a first deploy: recreate strategy, the app's own compose
 * file, services probed on the port they publish, nothing optional switched on.
 */
export function environmentYaml(o: InitOptions): string {
  const hosts = o.hosts.flatMap((h) => [
    `  - name: ${q(h.name)}`,
    `    address: ${q(h.address)}`,
    `    port: ${h.port}`,
    `    user: ${q(h.user)}`,
    `    privateKeyPath: ${q(o.key)} # on the worker; only the path is stored`,
    "    # Read from the server when this file was written: compare it with the server's own",
    '    # (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the server) before the first deploy.',
    `    hostKey: ${q(h.hostKey)}`,
    `    baseDir: ${q(o.baseDir)}`,
  ]);
  const services = o.services.flatMap((s) => [
    `  - name: ${q(s.name)}`,
    `    image: ${q(s.image)} # the tag comes with each deploy: --image ${s.name}=<tag>`,
    `    readinessUrl: ${q(`http://{host}:${s.port}/health/ready`)} # 2xx once it can serve`,
    `    versionUrl: ${q(`http://{host}:${s.port}/version`)} # must answer the release id`,
  ]);
  return [
    `# Environment "${o.env}", written by deployctl init. Every key is checked by the worker;`,
    `# run \`deployctl config check --env ${o.env}\` before the first deploy.`,
    `name: ${q(o.env)}`,
    `project: ${q(o.project)} # the compose project name on every host`,
    'composeCommand: [docker, compose]',
    ...(o.repository
      ? [
          `repository: ${q(o.repository)} # compose files are read from it at each release's commit (--commit)`,
          `composeFiles: [${q(o.composeFile)}] # paths in the repository`,
        ]
      : [
          `composeFiles: [${q(o.composeFile)}] # relative to the worker's DEPLOY_FILES_DIR (the app's checkout)`,
        ]),
    'strategy: recreate # blue-green and canary need a traffic section (see README)',
    'hosts:',
    ...hosts,
    'services: # brought up in this order',
    ...services,
    'env: # non-secret settings written to the env file on each host',
    "  # The worker probes the services' ports from its own machine: publish them where it can",
    '  # reach them, and let the firewall admit only the worker.',
    '  BIND_ADDRESS: "0.0.0.0"',
    'secrets: {} # NAME: { fromEnv: VAR } | { fromFile: /path } | { fromCommand: [cli, args] }, read on the worker',
    'minFreeDiskMb: 1024 # refuse a deploy when a host has less free disk under baseDir',
    'deadlines:',
    '  healthSeconds: 120',
    '',
  ].join('\n');
}

/** A compose file that keeps the contract deployctl relies on, one block per service. */
export function composeSkeleton(o: InitOptions): string {
  const blocks = o.services.flatMap((s) => [
    `  ${s.name}:`,
    `    image: \${${imageVariable(s.name)}}`,
    '    restart: unless-stopped',
    '    environment:',
    '      APP_RELEASE: ${APP_RELEASE}',
    '    ports:',
    `      - "\${BIND_ADDRESS:-0.0.0.0}:${s.port}:${s.port}"`,
  ]);
  return [
    `# Compose file of "${o.project}", written by deployctl init. The contract with deployctl:`,
    '#   - each service takes its image from <SERVICE>_IMAGE (e.g. WEB_IMAGE), set per deploy;',
    '#   - APP_RELEASE is the release id; GET /version must answer it (the health wait checks);',
    '#   - GET /health/ready answers 2xx once the service can serve.',
    '# deployctl uploads this file with an env file (.env, mode 0600) holding env, secrets and',
    '# the images, and runs `docker compose --env-file .env up` with it on every host.',
    'services:',
    ...blocks,
    '',
  ].join('\n');
}

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

async function initCommand(opts: {
  env: string;
  project: string;
  host: InitOptions['hosts'];
  hostKey?: Record<string, string>;
  key: string;
  baseDir: string;
  service: InitOptions['services'];
  configDir: string;
  composeFile?: string;
  repository?: string;
  force: boolean;
  json: boolean;
}): Promise<ExitCode> {
  const composeFile = opts.composeFile ?? `compose/${opts.project}.yml`;
  const hosts = [];
  for (const host of opts.host) {
    const given = opts.hostKey?.[host.name];
    const hostKey =
      given ??
      (await scanHostKey(host.address, host.port).catch((err: Error) => {
        throw new CliExit(
          ExitCode.invalidInput,
          `could not read the host key of ${host.name} (${host.address}:${host.port}): ${err.message}; pass --host-key ${host.name}="ssh-ed25519 AAAA..." (nothing was written)`,
        );
      }));
    hosts.push({ ...host, hostKey });
  }
  const options: InitOptions = {
    ...opts,
    hosts,
    services: opts.service,
    // In a repository the file is named from its root: init runs there.
    composeFile: opts.repository ? relative(process.cwd(), resolve(composeFile)) : composeFile,
  };
  const envFile = resolve(opts.configDir, `${opts.env}.yaml`);
  const text = environmentYaml(options);
  // Never write a config the worker would refuse: the same schema checks it first.
  try {
    parseEnvironment(text, envFile, opts.env);
    parse(composeSkeleton(options));
  } catch (err) {
    if (err instanceof ConfigError)
      throw new CliExit(ExitCode.invalidInput, `${err.message}\nnothing was written`);
    throw err;
  }
  for (const path of [envFile, resolve(composeFile)])
    if (existsSync(path) && !opts.force)
      throw new CliExit(
        ExitCode.invalidInput,
        `${path} exists; pass --force to replace it (nothing was written)`,
      );
  write(envFile, text);
  write(resolve(composeFile), composeSkeleton(options));
  if (opts.json) {
    console.log(
      JSON.stringify({ environmentFile: envFile, composeFile: resolve(composeFile), hosts }, null, 2),
    );
  } else {
    console.log(`wrote ${envFile}`);
    console.log(`wrote ${resolve(composeFile)}`);
    for (const h of hosts)
      console.log(
        `host key of ${h.name} (${opts.hostKey?.[h.name] ? 'given' : 'read from the server'}): ${h.hostKey}`,
      );
    console.log(`next: verify the host keys, then npx deployctl config check --env ${opts.env}`);
  }
  return ExitCode.succeeded;
}

export function addInitCommand(program: Command): void {
  program
    .command('init')
    .description("write a first environment config and a compose file for the app's services")
    .requiredOption('-e, --env <name>', 'environment name, e.g. staging')
    .requiredOption('--project <name>', 'compose project name on the hosts, e.g. shop')
    .requiredOption('--host <name=user@address[:port]>', 'a server (repeatable)', parseHostFlag)
    .requiredOption('--key <path>', "the deploy key's private key file, as the worker sees it")
    .requiredOption(
      '--service <name=repository[:port]>',
      'a service and the port it serves (repeatable; default 8080)',
      parseServiceFlag,
    )
    .option(
      '--host-key <name=line>',
      'pin this host key instead of reading it from the server (repeatable): web-1="ssh-ed25519 AAAA..."',
      (value: string, previous: Record<string, string> = {}) => {
        const eq = value.indexOf('=');
        if (eq <= 0) throw new InvalidArgumentError(`"${value}" must be NAME="TYPE BASE64"`);
        return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
      },
    )
    .option('--base-dir <dir>', 'where each host keeps the project', '/srv/apps')
    .option(
      '--config-dir <dir>',
      'where the worker reads environments',
      process.env.DEPLOY_CONFIG_DIR ?? 'config/environments',
    )
    .option('--compose-file <path>', 'the compose file to write (default compose/<project>.yml)')
    .option(
      '--repository <url>',
      "the app's git repository (run init at its root): each release's compose files are read from it at the release's commit",
    )
    .option('--force', 'replace files that exist', false)
    .option('--json', 'print what was written as JSON', false)
    .addHelpText(
      'after',
      `
Reads each host's SSH host key from the server (as ssh-keyscan does) unless --host-key gives it:
verify it out of band before the first deploy. Nothing is written when any value is invalid or
a file exists (without --force). Exit codes: 0 written, 2 invalid input or a file exists.`,
    )
    .action(async (opts) => {
      process.exitCode = await initCommand(opts);
    });
}
