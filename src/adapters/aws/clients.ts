import { fromEnv } from '@aws-sdk/credential-provider-env';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

import type { AwsSettings } from '../../config';

export interface AwsClients {
  secrets: SecretsManagerClient;
  dynamo: DynamoDBClient;
  /** Marshals plain objects; drops undefined attributes (optional audit fields). */
  doc: DynamoDBDocumentClient;
  /** Closes the clients' sockets. */
  destroy(): void;
}

// Short enough that a dead endpoint fails the attempt (and the activity retries)
// instead of hanging until the activity's own timeout; long enough for a slow
// region. Retries are the SDK's standard mode (3 attempts with jittered backoff,
// throttling included); Temporal's activity retries sit above them.
const CONNECTION_TIMEOUT_MS = 3_000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_ATTEMPTS = 3;

// Emulators (moto, LocalStack) accept any key, but the SDK refuses to sign without
// one. Real credentials from the environment win, because some emulators (DynamoDB
// Local) keep separate data per access key.
const EMULATOR_CREDENTIALS = { accessKeyId: 'dbaccess-local', secretAccessKey: 'dbaccess-local' };

function emulatorCredentials(): ReturnType<typeof fromEnv> {
  const env = fromEnv();
  // Only the environment is consulted: the full default chain would end by probing
  // the EC2 instance metadata address, which a laptop or CI runner has no business calling.
  return async () => {
    try {
      return await env();
    } catch {
      return EMULATOR_CREDENTIALS;
    }
  };
}

export interface AwsClientOptions {
  /** Per attempt, default 3 s. */
  connectionTimeoutMs?: number;
  /** Per attempt, request sent to response received, default 10 s. */
  requestTimeoutMs?: number;
  /** Attempts per call, default 3. */
  maxAttempts?: number;
}

export function createAwsClients(settings: AwsSettings, options: AwsClientOptions = {}): AwsClients {
  const common = {
    region: settings.region,
    maxAttempts: options.maxAttempts ?? MAX_ATTEMPTS,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? CONNECTION_TIMEOUT_MS,
      requestTimeout: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      // Without it a request past its timeout only logs a warning and goes on waiting.
      throwOnRequestTimeout: true,
    },
    // Without an endpoint the SDK's default credential chain applies, unchanged.
    ...(settings.endpoint ? { endpoint: settings.endpoint, credentials: emulatorCredentials() } : {}),
  };
  const secrets = new SecretsManagerClient(common);
  const dynamo = new DynamoDBClient(common);
  const doc = DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } });
  return {
    secrets,
    dynamo,
    doc,
    destroy() {
      doc.destroy();
      dynamo.destroy();
      secrets.destroy();
    },
  };
}
