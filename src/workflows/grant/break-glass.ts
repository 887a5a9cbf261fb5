import { ApplicationFailure, condition } from '@temporalio/workflow';
import { GrantErrorType, formatDuration, type GrantStatus, type ReviewArgs } from '../../domain';
import { auditBeforeChange, writeAuditUntilDone } from './audit';
import { alertAdmins, notifyApproval } from './notify';
import type { Grant } from './state';

// Break-glass grants (docs/decisions/0110-break-glass.md): granted without the
// approval gate, capped short and never extended or raised; the administrators
// (owner in copy) are alerted as soon as access is granted, and the owner and the
// project's reviewers asked to acknowledge or flag it. The review may come after
// access has ended: the workflow stays open for it until `reviewWithinMs` after the
// grant, then audits BREAK_GLASS_UNREVIEWED and tells the administrators. Nothing
// here runs before or in the way of the end of access: the alert and the review
// request are background work, and the wait for the review begins once end() is
// done. Determinism: keyed on the request's `breakGlass`, which no other request has.

/** The grant is ACTIVE: the review is asked now (links are bound to this instant), the alert and the review request go out in the background. */
export function startBreakGlass(g: Grant): void {
  const bg = g.request.breakGlass;
  if (!bg) return;
  const now = Date.now();
  const requestedAt = new Date(now).toISOString();
  const reviewBy = new Date(now + bg.reviewWithinMs).toISOString();
  g.state.breakGlass = { review: 'pending', requestedAt, reviewBy };
  g.publish();
  const grant = g.snapshot();
  const asked = [g.request.owner.email, ...bg.reviewers.map((r) => r.email)].join(', ');
  g.inBackground(async () => {
    await alertAdmins(
      g,
      {
        kind: 'BREAK_GLASS',
        grant,
        eventId: `${g.state.grantId}/break-glass/${requestedAt}/alert`,
        detail: `${g.state.requestedBy} broke the glass: ${g.state.accessLevel} on ${g.state.project}/${g.state.database} for ${g.state.email} until ${g.state.expiresAt}, without approval; reason: ${g.state.reason ?? 'none given'}. Review (acknowledge or flag) asked of ${asked}, due by ${reviewBy}.`,
        owner: g.request.owner,
      },
      `alert administrators and the owner: break-glass access for ${g.state.email}`,
    );
    await notifyApproval(g, 'BREAK_GLASS_REVIEW', `${g.state.grantId}/break-glass/${requestedAt}/review`, { decideBy: reviewBy }, {
      reasons: [`break-glass access, granted without approval; review within ${formatDuration(bg.reviewWithinMs)}`],
      timeoutMs: bg.reviewWithinMs,
      approvers: [g.request.owner, ...bg.reviewers],
    });
  });
}

/** After access has ended: waits for the review until its deadline; unreviewed by then, audited and the administrators told. */
export async function holdForBreakGlassReview(g: Grant): Promise<void> {
  const bg = g.state.breakGlass;
  if (!g.request.breakGlass || !bg?.reviewBy || bg.review !== 'pending') return;
  const left = Date.parse(bg.reviewBy) - Date.now();
  if (left > 0) await condition(() => g.state.breakGlass!.review !== 'pending', left);
  // A review being audited at the deadline finishes first (the validator refuses any after it).
  await condition(() => !g.breakGlassDeciding);
  if (g.state.breakGlass!.review === 'pending') {
    const record = g.auditRecord('BREAK_GLASS_UNREVIEWED', 'dbaccess', {
      detail: `nobody acknowledged or flagged this break-glass grant by ${bg.reviewBy}; the administrators are told`,
    });
    await writeAuditUntilDone(record, 'audit BREAK_GLASS_UNREVIEWED');
    g.commitEvent(record);
    g.state.breakGlass = { ...g.state.breakGlass!, review: 'unreviewed' };
    g.publish();
    await alertAdmins(g, { kind: 'BREAK_GLASS_UNREVIEWED', grant: g.snapshot(), eventId: record.eventId, detail: record.detail!, owner: g.request.owner }, 'alert administrators: break-glass grant unreviewed');
  }
  await g.settle();
}

/** Extensions and level changes of a break-glass grant are refused: no more time, no other level. */
export function refuseBreakGlassChange(g: Grant, what: 'extended' | 'changed to another level'): void {
  if (!g.request.breakGlass) return;
  throw ApplicationFailure.create({
    type: GrantErrorType.BreakGlass,
    message: `this is a break-glass grant: it cannot be ${what}; it ends at ${g.state.expiresAt}. Ask for access the usual way (with approval) if more is needed`,
    nonRetryable: true,
  });
}

