import { ApplicationFailure, condition } from '@temporalio/workflow';
import { GrantErrorType, type ApprovalRequirement, type ApproveArgs, type DenyArgs, type GrantStatus } from '../../domain';
import { auditBeforeChange, writeAudit, writeAuditUntilDone } from './audit';
import { decideExtension, linkDetail, validateExtensionDecision } from './extension-approval';
import { notifyApproval } from './notify';
import type { Grant } from './state';

// The approval gate: before anything is created, a request that needs approval
// waits for an approver's decision, a withdrawal (revoke or cancel) or the
// timeout. On an ACTIVE grant, approve and deny decide its pending extension.

/** The approve and deny updates. */
export function decide(g: Grant, approved: boolean, args: ApproveArgs | DenyArgs): Promise<{ status: GrantStatus }> {
  return g.state.status === 'ACTIVE' ? decideExtension(g, approved, args) : decideRequest(g, approved, args);
}

export function validateDecision(g: Grant, approving: boolean, args: ApproveArgs | DenyArgs): void {
  validateLink(g, args);
  if (g.state.status === 'ACTIVE') return validateExtensionDecision(g, approving, args);
  // Closed from the moment the wait is over: a decision arriving while the
  // timeout's DENIED is being audited must not be answered as approved.
  if (g.state.status !== 'PENDING_APPROVAL' || g.decision || g.deciding || g.revokeRequest || g.gateClosed) {
    const why = g.decision || g.deciding ? 'already decided' : g.revokeRequest ? 'withdrawn' : g.gateClosed ? `denied (no decision by ${g.state.approval?.decideBy})` : g.state.status;
    throw ApplicationFailure.create({ type: GrantErrorType.NotPending, message: `the request is ${why}, not waiting for approval`, nonRetryable: true });
  }
  if (typeof args?.actor !== 'string' || args.actor === '') g.invalid('actor: is required');
  if (approving) {
    const self = (message: string) => ApplicationFailure.create({ type: GrantErrorType.SelfApproval, message, nonRetryable: true });
    if (args.actor === g.request.requestedBy) throw self(`${args.actor} asked for this grant and cannot approve it; another approver must`);
    const email = (args as ApproveArgs).actorEmail;
    if (typeof email === 'string' && email.toLowerCase() === g.state.email) throw self('nobody can approve access for themselves; another approver must');
    if (g.request.durationMs === undefined && Date.parse(g.state.expiresAt) <= Date.now()) {
      g.invalid(`the requested expiry ${g.state.expiresAt} has passed; deny this request and ask for a new one`);
    }
  } else if (typeof args.reason !== 'string' || args.reason.trim() === '') {
    g.invalid('reason: is required to deny a request');
  }
}

/**
 * A one-click link decides the request it was sent for and no other: not the next
 * request of the same grant id, not an extension asked for after the grant was approved.
 */
function validateLink(g: Grant, args: ApproveArgs | DenyArgs): void {
  const link = args?.link;
  if (link === undefined) return;
  const pending = link.kind === 'extension' ? (g.state.status === 'ACTIVE' ? g.state.pendingExtension?.requestedAt : undefined) : g.state.status === 'PENDING_APPROVAL' ? g.state.requestedAt : undefined;
  if (pending === undefined || pending !== link.request) {
    throw ApplicationFailure.create({ type: GrantErrorType.NotPending, message: 'the request this link was sent for is already decided, withdrawn or replaced', nonRetryable: true });
  }
}

/** Records an approval or a denial of the request; the reply comes once it is in the audit trail. */
async function decideRequest(g: Grant, approved: boolean, args: ApproveArgs | DenyArgs): Promise<{ status: GrantStatus }> {
  g.deciding = true;
  try {
    const event = approved ? 'APPROVED' : 'DENIED';
    const record = g.auditRecord(event, args.actor, { reason: args.reason, detail: linkDetail(args) });
    await auditBeforeChange(record, `audit ${event} by ${args.actor}`);
    g.commitEvent(record);
    g.decision = { approved, actor: args.actor, eventId: record.eventId, ...(args.reason ? { reason: args.reason } : {}) };
    if (g.state.approval) {
      Object.assign(g.state.approval, { decision: event, decidedBy: args.actor, decidedAt: record.at, ...(args.reason ? { reason: args.reason } : {}) });
    }
    return { status: approved ? 'PROVISIONING' : 'DENIED' };
  } finally {
    g.deciding = false;
  }
}

