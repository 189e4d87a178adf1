/**
 * Images, built locally (no public registry is reachable): one debootstrap base rootfs holding
 * every role's packages, imported once and cached outside the clone (keyed by a hash of the
 * recipe), then small role images from lab/images/<role>/Containerfile and the demo app,
 * pushed to the local registry.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  cacheDir,
  DEMO_TAGS,
  LAB_WORKER_BASE,
  demoImage,
  PROJECT_ROOT,
  ROLE_IMAGES,
  traefikBinary,
  WEB_SERVICES,
} from './paths';
import { bootId, LabError, pipe, progress, run, seconds, step, unmountUnder, writeFileAtomic } from './util';

export const SUITE = 'bookworm';
export const PACKAGES = [
  'postgresql-15',
  'postgresql-client-15',
  'nodejs',
  // For the worker image: git (gates, app repositories, over SSH too); pg_restore is in the client above.
  'git',
  'openssh-client',
  'redis-server',
  'nginx-light',
  'curl',
  'ca-certificates',
];
/**
 * Removed from the rootfs after debootstrap: apt caches and lists, docs, translations, the
 * cluster the postgresql package creates (the image creates its own), and LLVM/Z3, which only
 * PostgreSQL's optional JIT loads (the postgres image runs with jit = off).
 */
export const TRIM = [
  'var/cache/apt',
  'var/lib/apt/lists',
  'var/log',
  'usr/share/doc',
  'usr/share/man',
  'usr/share/info',
  'usr/share/locale',
  'var/lib/postgresql/15/main',
  'etc/postgresql/15/main',
  'usr/lib/x86_64-linux-gnu/libLLVM-14.so.1',
  'usr/lib/x86_64-linux-gnu/libz3.so.4',
  'usr/lib/postgresql/15/lib/llvmjit.so',
  'usr/lib/postgresql/15/lib/bitcode',
];
const RECIPE_VERSION = 1;

const IMAGES_DIR = path.join(PROJECT_ROOT, 'lab', 'images');
const DEMO_APP_DIR = path.join(PROJECT_ROOT, 'demo-app');

export function baseRecipeHash(): string {
  const recipe = JSON.stringify({ RECIPE_VERSION, SUITE, variant: 'minbase', PACKAGES, TRIM });
  return createHash('sha256').update(recipe).digest('hex').slice(0, 16);
}

export function baseImageRef(): string {
  return `localhost/durable-deploy-lab-base:${baseRecipeHash()}`;
}

/** The Debian mirror, read at run time from the machine's apt sources (never written into the repo). */
export function debianMirror(): string {
  if (process.env.LAB_DEBIAN_MIRROR) return process.env.LAB_DEBIAN_MIRROR;
  const sources = '/etc/apt/sources.list.d/debian.sources';
  try {
    const m = fs.readFileSync(sources, 'utf8').match(/^URIs:\s*(\S+)/m);
    if (m) return m[1];
  } catch {
    // fall through to sources.list
  }
  try {
    const m = fs.readFileSync('/etc/apt/sources.list', 'utf8').match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/m);
    if (m) return m[1];
  } catch {
    // reported below
  }
  throw new LabError(
    `no Debian mirror found in ${sources} (URIs: line) or /etc/apt/sources.list; set LAB_DEBIAN_MIRROR`,
  );
}

/** The build engine: podman with its storage in the cache dir, so every clone shares it. */
export class BuildEngine {
  readonly dir = cacheDir();
  readonly storage = path.join(this.dir, 'storage');
  readonly runroot = path.join(this.dir, 'run');
  readonly tmp = path.join(this.dir, 'tmp');
  readonly conf = path.join(this.dir, 'containers.conf');

