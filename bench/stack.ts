import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';

import { buildApp } from '../src/api/app';
import { parseApiKeys } from '../src/api/plugins/auth';
import { parseFileConfig, type FileConfig } from '../src/config';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../src/contract/search-attributes';
import { createTestComponents, stackConfigFile, type TestComponents } from '../test/support/components';
import { apiCaller } from '../test/support/fault-stack';
import { RUN_PREFIX, randomName, rootPool } from '../test/support/mariadb';
import { freePort } from '../test/support/ports';
import { ROOT } from '../test/support/tools';
import { connectToDevServer, startTemporalDevServer, startWorkerProcess, type TemporalDevServer, type WorkerProcess } from '../test/support/processes';
import { preparePostgres, type BenchPostgres } from './pg';

// The stack the benchmark measures, as production runs it and as `npm run dev`
// starts it, with nothing in between:
//
//   the benchmark ─HTTP─▶ API (in this process) ──▶ Temporal dev server (its own, on a state file)
//                                                        ▲
//   workers: `node dist/src/worker/index.js`, child processes ───┘ (measured: resident memory, CPU)
//     ├── MariaDB on 127.0.0.1:3306, through a least-privileged admin read from Secrets Manager
//     ├── with `postgres`: the local PostgreSQL, database `pg` of the project (bench/pg.ts)
//     ├── AWS emulator: Secrets Manager (admin and grant secrets) and DynamoDB (audit, links)
//     └── SMTP capture server on loopback
//
// The worker is the compiled build (`npm run build`), like the image runs it:
// no TypeScript loader in its memory figures. With `workers` above one, as many
// processes serve the same task queues, each named bench-worker-<i> (WORKER_IDENTITY).

export const BENCH_CLIENT = 'bench-admin';

export interface BenchStack {
  components: TestComponents;
  config: FileConfig;
  project: string;
  client: Client;
  url: string;
  temporal: TemporalDevServer;
  /** The worker processes, bench-worker-1 first. */
  workers: BenchWorker[];
  newEmail(): string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Drops every account the benchmark's grants created (a cleanup between phases, not a revoke: nothing is audited). */
  dropGrantAccounts(): Promise<number>;
  /** With the `postgres` option: the PostgreSQL database behind the project's database `pg`. */
  postgres?: BenchPostgres;
  stop(): Promise<void>;
}

export interface BenchWorker {
  /** Its WORKER_IDENTITY: what Temporal records on each of its attempts. */
  identity: string;
  process: WorkerProcess;
  /** Its own metrics server (GET /metrics: process and heap figures). */
  metricsUrl: string;
}

export interface BenchStackOptions {
  /** Extra environment for the workers (WORKER_MAX_CACHED_WORKFLOWS, ...). */
  workerEnv?: Record<string, string>;
  /** Worker processes (default 1). */
  workers?: number;
  log: (line: string) => void;
  /** A superuser URL of a PostgreSQL server: the project gets a database `pg` of engine postgresql on it. */
  postgres?: { url: string };
  /** The configuration's revocationLead in seconds (default: the configuration's default). */
  revocationLeadS?: number;
  /** Each worker writes a V8 CPU profile of its threads to .bench/profiles/<identity>/ when it stops. */
  cpuProfile?: boolean;
}

