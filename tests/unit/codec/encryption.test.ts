import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  AesGcmCodec,
  ENCRYPTED_ENCODING,
  KEY_ID_METADATA,
  loadEncryptionKeys,
  parseEncryptionKeys,
} from '../../../src/codec/encryption';

const key = (id: string) => ({ id, key: randomBytes(32) });
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');
const plain = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);

describe('AES-256-GCM codec', () => {
  const secret = { host: '10.0.0.7', password: 'hunter2-not-in-history' };

  test('a payload round-trips; what is stored names the encoding and key id, and holds nothing in clear', async () => {
    const codec = new AesGcmCodec([key('k1')]);
    const [stored] = await codec.encode([plain(secret)]);
    expect(text(stored.metadata?.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(stored.metadata?.[KEY_ID_METADATA])).toBe('k1');
    expect(Buffer.from(stored.data!).includes('hunter2')).toBe(false);
    expect(Buffer.from(stored.data!).includes('json/plain')).toBe(false);
    const [back] = await codec.decode([stored]);
    expect(defaultPayloadConverter.fromPayload(back)).toEqual(secret);
  });

  test('the same value encrypts differently each time (a fresh IV)', async () => {
    const codec = new AesGcmCodec([key('k1')]);
    const [a, b] = await codec.encode([plain(secret), plain(secret)]);
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false);
  });

  test('rotation: the newest key encrypts, older keys still decrypt; a dropped key is named', async () => {
    const old = key('2026-01');
    const next = key('2026-12');
    const [before] = await new AesGcmCodec([old]).encode([plain(secret)]);
    const rotated = new AesGcmCodec([old, next]);
    expect(defaultPayloadConverter.fromPayload((await rotated.decode([before]))[0])).toEqual(secret);
    const [after] = await rotated.encode([plain(secret)]);
    expect(text(after.metadata?.[KEY_ID_METADATA])).toBe('2026-12');
    await expect(new AesGcmCodec([next]).decode([before])).rejects.toThrow(
      'a payload is encrypted with key id "2026-01", which is not among the configured keys (2026-12)',
    );
  });

  test('a tampered payload is refused (the GCM tag)', async () => {
    const codec = new AesGcmCodec([key('k1')]);
    const [stored] = await codec.encode([plain(secret)]);
    const data = Buffer.from(stored.data!);
    data[20] ^= 1;
    await expect(codec.decode([{ ...stored, data: new Uint8Array(data) }])).rejects.toThrow();
  });

  test('payloads written before encryption was on pass through unchanged', async () => {
    const before = plain({ release: 'v1' });
    expect(await new AesGcmCodec([key('k1')]).decode([before])).toEqual([before]);
  });
});

describe('encryption keys from the worker and deployctl environment', () => {
  const k = () => randomBytes(32).toString('base64');

  test('none configured: no encryption', () => {
    expect(loadEncryptionKeys({})).toBeUndefined();
  });

  test('a file with comments, the last entry encrypts; the env variable takes the same text', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'keys-')), 'keys');
    const [a, b] = [k(), k()];
    writeFileSync(file, `# rotated 2026-12\nold=${a}\nnew=${b} # current\n`);
    const keys = loadEncryptionKeys({ DEPLOY_ENCRYPTION_KEYS_FILE: file })!;
    expect(keys.map((x) => [x.id, x.key.toString('base64')])).toEqual([
      ['old', a],
      ['new', b],
    ]);
    expect(loadEncryptionKeys({ DEPLOY_ENCRYPTION_KEYS: `old=${a},new=${b}` })!.map((x) => x.id)).toEqual([
      'old',
      'new',
    ]);
  });

  test('each unusable setting is named with its entry and rule, never with key material', () => {
    const short = randomBytes(16).toString('base64');
    const cases: [string, string][] = [
      [
        `k1=${short}`,
        'DEPLOY_ENCRYPTION_KEYS: entry 1 (key id "k1"): the key must be 32 bytes in base64 (make one with: openssl rand -base64 32), got 16 byte(s)',
      ],
      [
        `${k()}`,
        "DEPLOY_ENCRYPTION_KEYS: entry 1: must be <id>=<key>, the id 1 to 64 letters, digits, '.', '_' or '-'",
      ],
      [
        // A bare key of letters and digits only, its "=" padding read as the separator: never shown.
        Buffer.alloc(32, 0x41).toString('base64'),
        "DEPLOY_ENCRYPTION_KEYS: entry 1: must be <id>=<key>, the id 1 to 64 letters, digits, '.', '_' or '-'",
      ],
      [
        `a b=c=${k()}`,
        "DEPLOY_ENCRYPTION_KEYS: entry 1: must be <id>=<key>, the id 1 to 64 letters, digits, '.', '_' or '-'",
      ],
      [`k1=${k()},k1=${k()}`, 'DEPLOY_ENCRYPTION_KEYS: key id "k1" is given twice'],
      ['# nothing', 'DEPLOY_ENCRYPTION_KEYS: holds no key (entries are <id>=<32 bytes in base64>)'],
    ];
    for (const [setting, message] of cases) {
      let thrown: Error | undefined;
      try {
        parseEncryptionKeys(setting, 'DEPLOY_ENCRYPTION_KEYS');
      } catch (err) {
        thrown = err as Error;
      }
      expect(thrown?.message).toBe(message);
      for (const material of setting.match(/[A-Za-z0-9+/]{16,}/g) ?? [])
        expect(thrown?.message).not.toContain(material);
    }
    expect(() => loadEncryptionKeys({ DEPLOY_ENCRYPTION_KEYS_FILE: '/nonexistent/keys' })).toThrow(
      'DEPLOY_ENCRYPTION_KEYS_FILE /nonexistent/keys: cannot be read (ENOENT)',
    );
  });
});

test('deployctl with an unusable key exits 2 naming the setting, before it connects or starts anything', () => {
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/client.ts', 'status', '--env', 'staging', '--release', 'v1'],
    {
      cwd: join(__dirname, '..', '..', '..'),
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        // Nothing listens there: the key is refused before any connection is tried.
        TEMPORAL_ADDRESS: '127.0.0.1:1',
        DEPLOY_ENCRYPTION_KEYS: 'k1=c2hvcnQ=',
      },
    },
  );
  expect(run.stderr).toContain(
    'DEPLOY_ENCRYPTION_KEYS: entry 1 (key id "k1"): the key must be 32 bytes in base64 (make one with: openssl rand -base64 32), got 5 byte(s); nothing was started',
  );
  expect(run.status).toBe(2);
});
