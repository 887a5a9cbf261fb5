import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { bearerMatches, exposition, PROMETHEUS_CONTENT_TYPE } from '../../observability/metrics';
import { checkTemporal, READINESS_TIMEOUT_MS, type TemporalConnectionLike } from '../../observability/readiness';
import type { GrantMessageKind, GrantObserver } from '../grant-service';
import { errors } from '../schemas/responses';

// The API's operator endpoints and instrumentation:
//   GET /metrics  Prometheus metrics: behind METRICS_TOKEN when it is set; without it,
//                 open on a loopback address and refused beyond (see metricsAccess)
//   GET /readyz   200 while Temporal answers, 503 otherwise
//   request logs  carry the grant id of /grants/:grantId routes
// Registered from buildApp before the routes. /healthz (liveness) stays in app.ts
// and never touches a dependency.

/** The API's metrics, in a registry of its own (one per app). */
export class ApiMetrics implements GrantObserver {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    // POST /grants waits for provisioning (up to API_GRANT_WAIT_MS): the buckets reach 30 s.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly grantsStarted = new Counter({
    name: 'dbaccess_grants_started_total',
    help: 'Grant workflows started by the API (POST /grants and POST /grants/batch), by project and database.',
    labelNames: ['project', 'database'] as const,
    registers: [this.registry],
  });
  readonly messagesSent = new Counter({
    name: 'dbaccess_messages_sent_total',
    help: 'Messages a grant workflow accepted from the API (revoke signal; extend, change_level, approve, deny, retry_drop updates).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  /** How many ended grants hold an account the server refuses to drop, counted at each scrape. */
  private countRetained?: () => Promise<number>;
  readonly retainedAccounts = new Gauge({
    name: 'dbaccess_accounts_retained',
    help:
      'Grants whose access has ended (account locked, password replaced, privileges revoked, sessions ended) but whose account the server refuses to drop, ' +
      'usually because it defines stored objects. Read from Temporal visibility at each scrape; anything above 0 needs an administrator (README: Operations).',
    registers: [this.registry],
    collect: async () => {
      if (!this.countRetained) return;
      try {
        this.retainedAccounts.set(await this.countRetained());
      } catch {
        // Temporal unreachable: keep the last value (/readyz says why); the scrape still answers.
      }
    },
  });

  /** Break-glass grants by review (pending: awaiting a review; unreviewed: nobody reviewed them in time), counted at each scrape. */
  private countBreakGlass?: (review: 'pending' | 'unreviewed') => Promise<number>;
  readonly breakGlassGrants = new Gauge({
    name: 'dbaccess_break_glass_grants',
    help:
      'Break-glass grants (granted without approval) by their review after the fact: pending (awaiting acknowledge or flag) and unreviewed (nobody reviewed them by their deadline, ' +
      'within the visibility retention). Read from Temporal visibility at each scrape (at most every 5s); unreviewed above 0 needs the administrators (docs/lifecycle.md: Break-glass).',
    labelNames: ['review'] as const,
    registers: [this.registry],
    collect: async () => {
      if (!this.countBreakGlass) return;
      try {
        for (const review of ['pending', 'unreviewed'] as const) this.breakGlassGrants.set({ review }, await this.countBreakGlass(review));
      } catch {
        // Temporal unreachable: keep the last values; the scrape still answers.
      }
    },
  });

  constructor() {
    for (const kind of MESSAGE_KINDS) this.messagesSent.labels(kind).inc(0);
  }

  /** Where the break-glass gauge reads its values (the app wires Temporal visibility). */
  watchBreakGlass(count: (review: 'pending' | 'unreviewed') => Promise<number>): void {
    this.countBreakGlass = count;
  }

  /** Where the retained-accounts gauge reads its value (the app wires Temporal visibility). */
  watchRetained(count: () => Promise<number>): void {
    this.countRetained = count;
  }

  grantStarted(project: string, database: string): void {
    this.grantsStarted.inc({ project, database });
  }

  messageSent(kind: GrantMessageKind): void {
    this.messagesSent.inc({ kind });
  }

  metrics(): Promise<string> {
    return exposition(this.registry);
  }
}

const MESSAGE_KINDS: readonly GrantMessageKind[] = ['revoke', 'extend', 'change_level', 'approve', 'deny', 'retry_drop', 'review'];

export interface ObservabilityOptions {
  metrics: ApiMetrics;
  /** Bearer token that GET /metrics requires (METRICS_TOKEN); see metricsAccess when absent. */
  metricsToken?: string;
  /** The Temporal connection /readyz checks. */
  connection: TemporalConnectionLike;
  readinessTimeoutMs?: number;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|\[::1\]|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost)$/i;

/** Whether an address (or API_HOST) only takes connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host.trim());
}

/**
 * Who may read /metrics: `token` with METRICS_TOKEN; without it `open` on a loopback
 * address, `refused` beyond: the numbers hold no secret, but they tell anyone who can
 * reach the API how it is used, so they are not served to the network unasked.
 */
export function metricsAccess(host: string, metricsToken: string | undefined): 'token' | 'open' | 'refused' {
  if (metricsToken !== undefined) return 'token';
  return isLoopbackHost(host) ? 'open' : 'refused';
}

/** A grant id as the route validates it: printable ASCII, at most 400 characters. */
const LOGGABLE_GRANT_ID = /^[!-~]{1,400}$/;
/** Routes no route pattern matched (404s of scanners): one label value, not one per URL. */
const UNMATCHED = '(unmatched)';

const plugin: FastifyPluginAsync<ObservabilityOptions> = async (app: FastifyInstance, options) => {
  const { metrics } = options;

  app.addHook('onRequest', async (request, reply) => {
    // Every log line of a grant route names the grant (request and response logs included).
    const grantId = (request.params as { grantId?: unknown } | undefined)?.grantId;
    if (typeof grantId === 'string' && LOGGABLE_GRANT_ID.test(grantId)) {
      request.log = request.log.child({ grantId });
      reply.log = request.log;
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? UNMATCHED, status: String(reply.statusCode) };
    metrics.requests.inc(labels);
    metrics.duration.observe(labels, reply.elapsedTime / 1000);
  });

  // Scraped from inside the network. The address the API listens on decides, not the
  // caller's: on 0.0.0.0 a request from 127.0.0.1 is refused too, like any other.
  app.get('/metrics', { schema: metricsSchema }, async (request, reply) => {
    const bound = app.server.address();
    // Not listening (inject) or a Unix socket: reachable from this machine only.
    const host = bound !== null && typeof bound === 'object' ? bound.address : '127.0.0.1';
    const access = metricsAccess(host, options.metricsToken);
    // Answered here rather than thrown: this route is added before buildApp sets its error handler.
    if (access === 'refused') {
      request.log.warn({ route: '/metrics', listen: host }, 'metrics request refused: the API listens beyond loopback and METRICS_TOKEN is not set');
      return reply.status(403).send({ error: 'forbidden', message: '/metrics is off: the API listens beyond loopback and METRICS_TOKEN is not set' });
    }
    if (access === 'token' && !bearerMatches(request.headers.authorization, options.metricsToken!)) {
      request.log.warn({ route: '/metrics' }, 'metrics request without the metrics token');
      return reply.status(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'the metrics token is required: Authorization: Bearer <METRICS_TOKEN>' });
    }
    return reply.type(PROMETHEUS_CONTENT_TYPE).send(await metrics.metrics());
  });

  app.get('/readyz', { schema: readyzSchema }, async (_request, reply) => {
    const temporal = await checkTemporal(options.connection, options.readinessTimeoutMs ?? READINESS_TIMEOUT_MS);
    return reply.status(temporal.ok ? 200 : 503).send({ status: temporal.ok ? 'ready' : 'unavailable', checks: { temporal } });
  });
};

