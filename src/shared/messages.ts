import { defineQuery } from '@temporalio/workflow';
import type { DeploymentStatus } from './deployment';

/** Queries, signals and updates shared by the workflows and the client: one definition each. */
export const deploymentStatusQuery = defineQuery<DeploymentStatus>('deploymentStatus');
