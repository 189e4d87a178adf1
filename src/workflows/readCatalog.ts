import { proxyActivities } from '@temporalio/workflow';
import type { DeployActivities } from '../activities';
import type { CatalogInput, CatalogResult } from '../shared/catalog';
import { activityPolicies } from './activityPolicies';

const { readCatalog: readStore } = proxyActivities<DeployActivities>(activityPolicies.readCatalog);

/** Backup records or drill reports from the worker's store, for clients that cannot read its disk. */
export async function readCatalog(input: CatalogInput): Promise<CatalogResult> {
  return readStore(input);
}
