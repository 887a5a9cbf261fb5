import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { DECISION_TOKEN_PATTERN, type DecisionClaim, type DecisionLinks } from '../../adapters/decision-links';
import { clean, escapeHtml } from '../../adapters/notify/format';
import { approversOf, type ApiClient, type FileConfig } from '../../config';
import { isSafeText, type DecisionLinkRef, type GrantState } from '../../domain';
import { HttpError } from '../errors';
import type { GrantService } from '../grant-service';
import { errorBody, errors } from '../schemas/responses';
import { asksForJson, noStore, page, pageOrJson } from './credentials';

// One-click decisions (docs/decisions/0502-one-click-decisions.md): the Approve
// and Deny links of an approval e-mail, one pair per approver.
//
//   GET  /decisions/:token  the request and a button (a mail scanner that opens
//                           the link decides nothing); Deny asks for a reason
//   POST /decisions/:token  the button: decides as the link's approver, through
//                           the same update and validator as the API
//
// The link is checked before anything is shown: its signature and deadline, that
// its approver is still an approver of the project with the same address, and
// that the request it was sent for is the one pending. The workflow checks the
// last again when the decision arrives (a decided or newer request never takes
// it) and audits the decision with the link's id and address.

export interface DecisionRoutesDeps {
  links: DecisionLinks;
  grants: GrantService;
  config: FileConfig;
}

interface Params {
  token: string;
}

/** Longest reason a denial may carry. */
const REASON_MAX = 500;

type Outcome = { status: number; error: string; message: string };

const INVALID: Outcome = { status: 404, error: 'not_found', message: 'this link is not valid' };
const EXPIRED: Outcome = { status: 410, error: 'link_expired', message: 'this link has expired: the request it was sent for was decided or timed out' };

function where(state: GrantState): string {
  return `${clean(state.project)}/${clean(state.database)}`;
}

