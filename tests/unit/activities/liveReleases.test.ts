import { liveRecord } from '../../../src/activities/liveReleases';
import { liveLines } from '../../../src/client/history';

const record = {
  release: 'r7',
  images: { site: 'ghcr.io/acme/site:r7', api: 'ghcr.io/acme/api:r7' },
  deployedAt: '2026-12-01T10:00:00.000Z',
  deployedBy: 'alice',
  deploymentId: 'deploy-production-r7',
  commit: 'c0ffee',
};

describe('liveRecord', () => {
  test("a host's current.json, as written by recordRelease", () => {
    expect(liveRecord(`${JSON.stringify(record)}\n`)).toEqual({ live: record });
  });

  test('no file is no record; a broken one is reported, not guessed at', () => {
    expect(liveRecord('')).toEqual({});
    expect(liveRecord('{"release": ')).toEqual({ error: 'releases/current.json is not JSON' });
    expect(liveRecord('{"images": {}}')).toEqual({ error: 'releases/current.json has no release' });
    expect(liveRecord('null')).toEqual({ error: 'releases/current.json has no release' });
  });
});

describe('liveLines', () => {
  test('one line per host: release, who and when, images; or why it is missing', () => {
    expect(
      liveLines({
        environment: 'production',
        hosts: [
          { host: 'web-1', live: record },
          { host: 'web-2' },
          { host: 'web-3', error: 'cannot connect to web-3 (deploy@10.0.0.3:22): timed out' },
        ],
      }),
    ).toEqual([
      '  web-1: release r7, deployed by alice at 2026-12-01T10:00:00.000Z (deploy-production-r7); site=ghcr.io/acme/site:r7 api=ghcr.io/acme/api:r7',
      '  web-2: nothing deployed',
      '  web-3: NOT READ: cannot connect to web-3 (deploy@10.0.0.3:22): timed out',
    ]);
  });
});
