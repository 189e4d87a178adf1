import { Context } from '@temporalio/activity';
import type { HostConfig } from '../config/schema';
import type { DeployPlan } from '../shared/deployment';
import { withHost, type RemoteHost, type RunOptions, type RunResult } from '../remote/executor';
import type { Argv } from '../commands/argv';
import { hostLockFile, underHostLock } from '../commands/hostLock';
import { remoteLayout } from '../commands/layout';
import type { EnvironmentConfig } from '../config/schema';
import { audit } from './audit';
import { toApplicationFailure } from './failures';
import { keepAlive } from './heartbeat';
import { allEnded } from '../shared/promises';
import { groupsOf } from '../shared/lists';

/** The input of every activity that acts on one host of the plan. */
export interface HostStepInput {
  plan: DeployPlan;
  hostName: string;
}

export function hostOf(plan: DeployPlan, name: string): HostConfig {
  const host = plan.environment.hosts.find((h) => h.name === name);
  if (!host) throw new Error(`host "${name}" is not part of environment "${plan.environment.name}"`);
  return host;
}

/**
 * A step's command that changes the project's containers or data, run holding the project's
 * host lock: a retry after a killed worker waits (up to half the command's deadline) for the
 * killed attempt's command, still running on the host, instead of running beside it.
 */
export function runUnderHostLock(
  host: RemoteHost,
  environment: EnvironmentConfig,
  argv: Argv,
  opts: RunOptions,
): Promise<RunResult> {
  const lockFile = hostLockFile(remoteLayout(environment, host.config));
  const waitSeconds = Math.max(1, Math.floor(opts.timeoutMs / 2000));
  return host.run(underHostLock(lockFile, waitSeconds, argv), opts);
}

/** Heartbeat while a long remote command runs, carrying the last line of output as progress. */
export function progressReporter(step: string) {
  const ctx = Context.current();
  let last = '';
  const stop = keepAlive(() => ({ step, last }));
  return {
    onOutput: (chunk: string) => {
      const lines = chunk.trim().split('\n');
      last = lines[lines.length - 1]?.slice(0, 200) ?? last;
      ctx.heartbeat({ step, last });
    },
    signal: ctx.cancellationSignal,
    stop,
  };
}

/** `fn` with a progress reporter for `step`, stopped however `fn` ends. */
export async function withProgress<T>(
  step: string,
  fn: (progress: ReturnType<typeof progressReporter>) => Promise<T>,
): Promise<T> {
  const progress = progressReporter(step);
  try {
    return await fn(progress);
  } finally {
    progress.stop();
  }
}

/**
 * Run `fn` on the plan's host with audit lines before and after; failures are mapped once.
 * `detail` adds what the step found or made (a checksum, a list) to the success line.
 */
export async function onHost<T>(
  input: HostStepInput,
  step: string,
  fn: (host: RemoteHost) => Promise<T>,
  opts: { detail?: (result: T) => string | undefined } = {},
): Promise<T> {
  // Every host step heartbeats, so a killed worker is noticed within the heartbeat timeout
  // (activityPolicies) even while one long remote command prints nothing.
  const stopHeartbeats = keepAlive(() => ({ step }));
  try {
    return await withHost(hostOf(input.plan, input.hostName), async (host) => {
      await audit(host, input.plan, { step, result: 'started' });
      try {
        const result = await fn(host);
        await audit(host, input.plan, { step, result: 'succeeded', detail: opts.detail?.(result) });
        return result;
      } catch (err) {
        await audit(host, input.plan, {
          step,
          result: 'failed',
          detail: (err as Error).message.slice(0, 500),
        }).catch(() => undefined);
        throw err;
      }
    });
  } catch (err) {
    throw toApplicationFailure(err);
  } finally {
    stopHeartbeats();
  }
}

/** Commands (or transfers) a step runs at once on one connection: sshd allows 10 channels per connection. */
export const AT_ONCE_PER_CONNECTION = 4;

/** `fn` over `items`, AT_ONCE_PER_CONNECTION at a time, each batch ended (allEnded) before the next. */
export async function inBatches<T, R>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = [];
  for (const batch of groupsOf(items, AT_ONCE_PER_CONNECTION))
    out.push(...(await allEnded(batch.map((item, j) => fn(item, out.length + j)))));
  return out;
}

/** Non-empty, trimmed lines of a command's output (a compose listing, one name a line). */
export function outputLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}
