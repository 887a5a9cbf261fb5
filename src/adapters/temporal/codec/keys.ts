import { createHmac } from 'node:crypto';
import { ConfigError } from '../../../config/errors';
import { KEY_ID, type CodecKey } from './aes-gcm';

// Keys from the environment. Messages name the variable and the entry's
// position, never its text: an entry written the wrong way round (key:id)
// would otherwise put key material in the log.

const BASE64_32_BYTES = /^[A-Za-z0-9+/]{43}=$/;

/**
 * `keyId:base64key[,keyId:base64key...]`, each key 32 bytes in standard base64.
 * The first entry encrypts, every entry decrypts. Undefined when unset or empty.
 */
export function parseCodecKeys(raw: string | undefined, variable = 'DBACCESS_CODEC_KEYS'): CodecKey[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const keys: CodecKey[] = [];
  const problems: string[] = [];
  raw.split(',').forEach((entry, i) => {
    const trimmed = entry.trim();
    const colon = trimmed.indexOf(':');
    const id = colon > 0 ? trimmed.slice(0, colon) : '';
    const material = colon > 0 ? trimmed.slice(colon + 1).trim() : '';
    if (!KEY_ID.test(id)) problems.push(`${variable} entry ${i + 1}: must be keyId:base64key, with a key id of letters, digits, _ . - (at most 64)`);
    else if (!BASE64_32_BYTES.test(material)) problems.push(`${variable} entry ${i + 1} (key id ${id}): the key must be 32 random bytes in base64, 44 characters (generate one with: openssl rand -base64 32)`);
    else if (keys.some((k) => k.id === id)) problems.push(`${variable} entry ${i + 1}: key id ${id} is configured twice`);
    else keys.push({ id, key: Buffer.from(material, 'base64') });
  });
  if (problems.length) throw new ConfigError(problems);
  return keys;
}

export const GRANTEE_HASH_PREFIX = 'h:';
const MIN_HASH_KEY_LENGTH = 32;

/**
 * What the DbAccessGrantee search attribute holds for an e-mail when
 * GRANTEE_SEARCH_HASH_KEY is set: `h:` + hex HMAC-SHA256(key, lower-cased e-mail).
 */
export function granteeHasher(key: string): (email: string) => string {
  return (email) => GRANTEE_HASH_PREFIX + createHmac('sha256', key).update(email.trim().toLowerCase(), 'utf8').digest('hex');
}

export function parseGranteeHashKey(raw: string | undefined, variable = 'GRANTEE_SEARCH_HASH_KEY'): ((email: string) => string) | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw.length < MIN_HASH_KEY_LENGTH || /\s/.test(raw)) {
    throw new ConfigError([`${variable} must be at least ${MIN_HASH_KEY_LENGTH} characters without spaces (generate one with: openssl rand -hex 32)`]);
  }
  return granteeHasher(raw);
}
