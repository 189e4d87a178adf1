import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes, in one place: the dev server registers them at start, workflows
 * upsert them, operators filter on them in the Web UI ("DeployEnvironment = 'production'").
 */
export const DEPLOY_ENVIRONMENT = defineSearchAttributeKey('DeployEnvironment', SearchAttributeType.KEYWORD);
export const DEPLOY_RELEASE = defineSearchAttributeKey('DeployRelease', SearchAttributeType.KEYWORD);
export const DEPLOY_STAGE = defineSearchAttributeKey('DeployStage', SearchAttributeType.KEYWORD);
export const DEPLOY_STATUS = defineSearchAttributeKey('DeployStatus', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTES = [DEPLOY_ENVIRONMENT, DEPLOY_RELEASE, DEPLOY_STAGE, DEPLOY_STATUS];

/** "Name=Keyword" arguments for `temporal server start-dev --search-attribute`. */
export function devServerSearchAttributeArgs(): string[] {
  return ALL_SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=Keyword`]);
}
