import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { PATTERN_MEANINGS } from './schemas/fields';

// Every error leaves the API as {"error": "<code>", "message": "<human readable>"}.
// Messages name the field and the reason; 5xx answers never carry stack traces,
// driver messages or anything else from inside.

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    /** Sent as the Retry-After header (seconds). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** Seconds a caller is told to wait before trying again when a dependency did not answer (503). */
export const RETRY_AFTER_UNAVAILABLE_S = 10;

export const badRequest = (message: string) => new HttpError(400, 'invalid_request', message);
/** 503: something the request needs is not answering now; nothing was changed, and Retry-After says when to try again. */
export const unavailable = (code: string, message: string, retryAfterSeconds = RETRY_AFTER_UNAVAILABLE_S) => new HttpError(503, code, message, {}, retryAfterSeconds);
export const notFound = (code: string, message: string) => new HttpError(404, code, message);
export const conflict = (code: string, message: string, extra?: Record<string, unknown>) => new HttpError(409, code, message, extra);

interface AjvError {
  keyword: string;
  instancePath: string;
  schemaPath?: string;
  params: Record<string, unknown>;
  message?: string;
}

/** Turns the first schema violation into "field: reason". */
export function describeValidation(errors: AjvError[], context: string | undefined): string {
  const e = errors[0];
  if (!e) return 'the request is not valid';
  const base = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const where = (name: string) => (base ? `${base}.${name}` : name);
  const field = base || (context === 'body' ? 'body' : context ?? 'request');
  switch (e.keyword) {
    case 'required':
      if (e.params.missingProperty === 'expiresAt' && e.schemaPath?.includes('oneOf')) {
        return `${where('expiresAt')}: is required (an end date or timestamp), unless a duration such as 8h or 14d is given instead`;
      }
      return `${where(String(e.params.missingProperty))}: is required`;
    case 'additionalProperties':
      return `${where(String(e.params.additionalProperty))}: is not a known field`;
    case 'type':
      return `${field}: must be ${String(e.params.type)
        .split(',')
        .map((t) => (t === 'object' || t === 'array' || t === 'integer' ? `an ${t}` : t === 'null' ? 'null' : `a ${t}`))
        .join(' or ')}`;
    case 'maxLength':
      return `${field}: must be at most ${String(e.params.limit)} characters`;
    case 'minLength':
      return Number(e.params.limit) === 1 ? `${field}: must not be empty` : `${field}: must be at least ${String(e.params.limit)} characters`;
    case 'enum':
      return `${field}: must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
    case 'minimum':
    case 'maximum':
      return `${field}: ${e.message ?? 'is out of range'}`;
    case 'minProperties':
      return `${field}: must not be empty`;
    case 'pattern':
      return `${field}: ${PATTERN_MEANINGS.get(String(e.params.pattern)) ?? 'is not valid'}`;
    case 'not':
      // The only `not` is the e-mail's "no consecutive dots".
      return `${field}: must be a valid e-mail address (no consecutive dots)`;
    case 'oneOf':
      return `${where('duration')}: give either expiresAt or duration, not both`;
    default:
      return `${field}: ${e.message ?? 'is not valid'}`;
  }
}

const FASTIFY_CLIENT_ERRORS: Record<string, [string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ['body_too_large', 'body: is too large (at most 16 KiB)'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['unsupported_media_type', 'content-type: must be application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['invalid_request', 'content-length: does not match the body'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['invalid_json', 'body: is empty but the content type is application/json'],
  FST_ERR_CTP_INVALID_JSON_BODY: ['invalid_json', 'body: is not valid JSON'],
};

export function errorHandler(error: FastifyError | HttpError, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof HttpError) {
    if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
    void reply.status(error.statusCode).send({ error: error.code, message: error.message, ...error.extra });
    return;
  }
  const fe = error as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (fe.validation) {
    void reply.status(400).send({ error: 'invalid_request', message: describeValidation(fe.validation, fe.validationContext) });
    return;
  }
  const status = fe.statusCode ?? 500;
  if (status < 500 && ((typeof fe.code === 'string' && fe.code.startsWith('FST_')) || error instanceof SyntaxError)) {
    // Fastify's own client errors (bad JSON, body too large, wrong content type). Their
    // texts can quote the request (the content type, parser internals), so the known
    // ones get our own message, and the rest keep only their first line.
    const known = FASTIFY_CLIENT_ERRORS[fe.code ?? ''] ?? (error instanceof SyntaxError ? FASTIFY_CLIENT_ERRORS.FST_ERR_CTP_INVALID_JSON_BODY : undefined);
    void reply.status(status).send(known ? { error: known[0], message: known[1] } : { error: 'invalid_request', message: String(fe.message).split('\n')[0] });
    return;
  }
  if (status < 500) {
    // A client error from anything else (a library's error carrying a statusCode): its
    // message was not written for callers.
    request.log.warn({ err: error }, 'request refused');
    void reply.status(status).send({ error: 'invalid_request', message: `the request was refused; quote request id ${request.id} to an administrator` });
    return;
  }
  request.log.error({ err: error }, 'request failed');
  if (status === 503) void reply.header('retry-after', String(RETRY_AFTER_UNAVAILABLE_S));
  void reply.status(status === 503 ? 503 : 500).send({
    error: status === 503 ? 'unavailable' : 'internal',
    message: `the request could not be completed; quote request id ${request.id} to an administrator`,
  });
}
