// Strict patterns for every string that ends up in SQL, a workflow id, a secret
// name or an email header. Anything that does not match is refused with a
// message naming the rule; nothing is "cleaned up" silently.

/** Key of a project in the configuration; part of the workflow id, so no `/`. */
export const PROJECT_KEY = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** Key of a database in the configuration (`dev_project`); part of the workflow id. */
export const DATABASE_KEY = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** MySQL schema names we manage: plain identifiers only (no quoting tricks, no dots). */
export const SCHEMA_NAME = /^[A-Za-z0-9_]{1,64}$/;
/** Account (user) names this service derives: see account.ts. */
export const ACCOUNT_NAME = /^[a-z0-9_]{1,32}$/;
/**
 * Host part of an account: `%`, a host name, an IPv4/IPv6 address or a netmask,
 * with MySQL's `%` and `_` wildcards allowed on purpose (it comes from configuration,
 * never from a request).
 */
export const HOST_PATTERN = /^[A-Za-z0-9.:%_/-]{1,255}$/;
/** Secrets Manager names: the characters AWS allows, without spaces. */
export const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** A secret to read: its name, or its ARN (which also names the region and account). */
export const SECRET_ID = /^(?:arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$/;

/**
 * E-mail addresses: a conservative subset of RFC 5321 that every mail system
 * accepts. ASCII only, so that look-alike (homoglyph) domains cannot pass for
 * an allowed one.
 */
export const EMAIL = /^[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;
export const EMAIL_MAX_LENGTH = 254;

/**
 * Control characters (C0, DEL, C1), every Unicode bidi control (marks,
 * embeddings, overrides, isolates, U+061C), line/paragraph separators, and
 * invisible format characters (soft hyphen, Mongolian vowel separator,
 * zero-width characters, word joiner, BOM).
 */
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u;

export function isSafeText(value: string): boolean {
  return !UNSAFE_TEXT.test(value);
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function emailDomain(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1).toLowerCase();
}

/** Returns why `email` is not acceptable, or undefined when it is. */
export function checkEmail(email: string): string | undefined {
  if (email.length > EMAIL_MAX_LENGTH) return `must be at most ${EMAIL_MAX_LENGTH} characters`;
  if (email.includes('..')) return 'must be a valid e-mail address (no consecutive dots)';
  if (!EMAIL.test(email)) return 'must be a valid e-mail address (ASCII letters, digits and . _ % + - before the @)';
  return undefined;
}

/** Is `domain` one of `allowed`, compared case-insensitively and exactly (no sub-domain match). */
export function isAllowedDomain(email: string, allowed: readonly string[]): boolean {
  const domain = emailDomain(email);
  return allowed.some((d) => d.toLowerCase() === domain);
}
