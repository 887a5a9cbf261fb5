import { parseDuration } from '../domain/duration';
import type { Env } from './env';
import { ConfigError } from './errors';

// How the GRANTED e-mail delivers the grantee's credentials: a one-time link to
// the API (default), or, with CREDENTIALS_IN_EMAIL, the password itself.

export interface CredentialSettings {
  /** DynamoDB table of the one-time links (the worker writes them, the API redeems them). */
  linksTable: string;
  /** The password in the e-mail instead of a link. */
  inEmail: boolean;
  /** The API's public base URL, without a trailing slash; required unless `inEmail`. */
  publicUrl?: string;
  /** How long a link works (capped at the grant's expiry). */
  linkTtlMs: number;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Validates a public base URL: absolute http(s), no credentials, query or
 * fragment; https unless the host is loopback (a token must not cross a network
 * in clear). Returns it without a trailing slash.
 */
export function parsePublicUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError([`PUBLIC_URL must be an absolute URL such as https://dbaccess.example.com, not "${value}"`]);
  }
  const problems: string[] = [];
  if (url.protocol !== 'https:' && url.protocol !== 'http:') problems.push('must use https');
  else if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname)) problems.push('must use https (http only for localhost)');
  if (url.username || url.password) problems.push('must not contain credentials');
  if (url.search || url.hash || value.includes('?') || value.includes('#')) problems.push('must not have a query or fragment');
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `PUBLIC_URL ${p}`));
  return url.href.replace(/\/+$/, '');
}

export function credentialSettings(env: Env, usedBy: 'api' | 'worker'): CredentialSettings {
  const linksTable = env.require('CREDENTIAL_LINKS_TABLE');
  if (usedBy === 'api') return { linksTable, inEmail: false, linkTtlMs: 0 };
  const inEmail = env.bool('CREDENTIALS_IN_EMAIL');
  const ttlText = env.require('CREDENTIAL_LINK_TTL');
  const linkTtlMs = parseDuration(ttlText);
  if (linkTtlMs === undefined || linkTtlMs < 60_000 || linkTtlMs > 30 * 24 * 3600_000) {
    throw new ConfigError([`CREDENTIAL_LINK_TTL must be a duration from 1m to 30d (e.g. 24h), not "${ttlText}"`]);
  }
  const raw = env.get('PUBLIC_URL');
  if (!raw && !inEmail) throw new ConfigError(['PUBLIC_URL must be set (the API\'s public base URL, for the one-time credential link), unless CREDENTIALS_IN_EMAIL is true']);
  return { linksTable, inEmail, linkTtlMs, ...(raw ? { publicUrl: parsePublicUrl(raw) } : {}) };
}

/**
 * DECISION_LINK_KEY: the key that signs one-click decision links (32 or more
 * random bytes, base64: `openssl rand -base64 32`), the same for the worker and
 * the API. Unset: approval e-mails carry commands only, and the API has no
 * /decisions routes.
 */
export function decisionLinkKey(env: Env): Buffer | undefined {
  const raw = env.get('DECISION_LINK_KEY');
  if (!raw) return undefined;
  const text = raw.trim();
  const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : Buffer.alloc(0);
  if (key.length < 32) throw new ConfigError(['DECISION_LINK_KEY must be at least 32 random bytes, base64-encoded (openssl rand -base64 32)']);
  return key;
}
