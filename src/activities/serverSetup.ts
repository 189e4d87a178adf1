import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { parseSetupOutput, SERVER_SETUP_SCRIPT, serverSetup } from '../commands/serverSetup';
import type { EnvironmentConfig } from '../config/schema';
import { projectRoot } from '../shared/projectRoot';
import type { RemoteHost } from '../remote/executor';
import { OperationFailureType } from '../shared/operations';
import type { SetupStep } from '../shared/setup';
import { ANY_EXIT_CODE, failureText } from './database';
import { onHost, type HostStepInput } from './hostStep';
import { commandDeadlineMs } from '../remote/deadlines';

/** The ports the worker probes (readiness and version URLs): the firewall must admit them. */
export function probedPorts(environment: EnvironmentConfig): number[] {
  const ports = environment.services.flatMap((s) =>
    [s.readinessUrl, s.versionUrl].flatMap((url) => {
      if (!url) return [];
      const parsed = new URL(url.replace('{host}', 'host.invalid'));
      return [Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80))];
    }),
  );
  return [...new Set(ports)].sort((a, b) => a - b);
}

/**
 * The idempotent server-setup script on one host: engine, compose, the deploy user, the
 * project's directories, the firewall. The script ships with this tool (its own root, the
 * checkout or the installed package), never with the app. A failure names the step and its output.
 */
export async function runServerSetup(
  host: RemoteHost,
  environment: EnvironmentConfig,
  openPorts: number[] = [],
): Promise<SetupStep[]> {
  const script = readFileSync(resolve(projectRoot(), SERVER_SETUP_SCRIPT), 'utf8');
  const r = await host.run(
    serverSetup(script, {
      baseDir: host.config.baseDir,
      project: environment.project,
      composeCommand: environment.composeCommand,
      deployUser: host.config.user,
      openPorts,
    }),
    { timeoutMs: commandDeadlineMs('setup'), okCodes: ANY_EXIT_CODE },
  );
  if (r.code !== 0) {
    throw ApplicationFailure.nonRetryable(
      `${host.config.name}: server setup failed (exit ${r.code}): ${failureText(r.stderr, r.stdout)}`,
      OperationFailureType.serverSetupFailed,
      { steps: parseSetupOutput(r.stdout) },
    );
  }
  return parseSetupOutput(r.stdout);
}

export function createSetupActivities() {
  return {
    /**
     * `deployctl setup`: the script on one host of a configured environment, opening the ports
     * the worker probes. Safe on a host already in use: every step it finds done is skipped.
     */
    async setupEnvironmentHost(input: HostStepInput): Promise<SetupStep[]> {
      const env = input.plan.environment;
      return onHost(input, 'server-setup', (host) => runServerSetup(host, env, probedPorts(env)), {
        detail: (steps) => steps.map((s) => `${s.step} ${s.result}`).join(', '),
      });
    },
  };
}
