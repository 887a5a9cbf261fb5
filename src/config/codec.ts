import type { Env } from './env';
import { ConfigError } from './errors';

// The payload encryption settings: the codec's keys, the grantee search hash key and
// the codec endpoint's CORS rules. The entry points build the codec from them
// (adapters/temporal/codec). Messages name the variable and the entry's position,
// never its text: an entry written the wrong way round (key:id) would otherwise put
// key material in the log.

/** Key ids are written into every payload's metadata: short and plain. */
export const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface CodecKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

const BASE64_32_BYTES = /^[A-Za-z0-9+/]{43}=$/;
const MIN_HASH_KEY_LENGTH = 32;

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

/** The payload codec's keys (DBACCESS_CODEC_KEYS), or undefined: payloads are stored in clear. */
export function codecKeys(env: Env): CodecKey[] | undefined {
  return parseCodecKeys(env.get('DBACCESS_CODEC_KEYS'));
}

export function parseGranteeHashKey(raw: string | undefined, variable = 'GRANTEE_SEARCH_HASH_KEY'): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw.length < MIN_HASH_KEY_LENGTH || /\s/.test(raw)) {
    throw new ConfigError([`${variable} must be at least ${MIN_HASH_KEY_LENGTH} characters without spaces (generate one with: openssl rand -hex 32)`]);
  }
  return raw;
}

/** The key of the DbAccessGrantee hash (GRANTEE_SEARCH_HASH_KEY), or undefined: the attribute holds the e-mail. */
export function granteeSearchHashKey(env: Env): string | undefined {
  return parseGranteeHashKey(env.get('GRANTEE_SEARCH_HASH_KEY'));
}

export interface CodecEndpointSettings {
  /** Browser origins allowed to call the codec routes (CORS). */
  corsOrigins: string[];
  /** The codec routes need no API key (development only, loopback only). */
  allowUnauthenticated: boolean;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|\[::1\]|localhost)$/i;

export function codecEndpointSettings(env: Env): CodecEndpointSettings {
  const problems: string[] = [];
  const corsOrigins = (env.get('CODEC_CORS_ORIGINS') ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of corsOrigins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.origin !== origin) {
      problems.push(`CODEC_CORS_ORIGINS: "${origin}" is not an origin (scheme://host[:port], no path or trailing slash)`);
    }
  }
  const allowUnauthenticated = env.bool('CODEC_ALLOW_UNAUTHENTICATED');
  const host = env.get('API_HOST') ?? '';
  if (allowUnauthenticated && !LOOPBACK.test(host)) {
    problems.push(`CODEC_ALLOW_UNAUTHENTICATED=true is only allowed when the API listens on a loopback address, not API_HOST=${host}`);
  }
  if (problems.length) throw new ConfigError(problems);
  return { corsOrigins, allowUnauthenticated };
}
