import { base32, sha256 } from './sha256';

// MySQL account names derived from the grantee: readable (`john_doe_k3x9qa`) and
// stable for one person, project and database, so a retried or re-requested
// grant finds the same account. The hash suffix separates people whose local
// parts reduce to the same text (john.doe@ and john_doe@, or the same local part
// on two domains). At most 31 characters: MySQL 8 allows 32, MariaDB 80.

export const ACCOUNT_PREFIX_MAX = 24;
export const ACCOUNT_HASH_CHARS = 6;

/** The email's local part reduced to `[a-z0-9_]`, at most 24 characters, never empty. */
export function accountPrefix(email: string): string {
  const local = email.slice(0, email.lastIndexOf('@') >= 0 ? email.lastIndexOf('@') : email.length).toLowerCase();
  const reduced = local
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, ACCOUNT_PREFIX_MAX)
    .replace(/_+$/g, '');
  return reduced || 'user';
}

export function deriveAccountName(email: string, project: string, database: string): string {
  const normalized = email.trim().toLowerCase();
  const hash = base32(sha256(`${normalized}|${project}|${database}`), ACCOUNT_HASH_CHARS);
  return `${accountPrefix(normalized)}_${hash}`;
}

/** Name of the per-grant credential secret: `{prefix}/{project}/{database}/{account}`. */
export function grantSecretName(prefix: string, project: string, database: string, account: string): string {
  return `${prefix.replace(/\/+$/, '')}/${project}/${database}/${account}`;
}
