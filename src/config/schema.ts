import { z } from 'zod';
import { ACTOR_PATTERN, ACTOR_RULE } from '../shared/messages';
import { NOTIFICATION_EVENTS } from '../shared/notifications';

/**
 * The one shape of an environment. Every value here may end up in a remote argv, so each
 * string field is constrained to a safe alphabet: the executor quotes argv anyway, the
 * schema makes hostile values fail early with a message naming the field.
 */

export const NAME_RULE =
  'lowercase letters, digits and "-" only, starting with a letter, at most 40 characters';
export const nameSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, { message: `must be ${NAME_RULE}` });

export const ENV_KEY_RULE = 'uppercase letters, digits and "_", starting with a letter';
export const envKeySchema = z
  .string()
  .regex(/^[A-Z][A-Z0-9_]{0,63}$/, { message: `must be ${ENV_KEY_RULE}` });

/**
 * Where the worker reads a secret: `fromEnv` (its environment variable), `fromFile` (an
 * absolute path on the worker, e.g. a mounted secret) or `fromCommand` (argv of a secret
 * manager's CLI, run without a shell; its output is the value). Exactly one.
 */
export const secretSourceSchema = z
  .object({
    fromEnv: envKeySchema.optional(),
    fromFile: z
      .string()
      .regex(/^\/[^\0]*$/, { message: 'must be an absolute path on the worker' })
      .optional(),
    fromCommand: z
      .array(z.string().min(1, { message: 'must not be empty' }))
      .min(1, { message: 'must name a program and its arguments' })
      .optional(),
  })
  .strict()
  .refine((s) => [s.fromEnv, s.fromFile, s.fromCommand].filter((x) => x !== undefined).length === 1, {
    message: 'must name exactly one of fromEnv, fromFile, fromCommand',
  });

/** Values written into the env file: printable, single line, no quotes or shell expansion characters. */
export const envValueSchema = z
  .string()
  .max(1024)
  .regex(/^[A-Za-z0-9_.,:/@%+=\- ]*$/, {
    message: 'must be a single line of letters, digits, spaces and _ . , : / @ % + = - only',
  });

export const absolutePathSchema = z
  .string()
  .max(200)
  .regex(/^\/[A-Za-z0-9_./-]*$/, { message: 'must be an absolute path of letters, digits and _ . / - only' })
  .refine((p) => !p.split('/').includes('..'), { message: 'must not contain ".." segments' });

export const hostAddressSchema = z
  .string()
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$|^\[[0-9a-fA-F:]+\]$/, { message: 'must be a hostname or IP address' });

/** An image repository without a tag, e.g. "127.0.0.1:5000/demo/app" or "ghcr.io/acme/api". */
export const IMAGE_REPOSITORY_RULE =
  'lowercase registry/path of letters, digits and . _ - / : (port) only, no tag, at most 200 characters';
export const imageRepositorySchema = z
  .string()
  .max(200)
  .regex(/^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)+$/, {
    message: `must be a ${IMAGE_REPOSITORY_RULE}`,
  });

/** Traefik rule expressions: matchers, backquoted values, && || ! and parentheses, one line. */
export const TRAEFIK_RULE_RULE =
  'a one-line Traefik rule of letters, digits, spaces, backquoted values and ( ) , . / : _ - * & | ! = only';
