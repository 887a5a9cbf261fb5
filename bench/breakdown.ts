import type { temporal } from '@temporalio/proto';

// Where the time of a grant goes, read from its workflow history: for each
// provisioning activity, the time it waited in the task queue (scheduled →
// started) and the time it ran (started → completed); the rest, from the start
// of the workflow to the workflow task that made it ACTIVE, is Temporal's
// (workflow tasks, dispatch, persistence).

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface StepTiming {
  step: string;
  queuedMs: number;
  ranMs: number;
}

export interface GrantTiming {
  /** From WorkflowExecutionStarted to the workflow task that set ACTIVE. */
  workflowMs: number;
  steps: StepTiming[];
}

/** Provisioning activities, in order, and what the breakdown calls them. */
const STEP_NAMES: Record<string, string[]> = {
  recordAudit: ['audit REQUESTED', 'audit GRANTED'],
  checkTarget: ['check target'],
  createAccount: ['account + secret'],
  grantPrivileges: ['privileges'],
  notifyGrant: ['email'],
};
export const STEP_ORDER = ['audit REQUESTED', 'check target', 'account + secret', 'privileges', 'audit GRANTED', 'email'];

const ms = (t: HistoryEvent['eventTime']) => (t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : Number.NaN);
const id = (n: unknown) => Number(n);

/** The provisioning timings of one grant's history (undefined when it did not reach ACTIVE by notifyGrant). */
export function grantTiming(events: readonly HistoryEvent[]): GrantTiming | undefined {
  const started = events.find((e) => e.workflowExecutionStartedEventAttributes);
  if (!started) return undefined;
  const scheduled = new Map<number, { type: string; at: number }>();
  const startedAt = new Map<number, number>();
  const seen = new Map<string, number>();
  const steps: StepTiming[] = [];
  let lastCompletion = -1;
  for (const [index, e] of events.entries()) {
    if (e.activityTaskScheduledEventAttributes) {
      scheduled.set(id(e.eventId), { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', at: ms(e.eventTime) });
    } else if (e.activityTaskStartedEventAttributes) {
      startedAt.set(id(e.activityTaskStartedEventAttributes.scheduledEventId), ms(e.eventTime));
    } else if (e.activityTaskCompletedEventAttributes) {
      const key = id(e.activityTaskCompletedEventAttributes.scheduledEventId);
      const s = scheduled.get(key);
      const begun = startedAt.get(key);
      if (!s || begun === undefined) continue;
      const nth = seen.get(s.type) ?? 0;
      seen.set(s.type, nth + 1);
      steps.push({ step: STEP_NAMES[s.type]?.[nth] ?? s.type, queuedMs: begun - s.at, ranMs: ms(e.eventTime) - begun });
      if (s.type === 'notifyGrant') {
        lastCompletion = index;
        break;
      }
    }
  }
  if (lastCompletion < 0) return undefined;
  const active = events.slice(lastCompletion).find((e) => e.workflowTaskCompletedEventAttributes);
  if (!active) return undefined;
  return { workflowMs: ms(active.eventTime) - ms(started.eventTime), steps };
}

/** How a grant's expiry was revoked, read from its history. */
export interface ExpiryRevocation {
  /** The revoke ran on the armed revocations' queue (`…-expiry`). */
  armed: boolean;
  /** When it was scheduled (armed), relative to `expiresAtMs` (negative: before). */
  scheduledMs: number;
  /** Its last attempt's start, relative to `expiresAtMs`. */
  startedMs: number;
  attempts: number;
}

/** The revocation of an expiry, from the grant's history (undefined when there is none). */
export function expiryRevocation(events: readonly HistoryEvent[], expiresAtMs: number): ExpiryRevocation | undefined {
  const scheduled = new Map<number, { queue: string; at: number }>();
  let found: ExpiryRevocation | undefined;
  for (const e of events) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a?.activityType?.name === 'revokeAccess') scheduled.set(id(e.eventId), { queue: a.taskQueue?.name ?? '', at: ms(e.eventTime) });
    const started = e.activityTaskStartedEventAttributes;
    const s = started ? scheduled.get(id(started.scheduledEventId)) : undefined;
    if (started && s) {
      found = { armed: s.queue.endsWith('-expiry'), scheduledMs: s.at - expiresAtMs, startedMs: ms(e.eventTime) - expiresAtMs, attempts: started.attempt ?? 1 };
    }
  }
  return found;
}
