/**
 * The lab: local "droplets" reachable over SSH, a local image registry and the demo images.
 *
 *   npm run lab -- up [--skip-images]   start (or repair) everything; idempotent
 *   npm run lab -- status [--json]      what runs
 *   npm run lab -- down [--purge]       stop what the lab started; --purge also deletes .lab
 *   npm run lab -- fresh-host [NAME] [--json]
 *                                       a brand-new server for emergency deploys: lab-3
 *                                       (127.0.0.4, the default), lab-4 (127.0.0.5) or lab-5
 *                                       (127.0.0.6), re-created
 *                                       from nothing on every run; prints its host config file
 *                                       (.lab/fresh/NAME.yaml), or { hostFile, host, seconds }.
 *                                       `up` leaves fresh hosts alone; `down` stops them, `status`
 *                                       lists them.
 *   npm run lab -- fleet N [--json]     fleet-1 … fleet-N (127.0.1.1 …), N fresh hosts at once
 *                                       for fleet benchmarks (scripts/bench/fleet.ts), and
 *                                       .lab/fleet-config/fleet.yaml: all N as one environment
 *                                       released in waves (scripts/bench/waves.ts).
 *   npm run lab -- seed-db [--size-mb N] [--drop]
 *                                       grow lab-staging's database to N MB (1024 by default;
 *                                       10240 for 10 GB) with the schema bench_big, for backup
 *                                       figures (scripts/bench/bigdb.ts); --drop removes it.
 */
import { Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMPOSE_FILE, configFile, ensureSecrets, labEnvironments, writeEnvironmentConfigs } from './config';
import { ensureAppRepository } from './appRepo';
import { engineGroupId, ensureDeployUser, giveBaseDir, shareEngineSocket } from './deployUser';
import { enginePid, listContainers, startContainers, startEngine } from './engine';
import { stopHost } from './hosts';
import { checkSsh, ensureKeys, publicHostKey, sshdPid, startSshd, writeKnownHosts } from './sshd';
import { createFleet, createFreshHost, existingFreshHosts, freshHostFile, hostsWithKeys } from './fresh';
import { writeFleetEnvironment } from './fleetEnvironment';
import { dropSeed, seedDatabase, SEED_SCHEMA } from './seedDatabase';
import { loadEnvironment } from '../src/config/load';
import { BuildEngine, buildImages, buildWorkerBase, ensureBaseImage, imageSizes, pushImages } from './images';
import {
  cacheDir,
  deployUserOf,
  FRESH_HOSTS,
  MAX_FLEET,
  hostPaths,
  HOSTS,
  LabHost,
  labPaths,
  PROJECT_ROOT,
  REGISTRY_ADDR,
  SSH_PORT,
} from './paths';
import { listRegistry, registryAnswers, registryPid, startRegistry, stopRegistry } from './registry';
import { HostState, LabState, readState, writeState } from './state';
import { reclaimKilledHost } from './reclaim';
import { ensureSystem } from './system';
import { provisionWebTls } from './webTls';
import { LabError, progress, seconds, setQuiet, step, unmountUnder } from './util';

