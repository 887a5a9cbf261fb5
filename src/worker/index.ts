import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import type { Logger } from 'pino';
import { createActivities, type ActivityDeps } from '../activities';
import { createAwsClients, DynamoAuditStore, DynamoCredentialLinkStore, readJsonSecret, SecretsManagerAdminCredentials, SecretsManagerGrantSecretStore } from '../adapters/aws';
import { DecisionLinks } from '../adapters/decision-links';
import { createEventSink, type ApproverLinks } from '../adapters/events/sink';
import { createSmtpNotifier } from '../adapters/notify';
import type { EngineLogger } from '../adapters/engines/port';
import { engineFor } from '../adapters/engines/registry';
import { guideFor } from '../adapters/engines/guides';
import { createAccountRouter, engineKeyOf } from '../adapters/engines/router';
import { createReconcileActivities } from '../activities/reconcile';
import { codecDataConverter, payloadCodecFor } from '../adapters/temporal/codec';
import { approversOf, awsSettings, codecKeys, ConfigError, credentialSettings, decisionLinkKey, enginesBySecret, Env, loadConfigFile, smtpSettings, temporalSettings, type AwsSettings, type CredentialSettings, type FileConfig, type SmtpSettings, type TemporalSettings } from '../config';
import { ARMED_REVOCATION_QUEUE_SUFFIX } from '../domain';
import { createLogger } from '../observability/logger';
import { configuredDatabases, countAuditEvents, WorkerMetrics } from '../observability/metrics';
import { ensureReconcilerSchedule } from './reconciler-schedule';
import { missingTuning } from './process-tuning';
import { loadWorkflowBundle } from './bundle';
import { sdkMetricsUrl, startWorkerMetricsServer, workerRuntimeOptions } from './metrics-server';

// The worker: connects to Temporal, wires the real adapters into the
// activities, registers the workflows, and serves until told to stop. No
// business logic lives here.

/** How long a workflow task waits for the worker that has the grant in its cache before any worker may take it (SDK default 10 s). */
export const STICKY_SCHEDULE_TO_START = '3s';

export interface WorkerOptions {
  config: FileConfig;
  temporal: TemporalSettings;
  aws: AwsSettings;
  smtp: SmtpSettings;
  /** How the GRANTED e-mail delivers credentials; without it the e-mail only names the secret. */
  credentials?: CredentialSettings;
  logger: Logger;
  maxConcurrentActivities?: number;
  /** WORKER_MAX_ARMED_REVOCATIONS: revocations waiting on this worker for their expiry (they cost a timer each, not a slot of the others). */
  maxArmedRevocations?: number;
  /** WORKER_MAX_CACHED_WORKFLOWS: sleeping grants kept in memory; the others are replayed from history when they wake (SDK default when unset). */
  maxCachedWorkflows?: number;
  /** DBACCESS_ALLOW_EXTRA_ADMIN_PRIVILEGES: start even when an admin account holds more than it needs (logged). */
  allowExtraAdminPrivileges?: boolean;
  /** A pre-built workflow bundle (tests); otherwise the workflows are bundled at start-up. */
  workflowBundle?: WorkflowBundle;
  /** An existing connection (tests); otherwise one is opened and closed by the worker. */
  connection?: NativeConnection;
  /** The reconciler's schedule, created or updated at start-up (default id dbaccess-reconciler); `false`: left alone (tests). */
  reconcilerSchedule?: { scheduleId?: string } | false;
  /** Payload encryption (codecDataConverter); Temporal's default (clear JSON) when unset. */
  dataConverter?: DataConverter;
  /** The grant counters (metrics-server.ts); a fresh registry when absent. */
  metrics?: WorkerMetrics;
  /** Signs the one-click decision links of approval e-mails (DECISION_LINK_KEY); they need the credentials' public URL too. */
  decisionLinkKey?: Buffer;
  /** WORKER_IDENTITY: the name Temporal shows for this worker's attempts (the SDK's `<pid>@<host>` when unset). */
  identity?: string;
}

