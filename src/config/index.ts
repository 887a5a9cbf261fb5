import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';
import { Env } from './env';
import { ConfigError } from './errors';
import { loadFileConfig, type FileConfig } from './file';

export * from './env';
export * from './errors';
export * from './credentials';
export * from './codec';
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
