import { log } from '@temporalio/workflow';
import type { AdminAlert, ApprovalNotice, GrantNotice, GranteeNotice } from '../../contract/activities';
import { formatDuration, innermostMessage, type ApprovalRequirement, type GrantState } from '../../domain';
import { writeAuditUntilDone } from './audit';
import { NOTIFY, notify } from './options';
import type { Grant } from './state';

// Telling people. A notice that cannot be sent never blocks the lifecycle: it is
// audited NOTIFY_FAILED (alerts to administrators are only logged).

/** What a grant notice adds to the grant: the values before a change, who made it and why. */
export type GrantNoticeAbout = Pick<GrantNotice, 'previous' | 'actor' | 'reason'>;

/** Sends a notice; one that cannot be sent is audited NOTIFY_FAILED. Returns whether it went out. */
export async function notifyOrRecord(g: Grant, kind: string, send: () => Promise<void>): Promise<boolean> {
  try {
    await send();
    return true;
  } catch (err) {
    log.warn('a notice could not be sent; recording NOTIFY_FAILED', { grantId: g.state.grantId, kind, message: innermostMessage(err) });
    const record = g.auditRecord('NOTIFY_FAILED', 'dbaccess', { detail: `${kind} e-mail not sent: ${innermostMessage(err)}` });
    g.commitEvent(record);
    await writeAuditUntilDone(record, 'audit NOTIFY_FAILED');
    return false;
  }
}

/** A change of the grant, to the grantee and the project owner. */
export function notifyGrant(g: Grant, kind: Exclude<GrantNotice['kind'], 'GRANTED'>, eventId: string, about: GrantNoticeAbout = {}): Promise<boolean> {
  const grant = g.snapshot();
  return notifyOrRecord(g, kind, () =>
    notify.notifyGrant.executeWithOptions({ ...NOTIFY, summary: `email ${kind} to ${grant.email} and the project owner` }, [
      { kind, grant, owner: g.request.owner, eventId, schema: g.request.target.schema, ...about },
    ]),
  );
}

/** notifyGrant without making an update's caller wait for it. */
export function notifyInBackground(g: Grant, kind: Exclude<GrantNotice['kind'], 'GRANTED'>, eventId: string, about: GrantNoticeAbout): void {
  g.inBackground(() => notifyGrant(g, kind, eventId, about));
}

/** A reminder or an adoption notice, to the grantee and the project owner. */
export function notifyGrantee(g: Grant, kind: GranteeNotice['kind'], grant: GrantState, eventId: string, extra: Pick<GranteeNotice, 'beforeMs' | 'remindedAt'> = {}): Promise<boolean> {
  return notifyOrRecord(g, kind, () =>
    notify.notifyGrantee.executeWithOptions({ ...NOTIFY, summary: `email ${kind} to ${grant.email} and the project owner` }, [
      { kind, grant, owner: g.request.owner, eventId, schema: g.request.target.schema, maxDurationMs: g.request.maxDurationMs, ...extra },
    ]),
  );
}

/** The approval gate's notices (and an extension's): the request to the approvers, a refusal to the grantee. */
export function notifyApproval(
  g: Grant,
  kind: ApprovalNotice['kind'],
  eventId: string,
  extra: Pick<ApprovalNotice, 'decideBy' | 'actor' | 'reason' | 'extension'>,
  approval: ApprovalRequirement = g.request.approval!,
): Promise<boolean> {
  const grant = g.snapshot();
  const asking = kind === 'APPROVAL_REQUESTED' || kind === 'EXTENSION_REQUESTED';
  const summary = asking
    ? `email the approvers: ${approval.approvers.map((a) => a.email).join(', ') || 'the administrators'}${kind === 'EXTENSION_REQUESTED' ? ' (extension)' : ''}`
    : `email ${kind} to ${grant.email}`;
  return notifyOrRecord(g, kind, () =>
    notify.notifyApproval.executeWithOptions({ ...NOTIFY, summary }, [
      {
        kind,
        grant,
        owner: g.request.owner,
        approvers: approval.approvers,
        reasons: approval.reasons,
        eventId,
        ...(g.request.durationMs !== undefined ? { duration: formatDuration(g.request.durationMs) } : {}),
        ...extra,
      },
    ]),
  );
}

/** An alert to the administrators. */
export function sendAdminAlert(alert: AdminAlert, summary: string): Promise<void> {
  return notify.notifyAdmins.executeWithOptions({ ...NOTIFY, summary }, [alert]);
}

/** An alert to the administrators; one that cannot be sent is logged (what it reports is audited already). */
export function alertAdmins(g: Grant, alert: AdminAlert, summary: string): Promise<void> {
  return sendAdminAlert(alert, summary).catch((err: unknown) =>
    log.error('could not alert administrators', { grantId: g.state.grantId, kind: alert.kind, message: innermostMessage(err) }),
  );
}
