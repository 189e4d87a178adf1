import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Payload, PayloadCodec } from '@temporalio/common';

/**
 * AES-256-GCM encryption of every payload the client and the workers write to Temporal
 * (inputs, results, queries' answers, heartbeat details and, with the failure converter,
 * failure messages), so workflow history holds no environment value, host, path or secret in
 * clear. Keys carry an id, stored in each payload's metadata: the newest key encrypts, every
 * configured key decrypts, so keys rotate without breaking running or recorded workflows.
 * Payloads written before encryption was turned on pass through unchanged.
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface EncryptionKey {
  id: string;
  key: Buffer;
}

/** A key setting the user wrote that cannot be used; names the setting and the entry, never a key. */
export class EncryptionConfigError extends Error {}

/**
 * Keys from `DEPLOY_ENCRYPTION_KEYS_FILE` (a file) or `DEPLOY_ENCRYPTION_KEYS` (the same text):
 * entries `<id>=<32 bytes in base64>` separated by newlines, spaces or commas, `#` comments.
 * The last entry encrypts. Undefined when neither is set: payloads are not encrypted.
 */
export function loadEncryptionKeys(env: NodeJS.ProcessEnv): EncryptionKey[] | undefined {
  const file = env.DEPLOY_ENCRYPTION_KEYS_FILE;
  let setting: string;
  let text: string;
  if (file) {
    setting = `DEPLOY_ENCRYPTION_KEYS_FILE ${file}`;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new EncryptionConfigError(
        `${setting}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
  } else if (env.DEPLOY_ENCRYPTION_KEYS) {
    setting = 'DEPLOY_ENCRYPTION_KEYS';
    text = env.DEPLOY_ENCRYPTION_KEYS;
  } else return undefined;
  return parseEncryptionKeys(text, setting);
}

export function parseEncryptionKeys(text: string, setting: string): EncryptionKey[] {
  const entries = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join(' ')
    .split(/[\s,]+/)
    .filter(Boolean);
  if (!entries.length)
    throw new EncryptionConfigError(`${setting}: holds no key (entries are <id>=<32 bytes in base64>)`);
  const keys = entries.map((entry, i): EncryptionKey => {
    const eq = entry.indexOf('=');
    const id = eq > 0 ? entry.slice(0, eq) : '';
    const encoded = entry.slice(eq + 1);
    // A bare key ends in "=" (base64 padding): its characters must never be shown as an id.
    const wellFormed = KEY_ID.test(id) && encoded !== '';
    const where = `${setting}: entry ${i + 1}${wellFormed ? ` (key id "${id}")` : ''}`;
    if (!wellFormed)
      throw new EncryptionConfigError(
        `${where}: must be <id>=<key>, the id 1 to 64 letters, digits, '.', '_' or '-'`,
      );
    const key = Buffer.from(encoded, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || key.length !== 32)
      throw new EncryptionConfigError(
        `${where}: the key must be 32 bytes in base64 (make one with: openssl rand -base64 32), got ${key.length} byte(s)`,
      );
    return { id, key };
  });
  const ids = keys.map((k) => k.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice) throw new EncryptionConfigError(`${setting}: key id "${twice}" is given twice`);
  return keys;
}

interface SealedPayload {
  metadata: Record<string, string>;
  data: string;
}

function seal(payload: Payload): Buffer {
  const metadata = Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  );
  const sealed: SealedPayload = { metadata, data: Buffer.from(payload.data ?? []).toString('base64') };
  return Buffer.from(JSON.stringify(sealed));
}

function unseal(bytes: Buffer): Payload {
  const sealed = JSON.parse(bytes.toString('utf8')) as SealedPayload;
  return {
    metadata: Object.fromEntries(
      Object.entries(sealed.metadata).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))]),
    ),
    data: new Uint8Array(Buffer.from(sealed.data, 'base64')),
  };
}

export class AesGcmCodec implements PayloadCodec {
  private readonly current: EncryptionKey;
  private readonly byId: Map<string, Buffer>;

  constructor(keys: EncryptionKey[]) {
    if (!keys.length) throw new EncryptionConfigError('no encryption key given');
    this.current = keys[keys.length - 1];
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
      const body = Buffer.concat([cipher.update(seal(payload)), cipher.final()]);
      return {
        metadata: {
          encoding: new TextEncoder().encode(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA]: new TextEncoder().encode(this.current.id),
        },
        data: new Uint8Array(Buffer.concat([iv, body, cipher.getAuthTag()])),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.encoding;
      if (!encoding || new TextDecoder().decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const idBytes = payload.metadata?.[KEY_ID_METADATA];
      const id = idBytes ? new TextDecoder().decode(idBytes) : '';
      const key = this.byId.get(id);
      if (!key)
        throw new EncryptionConfigError(
          `a payload is encrypted with key id "${id}", which is not among the configured keys (${[...this.byId.keys()].join(', ')}); keep old keys configured until nothing written with them is read`,
        );
      const data = Buffer.from(payload.data ?? []);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return unseal(plain);
    });
  }
}
