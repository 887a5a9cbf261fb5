import { log } from '@temporalio/workflow';
import type { AuditRecord, EventDecision } from '../../contract/activities';
import { eventDelivery, events } from './options';
import type { Grant } from './state';

// The event stream (docs/decisions/0410-signed-event-stream.md): every audit event
// the grant commits is also delivered to the configured HTTP endpoints, in the
// order of the trail, one at a time, each retried by Temporal for the
// configuration's `deliverFor`. Only for grants whose request carries
// `eventStream` (decision 0013: older histories replay unchanged). The loop runs
// in the background, so delivery never delays access or its end; the grant's
// workflow completes only once every event has been delivered or given up on.

/** Events the API writes for a grant, which it signals to the workflow so that they are streamed too. */
const AUDITED_ELSEWHERE: readonly string[] = ['CREDENTIALS_VIEWED'];

/** An event written outside the workflow (auditedElsewhereSignal): streamed like the others, never added to the history. */
export function streamAuditedElsewhere(g: Grant, record: AuditRecord): void {
  if (!g.request.eventStream || !g.onCommitted) return;
  if (record?.grantId !== g.request.grantId || !AUDITED_ELSEWHERE.includes(record.event)) return;
  g.onCommitted(record);
}

/**
 * For a request still waiting when its event goes out: what an approver channel's
 * one-click links are bound to (the request, and when it is denied without a decision).
 */
function pendingDecision(g: Grant, record: AuditRecord): EventDecision | undefined {
  if (record.event === 'APPROVAL_REQUESTED' && g.state.status === 'PENDING_APPROVAL' && g.state.approval && !g.state.approval.decision) {
    return { kind: 'approval', request: g.state.requestedAt, decideBy: g.state.approval.decideBy };
  }
  const pending = g.state.pendingExtension;
  if (record.event === 'EXTENSION_REQUESTED' && pending && pending.requestedAt === record.at) return { kind: 'extension', request: pending.requestedAt, decideBy: pending.decideBy };
  return undefined;
}

export function followEventStream(g: Grant): void {
  const stream = g.request.eventStream;
  if (!stream) return;
  g.onCommitted = (record) => {
    g.outbox.push(record);
    if (g.delivering) return;
    g.delivering = true;
    g.inBackground(async () => {
      try {
        while (g.outbox.length > 0) {
          const next = g.outbox[0]!;
          try {
            const decision = pendingDecision(g, next);
            await events.deliverEvent.executeWithOptions({ ...eventDelivery(stream.deliverForMs), summary: `deliver ${next.event} to the event stream` }, [{ record: next, ...(decision ? { decision } : {}) }]);
          } catch {
            // Given up after deliverFor: the event stays in the audit trail; the next ones still go, in order.
            log.error('an audit event was not delivered to the event stream in time', { eventId: next.eventId, event: next.event });
          }
          g.outbox.shift();
        }
      } finally {
        g.delivering = false;
      }
    });
  };
}
