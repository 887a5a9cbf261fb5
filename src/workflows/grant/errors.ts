import { ApplicationFailure } from '@temporalio/workflow';

/** The type of the failure a grant ends with when provisioning (or an adoption) fails for good. */
export const GRANT_FAILED_ERROR = 'GrantFailed';

/** The type of the application failure at the root of a failure chain, if any. */
export function failureType(err: unknown): string | undefined {
  let current: unknown = err;
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure) return current.type ?? undefined;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