  prepare(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    // podman keeps per-boot state in runroot/tmp: after a reboot it is stale.
    const bootFile = path.join(this.dir, 'boot_id');
    const prev = fs.existsSync(bootFile) ? fs.readFileSync(bootFile, 'utf8').trim() : '';
    if (prev !== bootId()) {
      fs.rmSync(this.runroot, { recursive: true, force: true });
      fs.rmSync(this.tmp, { recursive: true, force: true });
      writeFileAtomic(bootFile, `${bootId()}\n`);
    }
    writeFileAtomic(
      this.conf,
      [
        '[containers]',
        'default_ulimits = []',
        '[engine]',
        'runtime = "runc"',
        `tmp_dir = ${JSON.stringify(this.tmp)}`,
        'lock_type = "file"',
        '[network]',
        `network_config_dir = ${JSON.stringify(path.join(this.dir, 'networks'))}`,
        '',
      ].join('\n'),
    );
  }

  env(): NodeJS.ProcessEnv {
    return { ...process.env, CONTAINERS_CONF: this.conf };
  }

  argv(...args: string[]): string[] {
    return ['podman', '--root', this.storage, '--runroot', this.runroot, ...args];
  }

  podman(args: string[], timeoutMs = 300_000) {
    return run(this.argv(...args), { env: this.env(), timeoutMs });
  }

  async hasImage(ref: string): Promise<boolean> {
    const r = await run(this.argv('image', 'exists', ref), { env: this.env(), allowFailure: true });
    return r.code === 0;
  }
}

