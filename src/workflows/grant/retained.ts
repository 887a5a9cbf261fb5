import { CancellationScope, allHandlersFinished, condition, continueAsNew, workflowInfo } from '@temporalio/workflow';
import type { AuditRecord, RevocationResult } from '../../contract/activities';
import { innermostMessage, type RetryDropArgs, type RetryDropResult } from '../../domain';
import type { grantAccess } from '../grant-access';
import { writeAuditUntilDone } from './audit';
import { notifyOrRecord, sendAdminAlert } from './notify';
import { RETAINED_RETRY_MS, RETRY_DROP, retryingDrop } from './options';
import { endingOf } from './revocation';
import type { Grant } from './state';

// A retained account: access has ended (the account is contained), but the server
// refused to drop it. The workflow stays open until a retried drop succeeds
// (docs/decisions/0106-retained-accounts.md).

/** Once per retained account: the administrators, with the project owner told; NOTIFY_FAILED if it cannot be sent. */
export async function alertRetained(g: Grant, record: AuditRecord): Promise<void> {
  const grant = g.snapshot();
  await notifyOrRecord(g, 'ACCOUNT_RETAINED', () =>
    sendAdminAlert(
      { kind: 'ACCOUNT_RETAINED', grant, eventId: record.eventId, detail: record.detail ?? '', owner: g.request.owner },
      `alert administrators and the owner: account ${g.state.account} retained`,
    ),
  );
}

/** Waits, trying the drop once a day or when asked, until the account is dropped. */
export async function holdRetained(g: Grant): Promise<void> {
  while (g.state.retained) {
    if (workflowInfo().continueAsNewSuggested) {
      await g.settle();
      if (g.state.retained && allHandlersFinished()) await continueAsNew<typeof grantAccess>(g.request, g.carry('retained'));
    }
    const tries = g.dropTryCount;
    const woken = await condition(() => !g.state.retained || g.dropTryCount !== tries || workflowInfo().continueAsNewSuggested, RETAINED_RETRY_MS);
    if (!woken) await retryDrop(g, { actor: 'dbaccess', reason: 'the daily retry of a retained account' });
  }
  await g.settle();
}

export function validateRetryDrop(g: Grant, args: RetryDropArgs): void {
  if (typeof args?.actor !== 'string' || args.actor === '') g.invalid('actor: is required');
}

/** The retryDrop update (and the daily try): one try at a time; each restarts the daily wait. */
export function retryDrop(g: Grant, args: RetryDropArgs): Promise<RetryDropResult> {
  return g.dropTries.runExclusive(() => retryDropOnce(g, args));
}

async function retryDropOnce(g: Grant, args: RetryDropArgs): Promise<RetryDropResult> {
  const retained = g.state.retained;
  const account = g.state.account;
  if (!retained) return { outcome: 'not-retained', detail: `the grant is ${g.state.status}; its account ${account} is not retained` };
  g.dropTryCount += 1;
  let result: RevocationResult;
  try {
    result = await CancellationScope.nonCancellable(() =>
      retryingDrop.revokeAccess.executeWithOptions(
        { ...RETRY_DROP, summary: `retry the drop of the retained account ${account} (contained since ${retained.since}), asked by ${args.actor}` },
        [{ ...g.accountRef(), ...(g.ownsAccount() ? { owned: true } : {}) }],
      ),
    );
  } catch (err) {
    return { outcome: 'retained', detail: `the drop could not be tried (${innermostMessage(err)}); ${account} stays retained, contained` };
  }
  const ending = endingOf(result);
  if (!ending.dropped) {
    // Refused again: the picture is brought up to date; nothing is audited or alerted again.
    g.state.retained = {
      ...retained,
      reason: ending.refusal ?? retained.reason,
      ...(ending.leftBehindCount > 0 ? { objects: ending.leftBehind, objectCount: ending.leftBehindCount } : {}),
    };
    g.publish();
    return { outcome: 'retained', detail: `the server refused the drop again (${g.state.retained.reason}); ${account} stays retained, contained` };
  }
  const detail = `the retained account ${account} was dropped (contained since ${retained.since})`;
  const record = g.auditRecord('ACCOUNT_DROPPED', args.actor, { reason: args.reason, detail });
  await writeAuditUntilDone(record, `audit ACCOUNT_DROPPED ${account}`);
  g.commitEvent(record);
  delete g.state.retained;
  g.publish();
  return { outcome: 'dropped', detail };
}
