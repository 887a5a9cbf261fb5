// Error types raised by activities. Whether a type is retried is the workflow's
// decision (its retry policies list the non-retryable types); activities only
// say what went wrong, without secrets, SQL text or driver internals.

export const ActivityErrorType = {
  /** The schema does not exist on the server. */
  UnknownDatabase: 'UnknownDatabase',
  /** The admin secret does not exist or is not in the expected format. */
  AdminSecretInvalid: 'AdminSecretInvalid',
  /** The admin account was refused by the server even after re-reading its secret. */
  AdminAccessDenied: 'AdminAccessDenied',
  /** The admin account lacks a privilege it needs. */
  AdminPrivilegeMissing: 'AdminPrivilegeMissing',
  /** An identifier or privilege failed validation (should have been caught earlier). */
  InvalidIdentifier: 'InvalidIdentifier',
  /** The database server could not be reached or failed; retried. */
  DatabaseUnavailable: 'DatabaseUnavailable',
  /** The account name is taken by an account this grant does not own (not created by it, or by another grant). */
  AccountConflict: 'AccountConflict',
  /** An account the old scripts created cannot be adopted: missing, or its privileges are not the level's. */
  AdoptionRefused: 'AdoptionRefused',
  /** SMTP refused every recipient or the message; retried a few times. */
  MailRejected: 'MailRejected',
  /**
   * A lowering of privileges was applied but the account's open sessions could not be
   * ended (e.g. MySQL without CONNECTION_ADMIN): the lower level stays, the workflow
   * alerts and retries ending the sessions (endSessions); it never raises them again.
   */
  SessionsNotEnded: 'SessionsNotEnded',
  /** An event stream endpoint does not have an event yet (unreachable, or answered 408, 429 or 5xx): tried again. */
  EventNotDelivered: 'EventNotDelivered',
} as const;

export type ActivityErrorTypeName = (typeof ActivityErrorType)[keyof typeof ActivityErrorType];

/** Types that no retry can fix during provisioning: the workflow rolls back at once. */
export const PERMANENT_PROVISIONING_ERRORS: ActivityErrorTypeName[] = [
  ActivityErrorType.UnknownDatabase,
  ActivityErrorType.AdminSecretInvalid,
  ActivityErrorType.InvalidIdentifier,
  ActivityErrorType.AdminPrivilegeMissing,
  ActivityErrorType.AccountConflict,
  ActivityErrorType.AdoptionRefused,
];


/** The innermost readable message of a failure chain (activity → application failure → cause). */
export function innermostMessage(err: unknown): string {
  let current: unknown = err;
  let message = err instanceof Error ? err.message : String(err);
  while (current instanceof Error && (current as { cause?: unknown }).cause instanceof Error) {
    current = (current as { cause: Error }).cause;
    if ((current as Error).message) message = (current as Error).message;
  }
  return message;
}
