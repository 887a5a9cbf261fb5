import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { refusal } from '../authorization';
import { HttpError, errorHandler } from '../errors';
import type { GrantService, NewGrant } from '../grant-service';
import { AUTHENTICATED, WITH_BODY, createGrantSchema, errors } from '../schemas';

// POST /grants/batch: many grants in one request, for onboarding a team.
//
// All or nothing at validation, one by one at start:
//   1. Every row is checked first, with the same rules as POST /grants (the same
//      field schema, then GrantService.prepare with the caller's key, so roles and
//      configuration apply identically), and no row may ask twice for one grant.
//   2. If any row is invalid, the answer is 400 with one entry per row, and nothing
//      is started: a file with a typo does not half-onboard a team.
//   3. Otherwise every grant is started (a few at a time). A row can still fail
//      here (an open grant already exists: 409; provisioning failed: 502); the
//      others are not undone. 200 when every row started, 207 when some did not.

/** Rows per request. */
export const BATCH_MAX_ROWS = 100;
/** The batch route's own body limit (the app's default, 16 KiB, fits ~40 rows). */
export const BATCH_BODY_LIMIT = 256 * 1024;
/** Grants started at once; each waits up to API_GRANT_WAIT_MS for ACTIVE. */
const CONCURRENCY = 8;

export type BatchRow = { row: number; grantId: string; status: string } | { row: number; error: string; message: string; grantId?: string };

const rowSchema = createGrantSchema.body;

/**
 * One row against POST /grants' body schema, by hand so that every row gets its own
 * answer (the route's schema validator stops at the first error of the whole body).
 */
function schemaProblem(row: unknown): string | undefined {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) return 'row: must be an object';
  const fields = row as Record<string, unknown>;
  const known = rowSchema.properties as Record<string, { minLength?: number; maxLength?: number }>;
  for (const name of Object.keys(fields)) if (!(name in known)) return `${name}: is not a known field`;
  for (const name of rowSchema.required as string[]) if (fields[name] === undefined) return `${name}: is required`;
  for (const [name, rule] of Object.entries(known)) {
    const value = fields[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') return `${name}: must be a string`;
    if (rule.minLength !== undefined && value.length < rule.minLength) return rule.minLength === 1 ? `${name}: must not be empty` : `${name}: must be at least ${rule.minLength} characters`;
    if (rule.maxLength !== undefined && value.length > rule.maxLength) return `${name}: must be at most ${rule.maxLength} characters`;
  }
  return undefined;
}

const batchBody = Type.Object({ grants: Type.Array(Type.Unknown(), { minItems: 1, maxItems: BATCH_MAX_ROWS }) }, { additionalProperties: false });

const batchRow = {
  type: 'object',
  properties: { row: { type: 'integer' }, grantId: { type: 'string' }, status: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;

const batchSchema = {
  summary: 'Ask for many grants at once',
  description:
    `Up to ${BATCH_MAX_ROWS} rows, each a POST /grants body. Every row is checked first: if any is invalid the answer is 400 with one entry per row and nothing is started. ` +
    'Otherwise every grant is started: 200 when all started, 207 when some did not (each row says why).',
  tags: ['bulk'],
  operationId: 'createGrants',
  // Rows are checked one by one (schemaProblem, then prepare), so that each gets its own answer.
  body: batchBody,
  documentedBody: Type.Object({ grants: Type.Array(rowSchema, { minItems: 1, maxItems: BATCH_MAX_ROWS }) }, { additionalProperties: false }),
  response: {
    200: { type: 'object', properties: { started: { type: 'integer' }, failed: { type: 'integer' }, rows: { type: 'array', items: batchRow } } },
    207: { type: 'object', properties: { started: { type: 'integer' }, failed: { type: 'integer' }, rows: { type: 'array', items: batchRow } } },
    ...errors(...WITH_BODY, ...AUTHENTICATED, 403),
  },
} as const;

/** Runs `work` over `items`, at most `limit` at a time, keeping the order of the results. */
async function mapLimited<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return out;
}

function batchErrorHandler(error: FastifyError | HttpError, request: FastifyRequest, reply: FastifyReply): void {
  if ((error as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    void reply.status(413).send({ error: 'body_too_large', message: `body: is too large (at most ${BATCH_BODY_LIMIT / 1024} KiB)` });
    return;
  }
  if ((error as FastifyError).validation && (error as { validation: { keyword: string }[] }).validation[0]?.keyword === 'maxItems') {
    void reply.status(400).send({ error: 'invalid_request', message: `grants: at most ${BATCH_MAX_ROWS} rows per request; split the file` });
    return;
  }
  errorHandler(error, request, reply);
}

export function registerBatchRoutes(app: FastifyInstance, grants: GrantService): void {
  app.withTypeProvider<TypeBoxTypeProvider>().post('/grants/batch', { schema: batchSchema, bodyLimit: BATCH_BODY_LIMIT, errorHandler: batchErrorHandler }, async (request, reply) => {
    // A key that may not ask for grants at all is refused once, not once per row.
    const why = refusal(request.client, 'create');
    if (why) throw new HttpError(403, 'forbidden', why);

    const rows = request.body.grants;
    const seen = new Map<string, number>();
    const checked: BatchRow[] = rows.map((raw, i) => {
      const row = i + 1;
      const problem = schemaProblem(raw);
      if (problem) return { row, error: 'invalid_request', message: problem };
      try {
        const { grantId } = grants.prepare(raw as NewGrant, request.client);
        const first = seen.get(grantId);
        if (first !== undefined) return { row, error: 'duplicate_row', message: `email: row ${first} already asks for ${grantId}`, grantId };
        seen.set(grantId, row);
        return { row, grantId, status: 'VALID' };
      } catch (err) {
        if (err instanceof HttpError && err.statusCode < 500) return { row, error: err.code, message: err.message };
        throw err;
      }
    });
    const invalid = checked.filter((r) => 'error' in r);
    if (invalid.length > 0) {
      const which = invalid.map((r) => r.row).join(', ');
      throw new HttpError(400, 'invalid_request', `${invalid.length} of ${rows.length} rows are invalid (row${invalid.length > 1 ? 's' : ''} ${which}); nothing was started`, { rows: checked });
    }

    const results = await mapLimited(rows, CONCURRENCY, async (raw, i): Promise<BatchRow> => {
      const row = i + 1;
      try {
        const state = await grants.create(raw as NewGrant, request.client);
        if (state.status === 'FAILED') {
          return { row, grantId: state.grantId, error: 'grant_failed', message: `the grant could not be provisioned: step "${state.failure?.step ?? 'unknown'}" failed; everything was rolled back and administrators were told` };
        }
        return { row, grantId: state.grantId, status: state.status };
      } catch (err) {
        if (err instanceof HttpError && err.statusCode < 500) {
          const grantId = typeof err.extra.grantId === 'string' ? err.extra.grantId : (checked[i] as { grantId: string }).grantId;
          return { row, grantId, error: err.code, message: err.message };
        }
        request.log.error({ err, row }, 'batch row could not be started');
        return { row, grantId: (checked[i] as { grantId: string }).grantId, error: 'internal', message: `the grant could not be started; quote request id ${request.id} to an administrator` };
      }
    });
    const failed = results.filter((r) => 'error' in r).length;
    return reply.status(failed > 0 ? 207 : 200).send({ started: results.length - failed, failed, rows: results });
  });
}
