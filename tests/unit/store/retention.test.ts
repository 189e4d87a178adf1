import { isoWeek, selectRetained, type RetentionDecision } from '../../../src/store/retention';

const only = (keepLast: number) => ({ keepLast, dailyDays: 0, weeklyWeeks: 0 });
const reasons = (d: RetentionDecision) => Object.fromEntries(d.keep);

describe('isoWeek: ISO 8601 weeks (Monday first, week 1 holds the first Thursday)', () => {
  test.each([
    ['2026-03-29T12:00:00Z', '2026-W13'], // Sunday
    ['2026-03-30T00:00:00Z', '2026-W14'], // Monday
    ['2026-01-01T00:00:00Z', '2026-W01'], // a Thursday: week 1 of its own year
    ['2025-12-29T00:00:00Z', '2026-W01'], // Monday of that week, still in December
    ['2026-12-31T00:00:00Z', '2026-W53'], // 2026 has 53 weeks
    ['2027-01-01T00:00:00Z', '2026-W53'], // a Friday: the last week of the year before
    ['2027-01-03T23:59:59Z', '2026-W53'], // the Sunday that ends it
    ['2027-01-04T00:00:00Z', '2027-W01'],
    ['2024-12-29T23:59:59Z', '2024-W52'],
    ['2024-12-30T00:00:00Z', '2025-W01'], // a Monday in December: week 1 of the next year
    ['2025-01-01T00:00:00Z', '2025-W01'],
    ['2023-01-01T00:00:00Z', '2022-W52'], // a Sunday in January: the year before's last week
    ['2021-01-03T00:00:00Z', '2020-W53'],
    ['2021-01-04T00:00:00Z', '2021-W01'],
  ])('%s is %s', (at, week) => {
    expect(isoWeek(new Date(at))).toBe(week);
  });
});

