import { DecisionLinks } from '../../src/adapters/decision-links';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { CreateSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundle } from '@temporalio/worker';
import { buildApp, type AppDeps } from '../../src/api/app';
import { AesGcmPayloadCodec, codecDataConverter } from '../../src/adapters/temporal/codec';
import { parseApiKeys } from '../../src/api/plugins/auth';
import type { HardeningOptions } from '../../src/api/plugins/hardening';
import { parseFileConfig, type FileConfig } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import { createWorker, type RunningWorker } from '../../src/worker';
import { DynamoAuditStore, SecretsManagerGrantSecretStore } from '../../src/adapters/aws';
import { createTestComponents, stackConfigFile, type TestComponents } from './components';
import { onTestRunEnd } from './hooks';
import { RUN_PREFIX, randomName, rootPool } from './mariadb';
import { adminGrantStatements, grantSchema } from '../../src/adapters/engines/mysql/sql';
import { localTemporal, uniqueTaskQueue, workflowBundle } from './temporal';

// The whole service for API and end-to-end tests: the real Temporal dev server,
// the real worker (createWorker, with the real adapters on MariaDB, moto and an
// SMTP server), and the real API listening on a loopback port.

/** API keys of the stack, one per role (see ROLE_CLIENTS). */
export type StackKeys = Record<keyof typeof ROLE_CLIENTS, string>;

/**
 * The stack's API clients: one of each role on its project, a second requester
 * (to prove a requester acts only on its own grants), a requester and an
 * approver of another project, and an approver whose address is a grantee's.
 */
export const ROLE_CLIENTS = {
  admin: { name: 'test-admin', role: 'admin' },
  requester: { name: 'test-requester', role: 'requester', own: true },
  otherRequester: { name: 'test-requester-2', role: 'requester', own: true },
  outsideRequester: { name: 'test-outsider', role: 'requester', projects: ['elsewhere'] },
  approver: { name: 'test-approver', role: 'approver', own: true, email: 'approver@example.com' },
  outsideApprover: { name: 'test-approver-elsewhere', role: 'approver', projects: ['elsewhere'], email: 'approver2@example.com' },
  auditor: { name: 'test-auditor', role: 'auditor' },
} as const;

/** A stack of several workers and API processes (`fleet` option). */
export interface TestFleet {
  /** Each API process's base URL; the first is the stack's `url`. */
  urls: string[];
  /** Each worker; the first is the stack's `worker`. */
  workers: RunningWorker[];
  /** What each worker logged (its own lines only). */
  workerLogs: string[][];
  /**
   * Starts one more worker (a restarted one, in a rolling restart); it joins `workers` and `workerLogs`.
   * `workflowBundle`: the workflow code it runs (another release's, in a rolling deploy); the stack's by default.
   */
  startWorker(options?: { workflowBundle?: WorkflowBundle }): Promise<RunningWorker>;
}

