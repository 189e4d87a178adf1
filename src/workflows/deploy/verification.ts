import type { Colour } from '../../config/schema';
import type { CheckResult, DeployPlan, GateResult } from '../../shared/deployment';
import { rootFailure } from '../operationTracker';
import { postDeployChecks, runQualityGates } from './activities';
import type { DeploymentTracker } from './tracker';

/** The results a failed gate or check carries in its details, kept so the status shows them. */
function resultsOf<T>(err: unknown): T[] | undefined {
  const details = rootFailure(err)?.details?.[0];
  return Array.isArray(details) ? (details as T[]) : undefined;
}

/** Quality gates at the release's commit, before any host is touched. */
export async function runGates(tracker: DeploymentTracker, p: DeployPlan): Promise<void> {
  const { state, step } = tracker;
  await step('gates', async () => {
    try {
      state.gates = await runQualityGates({ plan: p });
    } catch (err) {
      state.gates = resultsOf<GateResult>(err) ?? state.gates;
      throw err;
    }
  });
}

/**
 * The configured HTTP checks and the services-running check, once the release is healthy;
 * with a colour, through that colour's preview route, before users reach it.
 */
export async function runPostDeployChecks(
  tracker: DeploymentTracker,
  p: DeployPlan,
  opts: {
    colour?: Colour;
    /** Only the HTTP and domain checks (the caller just saw every service running). */
    httpOnly?: boolean;
    /** Per host, the services the compose files configure, when an earlier step read them. */
    configuredServices?: Record<string, string[]>;
  } = {},
): Promise<void> {
  const { colour, httpOnly, configuredServices } = opts;
  const { state, step } = tracker;
  const known = configuredServices && Object.keys(configuredServices).length ? { configuredServices } : {};
  await step('checks', async () => {
    try {
      state.checks = await postDeployChecks(
        colour ? { plan: p, colour, ...(httpOnly ? { httpOnly } : {}), ...known } : { plan: p, ...known },
      );
    } catch (err) {
      state.checks = resultsOf<CheckResult>(err) ?? state.checks;
      throw err;
    }
  });
}
