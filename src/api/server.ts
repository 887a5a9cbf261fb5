import { DecisionLinks } from '../adapters/decision-links';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { createAwsClients, DynamoAuditStore, DynamoCredentialLinkStore, SecretsManagerGrantSecretStore } from '../adapters/aws';
import { codecDataConverter, granteeHasher, payloadCodecFor } from '../adapters/temporal/codec';
import { awsSettings, codecEndpointSettings, ConfigError, credentialSettings, codecKeys, decisionLinkKey, Env, granteeSearchHashKey, loadConfigFile, temporalSettings, type TemporalSettings } from '../config';
import { createLogger } from '../observability/logger';
import { buildApp } from './app';
import { parseApiKeys } from './plugins/auth';
import { checkTimeouts, parseTrustProxy } from './plugins/hardening';
import { metricsAccess } from './plugins/observability';

// The API process: reads configuration once, connects to Temporal, listens, and
// closes cleanly on SIGINT/SIGTERM.

/**
 * gRPC reconnects after a failure with a backoff that grows to 120 s by default: after a
 * Temporal outage the API (and /readyz) would stay unavailable for up to two minutes
 * after the server was back. Capped at 5 s.
 */
export const API_CHANNEL_ARGS = { 'grpc.initial_reconnect_backoff_ms': 500, 'grpc.max_reconnect_backoff_ms': 5000 };

export async function connectClient(settings: TemporalSettings, dataConverter?: DataConverter): Promise<Client> {
  const connection = await Connection.connect({
    address: settings.address,
    channelArgs: API_CHANNEL_ARGS,
    ...(settings.tls ? { tls: settings.tls } : {}),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  });
  return new Client({ connection, namespace: settings.namespace, ...(dataConverter ? { dataConverter } : {}) });
}

async function main(): Promise<void> {
  const env = new Env();
  const logger = createLogger('dbaccess-api', env.get('LOG_LEVEL'));
  try {
    const temporal = temporalSettings(env);
    const config = loadConfigFile(env);
    const apiKeys = parseApiKeys(env.get('DBACCESS_API_KEYS'));
    // Payload encryption: on when DBACCESS_CODEC_KEYS is set; the codec routes exist only then.
    const codec = payloadCodecFor(codecKeys(env));
    const codecEndpoint = codecEndpointSettings(env);
    const hashKey = granteeSearchHashKey(env);
    const hashGrantee = hashKey ? granteeHasher(hashKey) : undefined;
    const host = env.require('API_HOST');
    const port = env.int('API_PORT', 0, 65535);
    const grantWaitMs = env.int('API_GRANT_WAIT_MS', 0, 120_000);
    const timeouts = { requestTimeoutMs: env.int('API_REQUEST_TIMEOUT_MS', 1000, 600_000), connectionTimeoutMs: env.int('API_CONNECTION_TIMEOUT_MS', 1000, 3_600_000) };
    checkTimeouts({ ...timeouts, grantWaitMs });
    const metricsToken = env.get('METRICS_TOKEN');
    const decisionKey = decisionLinkKey(env);
    const client = await connectClient(temporal, codecDataConverter(codec));
    // Only to redeem credential links: the password must not pass through Temporal.
    const aws = awsSettings(env);
    const clients = createAwsClients(aws);
    const grantSecrets = new SecretsManagerGrantSecretStore(clients.secrets);
    const app = await buildApp({
      client,
      config,
      apiKeys,
      taskQueue: temporal.taskQueue,
      grantWaitMs,
      logger,
      hardening: {
        rateLimitPerKey: env.int('API_RATE_LIMIT_PER_KEY', 0, 1_000_000),
        rateLimitPerAddress: env.int('API_RATE_LIMIT_PER_ADDRESS', 0, 1_000_000),
        trustProxy: parseTrustProxy(env.get('API_TRUST_PROXY')),
        hstsMaxAge: env.int('API_HSTS_MAX_AGE', 0, 100_000_000),
        ...timeouts,
      },
      ...(codec ? { codec: { codec, ...codecEndpoint } } : {}),
      ...(hashGrantee ? { granteeSearchValue: hashGrantee } : {}),
      credentials: {
        links: new DynamoCredentialLinkStore(clients.doc, credentialSettings(env, 'api').linksTable),
        audit: new DynamoAuditStore(clients.doc, aws.auditTable),
        readCredential: (name) => grantSecrets.readBound(name),
      },
      ...(metricsToken ? { metricsToken } : {}),
      ...(decisionKey ? { decisionLinks: new DecisionLinks(decisionKey) } : {}),
    });
    if (codec) logger.info({ encryptionKeyId: codec.keyId, decryptionKeyIds: codec.keyIds, corsOrigins: codecEndpoint.corsOrigins, codecAuthentication: !codecEndpoint.allowUnauthenticated }, 'payload encryption on');
    else logger.warn('payload encryption off: DBACCESS_CODEC_KEYS is not set, so grant details are stored in clear in Temporal');
    if (metricsAccess(host, metricsToken) === 'refused') {
      logger.warn({ host }, 'GET /metrics is refused: the API listens beyond loopback (API_HOST) and METRICS_TOKEN is not set; set METRICS_TOKEN to scrape it');
    }
    await app.listen({ host, port });
    let closing = false;
    const close = async (signal: string) => {
      if (closing) return;
      closing = true;
      logger.info({ signal }, 'shutting down');
      await app.close();
      await client.connection.close();
      clients.destroy();
    };
    process.once('SIGINT', () => void close('SIGINT'));
    process.once('SIGTERM', () => void close('SIGTERM'));
  } catch (err) {
    if (err instanceof ConfigError) logger.fatal(err.message);
    else logger.fatal({ err }, 'API failed to start');
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