describe('selectRetained', () => {
  const now = new Date('2026-03-10T12:00:00Z');

  test('keepLast keeps the newest N whatever the input order; the rest are removed newest first', () => {
    const backups = [
      { id: 'b3', createdAt: '2026-03-03T00:00:00Z' },
      { id: 'b5', createdAt: '2026-03-05T00:00:00Z' },
      { id: 'b1', createdAt: '2026-03-01T00:00:00Z' },
      { id: 'b4', createdAt: '2026-03-04T00:00:00Z' },
      { id: 'b2', createdAt: '2026-03-02T00:00:00Z' },
    ];
    const d = selectRetained(backups, only(2), now);
    expect([...d.keep.keys()]).toEqual(['b5', 'b4']);
    expect(reasons(d)).toEqual({ b5: ['last 1 of 2'], b4: ['last 2 of 2'] });
    expect(d.remove).toEqual(['b3', 'b2', 'b1']);
  });

  test('fewer backups than keepLast: all kept, nothing removed', () => {
    const d = selectRetained(
      [
        { id: 'a', createdAt: '2026-03-01T00:00:00Z' },
        { id: 'b', createdAt: '2026-03-02T00:00:00Z' },
      ],
      only(7),
      now,
    );
    expect(reasons(d)).toEqual({ b: ['last 1 of 7'], a: ['last 2 of 7'] });
    expect(d.remove).toEqual([]);
  });

  test('no backups: nothing kept, nothing removed', () => {
    const d = selectRetained([], { keepLast: 3, dailyDays: 7, weeklyWeeks: 4 }, now);
    expect(d.keep.size).toBe(0);
    expect(d.remove).toEqual([]);
  });

  test('keepLast is at least 1, even with no daily or weekly rule', () => {
    const backups = [
      { id: 'old', createdAt: '2026-03-01T00:00:00Z' },
      { id: 'new', createdAt: '2026-03-02T00:00:00Z' },
    ];
    for (const keepLast of [0, 1]) {
      const d = selectRetained(backups, only(keepLast), now);
      expect(reasons(d)).toEqual({ new: ['last 1 of 1'] });
      expect(d.remove).toEqual(['old']);
    }
  });

  test('backups older than every window are removed, except the last N', () => {
    const d = selectRetained(
      [
        { id: 'y1', createdAt: '2025-01-01T00:00:00Z' },
        { id: 'y2', createdAt: '2025-01-02T00:00:00Z' },
        { id: 'y3', createdAt: '2025-01-03T00:00:00Z' },
      ],
      { keepLast: 1, dailyDays: 7, weeklyWeeks: 4 },
      now,
    );
    expect(reasons(d)).toEqual({ y3: ['last 1 of 1'] });
    expect(d.remove).toEqual(['y2', 'y1']);
  });

  test('daily: the newest of each UTC day whose backup is within dailyDays of now', () => {
    // now - 3 days = 2026-03-07T12:00:00Z; the window excludes that instant itself.
    const backups = [
      { id: 'd10-06', createdAt: '2026-03-10T06:00:00Z' },
      { id: 'd10-00', createdAt: '2026-03-10T00:00:00Z' },
      { id: 'd09-18', createdAt: '2026-03-09T18:00:00Z' },
      { id: 'd09-06', createdAt: '2026-03-09T06:00:00Z' },
      { id: 'd08-late', createdAt: '2026-03-08T23:59:59Z' },
      { id: 'd08-early', createdAt: '2026-03-08T00:00:01Z' },
      { id: 'd07-13', createdAt: '2026-03-07T13:00:00Z' },
      { id: 'd07-12', createdAt: '2026-03-07T12:00:00Z' },
      { id: 'd06-20', createdAt: '2026-03-06T20:00:00Z' },
    ];
    const d = selectRetained(backups, { keepLast: 1, dailyDays: 3, weeklyWeeks: 0 }, now);
    expect(reasons(d)).toEqual({
      'd10-06': ['last 1 of 1', 'daily 2026-03-10'],
      'd09-18': ['daily 2026-03-09'],
      'd08-late': ['daily 2026-03-08'],
      'd07-13': ['daily 2026-03-07'],
    });
    expect(d.remove).toEqual(['d10-00', 'd09-06', 'd08-early', 'd07-12', 'd06-20']);
  });

  test('weekly: the newest of each ISO week whose backup is within weeklyWeeks of now', () => {
    // now is Wednesday 2026-03-11 (W11); now - 2 weeks = 2026-02-25T12:00:00Z (W09).
    const wednesday = new Date('2026-03-11T12:00:00Z');
    const backups = [
      { id: 'w11-wed', createdAt: '2026-03-11T06:00:00Z' },
      { id: 'w11-mon', createdAt: '2026-03-09T00:00:00Z' },
      { id: 'w10-sun', createdAt: '2026-03-08T23:00:00Z' },
      { id: 'w10-mon', createdAt: '2026-03-02T10:00:00Z' },
      { id: 'w09-sun', createdAt: '2026-03-01T10:00:00Z' },
      { id: 'w09-in', createdAt: '2026-02-25T13:00:00Z' },
      { id: 'w09-out', createdAt: '2026-02-25T11:00:00Z' },
      { id: 'w08', createdAt: '2026-02-20T10:00:00Z' },
    ];
    const d = selectRetained(backups, { keepLast: 1, dailyDays: 0, weeklyWeeks: 2 }, wednesday);
    expect(reasons(d)).toEqual({
      'w11-wed': ['last 1 of 1', 'weekly 2026-W11'],
      'w10-sun': ['weekly 2026-W10'],
      'w09-sun': ['weekly 2026-W09'],
    });
    expect(d.remove).toEqual(['w11-mon', 'w10-mon', 'w09-in', 'w09-out', 'w08']);
  });

  test('equal times are ordered by id, the greatest first (for last N, daily and weekly alike)', () => {
    const at = '2026-03-09T08:00:00Z';
    const backups = [
      { id: 'x-b', createdAt: at },
      { id: 'x-c', createdAt: at },
      { id: 'x-a', createdAt: at },
    ];
    const d = selectRetained(backups, { keepLast: 1, dailyDays: 7, weeklyWeeks: 4 }, now);
    expect(reasons(d)).toEqual({ 'x-c': ['last 1 of 1', 'daily 2026-03-09', 'weekly 2026-W11'] });
    expect(d.remove).toEqual(['x-b', 'x-a']);
  });

  test('30 days of 4 backups a day under {keepLast: 3, dailyDays: 7, weeklyWeeks: 4}', () => {
    const backups = [];
    for (let day = 1; day <= 30; day++) {
      for (const hour of ['00', '06', '12', '18']) {
        const dd = String(day).padStart(2, '0');
        backups.push({ id: `staging-202603${dd}-${hour}00`, createdAt: `2026-03-${dd}T${hour}:00:00Z` });
      }
    }
    // Half an hour after the last one (Monday 2026-03-30, W14): the daily window starts at
    // 03-23T18:30 (so 03-23's 18:00 is out), the weekly one at 03-02T18:30 (W10; W09 is out).
    const d = selectRetained(
      backups,
      { keepLast: 3, dailyDays: 7, weeklyWeeks: 4 },
      new Date('2026-03-30T18:30:00Z'),
    );
    const expected = {
      'staging-20260330-1800': ['last 1 of 3', 'daily 2026-03-30', 'weekly 2026-W14'],
      'staging-20260330-1200': ['last 2 of 3'],
      'staging-20260330-0600': ['last 3 of 3'],
      'staging-20260329-1800': ['daily 2026-03-29', 'weekly 2026-W13'],
      'staging-20260328-1800': ['daily 2026-03-28'],
      'staging-20260327-1800': ['daily 2026-03-27'],
      'staging-20260326-1800': ['daily 2026-03-26'],
      'staging-20260325-1800': ['daily 2026-03-25'],
      'staging-20260324-1800': ['daily 2026-03-24'],
      'staging-20260322-1800': ['weekly 2026-W12'],
      'staging-20260315-1800': ['weekly 2026-W11'],
      'staging-20260308-1800': ['weekly 2026-W10'],
    };
    expect(reasons(d)).toEqual(expected);
    // Kept in the order the activity reports them: newest first.
    expect([...d.keep.keys()]).toEqual(Object.keys(expected));
    expect(d.keep.size).toBe(12);
    expect(d.remove).toHaveLength(108);
    expect(d.remove.slice(0, 3)).toEqual([
      'staging-20260330-0000',
      'staging-20260329-1200',
      'staging-20260329-0600',
    ]);
    expect(d.remove.at(-1)).toBe('staging-20260301-0000');
    expect(new Set([...d.remove, ...d.keep.keys()]).size).toBe(120);
  });
});
