import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import type { Client } from '@temporalio/client';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { levelTables, type ApiClient, type FileConfig } from '../config';
import { levelNames } from '../domain';
import { accessLevelSchema } from './schemas/fields';
import { authenticate, resolveClients, type ApiKey } from './plugins/auth';
import { registerBatchRoutes } from './routes/batch';
import { registerCodecRoutes, type CodecRoutesOptions } from './routes/codec';
import { credentialRoutes, type CredentialRoutesDeps } from './routes/credentials';
import { decisionRoutes } from './routes/decisions';
import type { DecisionLinks } from '../adapters/decision-links';
import { HttpError, errorHandler } from './errors';
import { hardening, secureReply, serverOptions, type HardeningOptions } from './plugins/hardening';
import { GrantService } from './grant-service';
import { registerAdoptRoutes } from './routes/adopt';
import { isDocsRoute, registerDocs } from './plugins/docs';
import { ApiMetrics, observability } from './plugins/observability';
import { SA } from '../contract/search-attributes';
import { auditedElsewhereSignal } from '../contract/messages';
import type { AuditRecord } from '../contract/activities';
import { methodRouting } from './plugins/methods';
import { approveSchema, changeLevelSchema, createGrantSchema, denySchema, extendSchema, getGrantSchema, healthzSchema, listGrantsSchema, retryDropSchema, reviewSchema, revokeSchema } from './schemas';

// The HTTP API: authentication, schema validation, and thin routes over
// GrantService. It never talks to MySQL, and to AWS only to redeem one-time
// credential links (credentials.ts): every other side effect is the workflow's.

export interface AppDeps {
  client: Client;
  config: FileConfig;
  apiKeys: ApiKey[];
  taskQueue: string;
  grantWaitMs: number;
  logger?: FastifyServerOptions['loggerInstance'];
  now?: () => Date;
  /** Rate limits, trustProxy, HSTS (see hardening.ts); defaults when absent. */
  hardening?: HardeningOptions;
  /** The Temporal remote codec endpoint (POST /codec/encode, /codec/decode); off when unset. */
  codec?: CodecRoutesOptions;
  /** What the DbAccessGrantee search attribute holds for an e-mail (a keyed hash); the e-mail when unset. */
  granteeSearchValue?: (email: string) => string;
  /** One-time credential links (GET/POST /credentials/:token); the routes exist only with it. */
  credentials?: CredentialRoutesDeps;
  /** One-click decision links of approval e-mails (GET/POST /decisions/:token); the routes exist only with it. */
  decisionLinks?: DecisionLinks;
  /** METRICS_TOKEN: GET /metrics requires it as a bearer token; open when absent (observability.ts). */
  metricsToken?: string;
  /** The API's metrics (tests read them); a fresh registry when absent. */
  metrics?: ApiMetrics;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Name of the API key that made the request. */
    actor: string;
    /** The role and projects of that key. */
    client: ApiClient;
  }
}

/** Every level name the configuration defines, on any project or database, sorted. */
function configuredLevels(config: FileConfig): string[] {
  const tables = Object.values(config.projects).flatMap((project) => Object.values(project.databases).flatMap((database) => levelTables(config, project, database)));
  return levelNames(config.accessLevels, ...tables);
}

/** Grants whose account is retained: their workflow stays open with DbAccessRetained set. */
const RETAINED_GRANTS_QUERY = `WorkflowType = 'grantAccess' AND ExecutionStatus = 'Running' AND ${SA.retained.name} = 'true'`;

/** Break-glass grants awaiting their review (their workflow stays open for it), or recorded unreviewed. */
const breakGlassQuery = (review: 'pending' | 'unreviewed') =>
  `WorkflowType = 'grantAccess'${review === 'pending' ? " AND ExecutionStatus = 'Running'" : ''} AND ${SA.breakGlass.name} = '${review}'`;
const BREAK_GLASS_COUNT_TTL_MS = 5000;

