import { Type } from 'typebox';
import { AUTHENTICATED, WITH_BODY, WITH_GRANT_ID, errors } from './responses';
import { BREAK_GLASS_REVIEWS } from '../../domain';
import { accessLevel, databaseKey, duration, emailField, expiresAt, grantId, requestExpiresAt, grantStatus, listLimit, personName, projectKey, reason, requiredReason } from './fields';

// JSON schemas of the grant routes: types, lengths, patterns (fields.ts), required and
// unknown fields, and every status each route answers. What depends on the
// configuration or the clock is checked by the handlers afterwards.
//
// The same schemas are the OpenAPI document at /docs (docs.ts): `summary`,
// `description`, `tags` and `operationId` are for it; Fastify ignores them.

const grantIdParams = Type.Object({ grantId }, { additionalProperties: false });

/** A body that may be left out (null or no body at all), or carry a reason. */
const optionalReasonBody = Type.Unsafe<{ reason?: string } | null>({ type: ['object', 'null'], properties: { reason }, additionalProperties: false });

const grantEvent = {
  type: 'object',
  properties: {
    event: { type: 'string' },
    at: { type: 'string' },
    actor: { type: 'string' },
    accessLevel: { type: 'string' },
    expiresAt: { type: 'string' },
    reason: { type: 'string' },
    detail: { type: 'string' },
  },
} as const;

const leftBehindObject = {
  type: 'object',
  properties: { kind: { type: 'string' }, schema: { type: 'string' }, name: { type: 'string' }, note: { type: 'string' } },
} as const;

const grantState = {
  type: 'object',
  properties: {
    grantId: { type: 'string' },
    status: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    project: { type: 'string' },
    database: { type: 'string' },
    schema: { type: 'string' },
    account: { type: 'string' },
    accessLevel: { type: 'string' },
    privileges: { type: 'array', items: { type: 'string' } },
    expiresAt: { type: 'string' },
    requestedAt: { type: 'string' },
    requestedBy: { type: 'string' },
    reason: { type: 'string' },
    grantedAt: { type: 'string' },
    endedAt: { type: 'string' },
    secretName: { type: 'string' },
    durationMs: { type: 'integer' },
    approval: {
      type: 'object',
      properties: {
        reasons: { type: 'array', items: { type: 'string' } },
        decideBy: { type: 'string' },
        decision: { type: 'string' },
        decidedBy: { type: 'string' },
        decidedAt: { type: 'string' },
        reason: { type: 'string' },
      },
    },
    connection: { type: 'object', properties: { host: { type: 'string' }, port: { type: 'integer' }, engine: { type: 'string' } } },
    failure: { type: 'object', properties: { step: { type: 'string' }, message: { type: 'string' } } },
    accessEndedAt: { type: 'string', description: 'when access ended: the account was contained (locked, password replaced, privileges revoked, sessions ended)' },
    leftBehind: {
      type: 'object',
      description: 'stored objects the account defined when access ended (names only, at most 50 listed; `count` is exact)',
      properties: { objects: { type: 'array', items: leftBehindObject }, count: { type: 'integer' } },
    },
    retained: {
      type: 'object',
      description: 'present while the server refuses to drop the contained account (it defines stored objects): an administrator deals with them, then POST /grants/{grantId}/retry-drop',
      properties: {
        since: { type: 'string' },
        reason: { type: 'string' },
        objects: { type: 'array', items: leftBehindObject },
        objectCount: { type: 'integer' },
      },
    },
    approvedUntil: { type: 'string', description: 'for a level that needs approval: the latest expiry an approver agreed to' },
    pendingExtension: {
      type: 'object',
      description: 'an extension beyond `approvedUntil` waiting for an approver (POST /grants/{grantId}/approve or /deny)',
      properties: {
        from: { type: 'string' },
        to: { type: 'string' },
        requestedBy: { type: 'string' },
        requestedByEmail: { type: 'string' },
        requestedAt: { type: 'string' },
        decideBy: { type: 'string' },
        reason: { type: 'string' },
      },
    },
    standing: {
      type: 'object',
      description:
        'a standing grant (requested with expiresAt NA on a database that allows it): `reviewBy` is its next review deadline, and its expiry; before it the owner and the approvers keep it (POST /grants/{grantId}/review) or it ends. `review` is the review under way.',
      properties: {
        reviewEveryMs: { type: 'integer' },
        reviewBy: { type: 'string' },
        lastReviewedAt: { type: 'string' },
        lastReviewedBy: { type: 'string' },
        review: { type: 'object', properties: { requestedAt: { type: 'string' }, decideBy: { type: 'string' } } },
      },
    },
    breakGlass: {
      type: 'object',
      description:
        'a break-glass grant (requested with breakGlass true by an allowed client): granted without approval, capped, never extended. `review` is its review after the fact: pending (until `reviewBy`), acknowledged, flagged, or unreviewed (nobody reviewed it in time). The workflow stays open after access has ended until it is reviewed or `reviewBy` passes.',
      properties: {
        review: { type: 'string', enum: [...BREAK_GLASS_REVIEWS] },
        requestedAt: { type: 'string' },
        reviewBy: { type: 'string' },
        reviewedBy: { type: 'string' },
        reviewedAt: { type: 'string' },
        reason: { type: 'string' },
      },
    },
    history: { type: 'array', items: grantEvent },
    workflow: {
      type: 'object',
      properties: { runId: { type: 'string' }, status: { type: 'string' }, startedAt: { type: 'string' }, closedAt: { type: 'string' } },
    },
  },
} as const;

