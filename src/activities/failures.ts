import { ApplicationFailure } from '@temporalio/activity';
import { ConfigError } from '../config/errors';
import { loadEnvironment } from '../config/load';
import type { EnvironmentConfig } from '../config/schema';
import { HostKeyMismatchError } from '../remote/executor';
import { MissingSecretError } from './secrets';

/** Failure types a retry cannot fix; the workflow and the client branch on these names. */
export const FailureType = {
  invalidInput: 'InvalidInput',
  hostKeyMismatch: 'HostKeyMismatch',
  missingSecret: 'MissingSecret',
  healthDeadline: 'HealthDeadlineExceeded',
  gateFailed: 'GateFailed',
  diskBelowFloor: 'DiskBelowFloor',
  deployWindowClosed: 'DeployWindowClosed',
} as const;

/** Map known errors to non-retryable failures; anything else stays retryable (network, SSH drops). */
export function toApplicationFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ConfigError)
    return ApplicationFailure.nonRetryable(err.message, FailureType.invalidInput, err.problems);
  if (err instanceof HostKeyMismatchError)
    return ApplicationFailure.nonRetryable(err.message, FailureType.hostKeyMismatch);
  if (err instanceof MissingSecretError)
    return ApplicationFailure.nonRetryable(err.message, FailureType.missingSecret);
  return err;
}

/** The environment's config as the worker reads it now; a bad or missing one fails as InvalidInput. */
export function loadEnvironmentOrFail(configDir: string, environment: string): EnvironmentConfig {
  try {
    return loadEnvironment(configDir, environment);
  } catch (err) {
    throw toApplicationFailure(err);
  }
}
