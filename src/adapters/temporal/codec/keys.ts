import { createHmac } from 'node:crypto';
import type { CodecKey } from '../../../config/codec';
import { AesGcmPayloadCodec } from './aes-gcm';

/** The payload codec of the API's client and the worker, or undefined when no keys are configured. */
export function payloadCodecFor(keys: readonly CodecKey[] | undefined): AesGcmPayloadCodec | undefined {
  return keys ? new AesGcmPayloadCodec(keys) : undefined;
}

export const GRANTEE_HASH_PREFIX = 'h:';

/**
 * What the DbAccessGrantee search attribute holds for an e-mail when
 * GRANTEE_SEARCH_HASH_KEY is set: `h:` + hex HMAC-SHA256(key, lower-cased e-mail).
 */
export function granteeHasher(key: string): (email: string) => string {
  return (email) => GRANTEE_HASH_PREFIX + createHmac('sha256', key).update(email.trim().toLowerCase(), 'utf8').digest('hex');
}
