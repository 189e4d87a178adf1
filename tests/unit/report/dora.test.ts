import { doraReport, type DeploymentRecord } from '../../../src/report/dora';
import { reportLines } from '../../../src/client/reportCommand';
import { doraGaugeValues, doraRefreshSeconds } from '../../../src/worker/doraGauges';

const window = { since: '2026-11-05T00:00:00.000Z', until: '2026-12-05T00:00:00.000Z' }; // 30 days

/** A deployment started at `day` (of November/December 2026, hh:mm) lasting `minutes`. */
function at(
  start: string,
  minutes: number,
  status: string,
  extra: Partial<DeploymentRecord> = {},
): DeploymentRecord {
  const startTime = new Date(`2026-${start}:00.000Z`).toISOString();
  return {
    workflowId: `deploy-prod-${start}`,
    status,
    startTime,
    closeTime: new Date(Date.parse(startTime) + minutes * 60_000).toISOString(),
    rollback: false,
    ...extra,
  };
}

describe('DORA figures', () => {
  const records: DeploymentRecord[] = [
    // Live, committed 2 h before it ended.
    at('11-10T10:00', 10, 'succeeded', { committedAt: '2026-11-10T08:10:00.000Z' }),
    // Live, committed 4 h before.
    at('11-12T10:00', 10, 'succeeded', { committedAt: '2026-11-12T06:10:00.000Z' }),
    // Rolled back by the pipeline in 6 minutes.
    at('11-15T10:00', 6, 'rolled-back', { changedHosts: true }),
    // Failed and left broken; fixed by the rollback that ended 50 minutes after it started.
    at('11-20T10:00', 5, 'failed', { changedHosts: true }),
    at('11-20T10:40', 10, 'succeeded', { rollback: true }),
    // Refused (a gate failed): changed nothing, not a change failure.
    at('11-21T10:00', 1, 'failed', { changedHosts: false }),
    // Aborted by an operator: a decision, not a failure.
    at('11-22T10:00', 3, 'aborted'),
    // Live, no repository: no commit time.
    at('11-25T10:00', 10, 'succeeded'),
    // Before the window: left out.
    at('11-01T10:00', 10, 'failed', { changedHosts: true }),
  ];

  test('frequency, lead time, change failure rate and time to restore over the window', () => {
    const r = doraReport('prod', records, window);
    expect(r).toEqual({
      environment: 'prod',
      since: window.since,
      until: window.until,
      days: 30,
      deployments: {
        total: 8,
        changes: 7,
        rollbacks: 1,
        byStatus: { succeeded: 4, 'rolled-back': 1, failed: 2, aborted: 1 },
      },
      // 3 changes went live in 30 days.
      deploymentFrequencyPerDay: 0.1,
      leadTime: { count: 2, medianSeconds: 2 * 3600, p90Seconds: 4 * 3600, withoutCommitTime: 1 },
      // 2 of 5 (3 live + 2 failed after changing a host).
      changeFailureRate: 0.4,
      changeFailures: { failed: 2, of: 5 },
      // 6 min (rolled back) and 50 min (failed at 10:00, the rollback live at 10:50).
      timeToRestore: { count: 2, medianSeconds: 360, p90Seconds: 3000, unrestored: 0 },
    });
    expect(reportLines(r)).toEqual([
      'prod: 2026-11-05 00:00:00Z to 2026-12-05 00:00:00Z (30 days)',
      '  deployments:           8 (7 changes, 1 rollbacks): 1 aborted, 2 failed, 1 rolled-back, 4 succeeded',
      '  deployment frequency:  0.1 per day',
      '  lead time:             median 2h 00m, p90 4h 00m (commit to live; 2 measured, 1 without a commit time)',
      '  change failure rate:   40.0 % (2 of 5 changes failed or were rolled back)',
      '  time to restore:       median 6m 00s, p90 50m 00s (2 restored, 0 not yet)',
    ]);
  });

  test('a failure not yet fixed is counted as not restored; an old failure of unknown effect is not a change failure', () => {
    const r = doraReport(
      'prod',
      [
        at('11-10T10:00', 5, 'failed', { changedHosts: true }),
        at('11-11T10:00', 5, 'failed'), // from before reports: not known to have changed a host
        at('11-12T10:00', 5, 'rolled-back'), // from before reports: rolled back, so it had
      ],
      window,
    );
    expect(r.changeFailures).toEqual({ failed: 2, of: 2 });
    expect(r.timeToRestore).toEqual({ count: 1, medianSeconds: 300, p90Seconds: 300, unrestored: 1 });
  });

  test('an empty window: nothing measured, no rate', () => {
    const r = doraReport('prod', [], window);
    expect(r.changeFailureRate).toBeNull();
    expect(r.leadTime).toEqual({ count: 0, withoutCommitTime: 0 });
    expect(reportLines(r).slice(3)).toEqual([
      '  lead time:             none (commit to live; 0 measured, 0 without a commit time)',
      '  change failure rate:   none ended yet',
      '  time to restore:       none (0 restored, 0 not yet)',
    ]);
  });
});

describe("the worker's DORA gauges", () => {
  test('one gauge per figure; a figure nothing measured is left out', () => {
    const r = doraReport('prod', [at('11-10T10:00', 10, 'succeeded')], window);
    expect(doraGaugeValues(r)).toEqual({
      deployctl_dora_deployments: 1,
      deployctl_dora_deployment_frequency_per_day: 0.03,
      deployctl_dora_change_failure_rate: 0,
    });
  });

  test('DEPLOY_DORA_REFRESH_SECONDS: default 300, a bad value named with its rule', () => {
    expect(doraRefreshSeconds({})).toBe(300);
    expect(doraRefreshSeconds({ DEPLOY_DORA_REFRESH_SECONDS: '60' })).toBe(60);
    expect(() => doraRefreshSeconds({ DEPLOY_DORA_REFRESH_SECONDS: '5m' })).toThrow(
      'DEPLOY_DORA_REFRESH_SECONDS is "5m": it must be a whole number of seconds from 1 to 86400',
    );
  });
});
