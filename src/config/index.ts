import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';
import { AesGcmPayloadCodec, parseCodecKeys, parseGranteeHashKey } from '../adapters/temporal/codec';
import { Env } from './env';
import { ConfigError } from './errors';
import { loadFileConfig, type FileConfig } from './file';

export * from './env';
export * from './errors';
export * from './credentials';
export * from './file';

export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  tls?: ConnectionOptions['tls'];
  apiKey?: string;
}

export interface AwsSettings {
  region: string;
  endpoint?: string;
  auditTable: string;
}

export interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  requireTls: boolean;
  user?: string;
  password?: string;
  secretId?: string;
  from: string;
}

function readPem(path: string | undefined, name: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError([`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
}

export function temporalSettings(env: Env): TemporalSettings {
  const cert = readPem(env.get('TEMPORAL_TLS_CERT'), 'TEMPORAL_TLS_CERT');
  const key = readPem(env.get('TEMPORAL_TLS_KEY'), 'TEMPORAL_TLS_KEY');
  const ca = readPem(env.get('TEMPORAL_TLS_CA'), 'TEMPORAL_TLS_CA');
  if (Boolean(cert) !== Boolean(key)) throw new ConfigError(['TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together']);
  const apiKey = env.get('TEMPORAL_API_KEY');
  const serverName = env.get('TEMPORAL_TLS_SERVER_NAME');
  const useTls = env.bool('TEMPORAL_TLS') || Boolean(cert) || Boolean(ca) || Boolean(apiKey);
  const tls: ConnectionOptions['tls'] = useTls
    ? {
        ...(serverName ? { serverNameOverride: serverName } : {}),
        ...(ca ? { serverRootCACertificate: ca } : {}),
        ...(cert && key ? { clientCertPair: { crt: cert, key } } : {}),
      }
    : undefined;
  return {
    address: env.require('TEMPORAL_ADDRESS'),
    namespace: env.require('TEMPORAL_NAMESPACE'),
    taskQueue: env.require('TEMPORAL_TASK_QUEUE'),
    ...(tls ? { tls } : {}),
    ...(apiKey ? { apiKey } : {}),
  };
}

export function awsSettings(env: Env): AwsSettings {
  const endpoint = env.get('AWS_ENDPOINT_URL');
  return { region: env.require('AWS_REGION'), auditTable: env.require('AUDIT_TABLE'), ...(endpoint ? { endpoint } : {}) };
}

export function smtpSettings(env: Env): SmtpSettings {
  const user = env.get('SMTP_USER');
  const password = env.get('SMTP_PASSWORD');
  const secretId = env.get('SMTP_SECRET_ID');
  return {
    host: env.require('SMTP_HOST'),
    port: env.int('SMTP_PORT', 1, 65535),
    secure: env.bool('SMTP_SECURE'),
    requireTls: env.bool('SMTP_REQUIRE_TLS'),
    from: env.require('MAIL_FROM'),
    ...(user ? { user } : {}),
    ...(password ? { password } : {}),
    ...(secretId ? { secretId } : {}),
  };
}

export function loadConfigFile(env: Env): FileConfig {
  return loadFileConfig(env.require('DBACCESS_CONFIG'));
}

/** The payload codec of the API's client and the worker, or undefined when DBACCESS_CODEC_KEYS is unset. */
export function payloadCodec(env: Env): AesGcmPayloadCodec | undefined {
  const keys = parseCodecKeys(env.get('DBACCESS_CODEC_KEYS'));
  return keys ? new AesGcmPayloadCodec(keys) : undefined;
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

/** The DbAccessGrantee value for an e-mail when GRANTEE_SEARCH_HASH_KEY is set; undefined otherwise (the e-mail itself). */
export function granteeSearchValue(env: Env): ((email: string) => string) | undefined {
  return parseGranteeHashKey(env.get('GRANTEE_SEARCH_HASH_KEY'));
}
