import { ApplicationFailure } from '@temporalio/workflow';
import { GrantErrorType, formatDuration, type GrantStatus, type ReviewArgs } from '../../domain';
import { moveAccountExpiry } from './account-expiry';
import { auditBeforeChange, writeAuditUntilDone } from './audit';
import { reviewBreakGlass, validateBreakGlassReview } from './break-glass';
import { notifyApproval, notifyInBackground } from './notify';
import type { Grant } from './state';
import { exclusive } from './updates';

// Standing grants, reviewed (docs/decisions/0109-standing-grants-reviewed.md): a
// grant requested with no end whose expiry is its next review's deadline, so that
// every guarantee of an expiry (the armed revocation, the server's VALID UNTIL,
// reminders) holds unchanged. `decideWithinMs` before the deadline the owner and
// the reviewers are asked (REVIEW_REQUESTED, one-click Keep and Revoke links),
// reminded once before the deadline; a keep moves the deadline a period on
// (REVIEW_KEPT); without one, the grant ends at the deadline (REVIEW_LAPSED, then
// EXPIRED). Determinism: keyed on the request's `standing`, which no other
// request has, so no other grant issues a command of this path.

/** The reminder comes this long before the deadline (at most), while the review is undecided. */
export const REVIEW_REMINDER_MS = 86_400_000;

/** When the review's reminder is due, before the deadline: a day, or half the time given to decide when that is shorter. */
export function reviewReminderBeforeMs(decideWithinMs: number): number {
  return Math.min(REVIEW_REMINDER_MS, Math.floor(decideWithinMs / 2));
}

/** Asks for the review or reminds the reviewers when due; returns the ms until the next step of the review. */
export function reviewIfDue(g: Grant): number | undefined {
  const standing = g.request.standing;
  const state = g.state.standing;
  if (!standing || !state || g.revokeRequest || g.ending) return undefined;
  const now = Date.now();
  const deadline = Date.parse(g.state.expiresAt);
  if (now >= deadline) return undefined;
  const askAt = deadline - standing.decideWithinMs;
  const remindAt = deadline - reviewReminderBeforeMs(standing.decideWithinMs);
  if (!state.review || state.review.decideBy !== g.state.expiresAt) {
    if (now < askAt) return askAt - now;
    askForReview(g, now >= remindAt);
    return now < remindAt ? remindAt - now : undefined;
  }
  if (state.review.remindedAt) return undefined;
  if (now < remindAt) return remindAt - now;
  remindReviewers(g);
  return undefined;
}

/** REVIEW_REQUESTED, and the review to the owner and the reviewers (in the background: it never delays the expiry). */
function askForReview(g: Grant, late: boolean): void {
  const standing = g.request.standing!;
  const decideBy = g.state.expiresAt;
  const asked = standing.reviewers.map((r) => r.email).join(', ') || 'the administrators';
  const record = g.auditRecord('REVIEW_REQUESTED', 'dbaccess', {
    detail: `standing grant reviewed every ${formatDuration(standing.reviewMs)}: keep or revoke by ${decideBy}, else it ends then; asked: the project owner ${g.request.owner.email}, ${asked}`,
  });
  g.state.standing!.review = { requestedAt: record.at, decideBy, ...(late ? { remindedAt: record.at } : {}) };
  g.commitEvent(record);
  g.publish();
  g.inBackground(async () => {
    await writeAuditUntilDone(record, 'audit REVIEW_REQUESTED');
    await notifyReview(g, 'REVIEW_REQUESTED', record.eventId, decideBy);
  });
}

function remindReviewers(g: Grant): void {
  const review = g.state.standing!.review!;
  review.remindedAt = new Date().toISOString();
  const decideBy = review.decideBy;
  const eventId = `${g.state.grantId}/review/${review.requestedAt}/reminder`;
  g.inBackground(() => notifyReview(g, 'REVIEW_REMINDER', eventId, decideBy));
}

function notifyReview(g: Grant, kind: 'REVIEW_REQUESTED' | 'REVIEW_REMINDER', eventId: string, decideBy: string): Promise<boolean> {
  const standing = g.request.standing!;
  // The owner first; a reviewer who is also the owner is mailed once (the activity keeps the first of an address).
  const people = [g.request.owner, ...standing.reviewers];
  return notifyApproval(g, kind, eventId, { decideBy }, { reasons: [`standing grant, reviewed every ${formatDuration(standing.reviewMs)}`], timeoutMs: standing.decideWithinMs, approvers: people });
}

