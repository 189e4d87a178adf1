import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MissingSecretError,
  readSecret,
  resolveSecrets,
  secretValuesOf,
} from '../../../src/activities/secrets';
import { environmentSchema } from '../../../src/config/schema';
import { stagingFixture } from '../helpers';

const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};
const env = (secrets: Record<string, unknown>) => ({ secrets }) as never;

describe('secrets from the worker: an environment variable, a file or a command', () => {
  test('each source gives its value, without the final line break of a file or an output', async () => {
    const values = await resolveSecrets(
      env({
        FROM_ENV: { fromEnv: 'WORKER_PW' },
        FROM_FILE: { fromFile: file('pw', 'file-s3cret\n') },
        FROM_COMMAND: { fromCommand: ['printf', '%s\\n', 'cmd-s3cret'] },
      }),
      { WORKER_PW: 'env-s3cret', PATH: process.env.PATH },
    );
    expect(values).toEqual({ FROM_ENV: 'env-s3cret', FROM_FILE: 'file-s3cret', FROM_COMMAND: 'cmd-s3cret' });
  });

  test("a command sees the worker's environment (a secret manager's own login)", async () => {
    const values = await resolveSecrets(
      env({ TOKEN: { fromCommand: ['sh', '-c', 'printf %s "$VAULT_TOKEN"'] } }),
      {
        VAULT_TOKEN: 'vault-login-123',
        PATH: process.env.PATH,
      },
    );
    expect(values.TOKEN).toBe('vault-login-123');
  });

  test('every unusable source is named with why, never with a value', async () => {
    const unreadable = file('locked', 'x');
    chmodSync(unreadable, 0o000);
    const cases: [Record<string, unknown>, string][] = [
      [
        { fromEnv: 'UNSET_VARIABLE' },
        "secret S: the worker's environment variable UNSET_VARIABLE is not set",
      ],
      [
        { fromFile: '/nonexistent/pw' },
        'secret S: file /nonexistent/pw cannot be read on the worker (ENOENT)',
      ],
      [{ fromFile: file('empty', '\n') }, `secret S: file ${dir}/empty gave an empty value`],
      [
        { fromCommand: ['no-such-secret-cli', 'get'] },
        "secret S: command `no-such-secret-cli get` no-such-secret-cli is not on the worker's PATH",
      ],
      [
        { fromCommand: ['sh', '-c', 'echo denied >&2; exit 3'] },
        'secret S: command `sh -c echo denied >&2; exit 3` exited 3: denied',
      ],
      [
        { fromFile: file('spaced', 'two words') },
        `secret S: the value from file ${dir}/spaced contains whitespace, quotes, $, \\, \` or #, which env files cannot carry safely`,
      ],
    ];
    // root reads a file whatever its mode: the unreadable case only means something for others.
    if (process.getuid?.() !== 0)
      cases.push([
        { fromFile: unreadable },
        `secret S: file ${unreadable} cannot be read on the worker (EACCES)`,
      ]);
    for (const [source, message] of cases) {
      const read = await readSecret('S', source as never, { PATH: process.env.PATH });
      expect(read.problem).toBe(message);
      await expect(resolveSecrets(env({ S: source }), { PATH: process.env.PATH })).rejects.toEqual(
        new MissingSecretError(message),
      );
    }
  });

  test('redaction still knows a value that cannot be written to an env file', async () => {
    expect(await secretValuesOf(env({ S: { fromFile: file('dollar', 'pa$$word') } }), {})).toEqual([
      'pa$$word',
    ]);
  });

  test('the config takes exactly one source, an absolute file path and a non-empty command', () => {
    const base = stagingFixture();
    const problems = (secret: unknown) => {
      const parsed = environmentSchema.safeParse({ ...base, secrets: { S: secret } });
      return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(problems({ fromFile: '/run/secrets/db' })).toEqual([]);
    expect(problems({ fromCommand: ['vault', 'kv', 'get', '-field=pw', 'shop/db'] })).toEqual([]);
    expect(problems({ fromEnv: 'A', fromFile: '/x' })).toEqual([
      'secrets.S: must name exactly one of fromEnv, fromFile, fromCommand',
    ]);
    expect(problems({})).toEqual(['secrets.S: must name exactly one of fromEnv, fromFile, fromCommand']);
    expect(problems({ fromFile: 'relative/pw' })).toEqual([
      'secrets.S.fromFile: must be an absolute path on the worker',
    ]);
    expect(problems({ fromCommand: [] })).toEqual([
      'secrets.S.fromCommand: must name a program and its arguments',
    ]);
    expect(problems('plain-value')[0]).toMatch(/^secrets\.S: /);
  });
});
