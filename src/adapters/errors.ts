import { ApplicationFailure } from '@temporalio/common';

import { ActivityErrorType, type ActivityErrorTypeName } from '../domain/errors';

export { ActivityErrorType, type ActivityErrorTypeName };

/** A failure that carries a type and a safe message (no cause chain, so no driver text leaks). */
export function activityError(type: ActivityErrorTypeName, message: string, details?: Record<string, string | number | boolean>): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: false, ...(details ? { details: [details] } : {}) });
}

/** Removes every occurrence of the given secrets from a text. */
export function scrub(text: string, ...secrets: (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}
