import type { QueryDefinition, WorkflowHandle } from '@temporalio/client';
import { followWorkflow } from '../../../src/client/follow';

/** A workflow handle that answers the status query and ends with `result` when `finish` is called. */
function fakeHandle<R>(statuses: string[]) {
  let finish!: (r: R) => void;
  const result = new Promise<R>((resolve) => (finish = resolve));
  let asked = 0;
  const handle = {
    query: async () => statuses[Math.min(asked++, statuses.length - 1)],
    result: () => result,
  } as unknown as WorkflowHandle;
  return { handle, finish, asked: () => asked };
}

const query = {} as QueryDefinition<string>;

test('the result ends the follow at once, without waiting out the pause between polls', async () => {
  const fake = fakeHandle<string>(['running']);
  const seen: string[] = [];
  // A minute between polls: a follow that waited for the poller's pause would outlive the test.
  const following = followWorkflow<string, string>(fake.handle, {
    query,
    changeKey: (s) => s,
    onChange: (s) => seen.push(s),
    timeoutMs: 3_600_000,
    pollMs: 60_000,
    stoppedMessage: 'gave up',
  });
  while (fake.asked() === 0) await new Promise((r) => setTimeout(r, 5));
  fake.finish('done');
  await expect(following).resolves.toEqual({ ended: 'completed', result: 'done', last: 'running' });
  expect(seen).toEqual(['running']);
});

test('no result before the deadline: the follow stops waiting and says so', async () => {
  const fake = fakeHandle<string>(['running']);
  const end = await followWorkflow<string, string>(fake.handle, {
    query,
    changeKey: (s) => s,
    timeoutMs: 50,
    pollMs: 60_000,
    stoppedMessage: 'gave up after 0.05 s',
  });
  expect(end).toEqual({ ended: 'stopped-waiting', message: 'gave up after 0.05 s', last: 'running' });
});
