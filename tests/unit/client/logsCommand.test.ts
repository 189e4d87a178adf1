import { logLines, parseService } from '../../../src/client/logsCommand';
import { FollowedLog, splitTimestamp } from '../../../src/shared/serviceLogs';

describe('splitTimestamp', () => {
  test('the time docker logs --timestamps puts first, and the rest', () => {
    expect(splitTimestamp('2026-12-05T02:01:06Z site v1 listening')).toEqual({
      at: '2026-12-05T02:01:06Z',
      text: 'site v1 listening',
    });
    expect(splitTimestamp('2026-12-05T02:01:06.123456789Z x')).toEqual({
      at: '2026-12-05T02:01:06.123456789Z',
      text: 'x',
    });
    expect(splitTimestamp('no time here')).toEqual({ text: 'no time here' });
  });
});

describe('FollowedLog', () => {
  test('a read that starts at the last time shown prints only what is new', () => {
    const log = new FollowedLog();
    expect(log.fresh(['2026-12-05T02:00:00Z a', '2026-12-05T02:00:01Z b'])).toEqual([
      '2026-12-05T02:00:00Z a',
      '2026-12-05T02:00:01Z b',
    ]);
    expect(log.since).toBe('2026-12-05T02:00:01Z');
    // --since includes the last second: b again, then c in the same second, then d.
    expect(log.fresh(['2026-12-05T02:00:01Z b', '2026-12-05T02:00:01Z c', '2026-12-05T02:00:02Z d'])).toEqual(
      ['2026-12-05T02:00:01Z c', '2026-12-05T02:00:02Z d'],
    );
    expect(log.fresh(['2026-12-05T02:00:01Z b', '2026-12-05T02:00:02Z d'])).toEqual([]);
    expect(log.since).toBe('2026-12-05T02:00:02Z');
  });
});

describe('logLines', () => {
  const logs = {
    environment: 'production',
    service: 'api',
    sections: [
      { host: 'web-1', project: 'shop-blue', lines: ['2026-12-05T02:00:00Z started'] },
      { host: 'web-1', project: 'shop-green', lines: [], missing: true },
      { host: 'web-2', project: 'shop-blue', lines: [], error: 'cannot connect to web-2: timed out' },
    ],
  };

  test('a heading per container, lines without their times unless asked', () => {
    expect(logLines(logs, { timestamps: false, headings: true })).toEqual([
      '== web-1 (project shop-blue)',
      'started',
      '== web-1 (project shop-green): no container of api',
      '== web-2 (project shop-blue): NOT READ: cannot connect to web-2: timed out',
    ]);
    expect(logLines(logs, { timestamps: true, headings: false })).toEqual([
      '2026-12-05T02:00:00Z started',
      '== web-2 (project shop-blue): NOT READ: cannot connect to web-2: timed out',
    ]);
  });
});

describe('parseService', () => {
  test.each(['api;id', '$(id)', '../x', '', 'A'.repeat(300)])(
    '%j is refused before anything is read',
    (value) => {
      expect(() => parseService(value)).toThrow(`--service: value ${JSON.stringify(value)}`);
      expect(() => parseService(value)).toThrow('nothing was read');
    },
  );

  test('a compose service name passes', () => {
    expect(parseService('api')).toBe('api');
  });
});
