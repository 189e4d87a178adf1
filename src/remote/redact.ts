export const REDACTED = '[REDACTED]';

/** Replace every occurrence of each secret (at least 4 characters, so short values do not shred text). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  return out;
}