export const createGrantSchema = {
  summary: 'Ask for access',
  description:
    'Starts a grant: one person, one database, one access level, until an expiry (`expiresAt`) or for a `duration`. ' +
    'Answers 201 with the grant ACTIVE when provisioning finished within API_GRANT_WAIT_MS, else 202 (still provisioning, or PENDING_APPROVAL when the level or database needs approval). ' +
    '409 when an open grant exists for the same person and database, or when the previous one ended but its account is retained (it defines stored objects the server will not drop it with: an administrator deals with them first); ' +
    '502 when provisioning failed (everything was rolled back). Admins and requesters. ' +
    '`breakGlass: true` (clients listed in the configuration\'s breakGlass.clients only, else 403 naming breakGlass) grants at once without the approval gate, with a `reason` (required), ' +
    'for at most breakGlass.maxDuration (default 1h; without expiresAt or duration, for exactly that); it is never extended or changed, the administrators and the project owner are alerted, and the owner and the approvers review it after the fact (POST /grants/{grantId}/review, acknowledge or flag).',
  tags: ['grants'],
  operationId: 'createGrant',
  body: Type.Object(
    {
      email: emailField,
      name: personName,
      project: projectKey,
      database: databaseKey,
      accessLevel,
      expiresAt: Type.Optional(requestExpiresAt),
      duration: Type.Optional(duration),
      reason: Type.Optional(reason),
      breakGlass: Type.Optional(
        Type.Boolean({ description: 'Break the glass: access at once without approval, capped short, alerted, reviewed after the fact. Needs `reason`; allowed clients only.' }),
      ),
    },
    {
      // An end or a duration, never both; a break-glass request may give neither (it gets the cap).
      oneOf: [
        { type: 'object', required: ['expiresAt'] },
        { type: 'object', required: ['duration'] },
        { type: 'object', required: ['breakGlass'], properties: { breakGlass: { const: true } }, not: { anyOf: [{ required: ['expiresAt'] }, { required: ['duration'] }] } },
      ],
      additionalProperties: false,
    },
  ),
  response: { 201: grantState, 202: grantState, ...errors(...WITH_BODY, ...AUTHENTICATED, 403, 404, 409, 502, 503) },
} as const;

export const getGrantSchema = {
  summary: 'Read a grant',
  description: 'The grant as its workflow knows it (status, expiry, account, secret name, history), and the workflow itself. Never a password.',
  tags: ['grants'],
  operationId: 'getGrant',
  params: grantIdParams,
  response: { 200: grantState, ...errors(...WITH_GRANT_ID, ...AUTHENTICATED, 503) },
} as const;

