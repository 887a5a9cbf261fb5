import { log } from '@temporalio/workflow';
import type { AuditRecord } from '../contract/activities';
import { eventDelivery, events } from './grant/options';

// An audit event written outside any grant's workflow (the reconciler's
// ORPHAN_REVOKED: the account has no grant workflow left) delivered to the event
// stream by a workflow of its own, `events/<eventId>`, so that the reconciler's run
// never waits for an endpoint that is down (docs/decisions/0410-signed-event-stream.md).

export async function streamAuditEvent(input: { record: AuditRecord; deliverForMs: number }): Promise<void> {
  try {
    await events.deliverEvent.executeWithOptions({ ...eventDelivery(input.deliverForMs), summary: `deliver ${input.record.event} to the event stream` }, [{ record: input.record }]);
  } catch {
    log.error('an audit event was not delivered to the event stream in time', { eventId: input.record.eventId, event: input.record.event });
  }
}