/** The review update's validator: a standing grant, ACTIVE, before its deadline; the grantee keeps nothing of their own; a link decides its own review only. */
export function validateReview(g: Grant, args: ReviewArgs): void {
  // A break-glass grant's review after the fact (break-glass.ts): acknowledge or flag.
  if (g.request.breakGlass) return validateBreakGlassReview(g, args);
  if (!g.request.standing || !g.state.standing) {
    throw ApplicationFailure.create({ type: GrantErrorType.NotStanding, message: 'this grant is not a standing grant: it has an expiry, and is extended or revoked instead', nonRetryable: true });
  }
  g.requireActive();
  g.refuseAtExpiry();
  if (typeof args?.actor !== 'string' || args.actor === '') g.invalid('actor: is required');
  if (args.decision !== 'keep' && args.decision !== 'revoke') g.invalid('decision: must be keep or revoke');
  if (args.mayReview !== true) {
    throw ApplicationFailure.create({ type: GrantErrorType.SelfApproval, message: `${args.actor} may not review grants of project ${g.state.project}: an approver of the project or an admin must`, nonRetryable: true });
  }
  if (args.decision === 'keep' && typeof args.actorEmail === 'string' && args.actorEmail.toLowerCase() === g.state.email) {
    throw ApplicationFailure.create({ type: GrantErrorType.SelfApproval, message: 'nobody can keep their own access; another reviewer must', nonRetryable: true });
  }
  if (args.link !== undefined) checkLink(g, args);
  if (args.decision === 'revoke' && (typeof args.reason !== 'string' || args.reason.trim() === '')) g.invalid('reason: is required to revoke a standing grant in its review');
}

/** A one-click link decides the review it was sent for, and no other: not the next one, not another grant's. */
function checkLink(g: Grant, args: ReviewArgs): void {
  const pending = g.state.standing?.review?.requestedAt;
  if (args.link!.kind !== 'review' || pending === undefined || args.link!.request !== pending) {
    throw ApplicationFailure.create({ type: GrantErrorType.NotPending, message: 'the review this link was sent for is already decided or replaced', nonRetryable: true });
  }
}

function linkDetail(args: ReviewArgs): string {
  return args.link ? `; decided with one-click link ${args.link.id}, sent to ${args.link.email}` : '';
}

/** Keep: the deadline moves a review period on from now (audited first); revoke: the grant is revoked as by the revoke signal. */
export async function review(g: Grant, args: ReviewArgs): Promise<{ status: GrantStatus; expiresAt: string }> {
  if (g.request.breakGlass) return reviewBreakGlass(g, args);
  if (args.decision === 'revoke') {
    g.requestRevoke({ actor: args.actor, ...(args.reason ? { reason: args.reason.trim() } : {}), detail: `revoked in its review${linkDetail(args)}` });
    return { status: 'REVOKING', expiresAt: g.state.expiresAt };
  }
  return exclusive(g, async () => {
    if (args.link) checkLink(g, args);
    const standing = g.request.standing!;
    const previous = g.state.expiresAt;
    const next = new Date(Date.now() + standing.reviewMs).toISOString();
    const record = g.auditRecord('REVIEW_KEPT', args.actor, {
      reason: args.reason,
      detail: `kept by ${args.actor} for another ${formatDuration(standing.reviewMs)}: the next review is due by ${next} (was ${previous})${linkDetail(args)}`,
      expiresAt: next,
    });
    await auditBeforeChange(record, `audit REVIEW_KEPT until ${next}`);
    g.commitEvent(record);
    g.refuseIfEnding();
    g.state.expiresAt = next;
    const state = g.state.standing!;
    delete state.review;
    state.reviewBy = next;
    state.lastReviewedAt = record.at;
    state.lastReviewedBy = args.actor;
    // A reviewer is an approver or an admin: keeping is an approval of the new deadline.
    if (g.state.approvedUntil !== undefined) g.state.approvedUntil = next;
    g.expiryVersion++;
    g.publish();
    notifyInBackground(g, 'EXTENDED', record.eventId, { previous: { expiresAt: previous }, actor: args.actor, reason: args.reason ?? 'kept in its review' });
    await moveAccountExpiry(g, next);
    return { status: g.state.status, expiresAt: next };
  });
}

/** At the deadline with no keep: REVIEW_LAPSED, before the expiry ends access (end()). */
export function lapseReview(g: Grant): Promise<unknown> | undefined {
  if (!g.request.standing || !g.state.standing) return undefined;
  const review = g.state.standing.review;
  const record = g.auditRecord('REVIEW_LAPSED', 'dbaccess', {
    detail: review ? `no reviewer kept the grant by its deadline ${g.state.expiresAt} (review asked at ${review.requestedAt}): access ends` : `the review deadline ${g.state.expiresAt} passed without a review: access ends`,
  });
  g.commitEvent(record);
  delete g.state.standing.review;
  return writeAuditUntilDone(record, 'audit REVIEW_LAPSED');
}