async function up(opts: { skipImages?: boolean }): Promise<void> {
  const t0 = Date.now();
  const p = labPaths();
  const previous = readState(p);
  progress(`lab dir ${p.root}, image cache ${cacheDir()}`);
  const wroteSettings = await step('check podman settings and tools', async () => ensureSystem());
  for (const d of [p.root, p.logs, p.configDir, p.hostsDir]) fs.mkdirSync(d, { recursive: true });
  await step('deploy key and secrets', async () => {
    await ensureKeys(p);
    ensureSecrets(p);
  });
  const regPid = await step(`image registry on ${REGISTRY_ADDR}`, () => startRegistry(p));

  let base = previous?.images.base ?? '';
  let pushed = previous?.images.pushed ?? [];
  let sizes = previous?.images.sizesBytes;
  if (!opts.skipImages) {
    const engine = new BuildEngine();
    engine.prepare();
    base = await step('base image (debootstrap, cached by recipe hash)', () => ensureBaseImage(engine));
    const refs = await step('role and demo images (podman build)', () => buildImages(engine, base));
    await step('worker base image (podman build)', () => buildWorkerBase(engine, base));
    await step(`push ${refs.length} images to ${REGISTRY_ADDR}`, () => pushImages(engine, refs));
    pushed = refs;
    sizes = await imageSizes(engine, [...refs, base]);
  }

  const deployUsers = [...new Set(HOSTS.flatMap((h) => (h.deployUser ? [h.deployUser] : [])))];
  for (const user of deployUsers) {
    await step(`non-root deploy user ${user}`, () => ensureDeployUser(user));
  }
  const hosts: HostState[] = [];
  for (const host of HOSTS) {
    const hp = hostPaths(host, p.root);
    const label = `host ${host.name} (${deployUserOf(host)}@${host.address}:${SSH_PORT})`;
    const state = await step(label, async () => {
      await reclaimKilledHost(host, hp);
      const engine = await startEngine(host, p, wroteSettings);
      if (host.deployUser) {
        shareEngineSocket(hp, await engineGroupId());
        await giveBaseDir(hp, host.deployUser);
      }
      const sshd = await startSshd(host, p);
      const stopped = previous?.hosts.find((h) => h.name === host.name)?.stoppedContainers ?? [];
      if (stopped.length) {
        const started = await startContainers(hp, stopped);
        if (started.length)
          progress(`    restarted ${started.length} container(s) stopped by down: ${started.join(', ')}`);
      }
      return {
        name: host.name,
        address: host.address,
        sshPort: SSH_PORT,
        environment: host.environment,
        sshdPid: sshd,
        enginePid: engine,
        dockerHost: `unix://${hp.socket}`,
        baseDir: hp.srv,
        hostKey: publicHostKey(host, p.root),
        deployUser: deployUserOf(host),
      };
    });
    hosts.push(state);
  }
  await step('pin host keys and check SSH reaches each host engine', async () => {
    // Fresh hosts stay pinned too: an emergency deploy may be using one.
    writeKnownHosts(hostsWithKeys(p), p);
    for (const host of HOSTS) await checkSsh(host, p);
  });
  await step('the demo app repository the quality gates check out', async () => ensureAppRepository(p));
  const configs = await step('environment configs (validated against src/config/schema.ts)', async () =>
    writeEnvironmentConfigs(p),
  );
  await step("HTTPS for the environments' domains (lab web CA, one expired certificate)", async () =>
    provisionWebTls(p, labEnvironments(p)),
  );

  const total = (Date.now() - t0) / 1000;
  const state: LabState = {
    updatedAt: '',
    labDir: p.root,
    cacheDir: cacheDir(),
    registry: { address: REGISTRY_ADDR, pid: regPid, dataDir: p.registryDir },
    deployKey: p.deployKey,
    deployPublicKey: p.deployPub,
    knownHosts: p.knownHosts,
    secretsFile: p.secretsFile,
    configs: Object.fromEntries(configs.map((f) => [path.basename(f, '.yaml'), f])),
    composeFile: path.join(PROJECT_ROOT, COMPOSE_FILE),
    images: { base, pushed, sizesBytes: sizes },
    hosts,
    lastUp: { seconds: Number(total.toFixed(1)), at: new Date().toISOString() },
  };
  writeState(p, state);
  progress(`lab is up in ${seconds(Date.now() - t0)}`);
  console.log(
    [
      `configs:     ${configs.join('  ')}`,
      `secrets:     ${p.secretsFile} (load into the worker's environment)`,
      `deploy key:  ${p.deployKey}`,
      ...HOSTS.map(
        (h) =>
          `${h.name}:       ssh -i ${p.deployKey} -p ${SSH_PORT} -o UserKnownHostsFile=${p.knownHosts} ${deployUserOf(h)}@${h.address} docker ps`,
      ),
      `state:       ${p.stateFile}`,
    ].join('\n'),
  );
}

interface HostStatus {
  name: string;
  address: string;
  sshPort: number;
  sshdPid?: number;
  enginePid?: number;
  containers: { name: string; image: string; state: string; status: string; project?: string }[];
  error?: string;
}

interface StatusReport {
  labDir: string;
  up: boolean;
  registry: { address: string; pid?: number; answers: boolean; repositories?: Record<string, string[]> };
  hosts: HostStatus[];
  /** Fresh hosts that were created (not part of `up`: whether they run does not change `up`). */
  freshHosts: (HostStatus & { hostFile: string | null })[];
  configs: Record<string, string | null>;
}

async function hostStatus(host: LabHost, root: string): Promise<HostStatus> {
  const hp = hostPaths(host, root);
  const h: HostStatus = {
    name: host.name,
    address: host.address,
    sshPort: SSH_PORT,
    sshdPid: sshdPid(hp),
    enginePid: enginePid(hp),
    containers: [],
  };
  if (fs.existsSync(hp.storage)) {
    try {
      h.containers = await listContainers(hp);
    } catch (e) {
      h.error = (e as Error).message;
    }
  }
  return h;
}

