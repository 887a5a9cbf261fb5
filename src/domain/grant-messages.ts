// The payloads of the messages a running grant accepts (signals and updates), apart
// from the grant's request and state (grant.ts).

import type { ApprovalRequirement } from './grant';

/** Messages accepted by a running grant (payloads; the definitions live in workflows/messages.ts). */
export interface RevokeArgs {
  actor: string;
  reason?: string;
  /** What the REVOKE_REQUESTED event adds (a review's revoke: the link it was decided with). */
  detail?: string;
}
export interface ExtendArgs {
  expiresAt: string;
  actor: string;
  reason?: string;
  /**
   * Set by the API when the caller is an approver of the project or an admin: the
   * extension may go beyond what was approved without asking anyone.
   */
  mayExceedApproval?: boolean;
  /** The caller's e-mail address, when its key has one (nobody approves their own extension). */
  actorEmail?: string;
}

/** An extension is applied at once, or (beyond what was approved) waits for an approver. */
export interface ExtendResult {
  expiresAt: string;
  /** Present when the extension waits for approval: the grant keeps `expiresAt` meanwhile. */
  pending?: { requestedExpiresAt: string; decideBy: string };
}

/** The retryDrop update: who asks (the reconciler, an administrator). */
export interface RetryDropArgs {
  actor: string;
  reason?: string;
}

export interface RetryDropResult {
  /** `dropped`: the account is gone (the grant then closes); `retained`: refused again; `not-retained`: nothing to do. */
  outcome: 'dropped' | 'retained' | 'not-retained';
  detail: string;
}
export interface ChangeLevelArgs {
  accessLevel: string;
  privileges: string[];
  actor: string;
  reason?: string;
  /**
   * Set by the API: the approval the new level needs on the grant's database (only
   * an admin reaches such a level: the grant as it stands counts as approved), or
   * null when it needs none (nothing is left to bound). Absent from older callers.
   */
  approval?: ApprovalRequirement | null;
}

/** What a level change did. */
export interface ChangeLevelResult {
  accessLevel: string;
  sessionsKilled: number;
  /**
   * A lowering whose privileges or sessions could not all be dealt with yet: the
   * lower level stays, administrators were alerted, and the workflow keeps retrying.
   */
  incomplete?: string;
}

export interface ApproveArgs {
  actor: string;
  /** The approver's e-mail address, when the key has one: nobody approves access for themselves. */
  actorEmail?: string;
  reason?: string;
  /** A decision made with a one-click link: which link, and the request it was sent for. */
  link?: DecisionLinkRef;
}
/** The review update: a reviewer keeps a standing grant for another period, or revokes it; or acknowledges or flags a break-glass grant. */
export interface ReviewArgs {
  decision: 'keep' | 'revoke' | 'acknowledge' | 'flag';
  actor: string;
  /** The reviewer's e-mail address, when the key has one: nobody keeps their own access. */
  actorEmail?: string;
  /** Set by the API: the caller is an approver of the project or an admin (only they decide reviews). */
  mayReview?: boolean;
  reason?: string;
  link?: DecisionLinkRef;
}

export interface DenyArgs {
  actor: string;
  reason: string;
  link?: DecisionLinkRef;
}

/** A one-click decision link, as the workflow checks and audits it (never the token itself). */
export interface DecisionLinkRef {
  /** The link's id (a hash of its token). */
  id: string;
  /** A new request's approval, an ACTIVE grant's extension, or a standing grant's review. */
  kind: 'approval' | 'extension' | 'review' | 'break-glass';
  /** When that request was made: the link decides it and no other. */
  request: string;
  /** Where the link was sent. */
  email: string;
}
