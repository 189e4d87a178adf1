import { tailOptionalFile } from '../commands/files';
import { remoteLayout } from '../commands/layout';
import { withHost } from '../remote/executor';
import { loadEnvironmentOrFail } from './failures';
import {
  AUDIT_LIMIT_MAX,
  mergeAuditEvents,
  parseAuditLog,
  type AuditEvent,
  type AuditTrail,
  type AuditTrailInput,
  type HostTrail,
} from '../shared/auditTrail';
import { commandDeadlineMs } from '../remote/deadlines';

/** Reading the hosts' audit logs for `deployctl audit`: read-only, so safe to retry at any point. */
export function createAuditTrailActivities(deps: { configDir: string }) {
  return {
    /**
     * The last `limit` lines of every host's audit.log, in parallel, merged in time order. A host
     * that cannot be read is named with the reason; the others' events are still returned.
     */
    async readAuditTrail(input: AuditTrailInput): Promise<AuditTrail> {
      const limit = Math.min(Math.max(1, Math.floor(input.limit)), AUDIT_LIMIT_MAX);
      const environment = loadEnvironmentOrFail(deps.configDir, input.environment);
      const read = await Promise.all(
        environment.hosts.map(async (host): Promise<{ trail: HostTrail; events: AuditEvent[] }> => {
          try {
            const { stdout } = await withHost(host, (h) =>
              h.run(tailOptionalFile(remoteLayout(environment, host).auditLog, limit), {
                timeoutMs: commandDeadlineMs('quick'),
              }),
            );
            const { events, unreadable } = parseAuditLog(host.name, stdout);
            const lines = stdout.split('\n').filter((l) => l.trim()).length;
            return { trail: { host: host.name, lines, unreadable }, events };
          } catch (err) {
            return {
              trail: { host: host.name, lines: 0, unreadable: 0, error: (err as Error).message },
              events: [],
            };
          }
        }),
      );
      return {
        environment: environment.name,
        events: mergeAuditEvents(
          read.map((r) => r.events),
          limit,
          input.since,
        ),
        hosts: read.map((r) => r.trail),
      };
    },
  };
}
