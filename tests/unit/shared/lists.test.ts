import { groupsOf } from '../../../src/shared/lists';

test('consecutive groups of the size, in order, the last one shorter', () => {
  expect(groupsOf([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  expect(groupsOf(['a', 'b'], 5)).toEqual([['a', 'b']]);
  expect(groupsOf([], 3)).toEqual([]);
});

test('a size that is not a positive whole number is refused, naming it', () => {
  expect(() => groupsOf([1], 0)).toThrow('a group size must be a positive whole number, not 0');
  expect(() => groupsOf([1], 1.5)).toThrow('not 1.5');
});
