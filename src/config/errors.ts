import type { z } from 'zod';

/** A config or input problem: names the source (file or argument), the key, the value and the rule. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly source: string,
    readonly problems: string[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

export const SECRET_SOURCE_RULE =
  'must say where the worker reads the secret: {fromEnv: VARIABLE}, {fromFile: /path} or {fromCommand: [argv]}';

/** How a problem names where the value came from: a config key path, or the flag a user typed. */
export type KeyName = (path: PropertyKey[]) => string;

const dottedPath: KeyName = (path) => (path.length ? path.map(String).join('.') : '(root)');

/** One line per zod issue: `key.path: value "x" must be ...`. */
export function describeZodIssues(
  error: z.ZodError,
  input: unknown,
  keyName: KeyName = dottedPath,
): string[] {
  return error.issues.map((issue) => {
    const key = keyName(issue.path);
    if (issue.code === 'unrecognized_keys') {
      return `${key}: unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} are not allowed`;
    }
    // A secret written into the file as its value: the error must not carry it into CI logs.
    if (issue.path.length === 2 && issue.path[0] === 'secrets') {
      return `${key}: ${SECRET_SOURCE_RULE} (the value given is not shown: move it out of this file)`;
    }
    if (issue.code === 'invalid_key') {
      const rule = issue.issues[0]?.message ?? issue.message;
      return `${key}: the key ${JSON.stringify(String(issue.path[issue.path.length - 1]))} ${rule}`;
    }
    return `${key}: value ${describeValue(valueAt(input, issue.path))} ${issue.message}`;
  });
}

export function configErrorFromZod(
  source: string,
  error: z.ZodError,
  input: unknown,
  keyName?: KeyName,
): ConfigError {
  const problems = describeZodIssues(error, input, keyName);
  return new ConfigError(`${source} is invalid:\n  ${problems.join('\n  ')}`, source, problems);
}
