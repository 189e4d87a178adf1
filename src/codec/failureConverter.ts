import { DefaultFailureConverter } from '@temporalio/common';

/**
 * With encryption on, a failure's message and stack trace travel as an encoded payload (which
 * the codec encrypts) instead of plain text: an error naming a host or a path stays private.
 * Loaded by path (the workflow bundle includes it), so it holds nothing but this converter.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