const metricsSchema = {
  summary: 'Prometheus metrics',
  description:
    'Prometheus text format: http_requests_total, http_request_duration_seconds, dbaccess_grants_started_total, dbaccess_messages_sent_total and the Node.js process metrics. ' +
    'No API key. When METRICS_TOKEN is set, `Authorization: Bearer <METRICS_TOKEN>` is required; without it, /metrics is open while the API listens on a loopback address and refused (403) when it listens beyond.',
  tags: ['operations'],
  operationId: 'metrics',
  security: [],
  response: {
    200: { description: 'The metrics, in the Prometheus text format.', content: { [PROMETHEUS_CONTENT_TYPE]: { schema: { type: 'string' } } } },
    ...errors(401, 403, 429),
  },
} as const;

const readyBody = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ready', 'unavailable'] },
    checks: {
      type: 'object',
      properties: {
        temporal: { type: 'object', properties: { ok: { type: 'boolean' }, latencyMs: { type: 'integer' }, error: { type: 'string' } } },
      },
    },
  },
} as const;

const readyzSchema = {
  summary: 'Readiness: does the API reach Temporal?',
  description: '200 while Temporal answers within the timeout, 503 otherwise. For load balancers and orchestrators; no API key. Liveness is GET /healthz.',
  tags: ['operations'],
  operationId: 'readyz',
  security: [],
  response: { 200: readyBody, 503: readyBody, ...errors(429) },
} as const;

// Hooks apply to the whole application, not only to the routes declared here.
export const observability = fp(plugin, { name: 'dbaccess-observability', fastify: '5.x' });
