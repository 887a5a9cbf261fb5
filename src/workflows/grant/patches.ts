// patched() ids: grants that started before a change replay the code they ran;
// the ids are recorded in history, never rename one (docs/decisions/0103-workflow-patches.md).

/** The target is checked while REQUESTED is audited, not after. */
export const CHECK_WITH_REQUESTED_AUDIT = 'check-target-with-requested-audit';
/** The expiry and a revoke wait for a running update for UPDATE_GRACE_MS at most. */
export const BOUNDED_UPDATE_WAIT = 'bounded-update-wait';
/** An update that reaches the front of the queue at or after the expiry is refused. */
export const NO_UPDATE_AFTER_EXPIRY = 'no-update-after-expiry';
/** A lowering that fails is finished, never undone. */
export const LOWERING_ONLY_LOWERS = 'lowering-only-lowers';
/** An accepted extension moves the account's expiry on the server (setAccountExpiry). */
export const ACCOUNT_EXPIRY = 'account-expiry';
/** An adopted account gets the grant's expiry on the server too (setAccountExpiry after verifyAdoption). */
export const ADOPTED_ACCOUNT_EXPIRY = 'adopted-account-expiry';
/** An armed revocation that has not reported ARMED_BACKUP_MS after the expiry gets the ordinary revocation beside it. */
export const ARMED_BACKUP = 'armed-backup';
