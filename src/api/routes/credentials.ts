import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { CREDENTIAL_TOKEN_PATTERN, hashCredentialToken, type CredentialLink, type CredentialLinkStore } from '../../adapters/credential-links';
import type { AuditRecord, AuditStore, GrantCredential } from '../../adapters/ports';
import { clean, escapeHtml } from '../../adapters/notify/format';
import { guideFor } from '../../adapters/engines/guides';
import { errorBody, errors, retryAfter } from '../schemas/responses';
import { RETRY_AFTER_UNAVAILABLE_S } from '../errors';

// Redeems the one-time credential link of a GRANTED e-mail (README "Credentials").
//
// This is the one place where the API talks to AWS, on purpose: the password
// must never pass through Temporal, so the API reads the per-grant secret itself.
//
//   GET  /credentials/:token  Accept: application/json  → redeems (curl, scripts)
//   GET  /credentials/:token  anything else (browsers, mail scanners) → a page with
//                             a button; nothing is used up
//   POST /credentials/:token  (the button) → redeems; HTML or JSON by Accept
//
// Redeeming: find the link by the token's hash → mark it used (conditional: of
// two concurrent requests exactly one wins) → read the secret → check that the
// secret belongs to the link's grant run → audit CREDENTIALS_VIEWED (with the
// request's address and user agent) → answer. The audit event is written before
// any credential leaves the process, and only by the request that won the mark,
// so there is exactly one event per view and no view without one. A failure
// before the answer that disclosed nothing releases the mark, so the link can be
// tried again.
//
// The same person granted the same database again gets the same account and
// secret names: a link of the earlier grant must not open the new password. The
// secret names its run (GRANT_RUN_TAG, set by createAccount); a link of another
// run gets the same 410 as a link of an ended grant.
//
// The token is in the URL: these routes log only at warn level and above (no
// request lines), and nothing here logs the token or a credential.

export interface CredentialRoutesDeps {
  links: CredentialLinkStore;
  audit: AuditStore;
  /**
   * The per-grant secret's value and the grant run it belongs to (its GRANT_RUN_TAG);
   * undefined when it no longer exists (the grant ended). SecretsManagerGrantSecretStore.readBound.
   */
  readCredential(secretName: string): Promise<{ credential: GrantCredential; grantRun: string | undefined } | undefined>;
  now?: () => Date;
  /** Told of each CREDENTIALS_VIEWED written (the grant's event stream); never awaited by the answer. */
  onAudited?: (record: AuditRecord) => Promise<unknown>;
}

export const CREDENTIALS_ACTOR = 'credential-link';

/** Longest user agent kept in the audit trail. */
export const USER_AGENT_MAX = 256;

/** Who redeemed, as an access log would have it: the client address (request.ip: API_TRUST_PROXY applies) and the user agent, one bounded line. */
export function requestClient(request: FastifyRequest): { clientAddress: string; userAgent?: string } {
  const agent = clean(request.headers['user-agent'], USER_AGENT_MAX);
  return { clientAddress: clean(request.ip, 64) || 'unknown', ...(agent ? { userAgent: agent } : {}) };
}

const NOT_FOUND = { error: 'not_found', message: 'this link is not valid' };
const GONE = {
  error: 'link_gone',
  message:
    'this link has already been used or has expired; ask for a new grant, or read the credentials from the secret named in the e-mail if you have AWS access',
};
const ENDED = { error: 'access_ended', message: 'access has ended: the grant was revoked or has expired; ask for a new grant' };

interface Params {
  token: string;
}

