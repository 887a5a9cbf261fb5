import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

// API documentation, generated from the routes' own JSON schemas (schemas.ts and
// the schemas next to the batch and adopt routes), so that it cannot drift from
// what the API validates:
//   GET /docs                the interactive page (Swagger UI)
//   GET /docs/openapi.json   the OpenAPI 3.1 document (also at /docs/json, which the page loads)
//
// Public: the document describes the API's shape and nothing more (no key, no
// configuration, no grant). Calling the API from the page still needs a key
// ("Authorize" takes it; the page keeps it in memory only, persistAuthorization off).
//
// Registered from buildApp before any route: @fastify/swagger collects the routes
// as they are added.

export const DOCS_PREFIX = '/docs';
export const OPENAPI_PATH = `${DOCS_PREFIX}/openapi.json`;

/**
 * The page's Content-Security-Policy, replacing the API's `default-src 'none'` on
 * the /docs routes only: scripts, styles, fonts and the spec from this origin, images
 * from this origin and data: URIs (the UI's icons and logo), nothing inline, no
 * framing, no plugins. "Try it out" calls the API itself (connect-src 'self').
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

export const OPENAPI_TAGS = [
  { name: 'grants', description: 'Ask for, inspect, extend, change and revoke time-limited database access.' },
  { name: 'approval', description: 'Decide on requests that wait for approval (approvers and admins).' },
  { name: 'bulk', description: 'Many grants at once: onboarding a team, importing from the old scripts.' },
  { name: 'operations', description: 'Liveness, readiness and metrics, for orchestrators and monitoring; no API key.' },
  { name: 'codec', description: "Temporal's remote codec endpoint (present when payload encryption is on): the Temporal UI and CLI decode payloads through it." },
  { name: 'credentials', description: 'The one-time link of a GRANTED e-mail; its token is its own credential.' },
];

/**
 * A route whose validator checks less than its contract (POST /grants/batch validates
 * each row itself, to answer row by row) carries the contract's body as `documentedBody`;
 * the document shows that one.
 */
function documentedSchema({ schema, url }: { schema: unknown; url: string }): { schema: never; url: string } {
  const { documentedBody, ...rest } = (schema ?? {}) as { documentedBody?: unknown; body?: unknown };
  return { schema: (documentedBody === undefined ? schema : { ...rest, body: documentedBody }) as never, url };
}

/** Every route added after registerDocs, by method and pattern (the coverage test reads it). */
const seen = new WeakMap<FastifyInstance, { method: string; url: string }[]>();

/** The routes `app` registered after its documentation: what the OpenAPI document must cover. */
export function registeredRoutes(app: FastifyInstance): { method: string; url: string }[] {
  return [...(seen.get(app) ?? [])];
}

export async function registerDocs(app: FastifyInstance): Promise<void> {
  const routes: { method: string; url: string }[] = [];
  seen.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'dbaccess',
        description:
          'Time-limited access to MySQL, MariaDB and PostgreSQL databases. Each grant is a durable workflow that ends the access at its expiry.\n\n' +
          'Every call needs an API key (`Authorization: Bearer <key>`) except the operations routes. What a key may do depends on its role ' +
          '(admin, requester, approver, auditor). Errors are `{"error": "<code>", "message": "<text>", "requestId": "<id>"}`.\n\n' +
          'A grant id is `grant/{project}/{database}/{email}`: URL-encode it in paths (`/grants/grant%2Fdemo%2Fdev_project%2Fjohn.doe%40example.com`).',
        version: '1',
      },
      tags: OPENAPI_TAGS,
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'An API key from DBACCESS_API_KEYS (the part after `name:`).' },
        },
      },
      security: [{ apiKey: [] }],
    },
    transform: documentedSchema,
  });

  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: DOCS_CSP,
    validatorUrl: false,
    uiConfig: { deepLinking: true, persistAuthorization: false, tryItOutEnabled: false },
  });

  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());
}

/** Whether a route pattern belongs to the documentation (served without an API key). */
export function isDocsRoute(url: string): boolean {
  return url === DOCS_PREFIX || url.startsWith(`${DOCS_PREFIX}/`);
}
