import { condition, log, patched } from '@temporalio/workflow';
import type { AuditRecord } from '../../contract/activities';
import { writeAuditUntilDone } from './audit';
import { waitForChanges } from './expiry';
import { closePendingExtension } from './extension-approval';
import { notifyGrant } from './notify';
import { lapseReview } from './review';
import { ARMED_BACKUP_MS, UPDATE_GRACE_MS } from './options';
import { ARMED_BACKUP } from './patches';
import { alertRetained, holdRetained } from './retained';
import { endingDetail, endingOf, revokeUntilDone } from './revocation';
import { retainedDetail, type Grant } from './state';

/**
 * Ends access (on request or at the expiry), audits and notifies; never gives up on
 * ending access itself. An update still running holds it for UPDATE_GRACE_MS at
 * most: what the update does later is harmless, the account being contained first.
 */
export async function end(g: Grant): Promise<void> {
  const deadline = (g.revokeRequest ? Date.now() : Date.parse(g.state.expiresAt)) + UPDATE_GRACE_MS;
  if (!(await waitForChanges(g, deadline))) log.warn('an update is still running; access ends without waiting for it', { grantId: g.state.grantId });
  g.ending = true;
  // Ending access ends the sessions too: a lowering still being finished stops.
  g.lowering?.scope.cancel();
  const armed = g.armed;
  if (armed && !armed.outcome && !g.revokeRequest) {
    // The expiry has come and the armed revocation is at work: it is the revocation,
    // unless it has not reported ARMED_BACKUP_MS after the expiry (its worker lost, or
    // the attempt lost on its way to one): then the ordinary revocation runs beside it.
    g.setStatus('REVOKING');
    if (patched(ARMED_BACKUP)) {
      const left = Date.parse(g.state.expiresAt) + ARMED_BACKUP_MS - Date.now();
      if (left > 0) await condition(() => armed.outcome !== undefined, left);
      if (!armed.outcome) log.warn('the armed revocation has not reported; revoking beside it', { grantId: g.state.grantId });
    } else {
      await armed.settled;
    }
  }
  // Ended at the expiry by the armed revocation: the grant expired, even if a revoke
  // arrived while the workflow was learning it.
  const endedAtExpiry = armed?.outcome === 'ended';
  const requested = endedAtExpiry ? undefined : g.revokeRequest;
  const outcome: 'REVOKED' | 'EXPIRED' = requested ? 'REVOKED' : 'EXPIRED';
  g.setStatus('REVOKING');

  let requestAudit: Promise<unknown> = Promise.resolve();
  if (requested) {
    const record = g.auditRecord('REVOKE_REQUESTED', requested.actor, { reason: requested.reason, detail: requested.detail });
    g.commitEvent(record);
    // Written alongside the revoke: an audit outage must not delay the end of access.
    requestAudit = writeAuditUntilDone(record, `audit REVOKE_REQUESTED by ${requested.actor}`);
  } else {
    // A standing grant nobody kept: its review lapsed (written alongside the revocation too).
    requestAudit = lapseReview(g) ?? requestAudit;
  }
  let result = endedAtExpiry ? armed!.result : undefined;
  if (!endedAtExpiry) {
    // A revoke does not wait for an armed revocation to stand down: it runs now, beside
    // it (both are idempotent). One that failed at the expiry is followed by the
    // ordinary revoke and its own first attempts before anyone is alerted.
    armed?.scope.cancel();
    result = await revokeUntilDone(g, outcome === 'EXPIRED' ? 'expiry' : 'revoke');
  }
  // Nothing of this grant may still be running when it closes.
  await armed?.settled;
  await requestAudit;
  await g.lowering?.done;

  const ending = endingOf(result);
  if (ending.containedAt) g.state.accessEndedAt = ending.containedAt;
  if (ending.leftBehindCount > 0) g.state.leftBehind = { objects: ending.leftBehind, count: ending.leftBehindCount };
  if (g.state.pendingExtension && !g.extensionDeciding) closePendingExtension(g, `the grant was ${outcome.toLowerCase()} before an approver decided`);

  const actor = requested?.actor ?? 'dbaccess';
  const done = g.auditRecord(outcome, actor, { reason: requested?.reason, detail: endingDetail(ending), accessEndedAt: ending.containedAt });
  await writeAuditUntilDone(done, `audit ${outcome}`);
  g.commitEvent(done);
  g.state.endedAt = new Date().toISOString();
  let retained: AuditRecord | undefined;
  if (!ending.dropped) {
    g.state.retained = {
      since: ending.containedAt ?? g.state.endedAt,
      reason: ending.refusal ?? 'the server refused to drop the account',
      objects: ending.leftBehind,
      objectCount: ending.leftBehindCount,
    };
    retained = g.auditRecord('ACCOUNT_RETAINED', 'dbaccess', { detail: retainedDetail(g.state.account, g.state.retained), accessEndedAt: ending.containedAt });
    await writeAuditUntilDone(retained, `audit ACCOUNT_RETAINED ${g.state.account}`);
    g.commitEvent(retained);
  }
  g.setStatus(outcome);

  await notifyGrant(g, outcome, done.eventId, requested ? { actor: requested.actor, ...(requested.reason ? { reason: requested.reason } : {}) } : {});
  if (retained) await alertRetained(g, retained);
  await g.settle();
  if (g.state.retained) await holdRetained(g);
}