export interface TestStack {
  fleet: TestFleet;
  url: string;
  apiKey: string;
  /** A key per role (`apiKey` is `keys.admin`). */
  keys: StackKeys;
  app: FastifyInstance;
  env: TestWorkflowEnvironment;
  /** The payload codec of the worker and the API (undefined with `codec: false`). */
  codec: AesGcmPayloadCodec | undefined;
  /** A client of the stack's namespace with the stack's codec: it can read what the worker and the API write. `env.client` has no codec. */
  client: Client;
  components: TestComponents;
  config: FileConfig;
  project: string;
  /** Database keys: `main` and `other` (two schemas); `gated` (every grant needs approval); `broken` names a schema that does not exist; `standing` (with the `standing` option) allows standing grants. */
  databases: { main: string; other: string; gated: string; broken: string; standing: string };
  /** The task queue of this stack's worker (every grant workflow it runs is on it). */
  taskQueue: string;
  /** Every line the worker and the API logged (JSON), for leak checks. */
  logLines: string[];
  /** The running worker (its grant counters: `worker.metrics`). */
  worker: RunningWorker;
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
  /** How long a request waits for approval before it is denied (default 1h). */
  approvalTimeout?: string;
  /** The API's hardening options. Default: rate limits far above what a test does (polling included). */
  hardening?: HardeningOptions;
  /** The reconciler's settings; `scheduleId` makes the worker create its schedule under that id (default: no schedule). */
  reconciler?: { interval?: string; mode?: 'revoke' | 'report'; scheduleId?: string };
  /** Payload encryption of the worker and the API: a codec of a fresh random key by default; `false` for none. */
  codec?: AesGcmPayloadCodec | false;
  /** The codec endpoint's settings (its routes exist whenever there is a codec). */
  codecEndpoint?: { corsOrigins?: string[]; allowUnauthenticated?: boolean };
  /** What DbAccessGrantee holds for an e-mail (GRANTEE_SEARCH_HASH_KEY); the e-mail by default. */
  granteeSearchValue?: AppDeps['granteeSearchValue'];
  /**
   * A PostgreSQL database `pg` of the project (`engine: postgresql`): its schema, and its admin
   * secret's value in the RDS shape, stored in Secrets Manager before the worker starts.
   */
  postgres?: { schema: string; secret: Record<string, unknown>; requireApproval?: true | string[] };
  /** Several workers and API processes against the one Temporal server (default one of each): `fleet` in the answer. */
  fleet?: { workers?: number; apis?: number };
  /** The configuration's eventStream (endpoints and deliverFor); none by default. */
  eventStream?: Record<string, unknown>;
  /** One-click decision links (DECISION_LINK_KEY): a fresh key shared by the worker and the API; off by default. */
  decisionLinks?: boolean;
  /** The configuration's reminders before an expiry (default: the configuration's, 3d and 1d). */
  reminders?: string[];
  /** A database `standing` of the project (the first schema) that allows standing grants, reviewed as given. */
  standing?: { review: string; decideWithin?: string };
  /** The configuration's breakGlass (clients, maxDuration, reviewWithin); none by default. */
  breakGlass?: { clients: string[]; maxDuration?: string; reviewWithin?: string };
  /** CREDENTIALS_IN_EMAIL (default false: a one-time link). */
  credentialsInEmail?: boolean;
  /** CREDENTIAL_LINK_TTL in ms (default 24 h). */
  linkTtlMs?: number;
  /** The Temporal server: the run's shared dev server by default. */
  temporal?: () => Promise<TestWorkflowEnvironment>;
}

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const env = await (options.temporal ?? localTemporal)();
  const components = await createTestComponents({ schemaCount: 2 });
  const project = components.project;
  // The broken database's schema does not exist, but its admin holds the grants for it, as an
  // operator's would before creating it: the start-up check stays quiet, and a grant there
  // fails at its target check (UnknownDatabase).
  const missingSchema = `${RUN_PREFIX}_missing`;
  for (const statement of adminGrantStatements('mariadb', components.admin.account, components.admin.host, [missingSchema]).filter((s) => s.includes(grantSchema(missingSchema)))) {
    await rootPool().query(statement);
  }
  const pgDatabase: Record<string, Record<string, unknown>> = {};
  if (options.postgres) {
    const pgSecretId = `dbaccess-test-admin/${project}/pg`;
    await components.aws.secrets.send(new CreateSecretCommand({ Name: pgSecretId, SecretString: JSON.stringify(options.postgres.secret) }));
    onTestRunEnd(async () => {
      await components.aws.secrets.send(new DeleteSecretCommand({ SecretId: pgSecretId, ForceDeleteWithoutRecovery: true })).catch(() => undefined);
    });
    pgDatabase.pg = {
      engine: 'postgresql',
      schema: options.postgres.schema,
      adminSecretId: pgSecretId,
      maxDuration: '30d',
      ...(options.postgres.requireApproval ? { requireApproval: options.postgres.requireApproval } : {}),
    };
  }
  const config = parseFileConfig(
    stackConfigFile(
      components,
      {
        main: { schema: components.schemas[0], adminSecretId: components.adminSecretId, maxDuration: options.maxDuration ?? '30d' },
        other: { schema: components.schemas[1], adminSecretId: components.adminSecretId, maxDuration: '2d' },
        gated: { schema: components.schemas[1], adminSecretId: components.adminSecretId, requireApproval: true },
        broken: { schema: missingSchema, adminSecretId: components.adminSecretId },
        ...(options.standing ? { standing: { schema: components.schemas[0], adminSecretId: components.adminSecretId, standing: options.standing } } : {}),
        ...pgDatabase,
      },
      {
        projects: {
          // A second project, so that the roles' project scopes can be tested.
          elsewhere: {
            ownerName: components.owner.name,
            ownerEmail: components.owner.email,
            databases: { main: { schema: components.schemas[0], adminSecretId: components.adminSecretId } },
          },
        },
        approval: { timeout: options.approvalTimeout ?? '1h' },
        ...(options.reminders ? { reminders: options.reminders } : {}),
        ...(options.eventStream ? { eventStream: options.eventStream } : {}),
        ...(options.breakGlass ? { breakGlass: options.breakGlass } : {}),
        ...(options.reconciler ? { reconciler: { interval: options.reconciler.interval ?? '1h', mode: options.reconciler.mode ?? 'revoke' } } : {}),
        apiClients: Object.fromEntries(
          Object.values(ROLE_CLIENTS).map((c) => [
            c.name,
            {
              role: c.role,
              ...('own' in c ? { projects: [project] } : {}),
              ...('projects' in c ? { projects: c.projects } : {}),
              ...('email' in c ? { email: c.email } : {}),
            },
          ]),
        ),
      },
    ),
  );

  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger('test', 'info', sink);
  const taskQueue = uniqueTaskQueue('stack');
  // Every API and end-to-end test runs with encrypted payloads unless it asks otherwise.
  const codec = options.codec === false ? undefined : (options.codec ?? new AesGcmPayloadCodec([{ id: `test-${randomName(4)}`, key: randomBytes(32) }]));
  const dataConverter = codecDataConverter(codec);
  const client = new Client({ connection: env.connection, namespace: env.namespace ?? 'default', ...(dataConverter ? { dataConverter } : {}) });

  const apps: FastifyInstance[] = [];
  const workers: RunningWorker[] = [];
  const runs: Promise<void>[] = [];
  const stop = async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    for (const w of workers.splice(0)) w.shutdown();
    await Promise.all(runs.splice(0).map((r) => r.catch(() => undefined)));
  };
  onTestRunEnd(stop);

  const decisionLinkKey = options.decisionLinks ? randomBytes(32) : undefined;
  const keys = Object.fromEntries(Object.keys(ROLE_CLIENTS).map((role) => [role, randomBytes(24).toString('hex')])) as StackKeys;
  const apiKey = keys.admin;
  const appOptions = {
    client,
    config,
    apiKeys: parseApiKeys(Object.entries(keys).map(([role, key]) => `${ROLE_CLIENTS[role as keyof StackKeys].name}:${key}`).join(',')),
    taskQueue,
    grantWaitMs: options.grantWaitMs ?? 15_000,
    logger,
    hardening: options.hardening ?? { rateLimitPerKey: 1_000_000, rateLimitPerAddress: 1_000_000 },
    ...(codec ? { codec: { codec, corsOrigins: options.codecEndpoint?.corsOrigins ?? [], allowUnauthenticated: options.codecEndpoint?.allowUnauthenticated ?? false } } : {}),
    ...(options.granteeSearchValue ? { granteeSearchValue: options.granteeSearchValue } : {}),
    ...(decisionLinkKey ? { decisionLinks: new DecisionLinks(decisionLinkKey) } : {}),
    credentials: {
      links: components.links,
      audit: new DynamoAuditStore(components.aws.doc, components.auditTable),
      readCredential: (name: string) => new SecretsManagerGrantSecretStore(components.aws.secrets).readBound(name),
    },
  };
  const urls: string[] = [];
  for (let i = 0; i < (options.fleet?.apis ?? 1); i += 1) {
    const app = await buildApp(appOptions);
    apps.push(app);
    urls.push(await app.listen({ host: '127.0.0.1', port: 0 }));
  }
  const app = apps[0]!;
  const url = urls[0]!;

  const workerLogs: string[][] = [];
  const bundle = await workflowBundle();
  const startWorker = async (i: number, workflowBundle: WorkflowBundle = bundle): Promise<RunningWorker> => {
    const own: string[] = [];
    workerLogs.push(own);
    const workerLogger =
      i === 0 && !options.fleet
        ? logger
        : createLogger(`test-worker-${i + 1}`, 'info', new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); own.push(String(chunk)); done(); } }));
    const worker = await createWorker({
      config,
      temporal: { address: env.address, namespace: env.namespace ?? 'default', taskQueue },
      aws: components.awsSettings,
      smtp: components.smtpSettings,
      // The API listens already: the link in the GRANTED e-mail points at it.
      credentials: { linksTable: components.linksTable, inEmail: options.credentialsInEmail ?? false, publicUrl: url, linkTtlMs: options.linkTtlMs ?? 24 * 3600_000 },
      logger: workerLogger,
      workflowBundle,
      // A worker of its own connection, as in its own process: the SDK serves one worker per queue per client.
      ...(i === 0 ? { connection: env.nativeConnection } : {}),
      reconcilerSchedule: options.reconciler?.scheduleId ? { scheduleId: options.reconciler.scheduleId } : false,
      // In a fleet each worker has a name of its own, as each pod would: Temporal records it on every attempt.
      ...(options.fleet ? { identity: `test-worker-${i + 1}` } : {}),
      ...(decisionLinkKey ? { decisionLinkKey } : {}),
      ...(dataConverter ? { dataConverter } : {}),
    });
    workers.push(worker);
    runs.push(worker.run());
    return worker;
  };
  for (let i = 0; i < (options.fleet?.workers ?? 1); i += 1) await startWorker(i);
  const running = workers[0]!;

  let n = 0;
  return {
    fleet: { urls, workers, workerLogs, startWorker: (opts) => startWorker(workers.length, opts?.workflowBundle) },
    url,
    apiKey,
    keys,
    app,
    env,
    codec,
    client,
    components,
    config,
    project,
    databases: { main: 'main', other: 'other', gated: 'gated', broken: 'broken', standing: 'standing' },
    taskQueue,
    logLines,
    worker: running,
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
