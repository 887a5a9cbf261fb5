import { formatDuration } from '../../domain';
import { writeAuditUntilDone } from './audit';
import { notifyGrantee } from './notify';
import type { Grant } from './state';

// Reminders before the expiry, planned again whenever the expiry moves.
// Determinism: keyed on the request's `reminderOffsetsMs`, which requests made
// before reminders lack, so those grants issue no reminder command on replay
// (docs/decisions/0104-reminders-keyed-on-the-request.md).

/** Sends the reminder that is due, if any, and returns the ms until the next one. */
export function remindIfDue(g: Grant): number | undefined {
  const offsets = g.request.reminderOffsetsMs;
  if (!offsets || offsets.length === 0) return undefined;
  const now = Date.now();
  const expiry = Date.parse(g.state.expiresAt);
  if (g.reminders?.plannedFor !== g.state.expiresAt) {
    // Only reminders still ahead: a grant shorter than an offset gets none for it,
    // and after an extension the reminders whose time has passed are skipped.
    g.reminders = { plannedFor: g.state.expiresAt, pending: offsets.filter((o) => expiry - o > now).sort((a, b) => b - a), sent: [] };
  }
  const plan = g.reminders;
  const due = plan.pending.filter((o) => expiry - o <= now);
  if (due.length > 0) {
    // Several due at once (the worker was away): one notice, the nearest to the expiry.
    plan.pending = plan.pending.filter((o) => expiry - o > now);
    plan.sent.push(...due);
    sendReminder(g, Math.min(...due));
  }
  const next = plan.pending.map((o) => expiry - o - now);
  return next.length > 0 ? Math.min(...next) : undefined;
}

/** In the background (it never delays the expiry or a revoke); audited REMINDER_SENT once sent. */
function sendReminder(g: Grant, beforeMs: number): void {
  const grant = g.snapshot();
  const record = g.auditRecord('REMINDER_SENT', 'dbaccess', {
    detail: `reminder ${formatDuration(beforeMs)} before the expiry ${grant.expiresAt}, to ${grant.email} and the project owner`,
  });
  g.inBackground(async () => {
    if (!(await notifyGrantee(g, 'REMINDER', grant, record.eventId, { beforeMs, remindedAt: record.at }))) return;
    g.commitEvent(record);
    await writeAuditUntilDone(record, `audit REMINDER_SENT (${formatDuration(beforeMs)} before the expiry)`);
  });
}
