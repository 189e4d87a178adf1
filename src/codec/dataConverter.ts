import type { DataConverter } from '@temporalio/common';
import { AesGcmCodec, loadEncryptionKeys } from './encryption';

/**
 * The data converter of every client and worker: with encryption keys configured
 * (DEPLOY_ENCRYPTION_KEYS_FILE or DEPLOY_ENCRYPTION_KEYS), payloads and failure messages are
 * encrypted; without, Temporal's defaults. Throws EncryptionConfigError for unusable keys.
 */
export function dataConverterFor(env: NodeJS.ProcessEnv): DataConverter | undefined {
  const keys = loadEncryptionKeys(env);
  if (!keys) return undefined;
  return {
    payloadCodecs: [new AesGcmCodec(keys)],
    failureConverterPath: require.resolve('./failureConverter'),
  };
}
