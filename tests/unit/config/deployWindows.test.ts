import { closedWindowMessage, deployWindowVerdict } from '../../../src/config/deployWindows';
import { deployWindowsSchema, type DeployWindows } from '../../../src/config/schema';

const office = (extra: Partial<DeployWindows> = {}): DeployWindows =>
  deployWindowsSchema.parse({
    timeZone: 'Europe/Berlin',
    weekly: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }],
    ...extra,
  });

describe('deploy windows', () => {
  test('no weekly windows and no freezes: always open', () => {
    expect(deployWindowVerdict(deployWindowsSchema.parse({ timeZone: 'UTC' }), new Date())).toEqual({
      open: true,
    });
  });

  test("inside a weekly window, in the environment's zone (Berlin is UTC+1 in December)", () => {
    // Wednesday 2026-12-02 08:30 UTC is 09:30 in Berlin: open; 07:30 UTC is 08:30 there: closed.
    expect(deployWindowVerdict(office(), new Date('2026-12-02T08:30:00Z'))).toEqual({ open: true });
    expect(deployWindowVerdict(office(), new Date('2026-12-02T07:30:00Z'))).toEqual({
      open: false,
      why: 'outside the weekly deploy windows (mon,tue,wed,thu,fri 09:00-17:00)',
      nextOpen: '2026-12-02T09:00:00.000+01:00',
    });
  });

  test('Friday evening: the next window is Monday morning, and the message says how to deploy anyway', () => {
    const now = new Date('2026-12-04T16:00:00Z'); // Fri 17:00 in Berlin: the window has just closed
    const verdict = deployWindowVerdict(office(), now);
    expect(verdict).toMatchObject({ open: false, nextOpen: '2026-12-07T09:00:00.000+01:00' });
    if (verdict.open) throw new Error('expected closed');
    expect(closedWindowMessage('production', office(), verdict, now)).toBe(
      'environment "production" is closed for deploys at Fri 2026-12-04 17:00 (Europe/Berlin): ' +
        'outside the weekly deploy windows (mon,tue,wed,thu,fri 09:00-17:00); ' +
        'the next open window starts Mon 2026-12-07 09:00 (Europe/Berlin). ' +
        'To deploy anyway: --override-freeze --reason "<why>" (audited on the hosts); rollbacks are never held back',
    );
  });

  test('a freeze closes the weekly windows it covers; the next window is the first one after it', () => {
    const windows = office({
      freezes: [{ from: '2026-12-20', to: '2027-01-04T12:00', reason: 'year-end freeze' }],
    });
    const verdict = deployWindowVerdict(windows, new Date('2026-12-22T10:00:00Z')); // Tue 11:00 in Berlin
    expect(verdict).toEqual({
      open: false,
      why: 'frozen until Mon 2027-01-04 12:00 (year-end freeze)',
      nextOpen: '2027-01-04T12:00:00.000+01:00',
    });
    // Without weekly windows the freeze's end is the next open moment.
    const freezeOnly = deployWindowsSchema.parse({ timeZone: 'UTC', freezes: windows.freezes });
    expect(deployWindowVerdict(freezeOnly, new Date('2026-12-25T00:00:00Z'))).toMatchObject({
      nextOpen: '2027-01-04T12:00:00.000Z',
    });
    expect(deployWindowVerdict(freezeOnly, new Date('2027-01-04T12:00:00Z'))).toEqual({ open: true });
  });

  test('daylight saving: the same UTC time is inside the window in summer and outside in winter', () => {
    const daily = deployWindowsSchema.parse({
      timeZone: 'Europe/Berlin',
      weekly: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '09:00', to: '10:00' }],
    });
    expect(deployWindowVerdict(daily, new Date('2027-03-28T07:30:00Z'))).toEqual({ open: true }); // 09:30 CEST
    expect(deployWindowVerdict(daily, new Date('2027-03-27T07:30:00Z'))).toMatchObject({
      open: false,
      nextOpen: '2027-03-27T09:00:00.000+01:00', // 08:30 CET: opens half an hour later
    });
  });

  test('a freeze longer than the horizon: no window opens within a year', () => {
    const windows = office({
      freezes: [{ from: '2026-01-01', to: '2028-06-01', reason: 'moving data centres' }],
    });
    const now = new Date('2026-12-02T10:00:00Z');
    const verdict = deployWindowVerdict(windows, now);
    expect(verdict).toEqual({ open: false, why: 'frozen until Thu 2028-06-01 00:00 (moving data centres)' });
    if (verdict.open) throw new Error('expected closed');
    expect(closedWindowMessage('production', windows, verdict, now)).toContain(
      'no window opens within a year.',
    );
  });

  test.each([
    [{ timeZone: 'Mars/Olympus' }, 'timeZone', 'must be an IANA time zone, e.g. "Europe/Berlin" or "UTC"'],
    [
      { timeZone: 'UTC', weekly: [{ days: ['fri'], from: '17:00', to: '09:00' }] },
      'weekly.0',
      'from must be before to',
    ],
    [{ timeZone: 'UTC', weekly: [{ days: ['friday'], from: '09:00', to: '17:00' }] }, 'weekly.0.days.0', ''],
    [{ timeZone: 'UTC', weekly: [{ days: ['fri'], from: '9:00', to: '17:00' }] }, 'weekly.0.from', 'HH:MM'],
    [
      { timeZone: 'UTC', freezes: [{ from: '2026-12-24', to: '2026-12-20', reason: 'x' }] },
      'freezes.0',
      'before to',
    ],
    [
      { timeZone: 'UTC', freezes: [{ from: '2026-13-01', to: '2027-01-01', reason: 'x' }] },
      'freezes.0.from',
      'YYYY-MM-DD',
    ],
    [
      { timeZone: 'UTC', freezes: [{ from: '2026-12-01', to: '2027-01-01', reason: 'a\nb' }] },
      'freezes.0.reason',
      'one line',
    ],
  ])('%j is refused at %s', (raw, path, message) => {
    const r = deployWindowsSchema.safeParse(raw);
    expect(r.success).toBe(false);
    const issue = r.error?.issues[0];
    expect(issue?.path.join('.')).toBe(path);
    expect(issue?.message).toContain(message);
  });
});
