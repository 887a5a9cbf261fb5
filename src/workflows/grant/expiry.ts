import { allHandlersFinished, condition, continueAsNew, patched, workflowInfo } from '@temporalio/workflow';
import type { grantAccess } from '../grant-access';
import { arm } from './arming';
import { closePendingExtension, untilExtensionDecision } from './extension-approval';
import { ARMED_REPORT_GRACE_MS, UPDATE_GRACE_MS } from './options';
import { BOUNDED_UPDATE_WAIT } from './patches';
import { remindIfDue } from './reminders';
import { reviewIfDue } from './review';
import type { Grant } from './state';

// Waiting for the end of an ACTIVE grant: its expiry, a revoke, or a suggestion to
// continue as new; meanwhile reminders, the pending extension's deadline, and
// arming the revocation a lead ahead of the expiry.

/** Sleeps until the expiry, a revoke, or a suggestion to continue as new. */
export async function waitForEnd(g: Grant): Promise<void> {
  for (;;) {
    // A change in flight finishes first: it was accepted before this decision. At
    // the expiry it is waited for UPDATE_GRACE_MS at most, then access ends anyway.
    await waitForChanges(g, Date.parse(g.state.expiresAt) + UPDATE_GRACE_MS, true);
    if (g.revokeRequest || g.accessEndedAtExpiry()) return;
    const left = Date.parse(g.state.expiresAt) - Date.now();
    if (g.armed?.outcome) {
      // Failed before the expiry: that expiry is revoked the usual way. Failed at it:
      // the ordinary revoke takes over in end() (the return just below).
      if (g.armed.outcome === 'failed' && left > 0) g.armFailedFor = g.state.expiresAt;
      g.armed = undefined;
    }
    // At the expiry: done, or the armed revocation is at work (end() waits for it).
    if (left <= 0) return;
    if (!g.armed && workflowInfo().continueAsNewSuggested) {
      await g.settle();
      if (!g.revokeRequest && g.changing === 0 && allHandlersFinished()) {
        await continueAsNew<typeof grantAccess>(g.request, g.carry());
      }
    }
    const decision = untilExtensionDecision(g);
    if (decision !== undefined && decision <= 0) closePendingExtension(g, `no decision by ${g.state.pendingExtension!.decideBy}`);
    const nextWake = earliest(earliest(remindIfDue(g), untilExtensionDecision(g)), reviewIfDue(g));
    const lead = g.armFailedFor === g.state.expiresAt ? 0 : (g.request.revocationLeadMs ?? 0);
    if (lead > 0 && !g.armed && left <= lead) arm(g, left, lead);
    const armed = g.armed;
    if (armed) {
      // The worker holds the revocation now: wake for its outcome, a revoke, an update
      // (which disarms it), a reminder, or a while after the expiry, when a revocation
      // that has not reported yet shows as REVOKING. Not at the expiry itself.
      const wakeAt = left + ARMED_REPORT_GRACE_MS;
      await condition(() => armed.outcome !== undefined || g.revokeRequest !== undefined || g.changing > 0, Math.min(wakeAt, nextWake ?? wakeAt));
      continue;
    }
    const version = g.expiryVersion;
    const untilArmed = lead > 0 ? left - lead : left;
    await condition(
      () => g.revokeRequest !== undefined || g.expiryVersion !== version || workflowInfo().continueAsNewSuggested,
      nextWake === undefined ? untilArmed : Math.min(untilArmed, nextWake),
    );
  }
}

/**
 * Waits for the updates in flight, until `deadline` at most (and, with `orRevoke`,
 * until a revoke arrives). False when some still run.
 */
export async function waitForChanges(g: Grant, deadline: number, orRevoke = false): Promise<boolean> {
  if (g.changing === 0) return true;
  if (!patched(BOUNDED_UPDATE_WAIT)) {
    await condition(() => g.changing === 0);
    return true;
  }
  const left = deadline - Date.now();
  if (left > 0) await condition(() => g.changing === 0 || (orRevoke && g.revokeRequest !== undefined), left);
  return g.changing === 0;
}

/** The sooner of two optional delays. */
function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