/** The request's facts, as the approver saw them in the e-mail. */
function facts(state: GrantState, claim: DecisionClaim): string {
  const rows: [string, string][] = [
    ['Grantee', `${clean(state.name, 120)} <${clean(state.email)}>`],
    ['Project / database', where(state)],
    ['Access level', `${clean(state.accessLevel, 40)} (${state.privileges.map((p) => clean(p, 40)).join(', ')})`],
  ];
  if (claim.kind === 'break-glass' && state.breakGlass) {
    rows.push(['Break-glass', `granted without approval at ${state.grantedAt ?? state.requestedAt}, until ${state.expiresAt} (${state.status})`], ['Broken by', clean(state.requestedBy, 120)], ['Reason', clean(state.reason) || 'none given'], ['Review by', state.breakGlass.reviewBy ?? '']);
  } else if (claim.kind === 'review' && state.standing) {
    rows.push(['Standing since', state.grantedAt ?? state.requestedAt], ['Review deadline', state.standing.reviewBy], ['Requested by', clean(state.requestedBy, 120)]);
    if (state.reason) rows.push(['Reason', clean(state.reason)]);
  } else if (claim.kind === 'extension' && state.pendingExtension) {
    rows.push(['Current expiry', state.pendingExtension.from], ['Requested expiry', state.pendingExtension.to], ['Asked by', clean(state.pendingExtension.requestedBy, 120)]);
    if (state.pendingExtension.reason) rows.push(['Reason', clean(state.pendingExtension.reason)]);
  } else {
    rows.push(state.durationMs !== undefined ? ['Duration', `${Math.round(state.durationMs / 60_000)} minutes from approval`] : ['Until', state.expiresAt], ['Requested by', clean(state.requestedBy, 120)]);
    if (state.reason) rows.push(['Reason', clean(state.reason)]);
  }
  rows.push(['Grant id', clean(state.grantId)], ['Deciding as', `${clean(claim.approver, 120)} <${clean(claim.email)}>`]);
  return `<table>${rows.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td class="v">${escapeHtml(v)}</td></tr>`).join('')}</table>`;
}

function title(claim: DecisionClaim): string {
  if (claim.kind === 'review') return claim.decision === 'keep' ? 'Keep standing access' : 'Revoke standing access';
  if (claim.kind === 'break-glass') return claim.decision === 'acknowledge' ? 'Acknowledge break-glass access' : 'Flag break-glass access';
  const what = claim.kind === 'extension' ? 'an extension' : 'a request for access';
  return claim.decision === 'approve' ? `Approve ${what}` : `Deny ${what}`;
}

export function decisionRoutes(deps: DecisionRoutesDeps): FastifyPluginAsync {
  const answer = (request: FastifyRequest, reply: FastifyReply, outcome: Outcome, heading = 'This link cannot decide'): FastifyReply => {
    noStore(reply);
    if (asksForJson(request)) return reply.status(outcome.status).send({ error: outcome.error, message: outcome.message });
    return page(reply, outcome.status, heading, `<p>${escapeHtml(outcome.message)}.</p><p>Request id: <code>${escapeHtml(request.id)}</code></p>`);
  };

  /** The link's claim, approver and pending request, or why it cannot decide now. */
  async function check(request: FastifyRequest<{ Params: Params }>): Promise<{ claim: DecisionClaim; link: DecisionLinkRef; client: ApiClient; state: GrantState } | Outcome> {
    if (request.validationError) return INVALID;
    const verified = deps.links.verify(request.params.token);
    if (!verified.ok) return verified.why === 'expired' ? EXPIRED : INVALID;
    const { claim, linkId } = verified;
    let state: GrantState;
    try {
      state = await deps.grants.get(claim.grantId);
    } catch (err) {
      if (err instanceof HttpError && err.statusCode === 404) return { status: 410, error: 'request_ended', message: 'the request this link was sent for no longer exists' };
      throw err;
    }
    const client = approversOf(deps.config, state.project).find((c) => c.name === claim.approver && c.email?.toLowerCase() === claim.email);
    if (!client) return { status: 403, error: 'not_an_approver', message: `${claim.email} may no longer decide on requests of project ${state.project}` };
    const pending =
      // A break-glass review is open whatever the status: it may come after access has ended.
      claim.kind === 'break-glass'
        ? state.breakGlass?.review === 'pending'
          ? state.breakGlass.requestedAt
          : undefined
        : claim.kind === 'review'
        ? state.status === 'ACTIVE'
          ? state.standing?.review?.requestedAt
          : undefined
        : claim.kind === 'extension'
          ? state.status === 'ACTIVE'
            ? state.pendingExtension?.requestedAt
            : undefined
          : state.status === 'PENDING_APPROVAL'
            ? state.requestedAt
            : undefined;
    if (pending !== claim.request) {
      const decided = claim.kind === 'approval' && state.approval?.decision ? `: ${state.approval.decision} by ${state.approval.decidedBy ?? 'unknown'}` : '';
      return { status: 409, error: 'already_decided', message: `the request this link was sent for is already decided, withdrawn or replaced${decided}` };
    }
    return { claim, client, state, link: { id: linkId, kind: claim.kind, request: claim.request, email: claim.email } };
  }

  const schema = (method: 'get' | 'post') => ({
    tags: ['approval'],
    security: [],
    summary: method === 'get' ? 'Open a one-click decision link' : 'Decide with a one-click decision link',
    description:
      method === 'get'
        ? 'The request the link was sent for and a button; opening it decides nothing.'
        : "Approves or denies (the link says which) as the approver the link was sent to; a standing grant's review link keeps or revokes it; a break-glass grant's review link acknowledges or flags it (also after its access has ended). A denial, a revoke or a flag needs `reason` (a form field or JSON).",
    operationId: method === 'get' ? 'openDecisionLink' : 'decideWithLink',
    params: { type: 'object', properties: { token: { type: 'string', pattern: DECISION_TOKEN_PATTERN.source } }, required: ['token'] },
    ...(method === 'post' ? { body: { type: ['object', 'null'], properties: { reason: { type: 'string', maxLength: REASON_MAX } } } } : {}),
    response: {
      200: pageOrJson(method === 'get' ? 'The request and a button.' : 'The decision was made.', { type: 'object', additionalProperties: true }),
      400: pageOrJson('A denial without a readable reason.', errorBody),
      403: pageOrJson('The link is no longer the approver’s, or the approver may not decide on this request (made by or for them).', errorBody),
      404: pageOrJson('The link is not valid.', errorBody),
      409: pageOrJson('The request is already decided, withdrawn or replaced.', errorBody),
      410: pageOrJson('The link has expired, or its request no longer exists.', errorBody),
      ...errors(413, 415, 429),
    },
  });

  return async (app: FastifyInstance) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    });
    // The URL holds the token: no request/response log lines for these routes.
    const options = { attachValidation: true, logLevel: 'warn' } as const;

    app.get<{ Params: Params }>('/decisions/:token', { ...options, schema: schema('get') }, async (request, reply) => {
      const found = await check(request);
      if ('status' in found) return answer(request, reply, found);
      const { claim, state } = found;
      noStore(reply);
      if (asksForJson(request)) return reply.send({ grantId: state.grantId, kind: claim.kind, decision: claim.decision, approver: claim.approver, status: state.status });
      const button = { approve: 'Approve', deny: 'Deny', keep: 'Keep', revoke: 'Revoke', acknowledge: 'Acknowledge', flag: 'Flag' }[claim.decision];
      const form =
        claim.decision === 'approve' || claim.decision === 'keep' || claim.decision === 'acknowledge'
          ? `<form method="post"><button type="submit">${button}</button></form>`
          : `<form method="post"><p><label for="reason">Reason (the grantee reads it)</label><br><textarea id="reason" name="reason" rows="3" cols="60" maxlength="${REASON_MAX}" required></textarea></p><button type="submit">${button}</button></form>`;
      return page(reply, 200, title(claim), `<p>Nothing is decided until you press the button.</p>${facts(state, claim)}${form}`);
    });

    app.post<{ Params: Params; Body: { reason?: unknown } | null }>('/decisions/:token', { ...options, schema: schema('post') }, async (request, reply) => {
      if (request.validationError && (request.validationError as { validationContext?: string }).validationContext === 'body') {
        return answer(request, reply, { status: 400, error: 'invalid_request', message: `reason: must be at most ${REASON_MAX} characters` }, 'Not decided');
      }
      const found = await check(request);
      if ('status' in found) return answer(request, reply, found);
      const { claim, client, state, link } = found;
      const raw = request.body?.reason;
      const reason = typeof raw === 'string' ? raw.trim() : '';
      if (reason !== '' && !isSafeText(reason)) return answer(request, reply, { status: 400, error: 'invalid_request', message: 'reason: must not contain control or invisible characters' }, 'Not decided');
      if (claim.decision === 'deny' && reason === '') return answer(request, reply, { status: 400, error: 'invalid_request', message: 'reason: is required to deny a request' }, 'Not decided');
      if (claim.decision === 'revoke' && reason === '') return answer(request, reply, { status: 400, error: 'invalid_request', message: 'reason: is required to revoke a standing grant' }, 'Not decided');
      if (claim.decision === 'flag' && reason === '') return answer(request, reply, { status: 400, error: 'invalid_request', message: 'reason: is required to flag a break-glass grant' }, 'Not decided');
      let status: string;
      try {
        status =
          claim.decision === 'keep' || claim.decision === 'revoke' || claim.decision === 'acknowledge' || claim.decision === 'flag'
            ? (await deps.grants.review(state.grantId, claim.decision, client, reason || undefined, link)).status
            : claim.decision === 'approve' ? (await deps.grants.approve(state.grantId, client, reason || undefined, link)).status : (await deps.grants.deny(state.grantId, client, reason, link)).status;
      } catch (err) {
        if (!(err instanceof HttpError) || err.statusCode >= 500) throw err;
        const code = err.code === 'grant_not_pending' || err.code === 'grant_not_active' || err.code === 'grant_closed' ? 'already_decided' : err.code;
        return answer(request, reply, { status: code === 'already_decided' ? 409 : err.statusCode, error: code, message: err.message }, 'Not decided');
      }
      noStore(reply);
      const verb = { approve: 'approved', deny: 'denied', keep: 'kept', revoke: 'revoked', acknowledge: 'acknowledged', flag: 'flagged' }[claim.decision];
      if (asksForJson(request)) return reply.send({ grantId: state.grantId, kind: claim.kind, decision: verb, status });
      const what = claim.kind === 'break-glass' ? 'break-glass grant' : claim.kind === 'review' ? 'standing grant' : claim.kind === 'extension' ? 'extension' : 'request';
      const told = claim.kind === 'break-glass' ? (claim.decision === 'flag' ? 'The decision is audited and the administrators are alerted.' : 'The decision is audited.') : 'The grantee and the project owner are told.';
      return page(reply, 200, `You ${verb} it`, `<p>The ${what} is ${verb}; the grant is now ${escapeHtml(status)}. ${told}</p>${facts(state, claim)}`);
    });
  };
}
