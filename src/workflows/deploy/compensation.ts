import { errorMessage } from '../operationTracker';
import type { DeployPlan } from '../../shared/deployment';
import { waitForHealth } from './activities';
import type { DeploymentTracker } from './tracker';

/** How to undo one completed step, described for the operator. */
export interface Compensation {
  description: string;
  run: () => Promise<void>;
  /**
   * Undo steps of one group that lie next to each other on the stack run at the same time
   * (the hosts of a rolling release); without a group, one after another.
   */
  group?: string;
}

export type UndoResult = 'nothing-to-undo' | 'undone' | 'incomplete';

/**
 * The saga's undo steps: each step that changes a host pushes how to undo it, and a failure
 * runs them in reverse. Every undo step is tried even when an earlier one fails.
 */
export class CompensationStack {
  private readonly stack: Compensation[] = [];

  constructor(private readonly tracker: DeploymentTracker) {}

  push(compensation: Compensation): void {
    this.stack.push(compensation);
  }

  /**
   * Undo in reverse (call inside a non-cancellable scope), then, when every undo step ran and
   * there was a release to return to, verify that release is healthy again.
   */
  async unwind(p: DeployPlan | undefined): Promise<UndoResult> {
    const { state, step } = this.tracker;
    if (this.stack.length === 0 || !p) return 'nothing-to-undo';
    const actions: string[] = [];
    state.rollback = { healthy: false, actions };
    // Workflow time: when the task that saw the failure ran, and when the health check's result came.
    const failedAt = Date.now();
    let complete = true;
    const reversed = [...this.stack].reverse();
    for (let i = 0; i < reversed.length;) {
      let end = i + 1;
      const group = reversed[i].group;
      if (group !== undefined) while (end < reversed.length && reversed[end].group === group) end++;
      const together = reversed.slice(i, end);
      const results = await Promise.allSettled(
        together.map((c) => step(`rollback: ${c.description}`, c.run)),
      );
      results.forEach((r, k) => {
        const { description } = together[k];
        if (r.status === 'fulfilled') actions.push(description);
        else {
          actions.push(`NOT done (${errorMessage(r.reason)}): ${description}`);
          complete = false;
        }
      });
      i = end;
    }
    // Health is only worth verifying when every undo step ran; otherwise the state is unknown.
    if (complete && p.previous) {
      const restored = p.previous.release;
      state.rollback.restoredRelease = restored;
      try {
        await step('rollback: health', () =>
          waitForHealth({ environment: p.environment, release: restored }),
        );
        state.rollback.healthy = true;
        state.rollback.answeringAfterMs = Date.now() - failedAt;
      } catch {
        complete = false;
      }
    }
    return complete ? 'undone' : 'incomplete';
  }
}
