import { base32, sha256 } from './sha256';

// MySQL account names derived from the grantee: readable (`john_doe_7qvkf2ox3hx4myyo`)
// and stable for one person, project and database, so a retried or re-requested
// grant finds the same account. The hash part keeps grantees apart: 16 base32
// characters (80 bits) of sha256(email|project|database), so that nobody can craft
// an address (in an allowed domain) whose name is another grantee's. The readable
// part is what is left of MySQL's 32 characters: at most 14, so names stay at 31.
//
// Accounts made before this rule carry the legacy name (a 24-character prefix and
// 6 hash characters, 30 bits: a second preimage costs about a billion hashes).
// Grants record their account in their input, so running grants keep it; the
// reconciler accepts both names (deriveAccountNames) to prove ownership.

export const ACCOUNT_PREFIX_MAX = 14;
export const ACCOUNT_HASH_CHARS = 16;
export const LEGACY_ACCOUNT_PREFIX_MAX = 24;
export const LEGACY_ACCOUNT_HASH_CHARS = 6;

/** The email's local part reduced to `[a-z0-9_]`, at most `max` characters, never empty. */
export function accountPrefix(email: string, max: number = ACCOUNT_PREFIX_MAX): string {
  const local = email.slice(0, email.lastIndexOf('@') >= 0 ? email.lastIndexOf('@') : email.length).toLowerCase();
  const reduced = local
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, max)
    .replace(/_+$/g, '');
  return reduced || 'user';
}

/** The name a new grant's account gets. */
export function deriveAccountName(email: string, project: string, database: string): string {
  return deriveAccountNames(email, project, database).current;
}

/**
 * Both names an account of this grantee, project and database may carry: the
 * current rule's and the legacy one's (accounts created before the current rule).
 * They never coincide: their hash parts differ in length.
 */
export function deriveAccountNames(email: string, project: string, database: string): { current: string; legacy: string } {
  const normalized = email.trim().toLowerCase();
  const digest = sha256(`${normalized}|${project}|${database}`);
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

/** Name of the per-grant credential secret: `{prefix}/{project}/{database}/{account}`. */
export function grantSecretName(prefix: string, project: string, database: string, account: string): string {
  return `${prefix.replace(/\/+$/, '')}/${project}/${database}/${account}`;
}