async function collectStatus(): Promise<StatusReport> {
  const p = labPaths();
  const answers = await registryAnswers();
  const report: StatusReport = {
    labDir: p.root,
    up: false,
    registry: { address: REGISTRY_ADDR, pid: registryPid(p), answers },
    hosts: [],
    freshHosts: [],
    configs: {},
  };
  if (answers) {
    try {
      report.registry.repositories = await listRegistry();
    } catch (e) {
      report.registry.repositories = { error: [(e as Error).message] };
    }
  }
  for (const host of HOSTS) report.hosts.push(await hostStatus(host, p.root));
  for (const host of existingFreshHosts(p)) {
    const file = freshHostFile(p, host.name);
    report.freshHosts.push({
      ...(await hostStatus(host, p.root)),
      hostFile: fs.existsSync(file) ? file : null,
    });
  }
  for (const env of [...new Set(HOSTS.map((h) => h.environment))]) {
    const f = configFile(p, env);
    report.configs[env] = fs.existsSync(f) ? f : null;
  }
  report.up = !!report.registry.pid && answers && report.hosts.every((h) => h.sshdPid && h.enginePid);
  return report;
}

async function status(opts: { json?: boolean }): Promise<void> {
  const r = await collectStatus();
  if (opts.json) {
    console.log(JSON.stringify(r, null, 2));
  } else {
    const mark = (ok: unknown) => (ok ? 'running' : 'STOPPED');
    const lines = [`lab ${r.up ? 'is UP' : 'is NOT fully up'} (${r.labDir})`];
    lines.push(
      `registry ${r.registry.address}: ${mark(r.registry.pid && r.registry.answers)}${r.registry.pid ? ` (pid ${r.registry.pid})` : ''}`,
    );
    for (const [repo, tags] of Object.entries(r.registry.repositories ?? {}))
      lines.push(`  ${repo}: ${tags.join(' ')}`);
    const hostLines = (h: HostStatus, what: string) => {
      lines.push(
        `${what}${h.name} ${h.address}:${h.sshPort}: sshd ${mark(h.sshdPid)}${h.sshdPid ? ` (pid ${h.sshdPid})` : ''}, engine ${mark(h.enginePid)}${h.enginePid ? ` (pid ${h.enginePid})` : ''}`,
      );
      if (h.error) lines.push(`  error: ${h.error}`);
      if (!h.containers.length) lines.push('  no containers');
      for (const c of h.containers) lines.push(`  ${c.name.padEnd(28)} ${c.state.padEnd(8)} ${c.image}`);
    };
    for (const h of r.hosts) hostLines(h, '');
    for (const h of r.freshHosts) {
      hostLines(h, 'fresh host ');
      lines.push(`  host file: ${h.hostFile ?? 'not written (run fresh-host again)'}`);
    }
    for (const [env, f] of Object.entries(r.configs))
      lines.push(`config ${env}: ${f ?? 'not written (run up)'}`);
    console.log(lines.join('\n'));
  }
  if (!r.up) process.exitCode = 3;
}

async function down(opts: { purge?: boolean }): Promise<void> {
  const t0 = Date.now();
  const p = labPaths();
  const state = readState(p);
  for (const host of HOSTS) {
    const res = await step(`stop host ${host.name}`, () => stopHost(host, p));
    progress(
      `    ${host.name}: ${res.containers.length} container(s) stopped, sshd ${res.sshd ? 'stopped' : 'was not running'}, engine ${res.engine ? 'stopped' : 'was not running'}`,
    );
    const hs = state?.hosts.find((h) => h.name === host.name);
    if (hs) {
      hs.stoppedContainers = [...new Set([...(hs.stoppedContainers ?? []), ...res.containers])];
      hs.sshdPid = undefined;
      hs.enginePid = undefined;
    }
  }
  for (const host of existingFreshHosts(p)) {
    const res = await step(`stop fresh host ${host.name}`, () => stopHost(host, p));
    progress(
      `    ${host.name}: ${res.containers.length} container(s) stopped, sshd ${res.sshd ? 'stopped' : 'was not running'}, engine ${res.engine ? 'stopped' : 'was not running'} (fresh-host makes it again)`,
    );
  }
  const reg = await step('stop the registry', () => stopRegistry(p));
  if (!reg) progress('    registry was not running');
  if (opts.purge) {
    await step(`remove ${p.root}`, async () => {
      await unmountUnder(p.root);
      fs.rmSync(p.root, { recursive: true, force: true });
    });
    progress(`image cache kept: ${cacheDir()} (delete it by hand to rebuild from scratch)`);
  } else if (state) {
    state.registry.pid = undefined;
    writeState(p, state);
  }
  progress(`lab is down in ${seconds(Date.now() - t0)}`);
}

