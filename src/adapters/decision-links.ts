import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

// One-click decisions (docs/decisions/0502-one-click-decisions.md): the approval
// e-mail gives each approver an Approve and a Deny link of their own. A link is
// a signed claim, not a stored row: what it may decide (this grant's request,
// or this extension request, identified by when it was made), for whom (the
// approver's API client and address) and until when (the request's deadline).
// A standing grant's review (kind `review`) gives Keep and Revoke links, bound to
// when that review was asked; a break-glass grant's (kind `break-glass`) Acknowledge and Flag. The workflow checks the claim's request against the one pending when the
// decision arrives, so a decided, withdrawn or newer request never takes it.
// The key (DECISION_LINK_KEY) is shared by the worker, which signs, and the
// API, which verifies; rotating it voids every link sent.

export type DecisionKind = 'approval' | 'extension' | 'review' | 'break-glass';
/** approve / deny decide a request or an extension; keep / revoke a standing grant's review; acknowledge / flag a break-glass grant's review. */
export type DecisionVerb = 'approve' | 'deny' | 'keep' | 'revoke' | 'acknowledge' | 'flag';

export interface DecisionClaim {
  grantId: string;
  kind: DecisionKind;
  /** When the request was made (workflow time): binds the link to that request and no other. */
  request: string;
  decision: DecisionVerb;
  /** The approver's API client name (the actor of the decision) and e-mail address. */
  approver: string;
  email: string;
  /** Epoch milliseconds after which the link no longer works (the request's deadline). */
  expiresAt: number;
}

/** A token: base64url JSON, a dot, base64url HMAC-SHA256 (43 characters). */
export const DECISION_TOKEN_PATTERN = /^[A-Za-z0-9_-]{16,2000}\.[A-Za-z0-9_-]{43}$/;

const DOMAIN = 'dbaccess decision link v1\n';

export type Verified = { ok: true; claim: DecisionClaim; linkId: string } | { ok: false; why: 'invalid' | 'expired'; claim?: DecisionClaim };

/** The id a link is audited under: the first 16 hex digits of its token's SHA-256 (never the token). */
export function decisionLinkId(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

function isClaim(value: unknown): value is DecisionClaim {
  const c = value as Record<string, unknown> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.grantId === 'string' &&
    typeof c.request === 'string' &&
    // A review's link keeps or revokes; a request's approves or denies: never the other pair.
    (c.kind === 'review'
      ? c.decision === 'keep' || c.decision === 'revoke'
      : c.kind === 'break-glass'
        ? c.decision === 'acknowledge' || c.decision === 'flag'
        : (c.kind === 'approval' || c.kind === 'extension') && (c.decision === 'approve' || c.decision === 'deny')) &&
    typeof c.approver === 'string' &&
    typeof c.email === 'string' &&
    typeof c.expiresAt === 'number' &&
    Number.isFinite(c.expiresAt)
  );
}

export class DecisionLinks {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (!Buffer.isBuffer(key) || key.length < 32) throw new Error('a decision link key must be at least 32 bytes');
    this.key = Buffer.from(key);
  }

  private sign(payload: string): Buffer {
    return createHmac('sha256', this.key).update(DOMAIN).update(payload).digest();
  }

  /** The token of a claim; the same claim always gives the same token (a retried e-mail carries the same links). */
  mint(claim: DecisionClaim): string {
    const ordered: DecisionClaim = {
      grantId: claim.grantId,
      kind: claim.kind,
      request: claim.request,
      decision: claim.decision,
      approver: claim.approver,
      email: claim.email.toLowerCase(),
      expiresAt: Math.floor(claim.expiresAt),
    };
    const payload = Buffer.from(JSON.stringify(ordered)).toString('base64url');
    return `${payload}.${this.sign(payload).toString('base64url')}`;
  }

  /** The claim of a genuine, unexpired token. */
  verify(token: unknown, now = Date.now()): Verified {
    if (typeof token !== 'string' || !DECISION_TOKEN_PATTERN.test(token)) return { ok: false, why: 'invalid' };
    const [payload, signature] = token.split('.') as [string, string];
    const given = Buffer.from(signature, 'base64url');
    const expected = this.sign(payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, why: 'invalid' };
    let claim: unknown;
    try {
      claim = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return { ok: false, why: 'invalid' };
    }
    if (!isClaim(claim)) return { ok: false, why: 'invalid' };
    if (now > claim.expiresAt) return { ok: false, why: 'expired', claim };
    return { ok: true, claim, linkId: decisionLinkId(token) };
  }
}
