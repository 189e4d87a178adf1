import { inTurns } from '../../../src/shared/promises';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('inTurns', () => {
  test('runs every item, never more than the limit at once, in order of start', async () => {
    let running = 0;
    let most = 0;
    const started: number[] = [];
    await inTurns([1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      running++;
      most = Math.max(most, running);
      await tick();
      running--;
    });
    expect(started).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });

  test('starts nothing after the first failure, and throws it only once every started item ended', async () => {
    const started: number[] = [];
    const ended: number[] = [];
    const run = inTurns([1, 2, 3, 4], 2, async (n) => {
      started.push(n);
      if (n === 1) throw new Error('host 1 failed');
      await tick();
      await tick();
      ended.push(n);
    });
    await expect(run).rejects.toThrow('host 1 failed');
    // 1 failed at once, 2 was running beside it: nothing else started, and 2 had ended by then.
    expect(started).toEqual([1, 2]);
    expect(ended).toEqual([2]);
  });

  test('a limit above the items runs them all at once; nothing to run ends at once', async () => {
    let running = 0;
    let most = 0;
    await inTurns(['a', 'b', 'c'], 10, async () => {
      running++;
      most = Math.max(most, running);
      await tick();
      running--;
    });
    expect(most).toBe(3);
    await expect(inTurns([], 3, async () => undefined)).resolves.toBeUndefined();
  });
});