export async function startBenchStack(options: BenchStackOptions): Promise<BenchStack> {
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        options.log(`cleanup failed: ${(err as Error).message}`);
      }
    }
  };
  try {
    const dir = mkdtempSync(join(tmpdir(), 'dbaccess-bench-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));

    const temporal = await startTemporalDevServer({ dbFile: join(dir, 'temporal.db'), searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS });
    cleanups.push(() => temporal.stop());
    const connection = await connectToDevServer(temporal);
    cleanups.push(async () => connection.close());
    const client = new Client({ connection, namespace: 'default' });

    const components = await createTestComponents({ schemaCount: 1 });
    cleanups.push(() => components.close());
    const project = components.project;
    const postgres = options.postgres ? await preparePostgres(options.postgres.url, components.aws.secrets, options.log) : undefined;
    if (postgres) cleanups.push(() => postgres.close());
    const raw = stackConfigFile(
      components,
      {
        main: { schema: components.schema, adminSecretId: components.adminSecretId, maxDuration: '400d' },
        ...(postgres ? { pg: { engine: 'postgresql', schema: postgres.schema, adminSecretId: postgres.adminSecretId, maxDuration: '400d' } } : {}),
      },
      { apiClients: { [BENCH_CLIENT]: { role: 'admin' } }, ...(options.revocationLeadS ? { revocationLead: `${options.revocationLeadS}s` } : {}) },
    );
    const config = parseFileConfig(raw);
    const configPath = join(dir, 'dbaccess.json');
    writeFileSync(configPath, JSON.stringify(raw, null, 2));
    const taskQueue = `bench-${Date.now().toString(36)}`;

    const apiKey = randomBytes(24).toString('hex');
    const app: FastifyInstance = await buildApp({
      client,
      config,
      apiKeys: parseApiKeys(`${BENCH_CLIENT}:${apiKey}`),
      taskQueue,
      grantWaitMs: 15_000,
      // The benchmark is one client on one address sending thousands of requests.
      hardening: { rateLimitPerKey: 1_000_000, rateLimitPerAddress: 1_000_000 },
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => app.close());

    const workers: BenchWorker[] = [];
    for (let i = 1; i <= (options.workers ?? 1); i++) {
      const identity = `bench-worker-${i}`;
      const metricsPort = await freePort();
      const worker = await startWorkerProcess(
        {
          DBACCESS_CONFIG: configPath,
          LOG_LEVEL: 'info', // the default: what the worker logs per grant is part of its cost
          TEMPORAL_ADDRESS: temporal.address,
          TEMPORAL_NAMESPACE: 'default',
          TEMPORAL_TASK_QUEUE: taskQueue,
          AWS_REGION: components.awsSettings.region,
          AWS_ENDPOINT_URL: components.awsSettings.endpoint!,
          AWS_ACCESS_KEY_ID: 'bench',
          AWS_SECRET_ACCESS_KEY: 'bench',
          AUDIT_TABLE: components.auditTable,
          SMTP_HOST: components.smtp.host,
          SMTP_PORT: String(components.smtp.port),
          MAIL_FROM: components.smtpSettings.from,
          PUBLIC_URL: url,
          CREDENTIAL_LINKS_TABLE: components.linksTable,
          WORKER_METRICS_HOST: '127.0.0.1',
          WORKER_METRICS_PORT: String(metricsPort),
          WORKER_SDK_METRICS_PORT: '0',
          ...options.workerEnv,
          WORKER_IDENTITY: identity,
        },
        { compiled: true, ...(options.cpuProfile ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, '.bench', 'profiles', identity)}`] } : {}) },
      );
      cleanups.push(async () => {
        await worker.stop();
        // Its log, for a look at where a run's time went (.bench is git-ignored).
        mkdirSync(join(ROOT, '.bench'), { recursive: true });
        writeFileSync(join(ROOT, '.bench', `${identity}.log`), worker.output());
      });
      workers.push({ identity, process: worker, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` });
      if (options.workers && options.workers > 1) options.log(`${identity} started`);
    }

    const call = apiCaller(url, apiKey);

    let n = 0;
    return {
      components,
      config,
      project,
      client,
      url,
      temporal,
      workers,
      newEmail: () => `${RUN_PREFIX}.b${randomName(4)}${(n += 1)}@example.com`,
      call,
      async dropGrantAccounts() {
        const pool = rootPool();
        const [rows] = await pool.query('SELECT User AS user, Host AS host FROM mysql.user WHERE User LIKE ?', [`${RUN_PREFIX}\\_b%`]);
        for (const u of rows as { user: string; host: string }[]) await pool.query('DROP USER IF EXISTS ?@?', [u.user, u.host]);
        return (rows as unknown[]).length;
      },
      ...(postgres ? { postgres } : {}),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