/** The review update's validator for a break-glass grant: acknowledge or flag, once, by an approver or admin who neither holds it nor asked for it. */
export function validateBreakGlassReview(g: Grant, args: ReviewArgs): void {
  const bg = g.state.breakGlass;
  if (args?.decision !== 'acknowledge' && args?.decision !== 'flag') g.invalid('decision: a break-glass grant is reviewed with acknowledge or flag');
  if (typeof args.actor !== 'string' || args.actor === '') g.invalid('actor: is required');
  if (!bg?.requestedAt) {
    throw ApplicationFailure.create({ type: GrantErrorType.NotPending, message: 'this break-glass grant was never granted: there is nothing to review yet', nonRetryable: true });
  }
  if (bg.review !== 'pending' || g.breakGlassDeciding) {
    const by = bg.reviewedBy ? ` by ${bg.reviewedBy}` : '';
    throw ApplicationFailure.create({ type: GrantErrorType.NotPending, message: `the break-glass review is already ${g.breakGlassDeciding ? 'being decided' : bg.review}${by}`, nonRetryable: true });
  }
  if (bg.reviewBy && Date.now() >= Date.parse(bg.reviewBy)) {
    throw ApplicationFailure.create({ type: GrantErrorType.NotPending, message: `the break-glass review was due by ${bg.reviewBy}; it is recorded as unreviewed`, nonRetryable: true });
  }
  if (args.mayReview !== true) {
    throw ApplicationFailure.create({ type: GrantErrorType.SelfApproval, message: `${args.actor} may not review grants of project ${g.state.project}: an approver of the project or an admin must`, nonRetryable: true });
  }
  if ((typeof args.actorEmail === 'string' && args.actorEmail.toLowerCase() === g.state.email) || args.actor === g.state.requestedBy) {
    throw ApplicationFailure.create({ type: GrantErrorType.SelfApproval, message: 'nobody reviews a break-glass grant they hold or asked for; another reviewer must', nonRetryable: true });
  }
  if (args.link !== undefined && (args.link.kind !== 'break-glass' || args.link.request !== bg.requestedAt)) {
    throw ApplicationFailure.create({ type: GrantErrorType.NotPending, message: 'this link was sent for another review', nonRetryable: true });
  }
  if (args.decision === 'flag' && (typeof args.reason !== 'string' || args.reason.trim() === '')) g.invalid('reason: is required to flag a break-glass grant');
}

/**
 * Acknowledge or flag, audited first (refused when the audit cannot be written). Not
 * one of the updates that run one at a time (updates.ts): it changes nothing of the
 * access, so it never holds up the expiry or a revoke; `breakGlassDeciding` keeps a
 * second review out meanwhile.
 */
export async function reviewBreakGlass(g: Grant, args: ReviewArgs): Promise<{ status: GrantStatus; expiresAt: string }> {
  g.breakGlassDeciding = true;
  try {
    const flagged = args.decision === 'flag';
    const via = args.link ? `; decided with one-click link ${args.link.id}, sent to ${args.link.email}` : '';
    const record = g.auditRecord(flagged ? 'BREAK_GLASS_FLAGGED' : 'BREAK_GLASS_ACKNOWLEDGED', args.actor, {
      reason: args.reason?.trim(),
      detail: `${flagged ? 'flagged' : 'acknowledged'} by ${args.actor}, ${g.state.status === 'ACTIVE' ? 'while access lasts' : `after access ended (${g.state.status})`}${via}`,
    });
    await auditBeforeChange(record, `audit ${record.event} by ${args.actor}`);
    g.commitEvent(record);
    g.state.breakGlass = { ...g.state.breakGlass!, review: flagged ? 'flagged' : 'acknowledged', reviewedBy: args.actor, reviewedAt: record.at, ...(flagged ? { reason: args.reason!.trim() } : {}) };
    g.publish();
    if (flagged) {
      const grant = g.snapshot();
      g.inBackground(() => alertAdmins(g, { kind: 'BREAK_GLASS_FLAGGED', grant, eventId: record.eventId, detail: `${record.detail}; reason: ${record.reason}`, owner: g.request.owner }, 'alert administrators: break-glass grant flagged'));
    }
    return { status: g.state.status, expiresAt: g.state.expiresAt };
  } finally {
    g.breakGlassDeciding = false;
  }
}
