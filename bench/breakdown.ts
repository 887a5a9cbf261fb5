import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

import { forEachConcurrently } from './measure';

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
  /** A revocation was armed: scheduled on the armed revocations' queue (`…-expiry`). */
  armed: boolean;
  /** When the armed revocation was scheduled (else the last one), relative to `expiresAtMs` (negative: before). */
  scheduledMs: number;
  /** The last attempt to start was the ordinary revocation beside an armed one (its worker lost, or the attempt lost on its way). */
  beside: boolean;
  /** Its last attempt's start, relative to `expiresAtMs`. */
  startedMs: number;
  attempts: number;
  /** The identity of the worker that ran its last attempt. */
  ranOn: string;
}

/** The revocation of an expiry, from the grant's history (undefined when there is none). */
export function expiryRevocation(events: readonly HistoryEvent[], expiresAtMs: number): ExpiryRevocation | undefined {
  const scheduled = new Map<number, { armed: boolean; at: number }>();
  let armedAt: number | undefined;
  let found: ExpiryRevocation | undefined;
  for (const e of events) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a?.activityType?.name === 'revokeAccess') {
      const armed = (a.taskQueue?.name ?? '').endsWith('-expiry');
      scheduled.set(id(e.eventId), { armed, at: ms(e.eventTime) });
      if (armed) armedAt ??= ms(e.eventTime);
    }
    const started = e.activityTaskStartedEventAttributes;
    const s = started ? scheduled.get(id(started.scheduledEventId)) : undefined;
    if (started && s) {
      found = {
        armed: armedAt !== undefined,
        scheduledMs: (armedAt ?? s.at) - expiresAtMs,
        beside: armedAt !== undefined && !s.armed,
        startedMs: ms(e.eventTime) - expiresAtMs,
        attempts: started.attempt ?? 1,
        ranOn: started.identity ?? '?',
      };
    }
  }
  return found;
}

type Failure = temporal.api.failure.v1.IFailure;

/** One line for a failure: its kind (timeout type, error type) and message, without details. */
export function failureReason(f: Failure | null | undefined): string {
  if (!f) return 'unknown';
  const timeout = f.timeoutFailureInfo?.timeoutType;
  if (timeout !== undefined && timeout !== null) {
    const name = typeof timeout === 'number' ? (TIMEOUT_NAMES[timeout] ?? String(timeout)) : String(timeout);
    return `timeout ${name}`;
  }
  const type = f.applicationFailureInfo?.type ?? (f.canceledFailureInfo ? 'cancelled' : f.serverFailureInfo ? 'server' : 'failure');
  const cause = f.cause ? `; cause: ${failureReason(f.cause)}` : '';
  // Names (of secrets, accounts) differ from grant to grant: the reasons are counted without them.
  return `${type}: ${(f.message ?? '').replace(/"[^"]*"/g, '"…"').slice(0, 160)}${cause}`;
}
const TIMEOUT_NAMES: Record<number, string> = { 1: 'START_TO_CLOSE', 2: 'SCHEDULE_TO_START', 3: 'SCHEDULE_TO_CLOSE', 4: 'HEARTBEAT' };

/**
 * Why the revocations of a grant's history needed more than one attempt: for each
 * failed attempt of `revokeAccess`, `armed`/`ordinary` and the failure (the
 * previous attempt's failure as recorded on a later start, and the last
 * attempt's as recorded on its failed, timed-out or cancelled event).
 */
export function revocationFailures(events: readonly HistoryEvent[]): string[] {
  const queue = new Map<number, string>();
  const out: string[] = [];
  for (const e of events) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a?.activityType?.name === 'revokeAccess') queue.set(id(e.eventId), a.taskQueue?.name?.endsWith('-expiry') ? 'armed' : 'ordinary');
    const started = e.activityTaskStartedEventAttributes;
    const failed = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    const cancelled = e.activityTaskCanceledEventAttributes;
    const which = queue.get(id(started?.scheduledEventId ?? failed?.scheduledEventId ?? cancelled?.scheduledEventId));
    if (!which) continue;
    if (started && (started.attempt ?? 1) > 1) out.push(`${which}, attempts before the last: ${failureReason(started.lastFailure)}`);
    if (failed) out.push(`${which}, last attempt: ${failureReason(failed.failure)}`);
    if (cancelled) out.push(`${which}, cancelled`);
  }
  return out;
}

