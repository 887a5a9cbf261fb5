import { ApplicationFailure } from '@temporalio/common';

import { ActivityErrorType, activityError } from '../../errors';
import { isAccessDenied, isConnectionFailure } from './errors';

// One method call of the account manager, and what its failures carry: the
// call's signal (the caller's, or its time budget), the codes of the failures
// the manager raises itself, and the driver error behind a mapped failure.

/** Codes (in details) of the failures this module raises itself. */
export const Code = {
  Cancelled: 'CANCELLED',
  OperationTimeout: 'OPERATION_TIMEOUT',
  QueryTimeout: 'QUERY_TIMEOUT',
  AcquireTimeout: 'ACQUIRE_TIMEOUT',
} as const;

/**
 * One method call: `signal` aborts when the caller's signal does or the call's
 * time budget is spent; `caller` tells the two apart.
 */
export interface Call {
  readonly secretId: string;
  readonly signal: AbortSignal;
  readonly caller: AbortSignal | undefined;
  readonly budgetMs: number;
}

export function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value ?? '');
}

/** Why the call stops; `running` when a statement was under way (and whether it was seen to end on the server). */
export function callFailure(call: Call, purpose: string, running?: { stopped: boolean }): ApplicationFailure {
  const cancelled = call.caller?.aborted === true;
  const why = cancelled ? 'cancelled' : `stopped after ${call.budgetMs} ms (the call's time limit)`;
  const message = running
    ? `${why} while trying to ${purpose}; the statement ${running.stopped ? 'was killed on the server' : 'could not be confirmed killed (the server ends it at its own time limit)'}`
    : `${why} before trying to ${purpose}`;
  return activityError(ActivityErrorType.DatabaseUnavailable, `database server of ${call.secretId}: ${message}`, {
    code: cancelled ? Code.Cancelled : Code.OperationTimeout,
  });
}

export function checkCall(call: Call, purpose: string): void {
  if (call.signal.aborted) throw callFailure(call, purpose);
}

/** The driver error a mapped failure came from, to decide on a retry without parsing messages. */
export const driverErrors = new WeakMap<object, unknown>();

export function driverErrorOf(err: unknown): unknown {
  return err !== null && typeof err === 'object' ? driverErrors.get(err) : undefined;
}

/** `next` stands for `previous`: keeps what the retry decision needs to know about the driver error. */
export function withDriverError(next: ApplicationFailure, previous: ApplicationFailure): ApplicationFailure {
  const raw = driverErrors.get(previous);
  if (raw !== undefined) driverErrors.set(next, raw);
  return next;
}

function codeOfFailure(err: unknown): string | undefined {
  if (!(err instanceof ApplicationFailure)) return undefined;
  const d = err.details?.[0] as { code?: unknown } | undefined;
  return typeof d?.code === 'string' ? d.code : undefined;
}

/** A failure worth re-reading the admin secret for (the server may have moved): not our own timeouts or cancellations. */
export function isConnectionLevel(err: unknown, phase: 'open' | 'work'): boolean {
  const raw = driverErrorOf(err) || err;
  if (raw instanceof ApplicationFailure) {
    const code = codeOfFailure(raw);
    // Before any statement of the work: a server that hangs may have moved.
    return phase === 'open' && (code === Code.AcquireTimeout || code === Code.QueryTimeout);
  }
  return isConnectionFailure(raw);
}

export function isLoginRefusal(err: unknown): boolean {
  return isAccessDenied(driverErrorOf(err) || err);
}