export interface RunningWorker {
  worker: Worker;
  /** Serves the armed revocations' queue (`<task queue>-expiry`): attempts that wait for their expiry. */
  expiryWorker: Worker;
  /** Grants provisioned, revoked, expired, rolled back; revoke retries. */
  metrics: WorkerMetrics;
  connection: NativeConnection;
  /** Resolves when the worker has stopped and every resource is closed. */
  run(): Promise<void>;
  shutdown(): void;
}

/** Per engine key: each admin secret of its databases, with the schemas it manages. */
function adminScopesByEngine(config: FileConfig): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  for (const [secretId, key] of enginesBySecret(config)) {
    const schemas = Object.values(config.projects).flatMap((p) => Object.values(p.databases).filter((d) => d.adminSecretId === secretId).map((d) => d.schema));
    const scopes = out.get(key) ?? new Map<string, string[]>();
    scopes.set(secretId, [...new Set(schemas)].sort());
    out.set(key, scopes);
  }
  return out;
}

export async function connectTemporal(settings: TemporalSettings): Promise<NativeConnection> {
  return NativeConnection.connect({
    address: settings.address,
    ...(settings.tls ? { tls: settings.tls } : {}),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  });
}

export async function createWorker(options: WorkerOptions): Promise<RunningWorker> {
  const { logger } = options;
  const aws = createAwsClients(options.aws);
  const smtp = { ...options.smtp };
  if (smtp.secretId) {
    // As the scripts did with their SES SMTP user: credentials kept in Secrets Manager.
    const secret = await readJsonSecret(aws.secrets, smtp.secretId);
    if (!secret.SMTP_USER || !secret.SMTP_PASSWORD) throw new ConfigError([`SMTP_SECRET_ID: secret ${smtp.secretId} must hold SMTP_USER and SMTP_PASSWORD`]);
    smtp.user = secret.SMTP_USER;
    smtp.password = secret.SMTP_PASSWORD;
  }
  const notifier = createSmtpNotifier(smtp);
  const engineLogger: EngineLogger = { info: (obj, msg) => logger.info(obj, msg), warn: (obj, msg) => logger.warn(obj, msg) };
  // One account manager per engine (built when first used), behind one router that
  // sends each call to its target's engine: the activities see one `accounts`.
  const secretEngines = enginesBySecret(options.config);
  const engineOfSecret = (adminSecretId: string) => secretEngines.get(adminSecretId);
  // One credential source (and cache) per engine: the start-up check and the manager share it.
  const sources = new Map<string, SecretsManagerAdminCredentials>();
  const credentialsOf = (key: string): SecretsManagerAdminCredentials => {
    let source = sources.get(key);
    if (!source) sources.set(key, (source = new SecretsManagerAdminCredentials(aws.secrets, { parse: engineFor(key).parseAdminSecret })));
    return source;
  };
  const accounts = createAccountRouter({
    create: (key) => engineFor(key).createAccounts({ credentials: credentialsOf(key), logger: engineLogger, allowExtraPrivileges: options.allowExtraAdminPrivileges ?? false }),
    engineOfSecret,
  });
  const grantSecrets = new SecretsManagerGrantSecretStore(aws.secrets);
  const cs = options.credentials;
  const mayDecide = (approver: { name: string; email: string }, project: string) =>
    approversOf(options.config, project).some((c) => c.name === approver.name && c.email?.toLowerCase() === approver.email.toLowerCase());
  const decisionLinks = options.decisionLinkKey && cs?.publicUrl ? { links: new DecisionLinks(options.decisionLinkKey), publicUrl: cs.publicUrl, mayDecide } : undefined;
  /** An approver channel's links: as in the e-mail, never for the grantee or whoever asked, only for an approver of the project. */
  const approverLinks: ApproverLinks = (record, decision, name) => {
    const email = options.config.apiClients[name]?.email;
    if (!decisionLinks || !email || !mayDecide({ name, email }, record.project)) return undefined;
    if (email.toLowerCase() === record.email.toLowerCase() || name === record.actor) return undefined;
    const url = (verb: 'approve' | 'deny') =>
      `${decisionLinks.publicUrl}/decisions/${decisionLinks.links.mint({ grantId: record.grantId, kind: decision.kind, request: decision.request, decision: verb, approver: name, email, expiresAt: Date.parse(decision.decideBy) })}`;
    return { approve: url('approve'), deny: url('deny') };
  };
  const deps: ActivityDeps = {
    accounts,
    guideFor,
    endsSessions: (target, previous, next) => engineFor(engineKeyOf(target, engineOfSecret)).privileges.endsSessions(previous, next),
    secrets: grantSecrets,
    audit: new DynamoAuditStore(aws.doc, options.aws.auditTable),
    notifier,
    administrators: options.config.administrators,
    awsRegion: options.aws.region,
    ...(cs ? { credentials: { ...cs, links: new DynamoCredentialLinkStore(aws.doc, cs.linksTable), readCredential: (name: string) => grantSecrets.read(name) } } : {}),
    ...(Object.keys(options.config.eventStream.endpoints).length > 0
      ? { events: createEventSink({ endpoints: Object.values(options.config.eventStream.endpoints), readSecret: (id) => readJsonSecret(aws.secrets, id), approverLinks }) }
      : {}),
    ...(decisionLinks ? { decisionLinks } : {}),
  };

  // Refuses to start when an admin account holds more than it needs (README: the admin account), engine by engine.
  try {
    for (const [key, scopes] of adminScopesByEngine(options.config)) {
      await engineFor(key).checkAdmin({ scopes, credentials: credentialsOf(key), allowExtraPrivileges: options.allowExtraAdminPrivileges ?? false, logger: engineLogger });
    }
  } catch (err) {
    await accounts.close();
    notifier.close();
    aws.destroy();
    throw err;
  }

  const ownConnection = !options.connection;
  const connection = options.connection ?? (await connectTemporal(options.temporal));
  // With the workers' codec: the reconciler reads grant states and sends them updates.
  const client = new Client({ connection, namespace: options.temporal.namespace, ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}) });
  const metrics = options.metrics ?? new WorkerMetrics(configuredDatabases(options.config));
  const activities = countAuditEvents(createActivities(deps), metrics);
  const worker = await Worker.create({
    connection,
    namespace: options.temporal.namespace,
    taskQueue: options.temporal.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    activities: {
      ...activities,
      ...createReconcileActivities({ ...deps, config: options.config, client, inventory: accounts }),
    },
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities ?? 50,
    // A grant whose worker died has its workflow tasks on that worker's sticky queue; after
    // this long they go to the grant's own queue, where another worker takes them (decision 0704).
    stickyQueueScheduleToStartTimeout: STICKY_SCHEDULE_TO_START,
    ...(options.identity ? { identity: options.identity } : {}),
    ...(options.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: options.maxCachedWorkflows } : {}),
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
  });
  // Revocations armed ahead of their expiry wait on a queue of their own, so that
  // a thousand of them waiting never hold the slots that new grants need.
  const expiryWorker = await Worker.create({
    connection,
    namespace: options.temporal.namespace,
    taskQueue: `${options.temporal.taskQueue}${ARMED_REVOCATION_QUEUE_SUFFIX}`,
    activities: { revokeAccess: activities.revokeAccess },
    maxConcurrentActivityTaskExecutions: options.maxArmedRevocations ?? 10_000,
    ...(options.identity ? { identity: options.identity } : {}),
    // A heartbeat every 5 s (the SDK's default is 0.8 × the armed heartbeat timeout of 10 s):
    // a busy Temporal server that answers one late must not time out an attempt that is
    // waiting as it should. It also brings a stand-down within 5 s (decision 0706).
    maxHeartbeatThrottleInterval: '5s',
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
  });

  if (options.reconcilerSchedule !== false) {
    const scheduleId = options.reconcilerSchedule?.scheduleId;
    try {
      const change = await ensureReconcilerSchedule(client, { taskQueue: options.temporal.taskQueue, intervalMs: options.config.reconciler.intervalMs, ...(scheduleId ? { scheduleId } : {}) });
      logger.info({ change, intervalMs: options.config.reconciler.intervalMs, mode: options.config.reconciler.mode }, 'reconciler schedule ready');
    } catch (err) {
      // Grants do not depend on it: the worker serves, and says loudly that reconciling is off.
      logger.error({ err }, 'could not create or update the reconciler schedule; orphaned accounts will not be found until it exists');
    }
  }

  return {
    worker,
    expiryWorker,
    metrics,
    connection,
    shutdown: () => {
      for (const w of [worker, expiryWorker]) if (w.getState() === 'RUNNING') w.shutdown();
    },
    async run() {
      try {
        // One stops, both stop: a worker never serves half of what grants need.
        await Promise.all(
          [worker, expiryWorker].map((w) =>
            w.run().finally(() => {
              for (const other of [worker, expiryWorker]) if (other.getState() === 'RUNNING') other.shutdown();
            }),
          ),
        );
      } finally {
        await accounts.close();
        notifier.close();
        aws.destroy();
        if (ownConnection) await connection.close();
      }
    },
  };
}

