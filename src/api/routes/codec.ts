import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { PayloadDecryptionError } from '../../adapters/temporal/codec';
import { HttpError, badRequest } from '../errors';
import { AUTHENTICATED, PATTERN_MEANINGS, WITH_BODY, errors } from '../schemas';

// The remote codec endpoint of the Temporal UI and the `temporal` CLI
// (`--ui-codec-endpoint`, `--codec-endpoint`): POST {endpoint}/encode and
// {endpoint}/decode with {"payloads": [{"metadata": {"k": base64}, "data": base64}]},
// answered in the same shape. The UI calls it from the browser, so the routes
// answer CORS preflights for the configured origins. They are authenticated by
// the app's API-key hook like every other route, unless the app was started
// with `allowUnauthenticated` (development on loopback only; see config).

export interface CodecRoutesOptions {
  codec: PayloadCodec;
  /** Browser origins allowed to call the routes (exact match). */
  corsOrigins: readonly string[];
  /** The routes need no API key (the dev stack, whose Temporal UI has no login). */
  allowUnauthenticated?: boolean;
  /** Bytes; payload batches (a whole history) are much larger than the API's other bodies. */
  bodyLimit?: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs no API key. */
    public?: boolean;
  }
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

export const CODEC_BODY_LIMIT = 4 * 1024 * 1024;
const MAX_PAYLOADS = 10_000;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
PATTERN_MEANINGS.set(BASE64.source, 'must be base64');
const ALLOWED_HEADERS = 'authorization, content-type, x-namespace';

const payloadsSchema = {
  type: 'object',
  required: ['payloads'],
  properties: {
    payloads: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          metadata: { type: 'object', additionalProperties: { type: 'string' } },
          data: { type: 'string' },
        },
      },
    },
  },
} as const;

/** The JSON parser refuses `__proto__` keys (prototype poisoning): a metadata map says so; the other objects are closed. */
const NOT_POISON = { not: { const: '__proto__' } } as const;

const codecBodySchema = {
  tags: ['codec'],
  response: { 200: payloadsSchema, ...errors(...WITH_BODY, ...AUTHENTICATED) },
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['payloads'],
    properties: {
      payloads: {
        type: 'array',
        maxItems: MAX_PAYLOADS,
        items: {
          type: 'object',
          additionalProperties: false,
          properties: {
            metadata: { type: 'object', propertyNames: NOT_POISON, additionalProperties: { type: 'string', pattern: BASE64.source } },
            data: { type: 'string', pattern: BASE64.source },
            // Newer servers describe offloaded payloads here; passed over, as before.
            externalPayloads: { type: 'array', items: { type: 'object', propertyNames: NOT_POISON, additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } } },
          },
        },
      },
    },
  },
} as const;

function fromJson(payload: JsonPayload, i: number): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) {
    if (!BASE64.test(value)) throw badRequest(`payloads.${i}.metadata.${key}: must be base64`);
    metadata[key] = Buffer.from(value, 'base64');
  }
  const data = payload.data ?? '';
  if (!BASE64.test(data)) throw badRequest(`payloads.${i}.data: must be base64`);
  return { metadata, data: Buffer.from(data, 'base64') };
}

function toJson(payload: Payload): { metadata: Record<string, string>; data: string } {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
  };
}

/** Registers POST /codec/encode and POST /codec/decode (and their CORS preflights) in a scope of their own. */
export function registerCodecRoutes(root: FastifyInstance, options: CodecRoutesOptions): void {
  const origins = new Set(options.corsOrigins);
  const bodyLimit = options.bodyLimit ?? CODEC_BODY_LIMIT;
  const routeConfig = { public: options.allowUnauthenticated === true };

  /** The origin to allow for this request, if it is one of the configured ones. */
  const allowedOrigin = (request: FastifyRequest) => {
    const origin = request.headers.origin;
    return typeof origin === 'string' && origins.has(origin) ? origin : undefined;
  };

  const transform = (op: 'encode' | 'decode') => async (request: FastifyRequest<{ Body: { payloads: JsonPayload[] } }>) => {
    const payloads = request.body.payloads.map(fromJson);
    let out: Payload[];
    try {
      out = op === 'encode' ? await options.codec.encode(payloads) : await decodeEach(options.codec, payloads);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (err instanceof PayloadDecryptionError) throw new HttpError(400, 'undecodable_payload', err.message);
      throw err;
    }
    return { payloads: out.map(toJson) };
  };

  void root.register(async (app) => {
    // Every answer of these routes, errors included (a 401 too, so the UI can show
    // it), carries the CORS headers when the caller's origin is an allowed one.
    app.addHook('onSend', async (request, reply: FastifyReply) => {
      const origin = allowedOrigin(request);
      if (origin) void reply.header('access-control-allow-origin', origin);
      void reply.header('vary', 'Origin');
    });

    // Preflights carry no credentials: they are public, and answer with CORS
    // headers only for an allowed origin (the browser then refuses the call).
    const preflight = async (request: FastifyRequest, reply: FastifyReply) => {
      if (allowedOrigin(request)) {
        void reply
          .header('access-control-allow-methods', 'POST, OPTIONS')
          .header('access-control-allow-headers', ALLOWED_HEADERS)
          .header('access-control-max-age', '600');
      }
      return reply.status(204).send();
    };
    // CORS plumbing rather than an operation of the API: not in the document.
    app.options('/codec/encode', { config: { public: true }, schema: { hide: true } }, preflight);
    app.options('/codec/decode', { config: { public: true }, schema: { hide: true } }, preflight);

    const security = options.allowUnauthenticated === true ? { security: [] } : {};
    app.post(
      '/codec/encode',
      { schema: { ...codecBodySchema, ...security, operationId: 'codecEncode', summary: 'Encode payloads', description: 'Encrypts Temporal payloads with the current key (what the worker writes).' }, bodyLimit, config: routeConfig },
      transform('encode'),
    );
    app.post(
      '/codec/decode',
      {
        schema: { ...codecBodySchema, ...security, operationId: 'codecDecode', summary: 'Decode payloads', description: 'Decrypts Temporal payloads encrypted with a configured key; other payloads pass unchanged. 400 when one cannot be decrypted.' },
        bodyLimit,
        config: routeConfig,
      },
      transform('decode'),
    );
  });
}

/** Decodes one payload at a time, so that an error names the payload it is about. */
async function decodeEach(codec: PayloadCodec, payloads: Payload[]): Promise<Payload[]> {
  const out: Payload[] = [];
  for (const [i, payload] of payloads.entries()) {
    try {
      out.push(...(await codec.decode([payload])));
    } catch (err) {
      if (err instanceof PayloadDecryptionError) throw new HttpError(400, 'undecodable_payload', `payloads.${i}: ${err.message}`);
      throw err;
    }
  }
  return out;
}
