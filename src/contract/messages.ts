import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApproveArgs, ChangeLevelArgs, ChangeLevelResult, DenyArgs, ExtendArgs, ExtendResult, GrantState, GrantStatus, RetryDropArgs, RetryDropResult, ReviewArgs, RevokeArgs } from '../domain/grant';
import type { RepairDriftArgs, RepairDriftResult } from '../domain/reconcile';
import type { AuditRecord } from './activities';

// Messages a grant workflow accepts, defined once so that the API and the tests
// send exactly what the workflow handles. Their names are recorded in workflow
// history: never rename one that has shipped. Why updates and when a signal:
// docs/decisions/0101-one-update-at-a-time.md.

/** Revoke is a signal: it must always be accepted, even while the grant is still
 * being provisioned, and the caller does not need to wait for the revocation. */
export const revokeSignal = defineSignal<[RevokeArgs]>('revoke');

/** An audit event of the grant written outside its workflow (the API's CREDENTIALS_VIEWED): the workflow adds it to its event stream. */
export const auditedElsewhereSignal = defineSignal<[AuditRecord]>('auditedElsewhere');

/** Extend and change level are updates, so the caller learns at once (from the
 * validator) whether the change was accepted, and the reply comes after it has
 * been audited and applied. */
export const extendUpdate = defineUpdate<ExtendResult, [ExtendArgs]>('extend');
export const changeAccessLevelUpdate = defineUpdate<ChangeLevelResult, [ChangeLevelArgs]>('changeAccessLevel');

/** The approval gate's decisions: updates, so that a refusal (not pending, one's
 * own request) is known at once and the reply comes after the decision is audited.
 * On an ACTIVE grant they decide its extension waiting for approval. */
export const approveUpdate = defineUpdate<{ status: GrantStatus }, [ApproveArgs]>('approve');
export const denyUpdate = defineUpdate<{ status: GrantStatus }, [DenyArgs]>('deny');

/** A standing grant's review (docs/decisions/0109-standing-grants-reviewed.md): a reviewer keeps it for
 * another period (the expiry moves to now + the review period) or revokes it. An update, so that a refusal
 * (the grantee keeping their own access, a link for another review) is known at once. */
export const reviewUpdate = defineUpdate<{ status: GrantStatus; expiresAt: string }, [ReviewArgs]>('review');

/** From the reconciler: check the account against the grant and set its privileges back (in the grant's
 * own history, one change at a time with extend and change level). */
export const repairDriftUpdate = defineUpdate<RepairDriftResult, [RepairDriftArgs]>('repairDrift');

/** From the reconciler (or an administrator): try again to drop an account the server
 * refused to drop when access ended (it is retained, contained, meanwhile). */
export const retryDropUpdate = defineUpdate<RetryDropResult, [RetryDropArgs]>('retryDrop');

/** The API's wait for a new grant: answered, with the grant's state, as soon as its
 * status is one of `statuses` (ACTIVE, waiting for approval, or ended). Sent with
 * the start (update-with-start), it needs no polling and changes nothing. */
export const awaitStatusUpdate = defineUpdate<GrantState, [{ statuses: GrantStatus[] }]>('awaitStatus');

export const grantStateQuery = defineQuery<GrantState>('grantState');
