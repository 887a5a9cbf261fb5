import { ActivityCancellationType, proxyActivities, workflowInfo, type ActivityOptions, type RetryPolicy } from '@temporalio/workflow';
import type { GrantActivities, ReconcileActivities } from '../../contract/activities';
import { ActivityErrorType, ARMED_REVOCATION_QUEUE_SUFFIX, PERMANENT_PROVISIONING_ERRORS } from '../../domain';

// Activity options, grouped by kind, and the proxies that use them. Provisioning
// steps give up after a few attempts (the grant is then rolled back); ending
// access never gives up. Every option set has a startToCloseTimeout.

const PROVISIONING_RETRY: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '15s',
  maximumAttempts: 5,
  nonRetryableErrorTypes: PERMANENT_PROVISIONING_ERRORS,
};

/** Database steps heartbeat: a worker that dies mid-step is noticed, and a cancelled attempt learns it. */
export const DATABASE: ActivityOptions = { startToCloseTimeout: '30s', heartbeatTimeout: '15s', retry: PROVISIONING_RETRY };
export const AUDIT: ActivityOptions = { startToCloseTimeout: '15s', retry: PROVISIONING_RETRY };
export const NOTIFY: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: ['MailRejected'] },
};

/** Attempts before administrators are alerted that a revocation keeps failing. */
export const REVOKE_ATTEMPTS_BEFORE_ALERT = 6;
export const REVOKE_FIRST: ActivityOptions = {
  startToCloseTimeout: '60s',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: REVOKE_ATTEMPTS_BEFORE_ALERT },
};
/** No attempt limit and no non-retryable type: access must end, whatever it takes. */
export const UNTIL_DONE: ActivityOptions = {
  startToCloseTimeout: '60s',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', nonRetryableErrorTypes: [] },
};
/** Another try at dropping a retained account: a few attempts, then it waits for the next try (never a storm). */
export const RETRY_DROP: ActivityOptions = {
  startToCloseTimeout: '60s',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 3 },
};
/** A lowering of privileges: a session that cannot be ended is not a reason to apply the change again. */
export const LOWERING: ActivityOptions = {
  ...DATABASE,
  retry: { ...PROVISIONING_RETRY, nonRetryableErrorTypes: [...PERMANENT_PROVISIONING_ERRORS, ActivityErrorType.SessionsNotEnded] },
};
/** Finishing a lowering that failed midway, until done; slowly, since what fails here usually needs a person. */
export const FINISH_LOWERING: ActivityOptions = {
  startToCloseTimeout: '60s',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '10m', nonRetryableErrorTypes: [ActivityErrorType.SessionsNotEnded] },
};

/**
 * How soon a worker that dies holding armed revocations is noticed: Temporal then retries its
 * attempts on another worker (docs/decisions/0706-armed-attempts-heartbeat-every-5-s.md).
 */
export const ARMED_HEARTBEAT_TIMEOUT_MS = 10_000;

/**
 * An armed revocation, `leftMs` before the expiry, for a grant whose lead is `leadMs`
 * (docs/decisions/0102-arming-in-the-workflow.md). Its heartbeats carry a stand-down to it;
 * a missing expiry worker is noticed by the schedule-to-start timeout.
 */
export function armedRevocation(leftMs: number, leadMs: number): ActivityOptions {
  return {
    taskQueue: `${workflowInfo().taskQueue}${ARMED_REVOCATION_QUEUE_SUFFIX}`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    heartbeatTimeout: Math.min(ARMED_HEARTBEAT_TIMEOUT_MS, Math.max(1000, Math.round(leadMs / 2))),
    scheduleToStartTimeout: Math.max(10_000, Math.round(leftMs / 2)),
    // The wait, then the drop and the secret's deletion; liveness is the heartbeat's job.
    startToCloseTimeout: leftMs + 600_000,
    retry: REVOKE_FIRST.retry!,
  };
}

/** How long the expiry (or a revoke) waits for an update already running; then access ends anyway. */
export const UPDATE_GRACE_MS = 30_000;
/** How often a grant retries, on its own, to drop its retained account. */
export const RETAINED_RETRY_MS = 24 * 3600_000;
/** How long an extension waits for an approver when no approval timeout is known. */
export const DEFAULT_EXTENSION_TIMEOUT_MS = 24 * 3600_000;
/** How long after the expiry an armed revocation may take to report before the grant shows REVOKING. */
export const ARMED_REPORT_GRACE_MS = 10_000;
/**
 * How long after the expiry an armed revocation may take to report before the ordinary
 * revocation runs beside it: its worker may be lost, or the attempt lost on its way to one
 * (docs/decisions/0703-a-burst-after-a-lost-worker.md).
 */
export const ARMED_BACKUP_MS = ARMED_REPORT_GRACE_MS;

/** One audit event to the event stream: retried for `deliverForMs` in all; the heartbeat keeps which endpoints have it. */
export function eventDelivery(deliverForMs: number): ActivityOptions {
  return {
    startToCloseTimeout: '30s',
    heartbeatTimeout: '30s',
    scheduleToCloseTimeout: Math.max(60_000, deliverForMs),
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
  };
}

export const db = proxyActivities<GrantActivities>(DATABASE);
export const events = proxyActivities<GrantActivities>(eventDelivery(24 * 3600_000));
export const audit = proxyActivities<GrantActivities>(AUDIT);
export const notify = proxyActivities<GrantActivities>(NOTIFY);
export const revokeFirst = proxyActivities<GrantActivities>(REVOKE_FIRST);
export const untilDone = proxyActivities<GrantActivities>(UNTIL_DONE);
export const repair = proxyActivities<ReconcileActivities>(DATABASE);
export const retryingDrop = proxyActivities<GrantActivities>(RETRY_DROP);
export const finishing = proxyActivities<GrantActivities>(FINISH_LOWERING);
