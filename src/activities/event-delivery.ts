import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ActivityErrorType } from '../domain';
import type { EventSink } from '../adapters/events/sink';
import type { AuditRecord, EventDecision } from '../contract/activities';

// The event stream's activity (docs/decisions/0410-signed-event-stream.md).

/**
 * Delivers an audit event to the event stream. Which endpoints already have it is
 * kept in the heartbeat, so a retry posts only to the others; a receiver that
 * still sees an event twice (an answer lost on the way) deduplicates it by its id.
 */
export async function deliverEvent(sink: EventSink | undefined, { record, decision }: { record: AuditRecord; decision?: EventDecision }): Promise<{ delivered: string[]; refused: string[] }> {
  if (!sink) return { delivered: [], refused: [] };
  const ctx = Context.current();
  const previous = (ctx.info.heartbeatDetails as { delivered?: unknown } | undefined)?.delivered;
  const done = new Set<string>(Array.isArray(previous) ? previous.filter((n): n is string => typeof n === 'string') : []);
  const failures = await sink.deliver(
    record,
    done,
    (name) => {
      done.add(name);
      ctx.heartbeat({ delivered: [...done] });
    },
    decision,
  );
  const refused = failures.filter((f) => f.permanent);
  for (const f of refused) log.error('an event stream endpoint refused an event for good; it will not be sent there again', { endpoint: f.endpoint, eventId: record.eventId, grantId: record.grantId, reason: f.reason });
  const again = failures.filter((f) => !f.permanent);
  if (again.length > 0) {
    throw ApplicationFailure.retryable(`event ${record.eventId} not delivered yet to ${again.map((f) => `${f.endpoint} (${f.reason})`).join(', ')}`, ActivityErrorType.EventNotDelivered);
  }
  return { delivered: [...done], refused: refused.map((f) => f.endpoint) };
}
