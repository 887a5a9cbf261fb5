import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { HttpError } from '../errors';

// The API's two rate limits, with @fastify/rate-limit: per client address before
// authentication (every request counts, with or without a valid key, so guessing
// keys or one-time link tokens is throttled too), and per API key name once the
// key is known. Each is one instance of the plugin in a scope of its own (each
// marks the requests it has counted), whose handler buildApp's hooks call in order.
//
// The store is a token bucket: `max` requests in a burst, refilled at `max` per
// window, so a caller over its limit may send again as soon as one token is back
// (Retry-After: 20 s at 3 a minute) rather than at the end of a fixed window.

const WINDOW_MS = 60_000;

interface Bucket {
  tokens: number;
  at: number;
}

/** The token-bucket store, bounded: past `maxEntries` keys the least recently used are dropped. */
export function tokenBucketStore(now: () => number, maxEntries = 50_000): new () => FastifyRateLimitStore {
  return class TokenBucketStore implements FastifyRateLimitStore {
    private readonly buckets = new Map<string, Bucket>();

    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number, max: number): void {
      const at = now();
      const perMs = max / timeWindow;
      const previous = this.buckets.get(key);
      const tokens = previous ? Math.min(max, previous.tokens + (at - previous.at) * perMs) : max;
      // Re-inserting keeps the Map in least-recently-used order.
      this.buckets.delete(key);
      if (tokens >= 1) {
        this.buckets.set(key, { tokens: tokens - 1, at });
        for (const oldest of this.buckets.keys()) {
          if (this.buckets.size <= maxEntries) break;
          this.buckets.delete(oldest);
        }
        callback(null, { current: max - Math.floor(tokens - 1), ttl: Math.ceil((max - tokens + 1) / perMs) });
        return;
      }
      this.buckets.set(key, { tokens, at });
      // Over the limit: `ttl` is the time until the next token (Retry-After).
      callback(null, { current: max + 1, ttl: Math.max(1000, Math.ceil((1 - tokens) / perMs)) });
    }

    child(): FastifyRateLimitStore {
      return this;
    }
  };
}

export interface RateLimitSettings {
  /** Requests per minute; 0 turns the limit off. */
  perMinute: number;
  now: () => number;
  /** The key counted, or undefined for a request this limit does not count. */
  key: (request: FastifyRequest) => string | undefined;
  /** What the 429 message says the limit is about ("from this address"). */
  what: string;
  /** Logged with the refusal (never a key itself). */
  logFields: (request: FastifyRequest) => Record<string, unknown>;
}

/** One limit as a hook handler; undefined when it is off. */
export async function rateLimitHandler(app: FastifyInstance, settings: RateLimitSettings): Promise<preHandlerAsyncHookHandler | undefined> {
  if (settings.perMinute <= 0) return undefined;
  let handler: preHandlerAsyncHookHandler | undefined;
  await app.register(async (scope) => {
    await scope.register(rateLimit, {
      global: false,
      store: tokenBucketStore(settings.now),
      // Only Retry-After: the limit itself is configuration, not something to advertise.
      addHeaders: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': true },
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    });
    handler = scope.rateLimit({
      max: settings.perMinute,
      timeWindow: WINDOW_MS,
      keyGenerator: (request) => settings.key(request) ?? '',
      allowList: (request) => settings.key(request) === undefined,
      onExceeded: (request) => request.log.warn({ ...settings.logFields(request), route: request.routeOptions.url ?? '(no route)' }, 'rate limit exceeded'),
      errorResponseBuilder: (_request, context) => {
        const seconds = Math.ceil(context.ttl / 1000);
        return new HttpError(429, 'rate_limited', `too many requests ${settings.what}; retry after ${seconds} s`);
      },
    });
  });
  return handler;
}