/** Explicit q of each media type in an Accept header (wildcards ignored). */
function acceptQ(accept: string | undefined, type: string): number {
  let best = -1;
  for (const part of (accept ?? '').split(',')) {
    const [media, ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    if (media !== type) continue;
    const q = params.find((p) => p.startsWith('q='));
    const value = q ? Number(q.slice(2)) : 1;
    if (Number.isFinite(value)) best = Math.max(best, value);
  }
  return best;
}

/** Only a client that asks for JSON by name (curl -H 'Accept: application/json') redeems with a GET. */
export function asksForJson(request: FastifyRequest): boolean {
  const json = acceptQ(request.headers.accept, 'application/json');
  return json > 0 && json >= acceptQ(request.headers.accept, 'text/html');
}

export function wantsHtml(request: FastifyRequest): boolean {
  const html = acceptQ(request.headers.accept, 'text/html');
  return html > 0 && html > acceptQ(request.headers.accept, 'application/json');
}

export function noStore(reply: FastifyReply): void {
  void reply.header('cache-control', 'no-store').header('pragma', 'no-cache').header('referrer-policy', 'no-referrer').header('x-content-type-options', 'nosniff');
}

export function page(reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  return reply
    .status(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    .header('x-frame-options', 'DENY')
    .send(
      [
        '<!DOCTYPE html>',
        '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex">',
        `<title>${escapeHtml(title)}</title>`,
        '<style>body{font-family:system-ui,sans-serif;max-width:640px;margin:40px auto;padding:0 16px;color:#1f2328}code,td.v{font-family:ui-monospace,Menlo,Consolas,monospace}' +
          'table{border-collapse:collapse}td{padding:6px 12px 6px 0;border-bottom:1px solid #eaeef2;vertical-align:top}td.v{word-break:break-all}' +
          'button{font-size:16px;padding:8px 18px;cursor:pointer}</style>',
        `</head><body><h1>${escapeHtml(title)}</h1>`,
        body,
        '</body></html>',
      ].join('\n'),
    );
}

function refuse(request: FastifyRequest, reply: FastifyReply, html: boolean, status: number, body: { error: string; message: string }): FastifyReply {
  noStore(reply);
  if (status === 503) void reply.header('retry-after', String(RETRY_AFTER_UNAVAILABLE_S));
  if (!html) return reply.status(status).send(body);
  return page(reply, status, status === 404 ? 'Link not valid' : status === 503 ? 'Try again later' : 'Link no longer valid', `<p>${escapeHtml(body.message)}.</p><p>Request id: <code>${escapeHtml(request.id)}</code></p>`);
}

function credentialsPage(reply: FastifyReply, credential: GrantCredential, expiresAt: string): FastifyReply {
  const rows: [string, string][] = [
    ['User name', credential.username],
    ['Password', credential.password],
    ['Host', credential.host],
    ['Port', String(credential.port)],
    ['Database', credential.database],
    ['Engine', credential.engine],
    ['Access ends', expiresAt],
  ];
  const table = `<table>${rows.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td class="v">${escapeHtml(v)}</td></tr>`).join('')}</table>`;
  return page(
    reply,
    200,
    'Your database credentials',
    `<p>Copy the password into your password manager now: this page cannot be shown again.</p>${table}` +
      `<p>Connect with <code>${escapeHtml(guideFor(credential.engine).connectCommand({ host: credential.host, port: credential.port, username: credential.username, database: credential.database }))}</code></p>`,
  );
}

const credentialBody = {
  type: 'object',
  properties: {
    username: { type: 'string' },
    password: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'integer' },
    database: { type: 'string' },
    engine: { type: 'string' },
    expiresAt: { type: 'string' },
  },
} as const;

/** Either an HTML page or JSON, by Accept. */
export const pageOrJson = (description: string, json: object) => ({ description, content: { 'text/html': { schema: { type: 'string' } }, 'application/json': { schema: json } } });

function redeemSchema(method: 'get' | 'post') {
  const refusals = {
    404: pageOrJson('The link is not valid.', errorBody),
    410: pageOrJson('The link was used, has expired, or its grant has ended.', errorBody),
    503: { ...pageOrJson('The credentials cannot be shown right now; the link was not used up; retry after Retry-After seconds.', errorBody), headers: retryAfter },
    ...errors(429),
  };
  return {
    tags: ['credentials'],
    security: [],
    params: { type: 'object', properties: { token: { type: 'string', pattern: CREDENTIAL_TOKEN_PATTERN } }, required: ['token'] },
    ...(method === 'get'
      ? {
          summary: 'Open a one-time credential link',
          description: 'With `Accept: application/json`: redeems the link and answers the credentials once. Anything else (a browser, a mail scanner): a page with a button; nothing is used up.',
          operationId: 'openCredentialLink',
          response: { 200: pageOrJson('The page with the button, or (JSON) the credentials.', credentialBody), ...refusals },
        }
      : {
          summary: 'Redeem a one-time credential link',
          description: "The page's button: redeems the link and shows the credentials once (HTML or JSON by Accept).",
          operationId: 'redeemCredentialLink',
          response: { 200: pageOrJson('The credentials.', credentialBody), ...refusals, ...errors(400, 413, 415) },
        }),
  };
}

export function credentialRoutes(deps: CredentialRoutesDeps): FastifyPluginAsync {
  const now = deps.now ?? (() => new Date());

  /** The link of a well-formed token, or the refusal to send. */
  async function lookUp(request: FastifyRequest<{ Params: Params }>, reply: FastifyReply, html: boolean): Promise<{ link: CredentialLink; tokenHash: string } | FastifyReply> {
    // A malformed token cannot be one of ours: the same answer as an unknown one.
    if (request.validationError) return refuse(request, reply, html, 404, NOT_FOUND);
    const tokenHash = hashCredentialToken(request.params.token);
    let link: CredentialLink | undefined;
    try {
      link = await deps.links.findByTokenHash(tokenHash);
    } catch (err) {
      request.log.error({ err }, 'credential link lookup failed');
      return unavailable(request, reply, html);
    }
    if (!link) return refuse(request, reply, html, 404, NOT_FOUND);
    const at = now();
    if (link.usedAt !== undefined || link.linkExpiresAt <= Math.floor(at.getTime() / 1000)) return refuse(request, reply, html, 410, GONE);
    if (Date.parse(link.expiresAt) <= at.getTime()) return refuse(request, reply, html, 410, ENDED);
    return { link, tokenHash };
  }

  function unavailable(request: FastifyRequest, reply: FastifyReply, html: boolean): FastifyReply {
    return refuse(request, reply, html, 503, {
      error: 'unavailable',
      message: `the credentials cannot be shown right now; the link has not been used up, try it again in a few minutes (request id ${request.id})`,
    });
  }

  async function redeem(request: FastifyRequest<{ Params: Params }>, reply: FastifyReply, html: boolean): Promise<FastifyReply> {
    const found = await lookUp(request, reply, html);
    if (!('link' in found)) return found;
    const { link, tokenHash } = found;
    const at = now();
    const usedAt = at.toISOString();
    let won: boolean;
    try {
      won = await deps.links.markUsed(link.linkId, tokenHash, usedAt, Math.floor(at.getTime() / 1000));
    } catch (err) {
      request.log.error({ err, linkId: link.linkId }, 'could not mark a credential link used');
      return unavailable(request, reply, html);
    }
    // Another request redeemed it first (or it expired, or a newer link replaced it).
    if (!won) return refuse(request, reply, html, 410, GONE);

    const release = async (): Promise<void> => {
      try {
        await deps.links.unmarkUsed(link.linkId, tokenHash, usedAt);
      } catch (err) {
        request.log.error({ err, linkId: link.linkId }, 'could not release a credential link after a failure; it stays used');
      }
    };

    let bound: Awaited<ReturnType<CredentialRoutesDeps['readCredential']>>;
    try {
      bound = await deps.readCredential(link.secretName);
    } catch (err) {
      request.log.error({ err, linkId: link.linkId }, 'could not read the grant secret for a credential link');
      await release();
      return unavailable(request, reply, html);
    }
    // The secret is deleted when the grant ends: the link stays used, there is nothing to show.
    if (!bound) return refuse(request, reply, html, 410, ENDED);
    // A secret of another run (a later grant of the same id), or of none: this link's grant has ended.
    if (!link.runId || bound.grantRun !== link.runId) {
      request.log.warn({ linkId: link.linkId, grantId: link.grantId }, 'credential link of an earlier grant run presented; nothing shown');
      return refuse(request, reply, html, 410, ENDED);
    }
    const { credential } = bound;
    const client = requestClient(request);

    try {
      const record: AuditRecord = {
        grantId: link.grantId,
        eventId: `${link.linkId}:viewed`,
        at: usedAt,
        event: 'CREDENTIALS_VIEWED',
        actor: CREDENTIALS_ACTOR,
        email: link.email,
        project: link.project,
        database: link.database,
        accessLevel: link.accessLevel,
        expiresAt: link.expiresAt,
        account: link.account,
        workflowId: link.workflowId,
        runId: link.runId,
        ...client,
        detail: `one-time link ${link.linkId} redeemed from ${client.clientAddress}${client.userAgent ? ` by "${client.userAgent}"` : ''} (request ${request.id})`,
      };
      await deps.audit.append(record);
      deps.onAudited?.(record).catch((err: unknown) => request.log.warn({ err: String(err).slice(0, 200), grantId: link.grantId }, 'could not pass a credential view to its grant for the event stream'));
    } catch (err) {
      // No view without an audit event: nothing is shown.
      request.log.error({ err, linkId: link.linkId }, 'could not audit a credential view; nothing was shown');
      await release();
      return unavailable(request, reply, html);
    }

    noStore(reply);
    if (html) return credentialsPage(reply, credential, link.expiresAt);
    return reply.status(200).send({
      username: credential.username,
      password: credential.password,
      host: credential.host,
      port: credential.port,
      database: credential.database,
      engine: credential.engine,
      expiresAt: link.expiresAt,
    });
  }

  return async (app: FastifyInstance) => {
    // The page's button posts an empty form; its body carries nothing.
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_request, _body, done) => done(null, {}));
    const options = {
      attachValidation: true,
      // The URL holds the token: no request/response log lines for these routes.
      logLevel: 'warn',
    } as const;

    app.get<{ Params: Params }>('/credentials/:token', { ...options, schema: redeemSchema('get') }, async (request, reply) => {
      if (asksForJson(request)) return redeem(request, reply, false);
      // Browsers and mail scanners: a page with a button; nothing is used up by a GET.
      const found = await lookUp(request, reply, true);
      if (!('link' in found)) return found;
      noStore(reply);
      return page(
        reply,
        200,
        'Your database credentials',
        '<p>This link shows your database user name and password <strong>once</strong>. Have your password manager ready, then press the button.</p>' +
          '<form method="post"><button type="submit">Show my credentials</button></form>',
      );
    });

    app.post<{ Params: Params }>('/credentials/:token', { ...options, schema: redeemSchema('post') }, async (request, reply) => redeem(request, reply, wantsHtml(request)));
  };
}
