import { Client, Connection } from '@temporalio/client';
import { ConfigError, Env, loadConfigFile, temporalSettings, type TemporalSettings } from '../config';
import { createLogger } from '../logger';
import { buildApp } from './app';
import { parseApiKeys } from './auth';
import { parseTrustProxy } from './hardening';

// The API process: reads configuration once, connects to Temporal, listens, and
// closes cleanly on SIGINT/SIGTERM.

export async function connectClient(settings: TemporalSettings): Promise<Client> {
  const connection = await Connection.connect({
    address: settings.address,
    ...(settings.tls ? { tls: settings.tls } : {}),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  });
  return new Client({ connection, namespace: settings.namespace });
}

async function main(): Promise<void> {
  const env = new Env();
  const logger = createLogger('dbaccess-api', env.get('LOG_LEVEL'));
  try {
    const temporal = temporalSettings(env);
    const config = loadConfigFile(env);
    const apiKeys = parseApiKeys(env.get('DBACCESS_API_KEYS'));
    const client = await connectClient(temporal);
    const app = await buildApp({
      client,
      config,
      apiKeys,
      taskQueue: temporal.taskQueue,
      grantWaitMs: env.int('API_GRANT_WAIT_MS', 0, 120_000),
      logger,
      hardening: {
        rateLimitPerKey: env.int('API_RATE_LIMIT_PER_KEY', 0, 1_000_000),
        rateLimitPerAddress: env.int('API_RATE_LIMIT_PER_ADDRESS', 0, 1_000_000),
        trustProxy: parseTrustProxy(env.get('API_TRUST_PROXY')),
        hstsMaxAge: env.int('API_HSTS_MAX_AGE', 0, 100_000_000),
      },
      ...(env.get('METRICS_TOKEN') ? { metricsToken: env.get('METRICS_TOKEN') } : {}),
    });
    const host = env.require('API_HOST');
    const port = env.int('API_PORT', 0, 65535);
    await app.listen({ host, port });
    let closing = false;
    const close = async (signal: string) => {
      if (closing) return;
      closing = true;
      logger.info({ signal }, 'shutting down');
      await app.close();
      await client.connection.close();
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
