import type { Client } from '@temporalio/client';
import { Option, type Command } from 'commander';
import { wholeNumberIn } from './options';
import {
  AUDIT_LIMIT_MAX,
  type AuditEvent,
  type AuditTrail,
  type AuditTrailInput,
} from '../shared/auditTrail';
import { WorkflowType } from '../shared/messages';
import { loadSettings, type Settings } from '../shared/settings';
import { withClient } from './connect';
import { ExitCode } from './exitCodes';
import { invalidFlag, parseEnvFlag } from './operationInput';
import { readThroughWorker } from './workerRead';

/** How long `audit` waits for a worker to read the hosts. */
export const AUDIT_TIMEOUT_MS = 60_000;

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * --since: a duration back from `now` (30m, 12h, 7d) or a time (2026-12-01, 2026-12-01T08:00:00Z),
 * as the ISO time it means.
 */
export function parseSince(value: string, now = new Date()): string {
  const ago = /^([1-9][0-9]{0,5})([mhd])$/.exec(value);
  if (ago)
    return new Date(now.getTime() - Number(ago[1]) * UNIT_MS[ago[2] as keyof typeof UNIT_MS]).toISOString();
  if (
    /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) &&
    !Number.isNaN(Date.parse(value))
  )
    return new Date(Date.parse(value)).toISOString();
  throw invalidFlag(
    '--since',
    value,
    'must be a duration back from now (30m, 12h, 7d) or a date or time (2026-12-01, 2026-12-01T08:00:00Z)',
    'nothing was read',
  );
}

/** Read the trail through a short workflow: only a worker holds the hosts' keys. */
export function readAuditTrail(
  client: Client,
  settings: Settings,
  input: AuditTrailInput,
  timeoutMs = AUDIT_TIMEOUT_MS,
): Promise<AuditTrail> {
  return readThroughWorker(client, settings, {
    workflowType: WorkflowType.auditTrail,
    what: `the audit logs of ${input.environment}`,
    environment: input.environment,
    idPrefix: `audit-${input.environment}`,
    input,
    timeoutMs,
  });
}

/** Who acted: the approver or aborter where there is one, else who asked. */
const actor = (e: AuditEvent) => (e.decidedBy ? `${e.decidedBy} (asked by ${e.by ?? '?'})` : (e.by ?? ''));

/** One line per event: time, host, result, step, deployment and release, who, and the detail. */
export function auditLines(trail: AuditTrail): string[] {
  const lines = trail.events.map((e) =>
    [
      e.at,
      e.host,
      e.result.padEnd(9),
      e.step,
      e.deployment ? `${e.deployment}${e.release ? ` (${e.release})` : ''}` : '',
      actor(e),
      e.detail ? `: ${e.detail.replace(/\s+/g, ' ')}` : '',
    ]
      .filter(Boolean)
      .join('  '),
  );
  if (lines.length === 0) lines.push(`no audit events for ${trail.environment}`);
  for (const h of trail.hosts) {
    if (h.error) lines.push(`${h.host}: NOT READ: ${h.error}`);
    else if (h.unreadable)
      lines.push(`${h.host}: ${h.unreadable} line(s) were not audit events and are not shown`);
  }
  return lines;
}

async function auditCommand(opts: {
  env: string;
  limit: number;
  since?: string;
  json: boolean;
}): Promise<ExitCode> {
  const input: AuditTrailInput = {
    environment: parseEnvFlag(opts.env, 'nothing was read'),
    limit: opts.limit,
    ...(opts.since !== undefined ? { since: parseSince(opts.since) } : {}),
  };
  const settings = loadSettings();
  return withClient(settings, async (client) => {
    const trail = await readAuditTrail(client, settings, input);
    if (opts.json) console.log(JSON.stringify(trail, null, 2));
    else for (const line of auditLines(trail)) console.log(line);
    // Events shown, but a host's are missing: the trail is not whole.
    return trail.hosts.some((h) => h.error) ? ExitCode.operationFailed : ExitCode.succeeded;
  });
}

/** `deployctl audit`: every host's audit log of an environment, merged in time order. */
export function addAuditCommand(program: Command): void {
  program
    .command('audit')
    .description(
      "the audit trail of an environment: every host's audit.log (steps, approvals, aborts, backups, drills) merged in time order, newest last",
    )
    .requiredOption('-e, --env <name>', 'environment name')
    .addOption(
      new Option('--limit <n>', `the newest events to show (at most ${AUDIT_LIMIT_MAX})`)
        .default(50)
        .argParser(wholeNumberIn(1, AUDIT_LIMIT_MAX)),
    )
    .option(
      '--since <when>',
      'only events since then: 30m, 12h, 7d, or a date or time (2026-12-01T08:00:00Z)',
    )
    .option('--json', 'print JSON: the events and, per host, lines read and any error', false)
    .addHelpText(
      'after',
      `
Exit codes: 0 shown, 2 invalid input or unknown environment, 4 Temporal unreachable, 8 a host's
log could not be read (the other hosts' events are shown) or no worker answered within ${AUDIT_TIMEOUT_MS / 1000} s.`,
    )
    .action(async (opts) => {
      process.exitCode = await auditCommand(opts);
    });
}
