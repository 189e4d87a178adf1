import { MockActivityEnvironment } from '@temporalio/testing';
import { keepAlive } from '../../../src/activities/heartbeat';
import { HEARTBEAT_INTERVAL_MS } from '../../../src/shared/heartbeats';

/** Heartbeats an activity sends while `fn` runs, with fake timers advancing `ticks` intervals. */
async function heartbeatsOf(fn: (tick: () => void) => void): Promise<unknown[]> {
  const env = new MockActivityEnvironment();
  const sent: unknown[] = [];
  env.on('heartbeat', (d: unknown) => sent.push(d));
  await env.run(async () => fn(() => jest.advanceTimersByTime(HEARTBEAT_INTERVAL_MS)));
  return sent;
}

describe('keepAlive', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('one heartbeat per interval while it runs, none after it stops', async () => {
    const sent = await heartbeatsOf((tick) => {
      const stop = keepAlive(() => ({ step: 'pull' }));
      tick();
      tick();
      stop();
      tick();
    });
    expect(sent).toEqual([{ step: 'pull' }, { step: 'pull' }]);
  });

  test('nested calls share one timer and send the innermost details, then the outer ones again', async () => {
    const sent = await heartbeatsOf((tick) => {
      const outer = keepAlive(() => ({ step: 'start' }));
      tick();
      const inner = keepAlive(() => ({ step: 'start', last: 'Container web Started' }));
      tick();
      tick();
      inner();
      tick();
      outer();
      tick();
    });
    expect(sent).toEqual([
      { step: 'start' },
      { step: 'start', last: 'Container web Started' },
      { step: 'start', last: 'Container web Started' },
      { step: 'start' },
    ]);
  });

  test('an outer stop before the inner one keeps the inner beating until it stops too', async () => {
    const sent = await heartbeatsOf((tick) => {
      const outer = keepAlive(() => 'outer');
      const inner = keepAlive(() => 'inner');
      outer();
      tick();
      inner();
      tick();
    });
    expect(sent).toEqual(['inner']);
  });
});