/** A grant's history in one line (event types, with the queue of each revokeAccess), to see how an expiry went. */
export function historyOutline(events: readonly HistoryEvent[]): string {
  return events
    .map((e) => {
      const kind = Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k]) ?? '?';
      const a = e.activityTaskScheduledEventAttributes;
      return kind.replace(/EventAttributes$/, '') + (a ? `(${a.activityType?.name}@${a.taskQueue?.name})` : '');
    })
    .join(' ');
}

/** The revocations of a group of grants, from their histories. */
export interface RevocationGroup {
  grants: number;
  /** Grants by the attempts of their revocation's last start (`1`, `2`, ...; `none` when it never started). */
  attempts: Record<string, number>;
  /** Failed attempts by reason (revocationFailures). */
  failures: Record<string, number>;
  /** Grants by the worker that ran the last attempt of their revocation. */
  ranOn: Record<string, number>;
  /** For grants whose revocation took more than one attempt: the last attempt's start, relative to the expiry (ms, sorted). */
  retryStartedMs: number[];
}

const count = (of: Record<string, number>, key: string) => (of[key] = (of[key] ?? 0) + 1);

/**
 * How the grants' revocations ran, from their histories: how many were armed (on
 * the `-expiry` queue) before the expiry, how close to it the last was armed, and
 * how many needed more than one attempt; with `groupOf`, the same per group.
 */
export async function armedAhead(
  client: Client,
  grantIds: string[],
  expiresAt: string,
  log: (line: string) => void,
  groupOf?: (grantId: string) => string,
): Promise<{ armedBefore: number; armedAfter: number; notArmed: number; besideArmed: number; lastArmedBeforeMs: number; retried: number; failures: Record<string, number>; groups?: Record<string, RevocationGroup> }> {
  const at = Date.parse(expiresAt);
  const counts = { armedBefore: 0, armedAfter: 0, notArmed: 0, besideArmed: 0, retried: 0 };
  const failures: Record<string, number> = {};
  const groups: Record<string, RevocationGroup> = {};
  let lastArmedBeforeMs = Infinity;
  await forEachConcurrently(grantIds, 8, async (grantId) => {
    const history = await client.workflow.getHandle(grantId).fetchHistory();
    const r = expiryRevocation(history.events ?? [], at);
    const failed = revocationFailures(history.events ?? []);
    const group = groupOf ? (groups[groupOf(grantId)] ??= { grants: 0, attempts: {}, failures: {}, ranOn: {}, retryStartedMs: [] }) : undefined;
    if (group) {
      group.grants += 1;
      count(group.attempts, r ? String(r.attempts) : 'none');
      if (r) count(group.ranOn, r.ranOn);
      if (r && r.attempts > 1) group.retryStartedMs.push(r.startedMs);
      for (const reason of failed) count(group.failures, reason);
    }
    if (!r || !r.armed) {
      counts.notArmed += 1;
      if (counts.notArmed <= 2) log(`  not armed: ${grantId}: ${historyOutline(history.events ?? [])}`);
    }
    else if (r.scheduledMs < 0) {
      counts.armedBefore += 1;
      lastArmedBeforeMs = Math.min(lastArmedBeforeMs, -r.scheduledMs);
    } else counts.armedAfter += 1;
    if (r?.beside) counts.besideArmed += 1;
    if (r && r.attempts > 1) counts.retried += 1;
    for (const reason of failed) count(failures, reason);
  });
  for (const [reason, n] of Object.entries(failures).sort((a, b) => b[1] - a[1])) log(`  revocation attempt failed ×${n}: ${reason}`);
  for (const group of Object.values(groups)) group.retryStartedMs.sort((a, b) => a - b);
  return { ...counts, failures, ...(groupOf ? { groups } : {}), lastArmedBeforeMs: Number.isFinite(lastArmedBeforeMs) ? lastArmedBeforeMs : 0 };
}