export const TRAEFIK_RULE_PATTERN = /^[A-Za-z0-9 `(),./:_*&|!=@+-]+$/;

export const hostSchema = z
  .object({
    name: nameSchema,
    address: hostAddressSchema,
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, { message: 'must be a valid Unix user name' }),
    /** Path to the private key on the worker's machine (never stored in history: only the path is). */
    privateKeyPath: z.string().min(1),
    /** Pinned host key, as in known_hosts: "ssh-ed25519 AAAA..." (comment optional). */
    hostKey: z.string().regex(/^(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/=]+( .*)?$/, {
      message:
        'must be a public host key "TYPE BASE64", e.g. "ssh-ed25519 AAAA...": a known_hosts line without its leading host names (deployctl config check prints the line to pin)',
    }),
    /** Where this host keeps the app's compose project (compose files, env file, audit log). */
    baseDir: absolutePathSchema,
    /** Env-file values for this host only (e.g. the address its ports bind to); override `env`. */
    env: z.record(envKeySchema, envValueSchema).default({}),
  })
  .strict();

export const serviceSchema = z
  .object({
    name: nameSchema,
    /** Repository the image comes from; the tag is given per deployment. */
    image: imageRepositorySchema,
    /**
     * Health endpoints probed by the worker, with "{host}" replaced by the host address.
     * The readiness URL must answer 2xx; the version URL must report the deployed version.
     */
    readinessUrl: z.string().regex(/^https?:\/\/[^\s]+$/, { message: 'must be an http(s) URL' }),
    versionUrl: z
      .string()
      .regex(/^https?:\/\/[^\s]+$/, { message: 'must be an http(s) URL' })
      .optional(),
    /** The container port the proxy forwards to (strategies that switch traffic between colours). */
    port: z.number().int().min(1).max(65535).default(8080),
    /**
     * The Traefik rule that sends users to this service, e.g. "PathPrefix(`/api`)" or
     * "Host(`api.example.com`)". Needed by blue-green and canary.
     */
    rule: z
      .string()
      .max(300)
      .regex(TRAEFIK_RULE_PATTERN, { message: `must be ${TRAEFIK_RULE_RULE}` })
      .optional(),
  })
  .strict();

/** An HTTP check after the health wait: status and a latency budget ("{host}" = each host's address). */
export const httpCheckSchema = z
  .object({
    name: nameSchema,
    url: z.string().regex(/^https?:\/\/[^\s]+$/, { message: 'must be an http(s) URL' }),
    expectStatus: z.number().int().min(100).max(599).default(200),
    latencyBudgetMs: z.number().int().min(1).max(60_000).default(1000),
  })
  .strict();

/** A DNS name users reach the app by: lowercase labels of letters, digits and -, dot-separated. */
export const DOMAIN_RULE =
  'a lowercase DNS name of dot-separated labels (letters, digits, - inside), at most 253 characters';
export const domainNameSchema = z
  .string()
  .max(253)
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
    message: `must be ${DOMAIN_RULE}`,
  });

/** A DNS server to ask: an IPv4 address or [IPv6], with an optional :port. */
export const RESOLVER_RULE = 'an IP address with an optional port: "10.0.0.2", "10.0.0.2:5353" or "[::1]:53"';
export const resolverSchema = z.string().refine(
  (r) => {
    // No node:net here: workflows bundle this module.
    const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9a-fA-F:]{2,39})\])(?::(\d{1,5}))?$/.exec(r);
    if (!m) return false;
    if (m[1] && m[1].split('.').some((octet) => Number(octet) > 255)) return false;
    if (m[2] && (!m[2].includes(':') || (m[2].match(/::/g)?.length ?? 0) > 1)) return false;
    return m[3] === undefined || (Number(m[3]) >= 1 && Number(m[3]) <= 65535);
  },
  { message: `must be ${RESOLVER_RULE}` },
);

/**
 * After a deploy, the names users reach the app by: each must resolve only to the environment's
 * hosts, and every host must serve, for each name, a certificate that is trusted, valid for the
 * name, and valid for at least `minValidDays` more days.
 */
export const tlsCheckSchema = z
  .object({
    domains: z.array(domainNameSchema).min(1).max(50),
    /** Where the hosts serve TLS (the proxy's published HTTPS port). */
    port: z.number().int().min(1).max(65535).default(443),
    minValidDays: z.number().int().min(0).max(365).default(14),
    /**
     * The addresses the domains must resolve to when users reach the hosts through something
     * else (a load balancer, a CDN); the hosts' own addresses when absent.
     */
    addresses: z
      .array(
        z.string().regex(/^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:]*)$/, {
          message: 'must be an IPv4 or IPv6 address',
        }),
      )
      .min(1)
      .max(20)
      .optional(),
    /** DNS servers asked instead of the worker's own (e.g. a public resolver, not split-horizon DNS). */
    resolvers: z.array(resolverSchema).min(1).max(4).optional(),
    /** A CA certificate (PEM, on the worker) trusted besides the public ones: an internal CA. */
    caFile: absolutePathSchema.optional(),
  })
  .strict()
  .superRefine((tls, ctx) => {
    const seen = new Set<string>();
    tls.domains.forEach((d, i) => {
      if (seen.has(d))
        ctx.addIssue({ code: 'custom', path: ['domains', i], message: `duplicate domain "${d}"` });
      seen.add(d);
    });
  });

/** A gate's command: argv words run without a shell, in the release's checkout. */
export const gateSchema = z
  .object({
    name: nameSchema,
    command: z
      .array(
        z
          .string()
          .max(200)
          .regex(/^[A-Za-z0-9_.,:/=@%+-]+$/, {
            message: 'must be a plain argument of letters, digits and _ . , : / = @ % + - (no shell)',
          }),
      )
      .min(1),
    timeoutSeconds: z.number().int().min(1).max(3600).default(300),
  })
  .strict();

/** The app's git repository: a path on the worker, or an https/ssh URL the worker can clone. */
export const repositorySchema = z
  .string()
  .max(300)
  .regex(
    /^(\/[A-Za-z0-9_./-]+|https:\/\/[A-Za-z0-9_.:/@-]+|ssh:\/\/[A-Za-z0-9_.:/@-]+|git@[A-Za-z0-9_.-]+:[A-Za-z0-9_./-]+)$/,
    {
      message: 'must be an absolute path or an https://, ssh:// or git@host:path URL',
    },
  )
  .refine((r) => !r.split('/').includes('..'), { message: 'must not contain ".." segments' });

export const gatesSchema = z
  .object({
    /** Where the gates check out the release; the environment's `repository` when absent. */
    repository: repositorySchema.optional(),
    /** Checks run concurrently; any failure stops the deployment before a host is touched. */
    checks: z.array(gateSchema).min(1),
  })
  .strict()
  .superRefine((gates, ctx) => {
    const seen = new Set<string>();
    gates.checks.forEach((g, i) => {
      if (seen.has(g.name))
        ctx.addIssue({ code: 'custom', path: ['checks', i, 'name'], message: `duplicate gate "${g.name}"` });
      seen.add(g.name);
    });
  });

/** The PostgreSQL service of the compose stack: backed up before migrations, restored on rollback. */
/** gzip level 1: see `database.dumpCompression`. */
export const DEFAULT_DUMP_COMPRESSION = 1;

export const databaseSchema = z
  .object({
    /** Compose service running PostgreSQL (pg_dump and pg_restore run inside it). */
    service: nameSchema.default('db'),
    /** Role and database, as the stack creates them. */
    user: nameSchema.default('app'),
    name: nameSchema.default('app'),
    /**
     * pg_dump's compression of a backup (custom format, gzip level), DEFAULT_DUMP_COMPRESSION
     * when absent (so are plans made before it existed): 1 dumps a big database in well under
     * half the time of pg_dump's own default (6) for about a tenth more bytes; 0 stores
     * uncompressed, 9 is the smallest and slowest.
     */
    dumpCompression: z.number().int().min(0).max(9).optional(),
  })
  .strict();

/** argv run in a one-off container of the new image, no shell. */
const containerArgvSchema = z
  .array(
    z.string().regex(/^[A-Za-z0-9_.,:/=@%+-]{1,200}$/, {
      message: 'must be a plain argument of letters, digits and _ . , : / = @ % + - (no shell)',
    }),
  )
  .min(1)
  .max(20);

export const MIGRATION_PHASES = ['expand', 'contract'] as const;
export type MigrationPhase = (typeof MIGRATION_PHASES)[number];

/**
 * Migrations in expand/contract form, which blue-green and canary need: the old release keeps
 * serving while the new one starts, so only backward-compatible (expand) migrations may run
 * before traffic moves; contract migrations run once the old colour is stopped.
 */
export const migrationPhasesSchema = z
  .object({
    /**
     * Lists the pending migrations and applies nothing: one JSON line each,
     * {"id": "...", "phase": "expand"|"contract"|<anything else: not compatible>}.
     */
    pending: containerArgvSchema,
    /** Applies the pending expand migrations only (same output as `command`). */
    expand: containerArgvSchema,
    /** Applies the pending contract migrations only (same output as `command`). */
    contract: containerArgvSchema,
  })
  .strict();

/** Migrations run in a one-off container of the new image before the new release starts. */
export const migrationsSchema = z
  .object({
    /** Compose service whose (new) image runs the command. */
    service: nameSchema.default('api'),
    /**
     * Applies every pending migration (recreate). It prints one JSON line per applied migration,
     * {"id": "...", "backwardCompatible": true|false}, and exits non-zero when one fails.
     */
    command: containerArgvSchema.default(['node', 'server.js', 'migrate']),
    /** Needed by blue-green and canary when migrations are configured. */
    phases: migrationPhasesSchema.optional(),
  })
  .strict();

/** When a Temporal Schedule fires: a fixed interval ("30s", "15m", "6h", "1d") or a UTC cron line. */
export const SCHEDULE_RULE = 'exactly one of every (e.g. "30s", "6h", "1d") or cron (five fields, UTC)';
export const scheduleSchema = z
  .object({
    every: z
      .string()
      .regex(/^[1-9][0-9]{0,5}(s|m|h|d)$/, { message: 'must be a number and a unit s, m, h or d, e.g. "6h"' })
      .optional(),
    cron: z
      .string()
      .regex(/^[0-9*/,-]+( [0-9*/,-]+){4}$/, {
        message: 'must be five cron fields of digits and * / , - only, e.g. "0 3 * * 1"',
      })
      .optional(),
  })
  .strict()
  .refine((s) => (s.every === undefined) !== (s.cron === undefined), {
    message: `must give ${SCHEDULE_RULE}`,
  });

/**
 * A backup store host: an SSH account (pinned key, like a deploy host) whose `dir` holds the
 * environment's verified backups and drill reports. Every worker reaches it, so with several
 * workers on one task queue a copy, its check and a later restore agree. It needs sha256sum,
 * stat and pg_restore. Without it, backups go to the worker's own DEPLOY_BACKUP_DIR.
 */
export const backupStoreSchema = hostSchema
  .omit({ baseDir: true, env: true })
  .extend({ dir: absolutePathSchema })
  .strict();

export type BackupStoreConfig = z.infer<typeof backupStoreSchema>;

/** Verified backups: when they run and which ones are kept (the rest are deleted from the store). */
export const backupsSchema = z
  .object({
    schedule: scheduleSchema.default({ every: '24h' }),
    /** Where verified copies are kept: a store host; the worker's own DEPLOY_BACKUP_DIR when absent. */
    store: backupStoreSchema.optional(),
    retention: z
      .object({
        /** The newest N verified backups are always kept (at least one). */
        keepLast: z.number().int().min(1).max(1000).default(7),
        /** Plus the newest backup of each UTC day that has one in the last N×24 hours. */
        dailyDays: z.number().int().min(0).max(3650).default(7),
        /** Plus the newest backup of each ISO week that has one in the last N×7 days. */
        weeklyWeeks: z.number().int().min(0).max(520).default(4),
      })
      .strict()
      .default({ keepLast: 7, dailyDays: 7, weeklyWeeks: 4 }),
  })
  .strict();

/** Disaster-recovery drills: restore the latest verified backup into a scratch stack and time it. */
export const drillsSchema = z
  .object({
    schedule: scheduleSchema.default({ cron: '0 4 * * 1' }),
    /** Where the scratch stack runs; the environment's first host when absent. */
    host: hostSchema.optional(),
    /**
     * Env-file values of the scratch stack (its own ports, say), over the environment's and the
     * drill host's. URLs with "{KEY}" placeholders follow them, so probes reach the scratch
     * stack, not the live one.
     */
    env: z.record(envKeySchema, envValueSchema).default({}),
    targets: z
      .object({
        /** The newest verified backup may be at most this old when the drill runs. */
        rpoSeconds: z.number().int().min(1).default(86_400),
        /** From the start of the restore to the app answering. */
        rtoSeconds: z.number().int().min(1).default(900),
      })
      .strict()
      .default({ rpoSeconds: 86_400, rtoSeconds: 900 }),
  })
  .strict();

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

const CLOCK_RULE = 'must be a time of day "HH:MM" from 00:00 to 24:00';
const clockSchema = z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, { message: CLOCK_RULE });

export const LOCAL_TIME_RULE = 'must be a local date "YYYY-MM-DD" or date and time "YYYY-MM-DDTHH:MM"';
const localTimeSchema = z
  .string()
  .regex(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d)?$/, {
    message: LOCAL_TIME_RULE,
  });

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * When deployments may start: weekly windows and dated freezes, in one time zone. Outside them
 * a deploy is refused (exit 6) with the next open window, unless it is a rollback or says
 * --override-freeze --reason, which is audited on the hosts.
 */
export const deployWindowsSchema = z
  .object({
    timeZone: z.string().max(64).refine(isTimeZone, {
      message: 'must be an IANA time zone, e.g. "Europe/Berlin" or "UTC"',
    }),
    /** Deploys start only inside one of these; none listed: any time outside the freezes. */
    weekly: z
      .array(
        z
          .object({
            days: z.array(z.enum(WEEKDAYS)).min(1),
            from: clockSchema,
            to: clockSchema,
          })
          .strict()
          .refine((w) => w.from < w.to, { message: 'from must be before to (a window ends on its own day)' }),
      )
      .max(50)
      .default([]),
    /** No deploys from `from` until `to` (local times in timeZone; a date alone is its midnight). */
    freezes: z
      .array(
        z
          .object({
            from: localTimeSchema,
            to: localTimeSchema,
            reason: z
              .string()
              .min(1)
              .max(200)
              // eslint-disable-next-line no-control-regex
              .regex(/^[^\x00-\x1f\x7f]+$/, { message: 'must be one line of printable characters' }),
          })
          .strict()
          .refine((f) => f.from.padEnd(16, ' ') < f.to.padEnd(16, ' '), {
            message: 'from must be before to',
          }),
      )
      .max(200)
      .default([]),
  })
  .strict();

export type DeployWindows = z.infer<typeof deployWindowsSchema>;

/**
 * Webhooks told of deployments, backups and drills. A URL is a secret (an incoming webhook's
 * URL lets anyone post), so config names where the worker reads it, as for `secrets`.
 */
export const webhookSchema = z
  .object({
    name: nameSchema,
    url: secretSourceSchema,
    /** slack: an incoming-webhook payload ({text}); json: the event's fields as they are. */
    format: z.enum(['slack', 'json']).default('json'),
    /** When set, each request carries X-Deploy-Signature: sha256=<HMAC-SHA256 of the body>. */
    signingKey: secretSourceSchema.optional(),
    /** Which events this webhook gets; every event when absent. */
    events: z
      .array(z.enum(NOTIFICATION_EVENTS))
      .min(1, { message: 'must name at least one event (leave the key out for every event)' })
      .optional(),
  })
  .strict();

export const notificationsSchema = z
  .object({ webhooks: z.array(webhookSchema).min(1).max(10) })
  .strict()
  .superRefine((n, ctx) => {
    const seen = new Set<string>();
    n.webhooks.forEach((w, i) => {
      if (seen.has(w.name))
        ctx.addIssue({
          code: 'custom',
          path: ['webhooks', i, 'name'],
          message: 'names a webhook already listed (names must be unique)',
        });
      seen.add(w.name);
    });
  });
export type WebhookConfig = z.infer<typeof webhookSchema>;
export type NotificationsConfig = z.infer<typeof notificationsSchema>;

/** How a release reaches users: in place, or as a new colour behind Traefik. */
export const STRATEGIES = ['recreate', 'blue-green', 'canary'] as const;
export const strategySchema = z.enum(STRATEGIES);

/**
 * An environment of several hosts releases (recreate) in waves: a wave's hosts restart together
 * (in turns of at most maxUnavailable, each turn answering before the next starts), the next
 * wave starts once that wave is healthy and the pause has passed, and the first failure stops
 * the release and undoes every host. Exactly one of batchSize and batchPercent sets a wave's size.
 */
export const rolloutSchema = z
  .object({
    /** Hosts per wave. */
    batchSize: z.number().int().min(1).max(1000).optional(),
    /** Hosts per wave as a share of the environment's hosts, rounded up (at least one). */
    batchPercent: z.number().int().min(1).max(100).optional(),
    /**
     * At most this many hosts are down at once: a wave restarts in turns of this many, each
     * turn answering its health checks before the next starts. The whole wave when absent.
     */
    maxUnavailable: z.number().int().min(1).max(1000).optional(),
    /** How long to wait after a healthy wave before the next one starts. */
    pauseSeconds: z.number().int().min(0).max(3600).default(0),
  })
  .strict()
  .refine((r) => (r.batchSize === undefined) !== (r.batchPercent === undefined), {
    message:
      'must give exactly one of batchSize (hosts per wave) and batchPercent (share of the hosts per wave)',
  });
export type RolloutConfig = z.infer<typeof rolloutSchema>;

/** Hosts per wave: `batchSize`, or `batchPercent` of the hosts rounded up (at least one). */
export function waveSize(rollout: Pick<RolloutConfig, 'batchSize' | 'batchPercent'>, hosts: number): number {
  return rollout.batchSize ?? Math.max(1, Math.ceil((hosts * (rollout.batchPercent ?? 100)) / 100));
}
export type Strategy = z.infer<typeof strategySchema>;

export const COLOURS = ['blue', 'green'] as const;
export type Colour = (typeof COLOURS)[number];

/** Canary analysis: what a weight step must show before traffic moves on. */
export const canarySchema = z
  .object({
    /** Percentages of user traffic on the new colour, rising; the last must be 100. */
    steps: z
      .array(z.number().int().min(1).max(100))
      .min(1)
      .max(20)
      .refine((w) => w.every((x, i) => i === 0 || x > w[i - 1]), { message: 'must rise step by step' })
      .refine((w) => w[w.length - 1] === 100, { message: 'must end at 100' })
      .default([10, 25, 50, 100]),
    /** How long each step runs before its analysis. */
    dwellSeconds: z.number().int().min(5).max(3600).default(60),
    /** Fewer requests than this in a step give no verdict: "inconclusive", never a pass. */
    minRequests: z.number().int().min(1).max(1_000_000).default(20),
    /** What an inconclusive step does: run once more (up to maxExtensions), or fail. */
    onInconclusive: z.enum(['extend', 'fail']).default('extend'),
    maxExtensions: z.number().int().min(0).max(10).default(2),
    /** A canary paused by an operator longer than this fails (and rolls back) instead of waiting on. */
    maxPauseSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600)
      .default(24 * 3600),
    thresholds: z
      .object({
        /** 5xx answers over all answers of the new colour. */
        maxErrorRate: z.number().min(0).max(1).default(0.05),
        /** p95 latency of the new colour's answers, from Traefik's histogram. */
        maxP95Seconds: z.number().positive().max(600).default(3),
        /** Successful readiness probes of the new colour during the step. */
        minAvailability: z.number().min(0).max(1).default(0.95),
      })
      .strict()
      .default({ maxErrorRate: 0.05, maxP95Seconds: 3, minAvailability: 0.95 }),
  })
  .strict();

/**
 * Colours behind Traefik (blue-green and canary). The web services run as their own compose
 * project per colour (`<project>-blue`, `<project>-green`) from `composeFiles`, without
 * published ports, on `network`, which the proxy and the shared stack (the environment's own
 * composeFiles: database, cache, proxy) also join. The pipeline owns one routing file per
 * environment in `routingDir` on each host, which Traefik's file provider watches.
 */
export const trafficSchema = z
  .object({
    /** Compose files of one colour (the web services only), relative to the project root on the worker. */
    composeFiles: z
      .array(z.string().regex(/^[A-Za-z0-9_./-]+\.ya?ml$/, { message: 'must be a relative .yml/.yaml path' }))
      .min(1),
    /** The Docker network the colours, the proxy and the shared stack share (created by the shared stack). */
    network: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, {
      message: 'must be a network name of lowercase letters, digits and _ . - (at most 63)',
    }),
    /** Traefik's entrypoints users reach. */
    entryPoints: z.array(nameSchema).min(1).default(['web']),
    /** The directory Traefik's file provider watches on each host; default <baseDir>/<project>/routing. */
    routingDir: absolutePathSchema.optional(),
    /**
     * Traefik's internal entrypoint (API, ping, metrics) as the worker reaches it, e.g.
     * "http://{host}:{PROXY_ADMIN_PORT}". Never publish it to users.
     */
    adminUrl: z.string().regex(/^https?:\/\/[^\s]+$/, { message: 'must be an http(s) URL' }),
    /** Requests with this header set to a colour reach that colour, whatever the weights. */
    previewHeader: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,62}$/, { message: 'must be an HTTP header name' })
      .default('X-Deploy-Colour'),
    /** After a switch, how long requests already on the old colour get to finish. */
    drainSeconds: z.number().int().min(0).max(600).default(5),
    /** How long the old colour keeps running at weight 0 so a switch-back is one routing write. */
    switchBackWindowSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600)
      .default(1800),
    canary: canarySchema.default({
      steps: [10, 25, 50, 100],
      dwellSeconds: 60,
      minRequests: 20,
      onInconclusive: 'extend',
      maxExtensions: 2,
      maxPauseSeconds: 24 * 3600,
      thresholds: { maxErrorRate: 0.05, maxP95Seconds: 3, minAvailability: 0.95 },
    }),
  })
  .strict();

/** A colour's project is `<project>-<colour>`, which must still be a valid name. */
export const MAX_PROJECT_FOR_COLOURS = 40 - '-green'.length;

/** A drill's scratch project is `<project>-drill-<8 characters>`, which must still be a valid name. */
export const MAX_PROJECT_FOR_DRILLS = 40 - '-drill-'.length - 8;

/** With colours, a drill's scratch stack has colours too: `<project>-drill-<8 characters>-green`. */
export const MAX_PROJECT_FOR_COLOUR_DRILLS = MAX_PROJECT_FOR_DRILLS - '-green'.length;

export const environmentSchema = z
  .object({
    name: nameSchema,
    /** The compose project name on every host. */
    project: nameSchema,
    /** argv prefix for compose: ["docker", "compose"] on real servers, ["docker-compose"] in the lab. */
    composeCommand: z
      .array(z.string().regex(/^[a-z][a-z0-9-]*$/, { message: 'must be a plain command word' }))
      .min(1)
      .max(3)
      .default(['docker', 'compose']),
    /**
     * How releases reach users unless a deploy asks otherwise: recreate (in place), blue-green
     * or canary (both need `traffic`).
     */
    strategy: strategySchema.default('recreate'),
    /**
     * With several hosts, recreate releases in waves; without it the hosts start one after
     * another and are checked together.
     */
    rollout: rolloutSchema.optional(),
    /** Colours behind Traefik, for blue-green and canary. */
    traffic: trafficSchema.optional(),
    /**
     * The app's git repository. When set, compose files (`composeFiles`, `traffic.composeFiles`)
     * are paths in it, read at the release's commit (`--commit`, else the release as a git ref),
     * the commit the gates check out; when absent they are read from the worker's files dir.
     */
    repository: repositorySchema.optional(),
    /**
     * Compose files uploaded to every host: paths in `repository` when it is set, else relative
     * to the worker's files dir (DEPLOY_FILES_DIR). Each host keeps every release's own files.
     */
    composeFiles: z
      .array(z.string().regex(/^[A-Za-z0-9_./-]+\.ya?ml$/, { message: 'must be a relative .yml/.yaml path' }))
      .min(1),
    hosts: z.array(hostSchema).min(1),
    /** Services in the order they are brought up. */
    services: z.array(serviceSchema).min(1),
    /** Non-secret settings written to the env file on each host. */
    env: z.record(envKeySchema, envValueSchema).default({}),
    /**
     * Secrets written to the env file (mode 0600). Values never appear in config: each names
     * where the worker reads it: an environment variable, a file, or a command's output.
     */
    secrets: z.record(envKeySchema, secretSourceSchema).default({}),
    /**
     * A deployment is refused before anything runs when a host has less free disk than this
     * under its baseDir (images, dumps and logs fill a small disk); 0 turns the check off.
     */
    minFreeDiskMb: z.number().int().min(0).max(10_000_000).default(1024),
    deadlines: z
      .object({
        healthSeconds: z.number().int().min(5).max(3600).default(120),
        /** How long a deployment waits for another one of the same environment to finish. */
        lockWaitSeconds: z
          .number()
          .int()
          .min(0)
          .max(24 * 3600)
          .default(1800),
      })
      .strict()
      .default({ healthSeconds: 120, lockWaitSeconds: 1800 }),
    /** Production waits for an operator's `approve` signal; no decision by the deadline aborts. */
    approval: z
      .object({
        required: z.boolean().default(false),
        /** Who may approve (user names as `--by` gives them); anyone when absent. */
        approvers: z
          .array(z.string().regex(ACTOR_PATTERN, { message: `must be ${ACTOR_RULE}` }))
          .min(1, { message: 'must name at least one approver (leave the key out to let anyone approve)' })
          .optional(),
        timeoutSeconds: z
          .number()
          .int()
          .min(1)
          .max(7 * 24 * 3600)
          .default(3600),
      })
      .strict()
      .default({ required: false, timeoutSeconds: 3600 }),
    /**
     * After health: configured HTTP checks, every compose service with a container must be
     * running, and (tls) the app's domains resolve to its hosts and serve good certificates.
     */
    postDeployChecks: z
      .object({ http: z.array(httpCheckSchema).default([]), tls: tlsCheckSchema.optional() })
      .strict()
      .default({ http: [] }),
    /** Quality gates run at the release's commit before anything else; none when absent. */
    gates: gatesSchema.optional(),
    /** The database to back up before migrations and restore on rollback; no backup when absent. */
    database: databaseSchema.optional(),
    /** Migrations to run with the new image before it starts; none when absent. */
    migrations: migrationsSchema.optional(),
    /** Scheduled, verified backups of the database (needs `database`). */
    backups: backupsSchema.optional(),
    /** Scheduled restore drills of the latest verified backup (needs `database`). */
    drills: drillsSchema.optional(),
    /** When deploys may start (weekly windows, freezes); any time when absent. */
    deployWindows: deployWindowsSchema.optional(),
    /** Who is told what happens (webhooks); nobody when absent. */
    notifications: notificationsSchema.optional(),
  })
  .strict()
  .superRefine((env, ctx) => {
    if (env.gates && !env.gates.repository && !env.repository) {
      ctx.addIssue({
        code: 'custom',
        path: ['gates', 'repository'],
        message: 'is required when the environment has no repository (the gates check out the release there)',
      });
    }
    const seen = new Set<string>();
    env.services.forEach((s, i) => {
      if (seen.has(s.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['services', i, 'name'],
          message: `duplicate service "${s.name}"`,
        });
      }
      seen.add(s.name);
    });
    const hostNames = new Set<string>();
    env.hosts.forEach((h, i) => {
      if (hostNames.has(h.name)) {
        ctx.addIssue({ code: 'custom', path: ['hosts', i, 'name'], message: `duplicate host "${h.name}"` });
      }
      hostNames.add(h.name);
    });
    for (const key of ['backups', 'drills'] as const) {
      if (env[key] && !env.database) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `needs a database section to ${key === 'backups' ? 'back up' : 'restore into'}`,
        });
      }
    }
    // A "{KEY}" in a URL is filled from the env-file values; an unknown one would never answer.
    // A key only some hosts define would stay unfilled on the others: env, or every host's env.
    const known = new Set([
      ...Object.keys(env.env),
      ...Object.keys(env.hosts[0]?.env ?? {}).filter((k) => env.hosts.every((h) => k in h.env)),
    ]);
    const urls: [(string | number)[], string][] = [
      ...env.services.flatMap((s, i): [(string | number)[], string][] => [
        [['services', i, 'readinessUrl'], s.readinessUrl],
        ...(s.versionUrl
          ? [[['services', i, 'versionUrl'], s.versionUrl] as [(string | number)[], string]]
          : []),
      ]),
      ...env.postDeployChecks.http.map((c, i): [(string | number)[], string] => [
        ['postDeployChecks', 'http', i, 'url'],
        c.url,
      ]),
    ];
    // A drill probes the same URLs on its scratch stack, with the drill host's and drills.env values.
    const drillHost = env.drills ? (env.drills.host ?? env.hosts[0]) : undefined;
    const knownInDrill = new Set([
      ...Object.keys(env.env),
      ...Object.keys(drillHost?.env ?? {}),
      ...Object.keys(env.drills?.env ?? {}),
    ]);
    for (const [path, url] of urls) {
      for (const [, key] of url.matchAll(/\{([^}]*)\}/g)) {
        if (key === 'host') continue;
        if (!known.has(key)) {
          ctx.addIssue({
            code: 'custom',
            path,
            message: `placeholder {${key}} is neither {host} nor a key of env or of every host's env`,
          });
        } else if (drillHost && !knownInDrill.has(key)) {
          ctx.addIssue({
            code: 'custom',
            path,
            message: `placeholder {${key}} has no value on the drill host: add it to env, drills.env or the drill host's env`,
          });
        }
      }
    }
    for (const [, key] of (env.traffic?.adminUrl ?? '').matchAll(/\{([^}]*)\}/g)) {
      if (key !== 'host' && !known.has(key))
        ctx.addIssue({
          code: 'custom',
          path: ['traffic', 'adminUrl'],
          message: `placeholder {${key}} is neither {host} nor a key of env or of every host's env`,
        });
    }
    if (env.strategy !== 'recreate' && !env.traffic) {
      ctx.addIssue({
        code: 'custom',
        path: ['strategy'],
        message: 'needs a traffic section (colours behind Traefik); without one only "recreate" works',
      });
    }
    if (env.rollout && env.traffic) {
      ctx.addIssue({
        code: 'custom',
        path: ['rollout'],
        message:
          "cannot be combined with a traffic section: colours move every host's traffic together (use canary steps for a gradual release)",
      });
    }
    if (
      env.rollout &&
      waveSize(env.rollout, env.hosts.length) < env.hosts.length &&
      env.migrations &&
      !env.migrations.phases
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['migrations', 'phases'],
        message:
          'is needed with a rollout of more than one wave (hosts of later waves serve the old release while migrations run): the pending, expand and contract commands; or release in one wave',
      });
    }
    if (env.strategy !== 'recreate' && env.migrations && !env.migrations.phases) {
      ctx.addIssue({
        code: 'custom',
        path: ['migrations', 'phases'],
        message: `is needed by strategy "${env.strategy}" (the old release serves while migrations run): the pending, expand and contract commands; or use strategy "recreate"`,
      });
    }
    if (env.traffic) {
      env.services.forEach((s, i) => {
        if (!s.rule)
          ctx.addIssue({
            code: 'custom',
            path: ['services', i, 'rule'],
            message: 'is needed with a traffic section: the Traefik rule that sends users to this service',
          });
      });
      if (env.project.length > MAX_PROJECT_FOR_COLOURS)
        ctx.addIssue({
          code: 'custom',
          path: ['project'],
          message: `must be at most ${MAX_PROJECT_FOR_COLOURS} characters with a traffic section (the colour project "<project>-green" must be a valid name)`,
        });
    }
    const drillLimit = env.traffic ? MAX_PROJECT_FOR_COLOUR_DRILLS : MAX_PROJECT_FOR_DRILLS;
    if (env.drills && env.project.length > drillLimit) {
      ctx.addIssue({
        code: 'custom',
        path: ['project'],
        message: env.traffic
          ? `must be at most ${drillLimit} characters when drills and a traffic section are configured (the scratch colour project "<project>-drill-<8 characters>-green" must be a valid name)`
          : `must be at most ${drillLimit} characters when drills are configured (the scratch project "<project>-drill-<8 characters>" must be a valid name)`,
      });
    }
  });

export type EnvironmentConfig = z.infer<typeof environmentSchema>;
export type HostConfig = z.infer<typeof hostSchema>;
export type ServiceConfig = z.infer<typeof serviceSchema>;
export type GatesConfig = z.infer<typeof gatesSchema>;
export type HttpCheckConfig = z.infer<typeof httpCheckSchema>;
export type TlsCheckConfig = z.infer<typeof tlsCheckSchema>;
export type DatabaseConfig = z.infer<typeof databaseSchema>;
export type MigrationsConfig = z.infer<typeof migrationsSchema>;
export type ScheduleConfig = z.infer<typeof scheduleSchema>;
export type BackupsConfig = z.infer<typeof backupsSchema>;
export type DrillsConfig = z.infer<typeof drillsSchema>;
export type TrafficConfig = z.infer<typeof trafficSchema>;
export type CanaryConfig = z.infer<typeof canarySchema>;
