import { auditLines, parseSince } from '../../../src/client/auditCommand';
import { auditLine } from '../../../src/activities/audit';
import { AUDIT_DETAIL_MAX, mergeAuditEvents, parseAuditLog } from '../../../src/shared/auditTrail';

const plan = (deploymentId: string) => ({
  deploymentId,
  request: {
    environment: 'production',
    release: 'r2',
    images: {},
    requestedBy: 'ci',
  },
});
const at = (iso: string) => new Date(iso);

describe('parseAuditLog', () => {
  test('reads the lines the activities write, and counts the rest apart', () => {
    const log = [
      auditLine(plan('d1'), { step: 'upload', result: 'started' }, at('2026-12-01T10:00:00.000Z')),
      'not json at all',
      JSON.stringify({ step: 'x', result: 'y' }), // no time: not an event
      auditLine(
        plan('d1'),
        { step: 'approval', result: 'approved', decidedBy: 'oncall', detail: 'ship it' },
        at('2026-12-01T09:59:00.000Z'),
      ),
      '',
    ].join('\n');
    const { events, unreadable } = parseAuditLog('web-1', log);
    expect(unreadable).toBe(2);
    expect(events).toEqual([
      {
        host: 'web-1',
        at: '2026-12-01T10:00:00.000Z',
        step: 'upload',
        result: 'started',
        deployment: 'd1',
        environment: 'production',
        release: 'r2',
        by: 'ci',
      },
      {
        host: 'web-1',
        at: '2026-12-01T09:59:00.000Z',
        step: 'approval',
        result: 'approved',
        deployment: 'd1',
        environment: 'production',
        release: 'r2',
        by: 'ci',
        decidedBy: 'oncall',
        detail: 'ship it',
      },
    ]);
  });

  test('a long detail is cut, so a page of events stays bounded', () => {
    const line = auditLine(plan('d1'), { step: 'gates', result: 'failed', detail: 'x'.repeat(5000) });
    const [event] = parseAuditLog('web-1', line).events;
    expect(event.detail).toHaveLength(AUDIT_DETAIL_MAX + 1);
    expect(event.detail?.endsWith('…')).toBe(true);
  });
});

describe('mergeAuditEvents', () => {
  const ev = (host: string, time: string, step: string) => ({
    host,
    at: `2026-12-01T${time}Z`,
    step,
    result: 'succeeded',
  });
  const web1 = [ev('web-1', '10:00:00', 'a'), ev('web-1', '10:00:02', 'c'), ev('web-1', '10:00:02', 'd')];
  const web2 = [ev('web-2', '10:00:01', 'b'), ev('web-2', '10:00:03', 'e')];

  test('every host in one time order; equal times keep each host its own order', () => {
    expect(mergeAuditEvents([web2, web1], 100).map((e) => e.step)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  test('the newest `limit` are kept, and nothing before `since`', () => {
    expect(mergeAuditEvents([web1, web2], 2).map((e) => e.step)).toEqual(['d', 'e']);
    expect(mergeAuditEvents([web1, web2], 100, '2026-12-01T10:00:02Z').map((e) => e.step)).toEqual([
      'c',
      'd',
      'e',
    ]);
  });
});

describe('parseSince', () => {
  const now = new Date('2026-12-05T12:00:00.000Z');

  test('a duration back from now, or a date or time', () => {
    expect(parseSince('30m', now)).toBe('2026-12-05T11:30:00.000Z');
    expect(parseSince('12h', now)).toBe('2026-12-05T00:00:00.000Z');
    expect(parseSince('7d', now)).toBe('2026-11-28T12:00:00.000Z');
    expect(parseSince('2026-12-01T08:00:00Z', now)).toBe('2026-12-01T08:00:00.000Z');
    expect(parseSince('2026-12-01', now)).toBe('2026-12-01T00:00:00.000Z');
  });

  test.each(['', '0d', '7w', '-3h', '2026-13-45', 'yesterday', '$(id)', '1d; rm -rf /'])(
    '%j is refused, naming the flag, the value and the rule',
    (value) => {
      expect(() => parseSince(value, now)).toThrow(
        `--since: value ${JSON.stringify(value)} must be a duration back from now (30m, 12h, 7d) or a date or time`,
      );
      expect(() => parseSince(value, now)).toThrow('nothing was read');
    },
  );
});

describe('auditLines', () => {
  test('who decided, the detail on one line, and hosts that could not be read', () => {
    const lines = auditLines({
      environment: 'production',
      events: [
        {
          host: 'web-1',
          at: '2026-12-01T10:00:00.000Z',
          step: 'approval',
          result: 'approved',
          deployment: 'd1',
          release: 'r2',
          by: 'ci',
          decidedBy: 'oncall',
          detail: 'first line\nsecond line',
        },
      ],
      hosts: [
        { host: 'web-1', lines: 3, unreadable: 1 },
        {
          host: 'web-2',
          lines: 0,
          unreadable: 0,
          error: 'cannot connect to web-2 (deploy@10.0.0.2:22): timed out',
        },
      ],
    });
    expect(lines).toEqual([
      '2026-12-01T10:00:00.000Z  web-1  approved   approval  d1 (r2)  oncall (asked by ci)  : first line second line',
      'web-1: 1 line(s) were not audit events and are not shown',
      'web-2: NOT READ: cannot connect to web-2 (deploy@10.0.0.2:22): timed out',
    ]);
  });

  test('an empty trail says so', () => {
    expect(
      auditLines({ environment: 'staging', events: [], hosts: [{ host: 'web-1', lines: 0, unreadable: 0 }] }),
    ).toEqual(['no audit events for staging']);
  });
});
