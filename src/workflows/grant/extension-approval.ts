import { ApplicationFailure } from '@temporalio/workflow';
import { GrantErrorType, type ApproveArgs, type DenyArgs, type ExtendArgs, type ExtendResult, type GrantStatus, type PendingExtension } from '../../domain';
import { moveAccountExpiry } from './account-expiry';
import { auditBeforeChange, writeAuditUntilDone } from './audit';
import { notifyApproval, notifyInBackground } from './notify';
import { DEFAULT_EXTENSION_TIMEOUT_MS } from './options';
import type { Grant } from './state';
import { exclusive } from './updates';

// An extension beyond what an approver agreed to (`approvedUntil`), asked by someone
// who is neither an approver nor an admin: the grant keeps its expiry until an
// approver decides (approve / deny on the ACTIVE grant), or it is denied at the
// approval timeout or the expiry. One at a time, one outcome each.

export function refuseWhileExtensionPending(g: Grant): void {
  const pending = g.state.pendingExtension;
  if (pending) {
    throw ApplicationFailure.create({
      type: GrantErrorType.ExtensionPending,
      message: `an extension to ${pending.to} asked by ${pending.requestedBy} waits for approval (denied unless decided by ${pending.decideBy}); one at a time`,
      nonRetryable: true,
    });
  }
}

/** Audits the extension as asked for and asks the approvers; the grant keeps its expiry meanwhile. */
export async function requestExtension(g: Grant, args: ExtendArgs, from: string, to: string, bound: string): Promise<ExtendResult> {
  const gate = g.gate;
  const timeoutMs = Math.max(gate?.timeoutMs ?? DEFAULT_EXTENSION_TIMEOUT_MS, 1000);
  const decideBy = new Date(Math.min(Date.now() + timeoutMs, Date.parse(from))).toISOString();
  const asked = gate?.approvers.map((a) => a.email).join(', ') || 'the administrators';
  const record = g.auditRecord('EXTENSION_REQUESTED', args.actor, {
    reason: args.reason,
    detail: `asked to move the expiry from ${from} to ${to}, beyond what was approved (${bound}); the grant keeps ${from} unless an approver agrees by ${decideBy}; asked: ${asked}`,
  });
  await auditBeforeChange(record, `audit EXTENSION_REQUESTED until ${to}`);
  g.commitEvent(record);
  g.refuseIfEnding();
  g.state.pendingExtension = {
    from,
    to,
    requestedBy: args.actor,
    ...(args.actorEmail ? { requestedByEmail: args.actorEmail.toLowerCase() } : {}),
    requestedAt: record.at,
    decideBy,
    ...(args.reason ? { reason: args.reason } : {}),
  };
  g.expiryVersion++;
  g.publish();
  g.inBackground(() => notifyExtension(g, 'EXTENSION_REQUESTED', record.eventId, { decideBy, ...(args.reason ? { reason: args.reason } : {}) }));
  return { expiresAt: from, pending: { requestedExpiresAt: to, decideBy } };
}

/** Approve / deny on an ACTIVE grant: the same rules as for a request, against the pending extension. */
export function validateExtensionDecision(g: Grant, approving: boolean, args: ApproveArgs | DenyArgs): void {
  const pending = g.state.pendingExtension;
  if (!pending || g.extensionDeciding || g.revokeRequest || g.ending) {
    const why = pending && g.extensionDeciding ? 'its extension is already being decided' : pending ? 'being revoked' : 'ACTIVE with no extension waiting for approval';
    throw ApplicationFailure.create({ type: GrantErrorType.NotPending, message: `the grant is ${why}`, nonRetryable: true });
  }
  g.refuseAtExpiry();
  if (typeof args?.actor !== 'string' || args.actor === '') g.invalid('actor: is required');
  if (approving) {
    const self = (message: string) => ApplicationFailure.create({ type: GrantErrorType.SelfApproval, message, nonRetryable: true });
    const email = (args as ApproveArgs).actorEmail?.toLowerCase();
    if (args.actor === pending.requestedBy || (email !== undefined && email === pending.requestedByEmail?.toLowerCase())) {
      throw self(`${args.actor} asked for this extension and cannot approve it; another approver must`);
    }
    if (email !== undefined && email === g.state.email) throw self('nobody can approve access for themselves; another approver must');
  } else if (typeof args.reason !== 'string' || args.reason.trim() === '') {
    g.invalid('reason: is required to deny an extension');
  }
}

/** An approver decides the pending extension, in turn with the other updates: an approval moves the expiry. */
/** What the audit event of a decision says about the one-click link it was made with. */
export function linkDetail(args: ApproveArgs | DenyArgs): string | undefined {
  return args.link ? `decided with one-click link ${args.link.id}, sent to ${args.link.email}` : undefined;
}

