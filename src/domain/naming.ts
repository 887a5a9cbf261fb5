import { createHash } from 'node:crypto';
import { ACCOUNT_HASH_CHARS, ACCOUNT_PREFIX_MAX, LEGACY_ACCOUNT_HASH_CHARS, LEGACY_ACCOUNT_PREFIX_MAX, accountPrefix } from './account';

// Account names derived from the grantee, with Node's SHA-256. This module is not
// exported from domain/index.ts: the workflow sandbox has no node:crypto, and no
// workflow derives a name (the API does, and the activities and tests import it
// from here).

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32 (lower case, no padding) of the leading bits of `bytes`. */
function base32(bytes: Uint8Array, chars: number): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
    if (out.length >= chars) break;
  }
  return out;
}

/** The name a new grant's account gets. */
export function deriveAccountName(email: string, project: string, database: string): string {
  return deriveAccountNames(email, project, database).current;
}

/**
 * Both names an account of this grantee, project and database may carry: the
 * current rule's and the legacy one's. They never coincide: their hash parts
 * differ in length.
 */
export function deriveAccountNames(email: string, project: string, database: string): { current: string; legacy: string } {
  const normalized = email.trim().toLowerCase();
  const digest = createHash('sha256').update(`${normalized}|${project}|${database}`, 'utf8').digest();
  return {
    current: `${accountPrefix(normalized, ACCOUNT_PREFIX_MAX)}_${base32(digest, ACCOUNT_HASH_CHARS)}`,
    legacy: `${accountPrefix(normalized, LEGACY_ACCOUNT_PREFIX_MAX)}_${base32(digest, LEGACY_ACCOUNT_HASH_CHARS)}`,
  };
}

/** Whether `account` is one of the names derived for this grantee, project and database (current or legacy). */
export function isDerivedAccountName(account: string, email: string, project: string, database: string): boolean {
  const names = deriveAccountNames(email, project, database);
  return account === names.current || account === names.legacy;
}
