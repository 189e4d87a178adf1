import { NO_CONTAINER, serviceLogTail } from '../commands/compose';
import { withHost } from '../remote/executor';
import { loadEnvironmentOrFail } from './failures';
import { redact } from '../remote/redact';
import {
  LOG_LINE_CHARS,
  LOG_LINES_MAX,
  type LogSection,
  type ServiceLogs,
  type ServiceLogsInput,
} from '../shared/serviceLogs';
import { colourProject } from '../traffic/colours';
import { secretValuesOf } from './secrets';
import { commandDeadlineMs } from '../remote/deadlines';

/** Reading containers' logs for `deployctl logs`: read-only, safe to retry. */
export function createServiceLogActivities(deps: { configDir: string; workerEnv: NodeJS.ProcessEnv }) {
  return {
    /**
     * The last lines of the service's newest container on every host, in parallel: the
     * environment's project, or each colour's. The environment's secrets are redacted.
     */
    async readServiceLogs(input: ServiceLogsInput): Promise<ServiceLogs> {
      const environment = loadEnvironmentOrFail(deps.configDir, input.environment);
      const tail = Math.min(Math.max(1, Math.floor(input.tail)), LOG_LINES_MAX);
      const projects = environment.traffic
        ? [colourProject(environment, 'blue'), colourProject(environment, 'green')]
        : [environment.project];
      const secrets = await secretValuesOf(environment, deps.workerEnv).catch(() => []);
      const sections = await Promise.all(
        environment.hosts.map(async (host): Promise<LogSection[]> => {
          try {
            return await withHost(host, async (h) => {
              const read: LogSection[] = [];
              for (const project of projects) {
                const argv = serviceLogTail(project, input.service, tail, {
                  since: input.since,
                  timestamps: input.timestamps,
                });
                const { stdout } = await h.run(argv, { timeoutMs: commandDeadlineMs('quick') });
                const lines = redact(stdout, secrets)
                  .split('\n')
                  .filter((l) => l.length > 0)
                  .map((l) => (l.length > LOG_LINE_CHARS ? `${l.slice(0, LOG_LINE_CHARS)}…` : l));
                const missing = lines.length === 1 && lines[0].startsWith(NO_CONTAINER);
                read.push({
                  host: host.name,
                  project,
                  lines: missing ? [] : lines,
                  ...(missing ? { missing } : {}),
                });
              }
              return read;
            });
          } catch (err) {
            return projects.map((project) => ({
              host: host.name,
              project,
              lines: [],
              error: redact((err as Error).message, secrets),
            }));
          }
        }),
      );
      return { environment: environment.name, service: input.service, sections: sections.flat() };
    },
  };
}
