import type { QueryDefinition, WorkflowHandle } from '@temporalio/client';
import { followWorkflow } from '../../../src/client/follow';

/**
 * A workflow handle that answers the status query (after `queryMs`) and ends with `result` when
 * `finish` is called.
 */
function fakeHandle<R>(statuses: string[], queryMs = 0) {
  let finish!: (r: R) => void;
  const result = new Promise<R>((resolve) => (finish = resolve));
  let asked = 0;
  const handle = {
    query: async () => {
      const status = statuses[Math.min(asked++, statuses.length - 1)];
      if (queryMs) await new Promise((r) => setTimeout(r, queryMs));
      return status;
    },
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

test('a result that comes in while a status query runs ends the follow once that query answers', async () => {
  const fake = fakeHandle<string>(['running'], 300);
  const following = followWorkflow<string, string>(fake.handle, {
    query,
    changeKey: (s) => s,
    timeoutMs: 3_600_000,
    pollMs: 60_000,
    stoppedMessage: 'gave up',
  });
  // The first query is in flight (300 ms) when the result comes in.
  while (fake.asked() === 0) await new Promise((r) => setTimeout(r, 5));
  fake.finish('done');
  await expect(following).resolves.toMatchObject({ ended: 'completed', result: 'done' });
});
