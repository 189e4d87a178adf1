import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { msToNumber } from '@temporalio/common/lib/time';
import { MockActivityEnvironment } from '@temporalio/testing';
import {
  cleanupMarginMs,
  COMMAND_DEADLINES_MS,
  commandDeadlineMs,
  type CommandKind,
} from '../../../src/remote/deadlines';
import { activityPolicies } from '../../../src/workflows/activityPolicies';

const SRC = join(__dirname, '..', '..', '..', 'src');
const kinds = Object.keys(COMMAND_DEADLINES_MS) as CommandKind[];

test("every kind of command, in every activity, ends before its activity's limit, keeping a tenth of it, and at least 15 s or half of it, to spare", () => {
  for (const [name, policy] of Object.entries(activityPolicies)) {
    const limit = msToNumber(policy.startToCloseTimeout);
    expect(cleanupMarginMs(limit)).toBeGreaterThanOrEqual(limit / 10);
    expect(cleanupMarginMs(limit)).toBeGreaterThanOrEqual(Math.min(15_000, limit / 2));
    for (const kind of kinds) {
      const deadline = commandDeadlineMs(kind, limit);
      if (deadline > limit - cleanupMarginMs(limit) || deadline <= 0)
        throw new Error(`${name} (${policy.startToCloseTimeout}): ${kind} gets ${deadline} ms`);
    }
  }
});

test('the two long commands that equalled their limit now end before it: pg_dump 54 of 60 min, migrations 27 of 30', () => {
  const within = (activity: keyof typeof activityPolicies) =>
    commandDeadlineMs('whole', msToNumber(activityPolicies[activity].startToCloseTimeout)) / 60_000;
  expect(within('backupDatabase')).toBe(54);
  expect(within('runMigrations')).toBe(27);
  expect(within('pullImages')).toBe(13.5);
  // Short activities keep what the table says when it fits.
  expect(commandDeadlineMs('quick', msToNumber(activityPolicies.resolvePlan.startToCloseTimeout))).toBe(
    30_000,
  );
});

test("inside an activity the limit is the one its policy scheduled it with; outside one, the table's", async () => {
  const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 15 * 60_000 });
  expect(await env.run(async () => commandDeadlineMs('whole'))).toBe(13.5 * 60_000);
  expect(await env.run(async () => commandDeadlineMs('smallFile'))).toBe(15_000);
  expect(commandDeadlineMs('whole')).toBe(60 * 60_000);
});

test('no command deadline is a number written in place: activities and stores take theirs from the table', () => {
  const offenders: string[] = [];
  for (const dir of ['activities', 'store', 'remote']) {
    for (const file of readdirSync(join(SRC, dir)).filter((f) => f.endsWith('.ts'))) {
      readFileSync(join(SRC, dir, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/timeoutMs: *[0-9]/.test(line)) offenders.push(`src/${dir}/${file}:${i + 1}: ${line.trim()}`);
        });
    }
  }
  expect(offenders).toEqual([]);
});
