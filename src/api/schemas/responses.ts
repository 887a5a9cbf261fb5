// The error answers of the API, for the OpenAPI document: every status a route can
// answer is listed on it, with the one error body every error has (errors.ts).

export const errorBody = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'a stable code: invalid_request, unauthorized, forbidden, not_found, grant_exists, rate_limited …' },
    message: { type: 'string', description: 'what is wrong, in words; names the field for a 400' },
    requestId: { type: 'string', description: 'quote it to an operator: it is on every log line of the request' },
  },
  additionalProperties: true,
} as const;

const WHY = {
  400: 'The request is not valid: the message names the field and the rule.',
  401: 'No valid API key (`Authorization: Bearer <key>`).',
  403: "The key's role or projects do not allow this.",
  404: 'No such grant, project or database.',
  409: 'The grant is not in a state that allows this.',
  410: 'The link was used, has expired, or its grant has ended.',
  413: 'The body is too large.',
  414: 'A path parameter is too long.',
  415: 'The body is not application/json.',
  429: 'Too many requests from this address or API key; retry after Retry-After seconds.',
  500: 'An unexpected failure; the message carries the request id to quote.',
  502: 'The database side of the change failed (rolled back where it could be).',
  503: 'A dependency did not answer in time (Temporal, a worker, the audit store); nothing was changed; retry after Retry-After seconds.',
  504: 'The change did not complete in time; it may still be applied.',
} as const;

export type ErrorStatus = keyof typeof WHY;

export const retryAfter = { 'retry-after': { type: 'integer', description: 'seconds until a request is accepted again' } } as const;

/** The error responses `statuses`, each with the error body (429 and 503 also with their Retry-After header). */
export function errors<S extends ErrorStatus>(...statuses: S[]): Record<S, typeof errorBody & { description: string }> {
  return Object.fromEntries(
    statuses.map((status) => [status, { ...errorBody, description: WHY[status], ...(status === 429 || status === 503 ? { headers: retryAfter } : {}) }]),
  ) as unknown as Record<S, typeof errorBody & { description: string }>;
}

/** What any route behind an API key can answer besides its own errors. */
export const AUTHENTICATED = [401, 429, 500] as const;
/** What a route with a JSON body can answer for the body itself. */
export const WITH_BODY = [400, 413, 415] as const;
/** What a route with a grant id in its path can answer for it. */
export const WITH_GRANT_ID = [400, 404, 414] as const;
