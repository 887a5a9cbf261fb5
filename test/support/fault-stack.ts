import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CreateSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { Client, type WorkflowHandle } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';

import { DynamoAuditStore } from '../../src/adapters/aws';
import type { AuditRecord } from '../../src/adapters/ports';
import { buildApp } from '../../src/api/app';
import { parseApiKeys } from '../../src/api/plugins/auth';
import { parseFileConfig, type FileConfig } from '../../src/config';
import type { GrantState } from '../../src/domain';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../src/contract/search-attributes';
import { createTestComponents, stackConfigFile, type TestComponents } from './components';
import { onTestRunEnd } from './hooks';
import { accountExists, canLogin, MARIADB_HOST, MARIADB_PORT, randomName, RUN_PREFIX, schemaGrants } from './mariadb';
import { loginAs, roleOf, seedServiceDatabase, startPgCluster, tablePrivilegesOf, type PgCluster, type PgServiceDatabase } from './pg-cluster';
import { connectToDevServer, startTemporalDevServer, startWorkerProcess, type TemporalDevServer, type WorkerProcess } from './processes';
import { startTcpProxy, type TcpProxy } from './proxy';
import type { CapturedMail } from './smtp';
import { localTemporal, uniqueTaskQueue } from './temporal';
import { until } from './wait';

// The service with its dependencies behind proxies the test controls, for fault
// injection on the real stack:
//
//   API (in this process) ──▶ Temporal (the run's shared dev server, or one of the test's own)
//                                  ▲
//   worker (a child process: `tsx src/worker/index.ts`, killable with SIGKILL, restartable)
//     ├── MariaDB: one proxy per configured database (each database has its own admin
//     │   secret, whose MYSQL_HOST/PORT is its proxy), so one grant's database can be
//     │   cut or held without touching another's
//     ├── PostgreSQL (with `postgres`): a password-checking cluster of the stack's own,
//     │   one proxy and admin secret (RDS shape) per PostgreSQL database key
//     ├── AWS emulator (Secrets Manager + DynamoDB): one proxy (AWS_ENDPOINT_URL)
//     └── SMTP capture server: one proxy (SMTP_HOST/PORT)
//
// The test itself reads MariaDB, PostgreSQL, moto and the captured mail directly, never
// through the proxies, so what it sees is the truth whatever the proxies do.
// One file, past 400 lines: the setup and the checks of what a grant left share the
// same components, proxies and configuration.

export const ADMIN_CLIENT = 'fault-admin';

export interface FaultStackOptions {
  /** Database keys of the project; each gets its own MariaDB proxy and admin secret. */
  databases: string[];
  /** A Temporal dev server of this stack's own (on a state file, so it can be restarted). Default: the run's shared one. */
  ownTemporal?: boolean;
  maxDuration?: string;
  grantWaitMs?: number;
  /** The configuration's revocationLead (default: the configuration's default, 1m). */
  revocationLead?: string;
  /** PostgreSQL database keys (`engine: postgresql`), all on one seeded database of the stack's own cluster, each behind its own proxy. */
  postgres?: string[];
  /** Worker processes on the stack's task queue (default 1), named `fault-worker-<n>` (WORKER_IDENTITY). */
  workers?: number;
}

/** The PostgreSQL side of a stack: the cluster, its seeded service database, and a table of its schema (owned by the owner role). */
export interface FaultStackPostgres {
  cluster: PgCluster;
  database: PgServiceDatabase;
  /** Schema-qualified. */
  table: string;
}

export interface GrantOutcome {
  state: GrantState;
  audit: AuditRecord[];
  /** Mail to the grantee (any subject). */
  granteeMails: CapturedMail[];
  /** Mail to the administrators about this grant. */
  adminMails: CapturedMail[];
  accountExists: boolean;
  secretExists: boolean;
}

