import { runLocal } from '../../../src/activities/localCommand';

describe('runLocal', () => {
  test('an exit code and the output tail', async () => {
    const r = await runLocal(['sh', '-c', 'echo out; echo err >&2; exit 3'], { timeoutMs: 10_000 });
    expect(r).toMatchObject({ code: 3, timedOut: false, stdout: 'out\n', stderr: 'err\n' });
  });

  test('past its deadline the command is killed and reported as timed out', async () => {
    const r = await runLocal(['sleep', '10'], { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.durationMs).toBeLessThan(5_000);
  });

  test('aborted (a cancelled activity), it rejects with the reason: never a failed or timed-out gate', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled by the workflow');
    const running = runLocal(['sleep', '10'], { timeoutMs: 10_000, signal: controller.signal });
    setTimeout(() => controller.abort(reason), 200);
    await expect(running).rejects.toBe(reason);
  });
});
