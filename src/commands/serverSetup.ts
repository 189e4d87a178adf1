import type { SetupStep } from '../shared/setup';

/**
 * The server-setup script, relative to this tool's root (it ships with the package). The worker sends its text as one
 * argument of `sh -c`, so nothing has to be installed on a brand-new server before it runs.
 */
export const SERVER_SETUP_SCRIPT = 'scripts/server-setup.sh';

export interface ServerSetupOptions {
  /** The host's baseDir; the script creates <baseDir>/<project>/releases and backups. */
  baseDir: string;
  project: string;
  /** The environment's compose argv prefix, e.g. ['docker', 'compose']. */
  composeCommand: string[];
  /** The user the pipeline deploys as; created when missing. */
  deployUser: string;
  /** Opened in ufw (with 22) when ufw is active. */
  openPorts?: number[];
}

/**
 * Runs the script text with the options as its arguments. Values never become script text:
 * the script validates them itself (exit 2 naming the flag), and the executor quotes argv.
 */
export function serverSetup(scriptText: string, opts: ServerSetupOptions): string[] {
  const ports = opts.openPorts?.length ? ['--open-ports', opts.openPorts.join(' ')] : [];
  return [
    'sh',
    '-c',
    scriptText,
    'server-setup',
    '--base-dir',
    opts.baseDir,
    '--project',
    opts.project,
    '--compose',
    opts.composeCommand.join(' '),
    '--deploy-user',
    opts.deployUser,
    ...ports,
  ];
}

const SETUP_LINE = /^setup (\S+) (done|skipped)(?: (.*))?$/;

/**
 * The steps the script reported, in order. Other stdout lines (a login banner, say) are not
 * steps and are left out; failures are on stderr with a non-zero exit, not here.
 */
export function parseSetupOutput(stdout: string): SetupStep[] {
  const steps: SetupStep[] = [];
  for (const line of stdout.split('\n')) {
    const m = SETUP_LINE.exec(line.replace(/\r$/, ''));
    if (m) steps.push({ step: m[1], result: m[2] as SetupStep['result'], detail: m[3] ?? '' });
  }
  return steps;
}