async function debootstrapBase(tarball: string): Promise<void> {
  const work = path.join(cacheDir(), 'work');
  const rootfs = path.join(work, `rootfs-${baseRecipeHash()}`);
  await unmountUnder(work);
  fs.rmSync(rootfs, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const mirror = debianMirror();
  await step(`debootstrap ${SUITE} minbase + ${PACKAGES.length} packages (about a minute)`, () =>
    run(['debootstrap', '--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, rootfs, mirror], {
      timeoutMs: 20 * 60_000,
    }).catch((e: Error) => {
      throw new LabError(`${e.message}\n(debootstrap log: ${rootfs}/debootstrap/debootstrap.log)`);
    }),
  );
  for (const rel of TRIM) {
    const target = path.join(rootfs, rel);
    if (!fs.existsSync(target)) continue;
    if (fs.statSync(target).isDirectory() && !rel.startsWith('usr/lib/postgresql')) {
      for (const entry of fs.readdirSync(target))
        fs.rmSync(path.join(target, entry), { recursive: true, force: true });
    } else {
      fs.rmSync(target, { recursive: true, force: true });
    }
  }
  await step('pack the rootfs into the cache', async () => {
    const partial = `${tarball}.partial`;
    await run(['tar', '-C', rootfs, '--numeric-owner', '-cf', partial, '.'], { timeoutMs: 600_000 });
    fs.renameSync(partial, tarball);
  });
  fs.rmSync(rootfs, { recursive: true, force: true });
}

/** Makes sure the base image is in the build engine: from its storage, the cached tarball, or debootstrap. */
export async function ensureBaseImage(engine: BuildEngine): Promise<string> {
  const ref = baseImageRef();
  if (await engine.hasImage(ref)) {
    progress(`    base image ${ref} is cached in ${engine.storage}`);
    return ref;
  }
  const tarball = path.join(cacheDir(), `base-${baseRecipeHash()}.tar`);
  if (!fs.existsSync(tarball)) await debootstrapBase(tarball);
  else progress(`    rootfs tarball cached: ${tarball}`);
  await step(`import the base rootfs as ${ref}`, () =>
    pipe(
      ['cat', tarball],
      engine.argv('import', '--message', `durable-deploy lab base ${baseRecipeHash()}`, '-', ref),
      {
        env: engine.env(),
        timeoutMs: 600_000,
      },
    ),
  );
  return ref;
}

/**
 * What each demo tag is: the migrations baked into it (the release's own migrations, run by
 * `node server.js migrate` in a one-off container before it starts) and whether it never gets
 * ready. Migrations come from demo-app/migrations, or from lab/images/demo/migrations for the
 * faulty ones only the lab ships.
 */
export interface DemoBuild {
  migrations: string[];
  forceUnready?: boolean;
  /** Every Nth request (health checks aside) answers 500. */
  errorEvery?: number;
  /** Every request (health checks aside) answers this many ms late. */
  delayMs?: number;
}
const GOOD_MIGRATIONS = ['001_visits', '002_visits_referrer'];
export const DEMO_BUILDS: Record<LabDemoTag, DemoBuild> = {
  v1: { migrations: ['001_visits'] },
  v2: { migrations: GOOD_MIGRATIONS },
  'v3-unready': { migrations: GOOD_MIGRATIONS, forceUnready: true },
  /** 003 references a table nothing creates: the migration fails and is rolled back. */
  'v4-badmigration': { migrations: [...GOOD_MIGRATIONS, '003_archive_visits'] },
  /** 003 drops visits.service (backward-compatible: false): it applies, then /health/ready fails. */
  'v5-breaking': { migrations: [...GOOD_MIGRATIONS, '003_drop_visits_service'] },
  /** Healthy, but one request in ten answers 500: a canary of it must abort at its first analysis. */
  'v6-errors': { migrations: GOOD_MIGRATIONS, errorEvery: 10 },
  /** Healthy, but every answer takes 3.5 s: over the canary's p95 threshold of 3 s. */
  'v7-slow': { migrations: GOOD_MIGRATIONS, delayMs: 3500 },
};
export const LAB_DEMO_TAGS = [
  ...DEMO_TAGS,
  'v4-badmigration',
  'v5-breaking',
  'v6-errors',
  'v7-slow',
] as const;
export type LabDemoTag = (typeof LAB_DEMO_TAGS)[number];

const MIGRATION_SOURCES = [
  path.join(DEMO_APP_DIR, 'migrations'),
  path.join(IMAGES_DIR, 'demo', 'migrations'),
];

/** A build context per tag: server.js and exactly that tag's migrations. */
function demoContext(genDir: string, tag: LabDemoTag): string {
  const dir = path.join(genDir, `demo-${tag}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'migrations'), { recursive: true });
  fs.copyFileSync(path.join(DEMO_APP_DIR, 'server.js'), path.join(dir, 'server.js'));
  for (const id of DEMO_BUILDS[tag].migrations) {
    const source = MIGRATION_SOURCES.map((d) => path.join(d, `${id}.sql`)).find((f) => fs.existsSync(f));
    if (!source)
      throw new LabError(`demo ${tag}: migration ${id}.sql is in neither ${MIGRATION_SOURCES.join(' nor ')}`);
    fs.copyFileSync(source, path.join(dir, 'migrations', `${id}.sql`));
  }
  return dir;
}

/**
 * The traefik image's build context: its Containerfile's folder plus the upstream binary, copied
 * only when it changed (it is large), so buildah's layer cache keeps the image when nothing did.
 */
/** A build context of a role's Containerfile and one binary from this machine, copied only when it changed. */
function binaryContext(engine: BuildEngine, role: string, binary: string, name: string): string {
  const dir = path.join(engine.dir, 'contexts', role);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(IMAGES_DIR, role, 'Containerfile'), path.join(dir, 'Containerfile'));
  const target = path.join(dir, name);
  const from = fs.statSync(binary);
  const to = fs.existsSync(target) ? fs.statSync(target) : undefined;
  if (!to || to.size !== from.size || to.mtimeMs !== from.mtimeMs) {
    fs.copyFileSync(binary, target);
    fs.chmodSync(target, 0o755);
    fs.utimesSync(target, from.atime, from.mtime);
  }
  return dir;
}

function traefikContext(engine: BuildEngine): string {
  const binary = traefikBinary();
  if (!fs.existsSync(binary))
    throw new LabError(
      `the Traefik binary ${binary} is missing: run scripts/bootstrap.sh (or set TRAEFIK_PATH)`,
    );
  return binaryContext(engine, 'traefik', binary, 'traefik');
}

/** One lab image from its Containerfile on the base image, with the layer cache, never pulling. */
function buildOnBase(engine: BuildEngine, base: string, tag: string, containerfile: string, context: string) {
  return engine.podman([
    'build',
    '--pull=never',
    '--layers',
    '--quiet',
    '--build-arg',
    `BASE=${base}`,
    '-t',
    tag,
    '-f',
    containerfile,
    context,
  ]);
}

/**
 * The base the worker image is built on in the lab (see its Containerfile). It stays in the
 * build engine: the worker image is built from this clone's dist/ when a test asks for it.
 */
export async function buildWorkerBase(engine: BuildEngine, base: string): Promise<string> {
  const context = binaryContext(engine, 'worker-base', process.execPath, 'node');
  await buildOnBase(engine, base, LAB_WORKER_BASE, path.join(context, 'Containerfile'), context);
  return LAB_WORKER_BASE;
}

export interface BuiltImage {
  ref: string;
  sizeBytes?: number;
}

/** Builds role and demo images on the base; returns every ref to push. */
export async function buildImages(engine: BuildEngine, base: string): Promise<string[]> {
  const build = (tag: string, containerfile: string, context: string) =>
    buildOnBase(engine, base, tag, containerfile, context);
  const refs: string[] = [];
  for (const [role, ref] of Object.entries(ROLE_IMAGES)) {
    const dir = path.join(IMAGES_DIR, role);
    const context = role === 'traefik' ? traefikContext(engine) : dir;
    await build(ref, path.join(dir, 'Containerfile'), context);
    refs.push(ref);
  }
  // The version is written into the Containerfile itself: buildah's layer cache keys on the
  // instruction text, so v1/v2/v3 built with --build-arg came out as one image.
  const template = fs.readFileSync(path.join(IMAGES_DIR, 'demo', 'Containerfile'), 'utf8');
  const genDir = path.join(engine.dir, 'containerfiles');
  fs.mkdirSync(genDir, { recursive: true });
  for (const tag of LAB_DEMO_TAGS) {
    const first = demoImage(WEB_SERVICES[0].name, tag);
    const containerfile = path.join(genDir, `demo-${tag}.Containerfile`);
    writeFileAtomic(
      containerfile,
      template
        .replace(/@APP_VERSION@/g, tag)
        .replace(/@APP_FORCE_UNREADY@/g, DEMO_BUILDS[tag].forceUnready ? '1' : '0')
        .replace(/@APP_ERROR_EVERY@/g, String(DEMO_BUILDS[tag].errorEvery ?? 0))
        .replace(/@APP_DELAY_MS@/g, String(DEMO_BUILDS[tag].delayMs ?? 0)),
    );
    await build(first, containerfile, demoContext(genDir, tag));
    refs.push(first);
    for (const svc of WEB_SERVICES.slice(1)) {
      await engine.podman(['tag', first, demoImage(svc.name, tag)]);
      refs.push(demoImage(svc.name, tag));
    }
  }
  return refs;
}

export async function pushImages(engine: BuildEngine, refs: string[]): Promise<void> {
  for (const ref of refs) {
    const t0 = Date.now();
    await engine.podman(['push', '--quiet', '--tls-verify=false', ref], 600_000);
    const took = Date.now() - t0;
    if (took > 1000) progress(`    pushed ${ref} in ${seconds(took)}`);
  }
}

export async function imageSizes(engine: BuildEngine, refs: string[]): Promise<Record<string, number>> {
  const r = await engine.podman(['images', '--format', 'json']);
  const list = JSON.parse(r.stdout) as { Names?: string[]; Size: number }[];
  const out: Record<string, number> = {};
  for (const img of list) {
    for (const name of img.Names ?? [])
      if (refs.includes(name) || name.includes('lab-base')) out[name] = img.Size;
  }
  return out;
}