async function main(): Promise<void> {
  const env = new Env();
  const logger = createLogger('dbaccess-worker', env.get('LOG_LEVEL'));
  try {
    // The SDK's native core logs go through the same structured logger; its metrics to a loopback exporter.
    const sdkMetricsPort = env.int('WORKER_SDK_METRICS_PORT', 0, 65535);
    Runtime.install(workerRuntimeOptions(logger, sdkMetricsPort));
    const temporal = temporalSettings(env);
    const codec = payloadCodecFor(codecKeys(env));
    const dataConverter = codecDataConverter(codec);
    const bundleStarted = Date.now();
    const { source, ...workflowBundle } = await loadWorkflowBundle();
    logger.info({ source, ms: Date.now() - bundleStarted }, 'workflow code loaded');
    const running = await createWorker({
      workflowBundle,
      maxCachedWorkflows: env.int('WORKER_MAX_CACHED_WORKFLOWS', 0, 1_000_000),
      ...(dataConverter ? { dataConverter } : {}),
      config: loadConfigFile(env),
      temporal,
      aws: awsSettings(env),
      smtp: smtpSettings(env),
      credentials: credentialSettings(env, 'worker'),
      ...(decisionLinkKey(env) ? { decisionLinkKey: decisionLinkKey(env)! } : {}),
      logger,
      maxConcurrentActivities: env.int('WORKER_MAX_CONCURRENT_ACTIVITIES', 1, 10_000),
      maxArmedRevocations: env.int('WORKER_MAX_ARMED_REVOCATIONS', 1, 1_000_000),
      allowExtraAdminPrivileges: env.bool('DBACCESS_ALLOW_EXTRA_ADMIN_PRIVILEGES'),
      ...(env.get('WORKER_IDENTITY') ? { identity: env.get('WORKER_IDENTITY') } : {}),
    });
    logger.info({ address: temporal.address, namespace: temporal.namespace, taskQueue: temporal.taskQueue, encryptionKeyId: codec?.keyId ?? null }, 'worker started');
    const untuned = missingTuning(process.execArgv, process.env);
    if (untuned.length > 0) {
      logger.info({ missing: untuned }, 'started without the memory settings the image uses: an idle worker holds about 300 MiB rather than about 170 (README: Performance)');
    }
    const metricsPort = env.int('WORKER_METRICS_PORT', 0, 65535);
    const metricsServer =
      metricsPort > 0
        ? await startWorkerMetricsServer({
            host: env.require('WORKER_METRICS_HOST'),
            port: metricsPort,
            metrics: running.metrics,
            state: () => running.worker.getState(),
            connection: running.connection,
            ...(sdkMetricsUrl(sdkMetricsPort) ? { sdkMetricsUrl: sdkMetricsUrl(sdkMetricsPort) } : {}),
            logger,
          })
        : undefined;
    if (metricsServer) logger.info({ url: metricsServer.url }, 'worker metrics, health and readiness served');
    // The SDK stops the worker gracefully on SIGINT/SIGTERM; run() then closes the pools and clients.
    await running.run().finally(() => metricsServer?.close());
    logger.info('worker stopped');
  } catch (err) {
    if (err instanceof ConfigError) logger.fatal(err.message);
    else logger.fatal({ err }, 'worker failed');
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
