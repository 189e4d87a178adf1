/** `items` in consecutive groups of `size` (the last one shorter), in order. Deterministic: workflows use it too. */
export function groupsOf<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new Error(`a group size must be a positive whole number, not ${size}`);
  const groups: T[][] = [];
  for (let i = 0; i < items.length; i += size) groups.push(items.slice(i, i + size));
  return groups;
}