export function decideExtension(g: Grant, approved: boolean, args: ApproveArgs | DenyArgs): Promise<{ status: GrantStatus }> {
  g.extensionDeciding = true;
  return exclusive(g, async () => {
    const pending = g.state.pendingExtension;
    // A link checked by the validator may have waited for another update: it still decides its own request only.
    if (!pending || (args.link && args.link.request !== pending.requestedAt)) {
      throw ApplicationFailure.create({ type: GrantErrorType.NotPending, message: 'the extension this decision was for is already decided or replaced', nonRetryable: true });
    }
    const asked = `asked by ${pending.requestedBy}${pending.reason ? ` (${pending.reason})` : ''}`;
    const via = linkDetail(args);
    if (approved) {
      const record = g.auditRecord('EXTENDED', args.actor, {
        reason: args.reason,
        detail: `expiry moved from ${pending.from} to ${pending.to}, ${asked}, approved by ${args.actor}${via ? `; ${via}` : ''}`,
        expiresAt: pending.to,
      });
      await auditBeforeChange(record, `audit EXTENDED until ${pending.to} (approved by ${args.actor})`);
      g.commitEvent(record);
      delete g.state.pendingExtension;
      g.refuseIfEnding();
      g.state.expiresAt = pending.to;
      g.state.approvedUntil = pending.to;
      g.expiryVersion++;
      g.publish();
      notifyInBackground(g, 'EXTENDED', record.eventId, { previous: { expiresAt: pending.from }, actor: args.actor, ...(args.reason ? { reason: args.reason } : {}) });
      await moveAccountExpiry(g, pending.to);
    } else {
      const record = g.auditRecord('EXTENSION_DENIED', args.actor, {
        reason: args.reason,
        detail: `the extension from ${pending.from} to ${pending.to}, ${asked}, was denied; the grant still expires at ${g.state.expiresAt}${via ? `; ${via}` : ''}`,
      });
      await auditBeforeChange(record, `audit EXTENSION_DENIED by ${args.actor}`);
      g.commitEvent(record);
      delete g.state.pendingExtension;
      g.publish();
      g.inBackground(() => notifyExtension(g, 'EXTENSION_DENIED', record.eventId, { actor: args.actor, ...(args.reason ? { reason: args.reason } : {}) }, pending));
    }
    return { status: g.state.status };
  }).finally(() => {
    g.extensionDeciding = false;
    // Refused because access ended meanwhile: the request still gets its one outcome.
    if (g.ending && g.state.pendingExtension) closePendingExtension(g, 'the grant ended before the decision could be applied');
  });
}

/** Denies the pending extension nobody decided on (its decide-by time, or the end of access); decisions are refused from now on. */
export function closePendingExtension(g: Grant, reason: string): void {
  const pending = g.state.pendingExtension;
  if (!pending || g.extensionDeciding) return;
  g.extensionDeciding = true;
  const record = g.auditRecord('EXTENSION_DENIED', 'dbaccess', {
    reason,
    detail: `the extension from ${pending.from} to ${pending.to}, asked by ${pending.requestedBy}, was not approved; the grant keeps its expiry ${g.state.expiresAt}`,
  });
  g.commitEvent(record);
  delete g.state.pendingExtension;
  g.publish();
  g.inBackground(async () => {
    try {
      await writeAuditUntilDone(record, 'audit EXTENSION_DENIED (no decision in time)');
      await notifyExtension(g, 'EXTENSION_DENIED', record.eventId, { actor: 'dbaccess', reason }, pending);
    } finally {
      g.extensionDeciding = false;
    }
  });
}

/** Ms until the pending extension's decide-by time; undefined when none waits. */
export function untilExtensionDecision(g: Grant): number | undefined {
  const pending = g.state.pendingExtension;
  if (!pending || g.extensionDeciding) return undefined;
  return Date.parse(pending.decideBy) - Date.now();
}

/** Asks the approvers about an extension, or tells the grantee of its denial. */
async function notifyExtension(
  g: Grant,
  kind: 'EXTENSION_REQUESTED' | 'EXTENSION_DENIED',
  eventId: string,
  extra: { decideBy?: string; actor?: string; reason?: string },
  pending: PendingExtension | undefined = g.state.pendingExtension,
): Promise<void> {
  if (!pending) return;
  const gate = g.gate ?? { reasons: [], timeoutMs: DEFAULT_EXTENSION_TIMEOUT_MS, approvers: [] };
  await notifyApproval(g, kind, eventId, { ...extra, extension: { from: pending.from, to: pending.to, requestedBy: pending.requestedBy } }, gate);
}