const program = new Command();
program
  .name('lab')
  .description(
    'Local lab for the deployment pipeline: SSH hosts lab-1 (127.0.0.2) and lab-2 (127.0.0.3) with their own podman engines, a registry on 127.0.0.1:5000 and the demo images.\n' +
      'State in $LAB_DIR (default .lab/), image cache in $DEPLOY_LAB_CACHE (default ~/.cache/durable-deploy-lab).',
  )
  .option('-q, --quiet', 'no progress lines')
  .hook('preAction', (cmd) => setQuiet(!!cmd.opts().quiet));
program
  .command('up')
  .description('start registry, hosts and images (idempotent; repairs what is missing)')
  .option('--skip-images', 'do not build or push images (hosts and registry only)')
  .action(up);
program
  .command('status')
  .description('show what runs (exit code 3 when the lab is not fully up)')
  .option('--json', 'machine-readable output')
  .action(status);
program
  .command('down')
  .description('stop everything the lab started; keeps data and the image cache')
  .option('--purge', `also delete the lab dir (keys, registry data, host data); the image cache stays`)
  .action(down);

program
  .command('fresh-host')
  .description(
    `a brand-new server for emergency deploys, re-created from nothing on every run (${FRESH_HOSTS.map((h) => `${h.name} ${h.address}`).join(', ')}); prints its host config file`,
  )
  .argument('[name]', 'which spare host', FRESH_HOSTS[0].name)
  .option('--json', 'print { "hostFile", "host", "seconds" } instead of the file path')
  .action(async (name: string, opts: { json?: boolean }) => {
    const fresh = await createFreshHost(name);
    if (opts.json) {
      console.log(JSON.stringify(fresh, null, 2));
    } else {
      const p = labPaths();
      progress(
        `try: ssh -i ${p.deployKey} -p ${SSH_PORT} -o UserKnownHostsFile=${p.knownHosts} root@${fresh.host.address} docker ps`,
      );
      console.log(fresh.hostFile);
    }
  });

program
  .command('fleet')
  .description(
    `fleet-1 … fleet-N (127.0.1.1 …): N brand-new hosts for fleet benchmarks, each re-created from nothing, and the environment "fleet" of all N (.lab/fleet-config/fleet.yaml); prints the host config files, then the environment's`,
  )
  .argument('<count>', `how many hosts (1 to ${MAX_FLEET})`)
  .option(
    '--json',
    'print { "hosts": [{ "hostFile", "host", "seconds" }, ...], "environmentFile" } instead of the file paths',
  )
  .action(async (count: string, opts: { json?: boolean }) => {
    if (!/^\d+$/.test(count) || Number(count) < 1 || Number(count) > MAX_FLEET)
      throw new LabError(`count ${JSON.stringify(count)} must be a whole number from 1 to ${MAX_FLEET}`);
    const made = await createFleet(Number(count));
    const environmentFile = writeFleetEnvironment(made.map((h) => h.host));
    console.log(
      opts.json
        ? JSON.stringify({ hosts: made, environmentFile }, null, 2)
        : [...made.map((h) => h.hostFile), environmentFile].join('\n'),
    );
  });

program
  .command('seed-db')
  .description(
    `grow lab-staging's database (on lab-1) to --size-mb with the schema ${SEED_SCHEMA} (customers, orders, events), for backup and restore figures; --drop removes it`,
  )
  .option('--size-mb <n>', 'the whole database size to reach, in MB (10240 for 10 GB)', '1024')
  .option('--drop', `drop the schema ${SEED_SCHEMA} instead`)
  .action(async (opts: { sizeMb: string; drop?: boolean }) => {
    if (!/^\d+$/.test(opts.sizeMb) || Number(opts.sizeMb) < 1 || Number(opts.sizeMb) > 100_000)
      throw new LabError(
        `--size-mb ${JSON.stringify(opts.sizeMb)} must be a whole number of MB from 1 to 100000`,
      );
    const staging = loadEnvironment(labPaths().configDir, 'lab-staging');
    if (opts.drop) {
      await dropSeed(staging);
      progress(`dropped ${SEED_SCHEMA} from ${staging.name}'s database`);
      return;
    }
    const seeded = await seedDatabase(staging, Number(opts.sizeMb), progress);
    console.log(JSON.stringify(seeded));
    progress(
      `the seed stays in ${staging.name}'s database: its backups, drills and tests handle it too; seed-db --drop removes it`,
    );
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof LabError) {
    process.stderr.write(`lab: ${e.message}\n`);
  } else {
    process.stderr.write(`lab: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
  }
  process.exit(1);
});