export const listGrantsSchema = {
  summary: 'List grants',
  description: 'Grants, newest first, filtered by grantee, project, database or status; `limit` from 1 to 1000.',
  tags: ['grants'],
  operationId: 'listGrants',
  querystring: Type.Object(
    {
      email: Type.Optional(emailField),
      project: Type.Optional(projectKey),
      database: Type.Optional(databaseKey),
      status: Type.Optional(grantStatus),
      breakGlass: Type.Optional(
        Type.Union(
          BREAK_GLASS_REVIEWS.map((r) => Type.Literal(r)),
          { description: 'Break-glass grants whose review is pending, acknowledged, flagged or unreviewed (the DbAccessBreakGlass search attribute).' },
        ),
      ),
      limit: Type.Optional(listLimit),
    },
    { additionalProperties: false },
  ),
  response: {
    200: {
      type: 'object',
      properties: {
        grants: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              grantId: { type: 'string' },
              email: { type: 'string' },
              project: { type: 'string' },
              database: { type: 'string' },
              accessLevel: { type: 'string' },
              status: { type: 'string' },
              expiresAt: { type: 'string' },
              reviewBy: { type: 'string', description: "a standing grant's next review deadline (its expiry unless a reviewer keeps it)" },
              breakGlass: { type: 'string', description: "a break-glass grant's review: pending, acknowledged, flagged or unreviewed" },
              workflowStatus: { type: 'string' },
              startedAt: { type: 'string' },
              closedAt: { type: 'string' },
            },
          },
        },
      },
    },
    ...errors(400, ...AUTHENTICATED),
  },
} as const;

export const revokeSchema = {
  summary: 'Revoke a grant now',
  description:
    'Ends the access early. First the account is contained: locked, its password replaced with one nobody knows, every privilege revoked, its sessions ended; from then on access has ended. ' +
    'Then it is dropped and its secret deleted. Answers 202 (REVOKING) at once; the revoke retries until done. If the server refuses the drop (the account defines stored objects), ' +
    'the grant still ends REVOKED, the account stays contained and is listed as `retained`, and administrators and the owner are alerted.',
  tags: ['grants'],
  operationId: 'revokeGrant',
  params: grantIdParams,
  body: optionalReasonBody,
  response: { 202: { type: 'object', properties: { grantId: { type: 'string' }, status: { type: 'string' } } }, ...errors(...WITH_GRANT_ID, ...WITH_BODY, ...AUTHENTICATED, 403, 409, 503) },
} as const;

const extendAnswer = {
  type: 'object',
  properties: {
    grantId: { type: 'string' },
    expiresAt: { type: 'string' },
    pending: { type: 'object', properties: { requestedExpiresAt: { type: 'string' }, decideBy: { type: 'string' } } },
  },
} as const;

export const extendSchema = {
  summary: 'Move the expiry',
  description:
    "Sets a later expiry, within the database's maximum duration. Answers 200 with the new expiry. For a grant whose level needed approval, an extension beyond what was approved (`approvedUntil`) " +
    'by anyone but an approver of the project or an admin waits for an approver: 202 with `pending` (the grant keeps its expiry meanwhile; approvers decide with /approve or /deny, ' +
    'and without a decision by `decideBy` it is denied). 409 while another extension waits, or at or after the expiry.',
  tags: ['grants'],
  operationId: 'extendGrant',
  params: grantIdParams,
  body: Type.Object({ expiresAt, reason: Type.Optional(reason) }, { additionalProperties: false }),
  response: {
    200: extendAnswer,
    202: extendAnswer,
    ...errors(...WITH_GRANT_ID, ...WITH_BODY, ...AUTHENTICATED, 403, 409, 503, 504),
  },
} as const;

export const changeLevelSchema = {
  summary: 'Change the access level',
  description:
    'Moves an active grant to another level of its database. A downgrade also ends the open sessions (`sessionsKilled`). A lowering is never undone: if it cannot finish ' +
    '(the sessions cannot be ended), the lower level stays, administrators are alerted, the rest is retried, and `incomplete` says so.',
  tags: ['grants'],
  operationId: 'changeGrantLevel',
  params: grantIdParams,
  body: Type.Object({ accessLevel, reason: Type.Optional(reason) }, { additionalProperties: false }),
  response: {
    200: { type: 'object', properties: { grantId: { type: 'string' }, accessLevel: { type: 'string' }, sessionsKilled: { type: 'integer' }, incomplete: { type: 'string' } } },
    ...errors(...WITH_GRANT_ID, ...WITH_BODY, ...AUTHENTICATED, 403, 409, 502, 503, 504),
  },
} as const;