export interface FaultStack {
  components: TestComponents;
  project: string;
  config: FileConfig;
  configPath: string;
  taskQueue: string;
  client: Client;
  url: string;
  apiKey: string;
  /** The first worker process. */
  worker: WorkerProcess;
  /** Every worker process, in the order of their names (`fault-worker-1`, …). */
  workers: WorkerProcess[];
  temporal?: TemporalDevServer;
  /** The MariaDB proxy of each database key. */
  mysql: Record<string, TcpProxy>;
  /** The PostgreSQL proxy of each `postgres` key. */
  pg: Record<string, TcpProxy>;
  postgres?: FaultStackPostgres;
  aws: TcpProxy;
  smtp: TcpProxy;
  audit: DynamoAuditStore;
  newEmail(): string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  grantPath(grantId: string, suffix?: string): string;
  handle(grantId: string): WorkflowHandle;
  /** POST /grants with sensible defaults. */
  requestGrant(fields: { email: string; database: string; accessLevel?: string; expiresAt?: string; duration?: string }): Promise<{ status: number; body: any }>;
  /** Names of the activities the grant's workflow is running or retrying. */
  pendingActivities(grantId: string): Promise<{ type: string; attempt: number }[]>;
  /** Waits until the grant has `activityType` pending (with `started`: picked up by a worker). */
  waitForPending(grantId: string, activityType: string, timeoutMs?: number, options?: { started?: boolean }): Promise<void>;
  /** The grant's state, by query (needs a running worker). */
  state(grantId: string): Promise<GrantState>;
  /** Waits until the workflow has closed, and returns its final state. */
  waitClosed(grantId: string, timeoutMs: number): Promise<GrantState>;
  /** Everything there is to know about a grant, from the real components. */
  outcome(grantId: string): Promise<GrantOutcome>;
  /** Asserts a closed or active grant is consistent: ACTIVE with every artifact, or ended with none. Returns what it saw. */
  assertConsistent(grantId: string): Promise<GrantOutcome>;
  stop(): Promise<void>;
}

/** Calls the API at `url` with a bearer key; the body is parsed when it is JSON. */
export function apiCaller(url: string, apiKey: string): (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }> {
  return async (method, path, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed as any };
  };
}

