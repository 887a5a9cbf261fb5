import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerOptions } from 'node:http';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import { ConfigError } from '../../config';
import { rateLimitHandler } from './rate-limits';

// API hardening, in one place: rate limits (per API key and per client address),
// timeouts that keep a slow or silent client from holding a socket, security
// headers on every answer, safe request ids echoed in answers, error bodies and
// every log line of a request.
//
// Installed from buildApp with `serverOptions(...)` (construction-time options:
// request ids, trustProxy, timeouts) and one `app.register(hardening, ...)` placed before the
// authentication hook, so that the per-address limit runs before a key is checked
// (key guessing is throttled) and the per-key limit after (it needs the key's name).

export interface HardeningOptions {
  /** Requests per minute per API key name; 0 turns the limit off. */
  rateLimitPerKey?: number;
  /** Requests per minute per client address, authenticated or not; 0 turns the limit off. */
  rateLimitPerAddress?: number;
  /**
   * Whose address is the client's (the per-address rate limit, logs, CREDENTIALS_VIEWED):
   * `false` (default) the TCP peer; a comma-separated list of trusted proxy addresses/CIDRs,
   * or a number of trusted proxy hops: the nearest X-Forwarded-For entry that is not a
   * trusted proxy (what a client writes itself further left is ignored); `true` the
   * left-most entry (spoofable unless every request passes a proxy that overwrites it).
   */
  trustProxy?: boolean | number | string;
  /** The whole request (headers and body) must arrive within this time, or the answer is 408 and the socket closed. */
  requestTimeoutMs?: number;
  /** A socket with no traffic either way for this long is closed (longer than the grant wait of POST /grants). */
  connectionTimeoutMs?: number;
  /** `max-age` of Strict-Transport-Security in seconds; 0 (default) sends no HSTS header. */
  hstsMaxAge?: number;
  /** Clock for the rate limits (tests). */
  now?: () => number;
}

export const HARDENING_DEFAULTS = { rateLimitPerKey: 300, rateLimitPerAddress: 300, hstsMaxAge: 0, requestTimeoutMs: 30_000, connectionTimeoutMs: 150_000 } as const;

/** Routes that are neither rate limited nor authenticated. */
const UNLIMITED_ROUTES = new Set(['/healthz']);

/** An incoming `x-request-id` is kept only if it is this: nothing a log or a terminal could misread. */
export const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The caller's request id when it is a safe token, otherwise a fresh UUID. A hostile id is neither echoed nor logged. */
export function requestIdFor(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}

/** Fastify construction options that belong to hardening (spread into `Fastify({...})`). */
export function serverOptions(
  options: HardeningOptions,
): Pick<FastifyServerOptions, 'requestIdHeader' | 'genReqId' | 'trustProxy' | 'requestTimeout' | 'connectionTimeout'> & { http: ServerOptions } {
  const requestTimeout = options.requestTimeoutMs ?? HARDENING_DEFAULTS.requestTimeoutMs;
  return {
    // Fastify would take any header value as the id; genReqId validates it instead.
    requestIdHeader: false,
    genReqId: requestIdFor,
    trustProxy: trustFunction(options.trustProxy ?? false),
    requestTimeout,
    connectionTimeout: options.connectionTimeoutMs ?? HARDENING_DEFAULTS.connectionTimeoutMs,
    // Node checks the request and header timeouts only every 30 s by default: a tenth of
    // the timeout keeps the bound close to what is configured.
    http: { headersTimeout: Math.min(requestTimeout, 60_000), connectionsCheckingInterval: Math.min(5000, Math.max(100, Math.floor(requestTimeout / 10))) },
  };
}

/**
 * Fastify reads a bare hop count as "trust nobody" (it cannot tell a balancer from a
 * client that connects directly), so every client behind the balancer would share its
 * rate-limit budget. The count is given as the function it stands for: the `hops`
 * nearest addresses, the TCP peer first, are proxies (see API_TRUST_PROXY's caveat).
 */
function trustFunction(trustProxy: boolean | number | string): FastifyServerOptions['trustProxy'] {
  if (typeof trustProxy !== 'number') return trustProxy;
  const hops = trustProxy;
  return (_address: string, hop: number) => hop < hops;
}

/**
 * Checks the API's timeouts against the grant wait at start-up: a connection timeout
 * shorter than the wait would cut POST /grants while it waits for the grant.
 */