/** Served without an API key: liveness, readiness, metrics (METRICS_TOKEN, see observability.ts), the documentation (docs.ts), and the credential and decision links, whose tokens are their own credentials. */
const PUBLIC_ROUTES = new Set(['/healthz', '/readyz', '/metrics', '/credentials/:token', '/decisions/:token']);
const isPublic = (url: string) => PUBLIC_ROUTES.has(url) || isDocsRoute(url);

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  // Every key must have a role before the API serves anything.
  const clients = resolveClients(deps.apiKeys, deps.config);
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: 16 * 1024,
    // A grant id (`grant/{project}/{database}/{email}`) can be ~380 characters decoded.
    routerOptions: { maxParamLength: 512 },
    // Malformed URLs and similar router errors get the same error shape as everything else.
    frameworkErrors: (error, request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      // These answers skip the hooks: headers and request id are added here.
      secureReply(request, reply as FastifyReply, deps.hardening?.hstsMaxAge);
      void (reply as FastifyReply).code(tooLong ? 414 : 400).send({ error: 'invalid_request', message: tooLong ? 'url: a path parameter is too long' : 'url: is not a valid URL', requestId: request.id });
    },
    ...serverOptions(deps.hardening ?? {}),
    ajv: {
      // Unknown fields are refused rather than dropped, and types are not coerced:
      // `"name": 123` is an error, not the name "123".
      // Union types (`type: ['string', 'null']`) are plain JSON Schema: allowed, not warned about.
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, allowUnionTypes: true },
    },
  });
  const metrics = deps.metrics ?? new ApiMetrics();
  metrics.watchRetained(async () => {
    const counted = await deps.client.connection.withDeadline(Date.now() + 2000, () => deps.client.workflow.count(RETAINED_GRANTS_QUERY));
    return counted.count;
  });
  // Counted at most every 5s whatever the scrape rate: visibility is a second or so behind anyway.
  const breakGlassCounts = new Map<string, { at: number; count: number }>();
  metrics.watchBreakGlass(async (review) => {
    const cached = breakGlassCounts.get(review);
    if (cached && Date.now() - cached.at < BREAK_GLASS_COUNT_TTL_MS) return cached.count;
    const counted = await deps.client.connection.withDeadline(Date.now() + 2000, () => deps.client.workflow.count(breakGlassQuery(review)));
    breakGlassCounts.set(review, { at: Date.now(), count: counted.count });
    return counted.count;
  });
  // What starting a grant workflow needs, for the grant routes and adoption alike.
  const starting = {
    client: deps.client,
    config: deps.config,
    taskQueue: deps.taskQueue,
    grantWaitMs: deps.grantWaitMs,
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.granteeSearchValue ? { granteeSearchValue: deps.granteeSearchValue } : {}),
  };
  const grants = new GrantService({ observer: metrics, ...starting });

  const notFoundOrNotAllowed = methodRouting(app);
  // The level names of the whole configuration, for the routes that take a level.
  app.addSchema(accessLevelSchema(configuredLevels(deps.config)));
  await app.register(hardening, deps.hardening ?? {});
  // The documentation first: it collects every route added after it.
  await registerDocs(app);
  await app.register(observability, { metrics, connection: deps.client.connection, ...(deps.metricsToken ? { metricsToken: deps.metricsToken } : {}) });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundOrNotAllowed);
  app.decorateRequest('actor', '');
  app.decorateRequest('client', null as unknown as ApiClient);
  app.addHook('onResponse', async (request, reply) => {
    // Every refusal is logged, with the key's name (never the key).
    if (reply.statusCode === 403) request.log.warn({ actor: request.actor, role: request.client?.role, method: request.method, route: request.routeOptions.url }, 'request refused: not allowed');
  });
  app.addHook('onRequest', async (request, reply) => {
    // CORS preflights of the codec routes carry no credentials; see codec-routes.ts.
    if (isPublic(request.routeOptions.url ?? '') || request.routeOptions.config?.public === true) return;
    const actor = authenticate(request.headers.authorization, deps.apiKeys);
    if (!actor) {
      request.log.warn({ route: request.routeOptions.url }, 'request without a valid API key');
      void reply.header('www-authenticate', 'Bearer');
      throw new HttpError(401, 'unauthorized', 'a valid API key is required: Authorization: Bearer <key>');
    }
    request.actor = actor;
    request.client = clients.get(actor)!;
  });
  // No route for this method and path: answered here, before a body is parsed (a TRACE or
  // QUERY without a content type would otherwise be a 400 of the body parser).
  app.addHook('onRequest', async (request, reply) => {
    if (!request.is404) return;
    notFoundOrNotAllowed(request, reply);
    return reply;
  });

  // Routes typed from their schemas: a handler's body, params and query are what the schema accepts.
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get('/healthz', { schema: healthzSchema }, async () => ({ status: 'ok' }));

  api.post('/grants', { schema: createGrantSchema }, async (request, reply) => {
    const state = await grants.create(request.body, request.client);
    if (state.status === 'FAILED') {
      // The step only: the failure's text can name internal resources (secret ids, IAM
      // roles); operators find it in GET /grants/:id, the audit trail and the Temporal UI.
      throw new HttpError(502, 'grant_failed', `the grant could not be provisioned: step "${state.failure?.step ?? 'unknown'}" failed; everything was rolled back and administrators were told`, {
        grantId: state.grantId,
        status: state.status,
      });
    }
    void reply.header('location', `/grants/${encodeURIComponent(state.grantId)}`);
    return reply.status(state.status === 'ACTIVE' ? 201 : 202).send(state);
  });

  registerBatchRoutes(app, grants);

  api.get('/grants', { schema: listGrantsSchema }, async (request) => {
    const { limit, ...filters } = request.query;
    const n = limit === undefined ? undefined : Number(limit);
    if (n !== undefined && (n < 1 || n > 1000)) throw new HttpError(400, 'invalid_request', 'limit: must be from 1 to 1000');
    return { grants: await grants.list({ ...filters, ...(n !== undefined ? { limit: n } : {}) }) };
  });

  api.get('/grants/:grantId', { schema: getGrantSchema }, async (request) => grants.get(request.params.grantId));

  api.post('/grants/:grantId/revoke', { schema: revokeSchema }, async (request, reply) => {
    const result = await grants.revoke(request.params.grantId, request.client, request.body?.reason);
    return reply.status(202).send(result);
  });

  api.post('/grants/:grantId/extend', { schema: extendSchema }, async (request, reply) => {
    const result = await grants.extend(request.params.grantId, request.body.expiresAt, request.client, request.body.reason);
    // Beyond what was approved: accepted, waiting for an approver; the expiry has not moved.
    return reply.status(result.pending ? 202 : 200).send(result);
  });

  api.patch('/grants/:grantId', { schema: changeLevelSchema }, async (request) =>
    grants.changeLevel(request.params.grantId, request.body.accessLevel, request.client, request.body.reason),
  );

  api.post('/grants/:grantId/approve', { schema: approveSchema }, async (request, reply) => {
    const state = await grants.approve(request.params.grantId, request.client, request.body?.reason);
    if (state.status === 'FAILED') {
      throw new HttpError(502, 'grant_failed', `approved, but the grant could not be provisioned: step "${state.failure?.step ?? 'unknown'}" failed; everything was rolled back and administrators were told`, {
        grantId: state.grantId,
        status: state.status,
      });
    }
    return reply.status(state.status === 'ACTIVE' ? 200 : 202).send(state);
  });

  api.post('/grants/:grantId/deny', { schema: denySchema }, async (request) =>
    grants.deny(request.params.grantId, request.client, request.body.reason),
  );

  api.post('/grants/:grantId/review', { schema: reviewSchema }, async (request) =>
    grants.review(request.params.grantId, request.body.decision, request.client, request.body.reason),
  );

  api.post('/grants/:grantId/retry-drop', { schema: retryDropSchema }, async (request) =>
    grants.retryDrop(request.params.grantId, request.client, request.body?.reason),
  );

  registerAdoptRoutes(app, {
    ...starting,
    // The API's audit store (it writes CREDENTIALS_VIEWED): adoption reads who holds which account.
    ...(deps.credentials ? { audit: deps.credentials.audit } : {}),
  });
  if (deps.codec) registerCodecRoutes(app, deps.codec);
  if (deps.credentials) {
    const onAudited = (record: AuditRecord) => deps.client.workflow.getHandle(record.workflowId).signal(auditedElsewhereSignal, record);
    await app.register(credentialRoutes({ onAudited, ...deps.credentials }));
  }
  if (deps.decisionLinks) await app.register(decisionRoutes({ links: deps.decisionLinks, grants, config: deps.config }));

  return app;
}
