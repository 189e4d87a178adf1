import { rolloutWaves, waveTurns } from '../../../../src/workflows/deploy/waves';

const hosts = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `h${i + 1}` }));
const waves = (n: number, rollout?: { batchSize?: number; batchPercent?: number }) =>
  rolloutWaves({
    hosts: hosts(n) as never,
    ...(rollout ? { rollout: { pauseSeconds: 0, ...rollout } } : {}),
  });

test('waves of batchSize hosts, in the configured order, the last one shorter', () => {
  expect(waves(5, { batchSize: 2 })).toEqual([['h1', 'h2'], ['h3', 'h4'], ['h5']]);
  expect(waves(4, { batchSize: 4 })).toEqual([['h1', 'h2', 'h3', 'h4']]);
  expect(waves(3, { batchSize: 10 })).toEqual([['h1', 'h2', 'h3']]);
});

test('batchPercent is a share of the hosts, rounded up, at least one host', () => {
  expect(waves(4, { batchPercent: 25 })).toEqual([['h1'], ['h2'], ['h3'], ['h4']]);
  expect(waves(5, { batchPercent: 40 })).toEqual([['h1', 'h2'], ['h3', 'h4'], ['h5']]);
  expect(waves(3, { batchPercent: 1 })).toEqual([['h1'], ['h2'], ['h3']]);
  expect(waves(3, { batchPercent: 100 })).toEqual([['h1', 'h2', 'h3']]);
});

test('no rollout section, or one host: no waves (every host, then one health wait)', () => {
  expect(waves(4)).toBeUndefined();
  expect(waves(1, { batchSize: 1 })).toBeUndefined();
});

test('a wave goes in turns of maxUnavailable hosts, the last one shorter; the whole wave without it', () => {
  expect(waveTurns(['h1', 'h2', 'h3', 'h4', 'h5'], 2)).toEqual([['h1', 'h2'], ['h3', 'h4'], ['h5']]);
  expect(waveTurns(['h1', 'h2', 'h3'], undefined)).toEqual([['h1', 'h2', 'h3']]);
  expect(waveTurns(['h1', 'h2'], 10)).toEqual([['h1', 'h2']]);
});
