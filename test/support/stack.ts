import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildApp } from '../../src/api/app';
import { parseApiKeys } from '../../src/api/auth';
import { parseFileConfig, type FileConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { createWorker, type RunningWorker } from '../../src/worker';
import { DynamoAuditStore, SecretsManagerGrantSecretStore } from '../../src/activities/aws';
import { createTestComponents, type TestComponents } from './components';
import { onTestRunEnd } from './hooks';
import { RUN_PREFIX, randomName } from './mariadb';
import { localTemporal, uniqueTaskQueue, workflowBundle } from './temporal';

// The whole service for API and end-to-end tests: the real Temporal dev server,
// the real worker (createWorker, with the real adapters on MariaDB, moto and an
// SMTP server), and the real API listening on a loopback port.

export interface TestStack {
  url: string;
  apiKey: string;
  app: FastifyInstance;
  env: TestWorkflowEnvironment;
  components: TestComponents;
  config: FileConfig;
  project: string;
  /** Database keys: `main` and `other` (two schemas); `broken` names a schema that does not exist. */
  databases: { main: string; other: string; broken: string };
  /** Every line the worker and the API logged (JSON), for leak checks. */
  logLines: string[];
  /** A fresh grantee address in the allowed domain; its account name starts with the run prefix (cleaned up). */
  newEmail(): string;
  /** Calls the API over HTTP with the stack's key (or `key`, or none with `key: null`). */
  call(method: string, path: string, body?: unknown, options?: { key?: string | null; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
  grantPath(grantId: string, suffix?: string): string;
  stop(): Promise<void>;
}

export interface TestStackOptions {
  grantWaitMs?: number;
  maxDuration?: string;
  /** CREDENTIALS_IN_EMAIL (default false: a one-time link). */
  credentialsInEmail?: boolean;
  /** CREDENTIAL_LINK_TTL in ms (default 24 h). */
  linkTtlMs?: number;
}

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const env = await localTemporal();
  const components = await createTestComponents({ schemaCount: 2 });
  const project = components.project;
  const config = parseFileConfig({
    secretPrefix: components.secretPrefix,
    allowedEmailDomains: ['example.com'],
    administrators: components.administrators,
    accessLevels: { READ: ['SELECT'], READ_WRITE: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], ADMIN: ['ALL PRIVILEGES'] },
    projects: {
      [project]: {
        ownerName: components.owner.name,
        ownerEmail: components.owner.email,
        databases: {
          main: { schema: components.schemas[0], adminSecretId: components.adminSecretId, maxDuration: options.maxDuration ?? '30d' },
          other: { schema: components.schemas[1], adminSecretId: components.adminSecretId, maxDuration: '2d' },
          broken: { schema: `${RUN_PREFIX}_missing`, adminSecretId: components.adminSecretId },
        },
      },
    },
  });

  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger('test', 'info', sink);
  const taskQueue = uniqueTaskQueue('stack');

  let running: RunningWorker | undefined;
  let runPromise: Promise<void> | undefined;
  let app: FastifyInstance | undefined;
  const stop = async () => {
    await app?.close();
    running?.shutdown();
    await runPromise?.catch(() => undefined);
    app = undefined;
    running = undefined;
  };
  onTestRunEnd(stop);

  const apiKey = randomBytes(24).toString('hex');
  app = await buildApp({
    client: env.client,
    config,
    apiKeys: parseApiKeys(`test-admin:${apiKey}`),
    taskQueue,
    grantWaitMs: options.grantWaitMs ?? 15_000,
    logger,
    credentials: {
      links: components.links,
      audit: new DynamoAuditStore(components.aws.doc, components.auditTable),
      readCredential: (name) => new SecretsManagerGrantSecretStore(components.aws.secrets).read(name),
    },
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });

  running = await createWorker({
    config,
    temporal: { address: env.address, namespace: env.namespace ?? 'default', taskQueue },
    aws: components.awsSettings,
    smtp: components.smtpSettings,
    // The API listens already: the link in the GRANTED e-mail points at it.
    credentials: { linksTable: components.linksTable, inEmail: options.credentialsInEmail ?? false, publicUrl: url, linkTtlMs: options.linkTtlMs ?? 24 * 3600_000 },
    logger,
    workflowBundle: await workflowBundle(),
    connection: env.nativeConnection,
  });
  runPromise = running.run();


  let n = 0;
  return {
    url,
    apiKey,
    app,
    env,
    components,
    config,
    project,
    databases: { main: 'main', other: 'other', broken: 'broken' },
    logLines,
    newEmail: () => `${RUN_PREFIX}.${randomName(4)}${(n += 1)}@example.com`,
    grantPath: (grantId, suffix = '') => `/grants/${encodeURIComponent(grantId)}${suffix}`,
    async call(method, path, body, opts = {}) {
      const key = opts.key === undefined ? apiKey : opts.key;
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(key !== null ? { authorization: `Bearer ${key}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    stop,
  };
}
