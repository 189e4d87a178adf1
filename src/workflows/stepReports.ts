import { log, metricMeter } from '@temporalio/workflow';
import type { StepState } from '../shared/deployment';

/**
 * What a workflow tells the worker's metrics and logs about itself (src/worker/telemetry.ts):
 * both are dropped while a workflow replays, so nothing is counted twice. Step names carry the
 * host where a step runs on one ("upload web-1"), so the labels stay as few as the hosts.
 */
export function reportStep(environment: string, step: StepState): void {
  const seconds = (step.durationMs ?? 0) / 1000;
  const labels = { environment, step: step.name, outcome: step.status };
  metricMeter
    .createHistogram('deployctl_step_duration', 'float', 's', 'How long each pipeline step took, by outcome')
    .record(seconds, labels);
  log.info(`step ${step.name} ${step.status}`, { ...labels, seconds });
}

/** One finished deployment, by environment and outcome (succeeded, rolled-back, failed, aborted). */
export function countDeployment(environment: string, outcome: string): void {
  metricMeter
    .createCounter(
      'deployctl_deployments',
      'deployments',
      'Deployments that ended, by environment and outcome',
    )
    .add(1, { environment, outcome });
  log.info(`deployment ${outcome}`, { environment, outcome });
}
