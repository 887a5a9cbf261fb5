import { createHash, timingSafeEqual } from 'node:crypto';
import { API_CLIENT_NAME, ConfigError, type ApiClient, type FileConfig } from '../../config';

// API keys: `name:key` pairs from the environment. The name is recorded as the
// actor of every grant and message, and names the key's entry in the
// configuration file's `apiClients` (its role and projects). Several keys may be
// valid at once, so a key can be rotated without downtime (add the new one,
// move clients, drop the old); the old and the new key carry the same name.

export interface ApiKey {
  name: string;
  digest: Buffer;
}

const NAME = API_CLIENT_NAME;
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

/**
 * The role and projects of every configured key, by key name. A key whose name
 * has no `apiClients` entry is a configuration error: a key never gets a role
 * by default.
 */
export function resolveClients(keys: readonly ApiKey[], config: FileConfig): Map<string, ApiClient> {
  const clients = new Map<string, ApiClient>();
  const missing = [...new Set(keys.map((k) => k.name))].filter((name) => !Object.prototype.hasOwnProperty.call(config.apiClients, name));
  if (missing.length > 0) {
    throw new ConfigError(missing.map((name) => `DBACCESS_API_KEYS: the key named ${name} has no entry in the configuration's apiClients (give it a role: admin, requester, approver or auditor)`));
  }
  for (const key of keys) clients.set(key.name, config.apiClients[key.name]!);
  return clients;
}