export async function startFaultStack(options: FaultStackOptions): Promise<FaultStack> {
  const cleanups: (() => Promise<void>)[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      for (const fn of cleanups.splice(0).reverse()) {
        try {
          await fn();
        } catch (err) {
          // eslint-disable-next-line no-console
          console.error('fault stack: cleanup failed:', err);
        }
      }
    })();
    return stopped;
  };
  onTestRunEnd(stop);

  try {
    const dir = mkdtempSync(join(tmpdir(), 'dbaccess-faults-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));

    // Temporal: shared, or our own on a state file.
    let temporal: TemporalDevServer | undefined;
    let address: string;
    let namespace = 'default';
    let client: Client;
    if (options.ownTemporal) {
      temporal = await startTemporalDevServer({ dbFile: join(dir, 'temporal.db'), searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS });
      cleanups.push(async () => temporal!.stop());
      address = temporal.address;
      const connection = await connectToDevServer(temporal);
      cleanups.push(async () => connection.close());
      client = new Client({ connection, namespace });
    } else {
      const env = await localTemporal();
      address = env.address;
      namespace = env.namespace ?? 'default';
      client = env.client;
    }

    const components = await createTestComponents({ schemaCount: 1 });
    cleanups.push(() => components.close());

    // One MariaDB proxy and admin secret per database key.
    const mysql: Record<string, TcpProxy> = {};
    const adminSecrets: Record<string, string> = {};
    for (const key of options.databases) {
      const proxy = await startTcpProxy({ host: MARIADB_HOST, port: MARIADB_PORT });
      cleanups.push(() => proxy.close());
      mysql[key] = proxy;
      const secretId = `dbaccess-test-admin/${components.project}/${key}`;
      await components.aws.secrets.send(
        new CreateSecretCommand({
          Name: secretId,
          SecretString: JSON.stringify({
            MYSQL_HOST: proxy.host,
            MYSQL_PORT: String(proxy.port),
            MYSQL_USERNAME: components.admin.account,
            MYSQL_PASSWORD: components.admin.password,
          }),
        }),
      );
      cleanups.push(async () => {
        await components.aws.secrets.send(new DeleteSecretCommand({ SecretId: secretId, ForceDeleteWithoutRecovery: true }));
      });
      adminSecrets[key] = secretId;
    }
    // PostgreSQL: one cluster and service database; one proxy and admin secret per key.
    const pgProxies: Record<string, TcpProxy> = {};
    const pgEntries: Record<string, Record<string, unknown>> = {};
    let postgres: FaultStackPostgres | undefined;
    if (options.postgres?.length) {
      const cluster = await startPgCluster();
      cleanups.push(() => cluster.stop());
      const database = await seedServiceDatabase(cluster, `f${randomName(6)}`);
      const table = `${database.schema}.t`;
      await cluster.root(database.database).query(`CREATE TABLE ${table} (id serial PRIMARY KEY, v text)`);
      await cluster.root(database.database).query(`ALTER TABLE ${table} OWNER TO "${database.owner}"`);
      postgres = { cluster, database, table };
      for (const key of options.postgres) {
        const proxy = await startTcpProxy({ host: cluster.host, port: cluster.port });
        cleanups.push(() => proxy.close());
        pgProxies[key] = proxy;
        const secretId = `dbaccess-test-admin/${components.project}/${key}`;
        const secret = { ...database.secret, host: proxy.host, port: proxy.port };
        await components.aws.secrets.send(new CreateSecretCommand({ Name: secretId, SecretString: JSON.stringify(secret) }));
        cleanups.push(async () => {
          await components.aws.secrets.send(new DeleteSecretCommand({ SecretId: secretId, ForceDeleteWithoutRecovery: true }));
        });
        pgEntries[key] = { engine: 'postgresql', schema: database.schema, adminSecretId: secretId, maxDuration: options.maxDuration ?? '30d' };
      }
    }
    const onPg = (database: string) => postgres !== undefined && database in pgEntries;
    const motoUrl = new URL(components.awsSettings.endpoint!);
    const aws = await startTcpProxy({ host: motoUrl.hostname, port: Number(motoUrl.port) });
    cleanups.push(() => aws.close());
    const smtp = await startTcpProxy({ host: components.smtp.host, port: components.smtp.port });
    cleanups.push(() => smtp.close());

    const project = components.project;
    const raw = stackConfigFile(
      components,
      {
        ...Object.fromEntries(options.databases.map((key) => [key, { schema: components.schema, adminSecretId: adminSecrets[key], maxDuration: options.maxDuration ?? '30d' }])),
        ...pgEntries,
      },
      { apiClients: { [ADMIN_CLIENT]: { role: 'admin' } }, ...(options.revocationLead ? { revocationLead: options.revocationLead } : {}) },
    );
    const config = parseFileConfig(raw);
    const configPath = join(dir, 'dbaccess.json');
    writeFileSync(configPath, JSON.stringify(raw, null, 2));

    const taskQueue = uniqueTaskQueue('faults');

    const apiKey = randomBytes(24).toString('hex');
    const app: FastifyInstance = await buildApp({
      client,
      config,
      apiKeys: parseApiKeys(`${ADMIN_CLIENT}:${apiKey}`),
      taskQueue,
      grantWaitMs: options.grantWaitMs ?? 15_000,
      hardening: { rateLimitPerKey: 1_000_000, rateLimitPerAddress: 1_000_000 },
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => app.close());

    const workerEnv = {
      DBACCESS_CONFIG: configPath,
      LOG_LEVEL: 'info',
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
      TEMPORAL_TASK_QUEUE: taskQueue,
      AWS_REGION: components.awsSettings.region,
      AWS_ENDPOINT_URL: `http://${aws.host}:${aws.port}`,
      AWS_ACCESS_KEY_ID: 'faults',
      AWS_SECRET_ACCESS_KEY: 'faults',
      AUDIT_TABLE: components.auditTable,
      SMTP_HOST: smtp.host,
      SMTP_PORT: String(smtp.port),
      MAIL_FROM: components.smtpSettings.from,
      // The GRANTED e-mail's one-time link points at this stack's API.
      PUBLIC_URL: url,
      CREDENTIAL_LINKS_TABLE: components.linksTable,
      // Several workers run at once here: no metrics ports to collide on.
      WORKER_METRICS_PORT: '0',
      WORKER_SDK_METRICS_PORT: '0',
    };
    const workers: WorkerProcess[] = [];
    for (let i = 1; i <= (options.workers ?? 1); i += 1) {
      const started = await startWorkerProcess({ ...workerEnv, WORKER_IDENTITY: `fault-worker-${i}` });
      workers.push(started);
      cleanups.push(() => started.stop());
    }
    const worker = workers[0]!;

    const audit = new DynamoAuditStore(components.aws.doc, components.auditTable);
    let n = 0;

    const call = apiCaller(url, apiKey);
    const grantPath = (grantId: string, suffix = '') => `/grants/${encodeURIComponent(grantId)}${suffix}`;
    const handle = (grantId: string) => client.workflow.getHandle(grantId);

    const pendingActivities = async (grantId: string) => {
      const d = await handle(grantId).describe();
      return (d.raw.pendingActivities ?? []).map((a) => ({
        type: a.activityType?.name ?? '?',
        attempt: a.attempt ?? 0,
        started: [2, 'PENDING_ACTIVITY_STATE_STARTED'].includes(a.state as never),
      }));
    };

    const state = async (grantId: string): Promise<GrantState> => (await handle(grantId).query('grantState')) as GrantState;

    const mailsTo = (address: string) => components.smtp.messages.filter((m) => [...m.to, ...m.cc, ...m.envelopeTo].includes(address));

    const outcome = async (grantId: string): Promise<GrantOutcome> => {
      const s = await state(grantId);
      const admins = components.administrators.map((a) => a.email);
      return {
        state: s,
        audit: await audit.forGrant(grantId),
        granteeMails: mailsTo(s.email),
        adminMails: components.smtp.messages.filter((m) => m.to.some((t) => admins.includes(t)) && (m.subject.includes(s.email) || m.text.includes(grantId))),
        accountExists: onPg(s.database) ? (await roleOf(postgres!.cluster, s.account)) !== undefined : await accountExists(s.account, '%'),
        secretExists: s.secretName !== undefined ? await components.secretExists(s.secretName) : await components.secretExists(`${components.secretPrefix}/${s.project}/${s.database}/${s.account}`),
      };
    };

    const assertConsistent = async (grantId: string): Promise<GrantOutcome> => {
      const o = await outcome(grantId);
      const { state: s } = o;
      const events = o.audit.map((e) => e.event);
      const why = `${grantId} is ${s.status}; audit: ${events.join(', ')}; history: ${s.history.map((h) => h.event).join(', ')}`;
      const secretName = `${components.secretPrefix}/${s.project}/${s.database}/${s.account}`;
      if (s.status === 'ACTIVE') {
        if (onPg(s.database)) {
          const { cluster, database, table } = postgres!;
          const role = await roleOf(cluster, s.account);
          assert.equal(role?.comment, `dbaccess grant ${grantId}`, `${why}: its role exists, tagged with the grant`);
          const held = await tablePrivilegesOf(cluster, database.database, s.account, table);
          const exact = s.privileges.includes('ALL PRIVILEGES') ? held.length === 7 : held.join(', ') === s.privileges.join(', ');
          assert.ok(exact, `${why}: exactly the level's privileges on ${table} (${held.join(', ')})`);
          const secret = await components.readGrantSecret(secretName);
          assert.ok(secret, `${why}: its secret exists`);
          await (await loginAs(cluster, s.account, secret.password, database.database)).end();
        } else {
          assert.ok(o.accountExists, `${why}: its account exists`);
          const grants = await schemaGrants(s.account, '%', components.schema);
          assert.equal(grants.length, 1, `${why}: one grant line on the schema (${grants.join(' | ')})`);
          assert.equal(grants[0]!.split(' ON ')[0], `GRANT ${s.privileges.join(', ')}`, `${why}: exactly the level's privileges`);
          const secret = await components.readGrantSecret(secretName);
          assert.ok(secret, `${why}: its secret exists`);
          assert.ok(await canLogin(s.account, secret.password, components.schema), `${why}: the password in the secret works`);
        }
        assert.ok(events.includes('REQUESTED') && events.includes('GRANTED'), `${why}: REQUESTED and GRANTED are audited`);
        assert.ok(!events.includes('ROLLED_BACK'), `${why}: not rolled back`);
        assert.ok(o.granteeMails.some((m) => /granted/i.test(m.subject)), `${why}: the grantee was e-mailed`);
      } else if (s.status === 'FAILED') {
        assert.equal(o.accountExists, false, `${why}: no account`);
        assert.equal(await components.secretExists(secretName), false, `${why}: no secret`);
        assert.ok(events.includes('ROLLED_BACK'), `${why}: ROLLED_BACK is audited`);
        assert.ok(s.failure, `${why}: the failure is recorded`);
        assert.ok(o.adminMails.some((m) => /FAILED and rolled back/.test(m.subject)), `${why}: the administrators were e-mailed`);
      } else if (s.status === 'REVOKED' || s.status === 'EXPIRED') {
        assert.equal(o.accountExists, false, `${why}: no account`);
        assert.equal(await components.secretExists(secretName), false, `${why}: no secret`);
        assert.ok(events.includes(s.status), `${why}: ${s.status} is audited`);
        assert.ok(events.includes('GRANTED'), `${why}: it had been granted`);
      } else {
        assert.fail(`${why}: not a settled state`);
      }
      // Every event the workflow says it wrote is in the trail, and no more.
      assert.deepEqual(events, s.history.map((h) => h.event), `${why}: the trail and the grant's history agree`);
      return o;
    };

    return {
      components,
      project,
      config,
      configPath,
      taskQueue,
      client,
      url,
      apiKey,
      worker,
      workers,
      ...(temporal ? { temporal } : {}),
      mysql,
      pg: pgProxies,
      ...(postgres ? { postgres } : {}),
      aws,
      smtp,
      audit,
      newEmail: () => `${RUN_PREFIX}.${randomName(4)}${(n += 1)}@example.com`,
      call,
      grantPath,
      handle,
      requestGrant: (fields) =>
        call('POST', '/grants', {
          email: fields.email,
          name: 'Fault Tester',
          project,
          database: fields.database,
          accessLevel: fields.accessLevel ?? 'READ_WRITE',
          ...(fields.duration ? { duration: fields.duration } : { expiresAt: fields.expiresAt ?? new Date(Date.now() + 7 * 24 * 3600_000).toISOString() }),
        }),
      pendingActivities,
      async waitForPending(grantId, activityType, timeoutMs = 30_000, options = {}) {
        await until(
          `${grantId} to be running ${activityType}`,
          async () => (await pendingActivities(grantId)).some((a) => a.type === activityType && (!options.started || a.started)),
          timeoutMs,
        );
      },
      state,
      async waitClosed(grantId, timeoutMs) {
        await until(
          `${grantId} to close`,
          async () => {
            const d = await handle(grantId).describe();
            return d.status.name !== 'RUNNING';
          },
          timeoutMs,
        );
        return state(grantId);
      },
      outcome,
      assertConsistent,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
