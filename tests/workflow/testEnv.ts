import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/shared/searchAttributes';
import { resolveTemporalCli } from '../../src/devserver/binaries';

let runtimeInstalled = false;

/**
 * A real Temporal dev server (the installed CLI binary, never a download) with the project's
 * search attributes registered. Fails with the resolver's message when the binary is missing.
 */
export async function startLocalTemporal(): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: resolveTemporalCli() },
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      ip: '127.0.0.1',
    },
  });
}