export function checkTimeouts(options: { requestTimeoutMs: number; connectionTimeoutMs: number; grantWaitMs: number }): void {
  if (options.connectionTimeoutMs < options.grantWaitMs + 10_000) {
    throw new ConfigError([
      `API_CONNECTION_TIMEOUT_MS (${options.connectionTimeoutMs}) must be at least API_GRANT_WAIT_MS (${options.grantWaitMs}) + 10000: a request waiting for its grant would lose its connection`,
    ]);
  }
  if (options.requestTimeoutMs > options.connectionTimeoutMs) {
    throw new ConfigError([`API_REQUEST_TIMEOUT_MS (${options.requestTimeoutMs}) must not be longer than API_CONNECTION_TIMEOUT_MS (${options.connectionTimeoutMs})`]);
  }
}

/** Parses API_TRUST_PROXY: `false`/`true`, a hop count, or a comma-separated list of addresses/CIDRs. */
export function parseTrustProxy(raw: string | undefined): boolean | number | string {
  const value = (raw ?? '').trim();
  if (value === '' || /^(false|no|off|0)$/i.test(value)) return false;
  if (/^(true|yes|on)$/i.test(value)) return true;
  if (/^\d{1,2}$/.test(value)) return Number(value);
  const parts = value.split(',').map((p) => p.trim());
  if (parts.every((p) => /^[0-9A-Fa-f.:]+(\/\d{1,3})?$/.test(p) || ['loopback', 'linklocal', 'uniquelocal'].includes(p))) return parts.join(',');
  throw new ConfigError(['API_TRUST_PROXY must be false, true, a number of proxy hops, or a comma-separated list of proxy addresses or CIDRs']);
}

/**
 * Security headers, set by hand rather than with @fastify/helmet: the API serves JSON
 * only, so the whole policy is these few constant headers (helmet's defaults are tuned
 * for HTML pages and would still need overriding for cache-control and CSP), and one
 * dependency less is one less thing to keep patched. Called from the onSend hook, and
 * by the router's error handler (`frameworkErrors`), whose answers skip the hooks.
 */
export function secureReply(request: FastifyRequest, reply: FastifyReply, hstsMaxAge: number = HARDENING_DEFAULTS.hstsMaxAge): void {
  void reply.header('x-request-id', request.id);
  void reply.header('x-content-type-options', 'nosniff');
  // Grant state is sensitive: no browser or intermediary cache may keep it.
  void reply.header('cache-control', 'no-store');
  void reply.header('referrer-policy', 'no-referrer');
  void reply.header('x-frame-options', 'DENY');
  void reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
  void reply.header('cross-origin-resource-policy', 'same-origin');
  if (hstsMaxAge > 0) void reply.header('strict-transport-security', `max-age=${hstsMaxAge}; includeSubDomains`);
  void reply.removeHeader('x-powered-by');
  void reply.removeHeader('server');
}

const plugin: FastifyPluginAsync<HardeningOptions> = async (app: FastifyInstance, options) => {
  const now = options.now ?? Date.now;
  const hstsMaxAge = options.hstsMaxAge ?? HARDENING_DEFAULTS.hstsMaxAge;

  // Per address: an onRequest hook registered here, before buildApp's authentication hook.
  const perAddress = await rateLimitHandler(app, {
    perMinute: options.rateLimitPerAddress ?? HARDENING_DEFAULTS.rateLimitPerAddress,
    now,
    key: (request) => (UNLIMITED_ROUTES.has(request.routeOptions.url ?? '') ? undefined : request.ip),
    what: 'from this address',
    logFields: (request) => ({ limit: 'per-address', address: request.ip }),
  });
  if (perAddress) app.addHook('onRequest', perAddress);

  // Per key, once authentication (an onRequest hook) has named the key, and before the
  // body is parsed. The name is logged, never the key.
  const perKey = await rateLimitHandler(app, {
    perMinute: options.rateLimitPerKey ?? HARDENING_DEFAULTS.rateLimitPerKey,
    now,
    key: (request) => request.actor || undefined,
    what: 'for this API key',
    logFields: (request) => ({ limit: 'per-key', keyName: request.actor, address: request.ip }),
  });
  if (perKey) {
    app.addHook('preParsing', async function (request, reply, payload) {
      await perKey.call(this, request, reply);
      return payload;
    });
  }

  // Every error body carries the request id, so a caller can quote it to an operator.
  app.addHook('preSerialization', async (request, reply, payload: unknown) => {
    if (reply.statusCode >= 400 && payload !== null && typeof payload === 'object' && !Array.isArray(payload) && typeof (payload as { error?: unknown }).error === 'string') {
      return { ...(payload as object), requestId: request.id };
    }
    return payload;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    secureReply(request, reply, hstsMaxAge);
    return payload;
  });
};

// Hooks apply to the whole application, not only to routes declared inside the plugin.
export const hardening = fp(plugin, { name: 'dbaccess-hardening', fastify: '5.x' });
