import { z } from 'zod';
import { imageRepositorySchema, nameSchema, strategySchema } from './schema';
import { configErrorFromZod, type KeyName } from './errors';
import { ACTOR_PATTERN } from '../shared/messages';

export const RELEASE_RULE =
  'letters, digits and . _ - only, starting with a letter or digit, at most 64 characters';
export const releaseSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: `must be ${RELEASE_RULE}` });

export const TAG_RULE =
  'a tag (letters, digits, _ . -, at most 128) or repository:tag or repository@sha256:<64 hex>';
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const digestPattern = /^sha256:[a-f0-9]{64}$/;

/** A tag ("v2") or a full reference whose repository must match the service's configured one. */
export const imageRefSchema = z
  .string()
  .max(300)
  .refine((ref) => parseImageRef(ref) !== undefined, { message: `must be ${TAG_RULE}` });

export interface ParsedImageRef {
  repository?: string;
  tag?: string;
  digest?: string;
}

export function parseImageRef(ref: string): ParsedImageRef | undefined {
  if (tagPattern.test(ref)) return { tag: ref };
  const at = ref.indexOf('@');
  if (at > 0) {
    const repository = ref.slice(0, at);
    const digest = ref.slice(at + 1);
    if (imageRepositorySchema.safeParse(repository).success && digestPattern.test(digest)) {
      return { repository, digest };
    }
    return undefined;
  }
  const colon = ref.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const repository = ref.slice(0, colon);
  const tag = ref.slice(colon + 1);
  if (tag.includes('/') || !tagPattern.test(tag)) return undefined;
  return imageRepositorySchema.safeParse(repository).success ? { repository, tag } : undefined;
}

export const actorSchema = z.string().regex(ACTOR_PATTERN, {
  message: 'must be a user name of letters, digits and . _ @ + -',
});

export const REASON_RULE = 'must say why, in 1 to 500 characters without control characters';
export const reasonSchema = z
  .string()
  .max(500)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]+$/, { message: REASON_RULE });

export const deployRequestSchema = z
  .object({
    environment: nameSchema,
    release: releaseSchema,
    images: z.record(nameSchema, imageRefSchema),
    requestedBy: actorSchema,
    /**
     * Deploy the previous good release recorded on the hosts instead of `images`: nobody types
     * a version to roll back. `release` is then only a label until the plan resolves it.
     */
    rollback: z.literal(true).optional(),
    /** With `rollback`: return to this earlier release (recorded on the hosts) instead of the previous one. */
    rollbackTo: releaseSchema.optional(),
    /** The git ref the gates check out (a sha or tag); defaults to the release id. */
    commit: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$/, {
        message: 'must be a git sha or tag of letters, digits and . _ / -',
      })
      .refine((c) => !c.includes('..'), { message: 'must not contain ".."' })
      .optional(),
    /** When another deployment holds the environment: wait for it (default) or fail at once. */
    onBusy: z.enum(['wait', 'fail']).optional(),
    /** How this deployment reaches users, over the environment's own `strategy`. */
    strategy: strategySchema.optional(),
    /** Deploy although the environment's deploy windows are closed; the reason goes into the hosts' audit logs. */
    overrideFreeze: z.object({ reason: reasonSchema }).strict().optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (!r.rollback && Object.keys(r.images).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['images'], message: 'must name at least one service image' });
    }
    if (r.rollbackTo !== undefined && !r.rollback) {
      ctx.addIssue({ code: 'custom', path: ['rollbackTo'], message: 'is only allowed in a rollback' });
    }
  });

export type DeployRequest = z.infer<typeof deployRequestSchema>;

/** The deployctl flag behind each request key, so a refusal names what the user typed. */
const REQUEST_FLAGS: Record<string, string> = {
  environment: '--env',
  release: '--release',
  requestedBy: '--by',
  commit: '--commit',
  onBusy: '--on-busy',
  strategy: '--strategy',
  rollbackTo: '--to',
};

export const requestFlagName: KeyName = ([key, service]) => {
  if (key === undefined) return '(request)';
  if (key === 'overrideFreeze') return '--reason';
  if (key === 'images') return service === undefined ? '--image' : `--image ${String(service)}=`;
  return REQUEST_FLAGS[String(key)] ?? String(key);
};

export function parseDeployRequest(
  input: unknown,
  source = 'deploy request',
  keyName?: KeyName,
): DeployRequest {
  const parsed = deployRequestSchema.safeParse(input);
  if (!parsed.success) throw configErrorFromZod(source, parsed.error, input, keyName);
  return parsed.data;
}
