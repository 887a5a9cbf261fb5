// The shape of account names: a readable part from the grantee's e-mail and a hash
// part (`john_doe_7qvkf2ox3hx4myyo`), stable for one person, project and database so
// that a retried or re-requested grant finds the same account. The hash part is 16
// base32 characters (80 bits) of sha256(email|project|database), so that nobody can
// craft an address whose name is another grantee's; the readable part is what is
// left of MySQL's 32 characters (at most 14). Legacy names (a 24-character prefix,
// 6 hash characters) are still recognised: running grants carry the name they were
// given, and the reconciler accepts both to prove ownership. The derivation itself
// is in naming.ts (node:crypto, outside the workflow sandbox).

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

/** Name of the per-grant credential secret: `{prefix}/{project}/{database}/{account}`. */
export function grantSecretName(prefix: string, project: string, database: string, account: string): string {
  return `${prefix.replace(/\/+$/, '')}/${project}/${database}/${account}`;
}
