import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  setHandler,
} from '@temporalio/workflow';
import type { CanaryConfig, Colour } from '../../config/schema';
import type { CanaryState, Decision, DeployPlan } from '../../shared/deployment';
import {
  pauseCanarySignal,
  promoteCanarySignal,
  resumeCanarySignal,
  SIGNAL_HELP,
  type DecisionInput,
} from '../../shared/messages';
import { analyseStep } from '../../traffic/analysis';
import { observeCanary } from './activities';
import type { DeploymentTracker } from './tracker';
import { decisionFrom } from './decisionInput';

/** "24 h", "15 min", "90 s": the pause deadline as operators read it in the failure. */
function formatSeconds(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

export const CANARY_FAILED = 'CanaryFailed';

/**
 * Operators' controls of a canary (the Web UI's Send Signal or deployctl): pause holds the
 * current weight after the running step's analysis, resume goes on, promote sends all traffic to
 * the new release at once. Registered when the deployment starts, so an early one is kept.
 */
export function acceptCanaryControls(tracker: DeploymentTracker) {
  const controls: { paused?: Decision; promoted?: Decision } = {};
  const decision = (signal: string, input: DecisionInput): Decision | undefined => {
    const parsed = decisionFrom(signal, input);
    if ('decision' in parsed) return parsed.decision;
    tracker.state.ignoredSignals.push(parsed.ignored);
    return undefined;
  };
  const mirror = () => {
    if (tracker.state.canary) {
      tracker.state.canary.paused = controls.paused;
      tracker.state.canary.promoted = controls.promoted;
    }
  };
  setHandler(
    pauseCanarySignal,
    (input) => {
      controls.paused = decision('pauseCanary', input) ?? controls.paused;
      mirror();
    },
    { description: SIGNAL_HELP.pauseCanary },
  );
  setHandler(
    resumeCanarySignal,
    (input) => {
      if (decision('resumeCanary', input)) controls.paused = undefined;
      mirror();
    },
    { description: SIGNAL_HELP.resumeCanary },
  );
  setHandler(
    promoteCanarySignal,
    (input) => {
      controls.promoted = controls.promoted ?? decision('promoteCanary', input);
      mirror();
    },
    { description: SIGNAL_HELP.promoteCanary },
  );
  return controls;
}

/**
 * The canary's weight steps: route `weight` % to the target, observe it for the dwell, decide
 * with the pure analysis; a failed step (or an inconclusive one past its extensions) fails the
 * deployment, whose compensation sends all traffic back to the stable colour in one write.
 */
export async function runCanary(
  tracker: DeploymentTracker,
  p: DeployPlan,
  target: Colour,
  controls: { paused?: Decision; promoted?: Decision },
  routeTo: (weight: number) => Promise<void>,
): Promise<void> {
  const { state, step, show } = tracker;
  const config: CanaryConfig = p.environment.traffic!.canary;
  // Controls sent before the canary started are shown from the start.
  const canary: CanaryState = {
    plan: config.steps,
    weight: 0,
    steps: [],
    paused: controls.paused,
    promoted: controls.promoted,
  };
  state.canary = canary;
  const thresholds = { ...config.thresholds, minRequests: config.minRequests };
  for (const weight of config.steps) {
    if (controls.promoted) break;
    await routeTo(weight);
    canary.weight = weight;
    if (weight === 100) return;
    for (let extension = 0; ; extension++) {
      const name = `analyse ${weight} %${extension ? ` (extended ${extension})` : ''}`;
      const observation = await step(name, () =>
        observeUnlessPromoted(p, target, config.dwellSeconds, controls),
      );
      if (!observation) break; // promoted meanwhile
      const verdict = analyseStep({
        ...observation,
        thresholds,
        excuseProxyRestarts: patched('canary-excuses-proxy-restarts'),
      });
      canary.steps.push({ weight, ...verdict, failedProbes: observation.failedProbes });
      show();
      tracker.notifier.send({
        event: 'canary-verdict',
        summary: `canary of ${state.release} at ${weight} %: ${verdict.verdict}`,
        release: state.release,
        outcome: verdict.verdict,
        ...(verdict.reasons.length ? { detail: verdict.reasons.join('; ') } : {}),
      });
      if (verdict.verdict === 'passed') break;
      if (verdict.verdict === 'failed')
        throw ApplicationFailure.nonRetryable(
          `canary at ${weight} % failed its analysis: ${verdict.reasons.join('; ')}`,
          CANARY_FAILED,
        );
      if (config.onInconclusive === 'fail' || extension >= config.maxExtensions)
        throw ApplicationFailure.nonRetryable(
          `canary at ${weight} % stayed inconclusive (${verdict.reasons.join('; ')})${config.onInconclusive === 'extend' ? ` after ${extension} extension(s)` : ''}`,
          CANARY_FAILED,
        );
    }
    if (controls.paused && !controls.promoted) {
      state.stage = `canary paused at ${weight} % by ${controls.paused.by}`;
      show();
      const resumed = await condition(
        () => !controls.paused || !!controls.promoted,
        config.maxPauseSeconds * 1000,
      );
      if (!resumed)
        throw ApplicationFailure.nonRetryable(
          `canary paused at ${weight} % for more than ${formatSeconds(config.maxPauseSeconds)}`,
          CANARY_FAILED,
        );
    }
  }
  // Promoted (or the steps ended below 100): all traffic to the new release.
  await routeTo(100);
  canary.weight = 100;
}

/** Observe one step; a promotion meanwhile cancels the observation and returns nothing. */
async function observeUnlessPromoted(
  p: DeployPlan,
  colour: Colour,
  dwellSeconds: number,
  controls: { promoted?: Decision },
) {
  const scope = new CancellationScope();
  const observing = scope.run(() => observeCanary({ plan: p, colour, dwellSeconds }));
  const promoted = condition(() => !!controls.promoted).then(() => undefined);
  const first = await Promise.race([observing, promoted]);
  if (first) return first;
  scope.cancel();
  await observing.catch((err) => {
    if (!isCancellation(err)) throw err;
  });
  return undefined;
}
