import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../config';

// API keys: `name:key` pairs from the environment. The name is recorded as the
// actor of every grant and message. Several keys may be valid at once, so a key
// can be rotated without downtime (add the new one, move clients, drop the old);
// the old and the new key may carry the same name.

export interface ApiKey {
  name: string;
  digest: Buffer;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
const MIN_KEY_LENGTH = 24;
const MAX_KEY_LENGTH = 512;
/** What `authenticate` can read after `Bearer `: no whitespace, at most 512 characters. */
const KEY = new RegExp(`^[^\\s,]{${MIN_KEY_LENGTH},${MAX_KEY_LENGTH}}$`);

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export function parseApiKeys(raw: string | undefined): ApiKey[] {
  if (!raw || raw.trim() === '') throw new ConfigError(['DBACCESS_API_KEYS must hold at least one name:key pair']);
  const keys: ApiKey[] = [];
  const problems: string[] = [];
  raw.split(',').forEach((entry, i) => {
    const trimmed = entry.trim();
    const colon = trimmed.indexOf(':');
    const name = colon > 0 ? trimmed.slice(0, colon) : '';
    const key = colon > 0 ? trimmed.slice(colon + 1) : '';
    // Never echo an entry in a message: a name and a key written the wrong way
    // round would put the key in the log.
    if (!NAME.test(name)) problems.push(`DBACCESS_API_KEYS entry ${i + 1}: must be name:key with a name of letters, digits, _ . @ -`);
    else if (!KEY.test(key)) problems.push(`DBACCESS_API_KEYS entry ${i + 1}: the key must be ${MIN_KEY_LENGTH} to ${MAX_KEY_LENGTH} characters without spaces`);
    else if (keys.some((k) => timingSafeEqual(k.digest, digest(key)))) problems.push(`DBACCESS_API_KEYS entry ${i + 1}: the same key is configured twice`);
    else keys.push({ name, digest: digest(key) });
  });
  if (problems.length) throw new ConfigError(problems);
  return keys;
}

/**
 * The name of the key presented in `Authorization: Bearer <key>`, or undefined.
 * Compares digests in constant time and always checks every key, so timing
 * reveals neither a key nor which one matched.
 */
export function authenticate(header: string | undefined, keys: readonly ApiKey[]): string | undefined {
  const m = /^Bearer ([^\s]{1,512})$/i.exec(header ?? '');
  if (!m) return undefined;
  const presented = digest(m[1]!);
  let match: string | undefined;
  for (const key of keys) {
    if (timingSafeEqual(presented, key.digest) && match === undefined) match = key.name;
  }
  return match;
}
