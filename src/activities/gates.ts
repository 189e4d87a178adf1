import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { gitCheckout, gitClone, gitResolveCommit } from '../commands/git';
import type { DeployPlan, GateResult } from '../shared/deployment';
import { FailureType } from './failures';
import { runLocal } from './localCommand';
import { keepAlive } from './heartbeat';
import { commandDeadlineMs } from '../remote/deadlines';

async function prepareWorkspace(
  repository: string,
  workspace: string,
  ref: string,
  signal: AbortSignal,
): Promise<string> {
  if (!existsSync(join(workspace, '.git'))) {
    rmSync(workspace, { recursive: true, force: true });
    mkdirSync(workspace, { recursive: true });
    const clone = await runLocal(gitClone(repository, workspace), {
      timeoutMs: commandDeadlineMs('transfer'),
      signal,
    });
    if (clone.code !== 0) throw new Error(`git clone of ${repository} failed: ${clone.output.trim()}`);
  }
  const resolved = await runLocal(gitResolveCommit(workspace, ref), {
    timeoutMs: commandDeadlineMs('quick'),
    signal,
  });
  if (resolved.code !== 0) {
    throw ApplicationFailure.nonRetryable(
      `commit "${ref}" does not exist in ${repository}`,
      FailureType.invalidInput,
    );
  }
  const commit = resolved.output.trim();
  const checkout = await runLocal(gitCheckout(workspace, commit), {
    timeoutMs: commandDeadlineMs('query'),
    signal,
  });
  if (checkout.code !== 0) throw new Error(`git checkout of ${commit} failed: ${checkout.output.trim()}`);
  return commit;
}

export function createGateActivities(deps: { workspaceRoot: string }) {
  return {
    /**
     * Check out the release's commit in a fresh workspace on the worker and run every gate
     * concurrently, each with its own deadline. Any failure stops the deployment before a host
     * is touched; the verdicts, durations and output tails go into history either way.
     */
    async runQualityGates(input: { plan: DeployPlan }): Promise<GateResult[]> {
      const { plan } = input;
      const gates = plan.environment.gates;
      if (!gates) return [];
      const ctx = Context.current();
      const workspace = join(deps.workspaceRoot, plan.deploymentId);
      const repository = gates.repository ?? plan.environment.repository!;
      // The commit validate resolved for the compose files, so gates and files agree even if a branch moved.
      const resolved = repository === plan.files?.repository ? plan.files.commit : undefined;
      const ref = resolved ?? plan.request.commit ?? plan.request.release;
      const stopHeartbeats = keepAlive(() => ({ gates: gates.checks.map((g) => g.name) }));
      try {
        const commit = await prepareWorkspace(repository, workspace, ref, ctx.cancellationSignal);
        const results = await Promise.all(
          gates.checks.map(async (gate): Promise<GateResult> => {
            const r = await runLocal(gate.command, {
              cwd: workspace,
              timeoutMs: gate.timeoutSeconds * 1000,
              signal: ctx.cancellationSignal,
            });
            const verdict = r.timedOut ? 'timed-out' : r.code === 0 ? 'passed' : 'failed';
            ctx.heartbeat({ gate: gate.name, verdict });
            return {
              name: gate.name,
              commit,
              verdict,
              exitCode: r.code,
              durationMs: r.durationMs,
              outputTail: r.output,
            };
          }),
        );
        const failed = results.filter((r) => r.verdict !== 'passed');
        if (failed.length) {
          throw ApplicationFailure.nonRetryable(
            `quality gate${failed.length > 1 ? 's' : ''} ${failed
              .map((f) => `${f.name} ${f.verdict}${f.verdict === 'failed' ? ` (exit ${f.exitCode})` : ''}`)
              .join(
                ', ',
              )} at ${commit.slice(0, 12)}: ${failed[0].outputTail.trim().split('\n').slice(-3).join(' | ')}`,
            FailureType.gateFailed,
            results,
          );
        }
        return results;
      } finally {
        stopHeartbeats();
        rmSync(workspace, { recursive: true, force: true });
      }
    },
  };
}