export const approveSchema = {
  summary: 'Approve a request',
  description:
    'Approves a grant waiting for approval (PENDING_APPROVAL), then waits a little for it to become ACTIVE; or, on an ACTIVE grant, the extension waiting for approval (`pendingExtension`). ' +
    'Not by the grantee, nor by whoever asked.',
  tags: ['approval'],
  operationId: 'approveGrant',
  params: grantIdParams,
  body: optionalReasonBody,
  response: { 200: grantState, 202: grantState, ...errors(...WITH_GRANT_ID, ...WITH_BODY, ...AUTHENTICATED, 403, 409, 502, 503, 504) },
} as const;

export const denySchema = {
  summary: 'Deny a request',
  description: 'Denies a grant waiting for approval, with a reason told to the grantee (nothing is created); or, on an ACTIVE grant, the extension waiting for approval (its expiry stays).',
  tags: ['approval'],
  operationId: 'denyGrant',
  params: grantIdParams,
  body: Type.Object({ reason: requiredReason }, { additionalProperties: false }),
  response: { 200: { type: 'object', properties: { grantId: { type: 'string' }, status: { type: 'string' } } }, ...errors(...WITH_GRANT_ID, ...WITH_BODY, ...AUTHENTICATED, 403, 409, 503, 504) },
} as const;

export const reviewSchema = {
  summary: 'Review a standing grant, or a break-glass grant after the fact',
  description:
    'A standing grant (requested with expiresAt NA where the database allows it) is reviewed every period. `keep` moves its deadline (`standing.reviewBy`, its expiry) a review period on from now and is audited REVIEW_KEPT; ' +
    '`revoke` ends it now, with a `reason` the grantee reads. Approvers of the project and admins only; nobody may keep their own access (403). ' +
    'Without a keep by the deadline the grant ends then (REVIEW_LAPSED, EXPIRED). 409 for a grant that is not standing (`grant_not_standing`), not ACTIVE, or at its deadline. ' +
    'A break-glass grant is reviewed with `acknowledge` (BREAK_GLASS_ACKNOWLEDGED) or `flag` with a `reason` (BREAK_GLASS_FLAGGED; the administrators are alerted), once, also after its access has ended, until its `breakGlass.reviewBy`; ' +
    'nobody reviews one they hold or asked for (403); 409 once it is reviewed or its deadline passed.',
  tags: ['approval'],
  operationId: 'reviewGrant',
  params: grantIdParams,
  body: Type.Object(
    {
      decision: Type.Union([Type.Literal('keep'), Type.Literal('revoke'), Type.Literal('acknowledge'), Type.Literal('flag')], {
        description: 'standing grant: keep (another review period) or revoke (end it now); break-glass grant: acknowledge or flag',
      }),
      reason: Type.Optional(reason),
    },
    // A revoke needs a reason (the grantee reads it), and so does a flag.
    { additionalProperties: false, if: { properties: { decision: { enum: ['revoke', 'flag'] } } }, then: { required: ['reason'] } },
  ),
  response: {
    200: { type: 'object', properties: { grantId: { type: 'string' }, decision: { type: 'string' }, status: { type: 'string' }, expiresAt: { type: 'string' } } },
    ...errors(...WITH_GRANT_ID, ...WITH_BODY, ...AUTHENTICATED, 403, 409, 503, 504),
  },
} as const;

export const retryDropSchema = {
  summary: 'Retry the drop of a retained account',
  description:
    "For a grant whose access has ended but whose account the server refused to drop (`retained`: it defines stored objects). Once an administrator has dealt with them " +
    '(changed their definer or dropped them), this tries the drop again: `dropped` (the grant then closes) or `retained` (refused again; nothing else changes). ' +
    'The grant also retries once a day by itself. 409 when the account is not retained. Admins only.',
  tags: ['grants'],
  operationId: 'retryDropGrantAccount',
  params: grantIdParams,
  body: optionalReasonBody,
  response: {
    200: { type: 'object', properties: { grantId: { type: 'string' }, outcome: { type: 'string' }, detail: { type: 'string' } } },
    ...errors(...WITH_GRANT_ID, ...WITH_BODY, ...AUTHENTICATED, 403, 409, 503, 504),
  },
} as const;

export const healthzSchema = {
  summary: 'Liveness',
  description: 'Always 200 while the process serves HTTP; touches no dependency. Readiness (Temporal reachable) is GET /readyz.',
  tags: ['operations'],
  operationId: 'healthz',
  security: [],
  response: { 200: { type: 'object', properties: { status: { type: 'string' } } } },
} as const;
