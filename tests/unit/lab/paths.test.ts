import { fleetHosts, FRESH_HOSTS, HOSTS, MAX_FLEET, SPARE_HOSTS } from '../../../lab/paths';

describe('lab fleet hosts', () => {
  test('fleet-1 … fleet-N on 127.0.1.x, after the regular and spare hosts', () => {
    expect(fleetHosts(3)).toEqual([
      { name: 'fleet-1', address: '127.0.1.1', index: 5 },
      { name: 'fleet-2', address: '127.0.1.2', index: 6 },
      { name: 'fleet-3', address: '127.0.1.3', index: 7 },
    ]);
  });

  test('no two lab hosts share a name, an address or an index (subnets and bridge names follow it)', () => {
    const all = [...HOSTS, ...SPARE_HOSTS];
    expect(all).toHaveLength(HOSTS.length + FRESH_HOSTS.length + MAX_FLEET);
    for (const key of ['name', 'address', 'index'] as const)
      expect(new Set(all.map((h) => h[key])).size).toBe(all.length);
  });

  test.each([0, -1, 1.5, MAX_FLEET + 1])('a fleet of %p hosts is refused', (n) => {
    expect(() => fleetHosts(n)).toThrow(`a fleet is 1 to ${MAX_FLEET} hosts, not ${n}`);
  });
});