/** Asks the approvers and waits. Nothing exists on the server yet. Returns whether the request was approved; otherwise the grant has ended. */
export async function awaitApproval(g: Grant, approval: ApprovalRequirement): Promise<boolean> {
  let waitMs = approval.timeoutMs;
  // An expiry given as a date bounds the wait: approving after it would grant nothing.
  if (g.request.durationMs === undefined) waitMs = Math.min(waitMs, Date.parse(g.state.expiresAt) - Date.now());
  waitMs = Math.max(waitMs, 1000);
  const decideBy = new Date(Date.now() + waitMs).toISOString();
  g.state.approval = { reasons: approval.reasons, decideBy };
  g.setStatus('PENDING_APPROVAL');

  const asked = approval.approvers.map((a) => a.email).join(', ') || 'nobody with an e-mail address';
  const requested = g.auditRecord('APPROVAL_REQUESTED', g.request.requestedBy, {
    reason: g.request.reason,
    detail: `${approval.reasons.join('; ')}; asked: ${asked}; denied unless decided by ${decideBy}`,
  });
  await writeAudit(requested, `audit APPROVAL_REQUESTED (${approval.reasons.join('; ')})`);
  g.commitEvent(requested);
  await notifyApproval(g, 'APPROVAL_REQUESTED', requested.eventId, { decideBy });

  await condition(() => g.decision !== undefined || g.revokeRequest !== undefined, waitMs);
  // From here on the gate takes no decision: one outcome, one audit trail.
  g.gateClosed = true;
  // A decision being audited when the time ran out still counts.
  await condition(() => !g.deciding);

  if (g.decision?.approved && !g.revokeRequest) return true;

  let outcome: 'DENIED' | 'REVOKED';
  let notice: { actor: string; reason?: string; eventId: string };
  if (g.revokeRequest) {
    // Withdrawn: by the requester, an admin, or a cancel from the Temporal UI.
    const { actor, reason } = g.revokeRequest;
    const withdrawn = g.auditRecord('REVOKE_REQUESTED', actor, { reason, detail: 'withdrawn before access was granted' });
    g.commitEvent(withdrawn);
    await writeAuditUntilDone(withdrawn, `audit REVOKE_REQUESTED by ${actor}`);
    const done = g.auditRecord('REVOKED', actor, { reason, detail: 'the request was withdrawn; nothing was created' });
    await writeAuditUntilDone(done, 'audit REVOKED (withdrawn)');
    g.commitEvent(done);
    outcome = 'REVOKED';
    notice = { actor, reason: reason ? `withdrawn: ${reason}` : 'the request was withdrawn', eventId: done.eventId };
  } else if (g.decision) {
    outcome = 'DENIED';
    notice = { actor: g.decision.actor, eventId: g.decision.eventId, ...(g.decision.reason ? { reason: g.decision.reason } : {}) };
  } else {
    const reason = `no decision by ${decideBy}`;
    const denied = g.auditRecord('DENIED', 'dbaccess', { reason });
    await writeAuditUntilDone(denied, 'audit DENIED (no decision in time)');
    g.commitEvent(denied);
    Object.assign(g.state.approval, { decision: 'DENIED', decidedBy: 'dbaccess', decidedAt: denied.at, reason });
    outcome = 'DENIED';
    notice = { actor: 'dbaccess', reason, eventId: denied.eventId };
  }
  g.state.endedAt = new Date().toISOString();
  g.setStatus(outcome);
  await notifyApproval(g, 'DENIED', notice.eventId, { actor: notice.actor, ...(notice.reason ? { reason: notice.reason } : {}) });
  await g.settle();
  return false;
}
