/**
 * Builds the worker's container image from this checkout (worker.Dockerfile): stages what the
 * package ships (dist/src, bin, scripts/server-setup.sh), package.json, the lockfile and, of the
 * node_modules already installed here, the packages the production tree needs (nothing
 * downloads), then runs the engine's build.
 *
 *   npm run build && npm run worker-image -- --tag ghcr.io/acme/deployctl-worker:0.1.0
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';

const ROOT = path.resolve(__dirname, '..');
export const WORKER_DOCKERFILE = path.join(ROOT, 'worker.Dockerfile');
export const DEFAULT_BASE = 'node:20-bookworm-slim';
/** What goes into the image from the checkout: the package's own files and its manifests. */
const SHIPPED = ['dist/src', 'bin', 'scripts/server-setup.sh', 'package.json', 'package-lock.json'];

export interface WorkerImageOptions {
  tag: string;
  base?: string;
  /** The engine's argv prefix: ['docker'], ['podman'], or podman with its own storage. */
  engine?: string[];
  env?: NodeJS.ProcessEnv;
  /** Stage here (kept) instead of a temporary directory (removed). */
  contextDir?: string;
  log?: (line: string) => void;
}

function run(
  argv: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${argv[0]}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `${argv.join(' ')} ${signal ? `was killed (${signal}) after ${opts.timeoutMs / 1000} s` : `exited ${code}`}:\n${out.trim().split('\n').slice(-15).join('\n')}`,
          ),
        );
    });
  });
}

/**
 * The installed packages the production tree needs (`npm ls --omit=dev`), as top-level names
 * under node_modules: each is copied whole, its own nested dependencies with it.
 */
async function productionPackages(): Promise<string[]> {
  // Without the npm_* settings an `npm run` or `npx` above passes down: they are not this call's.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  const listed = await run(['npm', 'ls', '--omit=dev', '--all', '--parseable'], {
    cwd: ROOT,
    env,
    timeoutMs: 120_000,
  });
  const modules = path.join(ROOT, 'node_modules') + path.sep;
  const names = new Set<string>();
  for (const line of listed.split('\n')) {
    if (!line.startsWith(modules)) continue;
    const [first, second] = line.slice(modules.length).split(path.sep);
    names.add(first.startsWith('@') ? `${first}/${second}` : first);
  }
  return [...names].sort();
}

/** The build context: the package's files and its production dependencies, no dev ones. */
export async function stageWorkerContext(dir: string, log: (line: string) => void = () => {}): Promise<void> {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'worker.js')))
    throw new Error('dist/src/worker.js is missing: run "npm run build" first');
  if (!fs.existsSync(path.join(ROOT, 'node_modules')))
    throw new Error('node_modules is missing: run "npm ci" first');
  fs.mkdirSync(dir, { recursive: true });
  for (const rel of SHIPPED) fs.cpSync(path.join(ROOT, rel), path.join(dir, rel), { recursive: true });
  const packages = await productionPackages();
  for (const name of packages)
    fs.cpSync(path.join(ROOT, 'node_modules', name), path.join(dir, 'node_modules', name), {
      recursive: true,
      verbatimSymlinks: true,
    });
  fs.copyFileSync(WORKER_DOCKERFILE, path.join(dir, 'Dockerfile'));
  log(`staged the build context in ${dir} (${packages.length} production packages)`);
}

/** Stages the context and builds the image; resolves to the tag. */
export async function buildWorkerImage(opts: WorkerImageOptions): Promise<string> {
  const log = opts.log ?? (() => {});
  const dir = opts.contextDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'worker-image-'));
  try {
    await stageWorkerContext(dir, log);
    const engine = opts.engine ?? ['docker'];
    const base = opts.base ?? DEFAULT_BASE;
    log(`building ${opts.tag} on ${base} with ${engine[0]}`);
    await run(
      [
        ...engine,
        'build',
        '--build-arg',
        `BASE=${base}`,
        '-t',
        opts.tag,
        '-f',
        path.join(dir, 'Dockerfile'),
        dir,
      ],
      {
        env: opts.env,
        timeoutMs: 20 * 60_000,
      },
    );
    log(`built ${opts.tag}`);
    return opts.tag;
  } finally {
    if (!opts.contextDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const program = new Command('worker-image')
    .description("build the worker's container image from this checkout (run `npm run build` first)")
    .requiredOption('--tag <ref>', 'the image reference to build, e.g. ghcr.io/acme/deployctl-worker:0.1.0')
    .option('--base <image>', 'the Node.js 20 Debian image to build on', DEFAULT_BASE)
    .option('--engine <command>', 'the container engine command: docker or podman', 'docker')
    .option('--context <dir>', 'stage the build context here and keep it (default: a temporary directory)')
    .parse();
  const opts = program.opts<{ tag: string; base: string; engine: string; context?: string }>();
  if (!/^(docker|podman)$/.test(opts.engine)) {
    console.error(`worker-image: --engine "${opts.engine}" must be docker or podman`);
    process.exitCode = 2;
    return;
  }
  await buildWorkerImage({
    tag: opts.tag,
    base: opts.base,
    engine: [opts.engine],
    contextDir: opts.context,
    log: (line) => console.error(`worker-image: ${line}`),
  });
  console.log(opts.tag);
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`worker-image: ${err.message}`);
    process.exitCode = 1;
  });
}
