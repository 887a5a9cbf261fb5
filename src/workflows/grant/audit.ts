import { ApplicationFailure, CancellationScope } from '@temporalio/workflow';
import type { AuditRecord } from '../../contract/activities';
import { GrantErrorType, innermostMessage } from '../../domain';
import { AUDIT, UNTIL_DONE, audit, untilDone } from './options';

// Writes to the audit trail. Each event has a deterministic id, so a retried
// write of the same event is a no-op.

/** A write that may fail after a few attempts (provisioning rolls back then). */
export function writeAudit(record: AuditRecord, summary: string): Promise<{ written: boolean }> {
  return audit.recordAudit.executeWithOptions({ ...AUDIT, summary }, [record]);
}

/** A write retried until it is done: what it records has already happened. */
export function writeAuditUntilDone(record: AuditRecord, summary: string): Promise<{ written: boolean }> {
  return untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary }, [record]);
}

/** Writes the audit event of a change before the change is made; if it cannot be written, the change is refused. */
export async function auditBeforeChange(record: AuditRecord, summary: string): Promise<void> {
  try {
    await CancellationScope.nonCancellable(() => writeAudit(record, summary));
  } catch (err) {
    throw ApplicationFailure.create({
      type: GrantErrorType.AuditUnavailable,
      message: `the change was not made because it could not be audited (${innermostMessage(err)}); try again later`,
      nonRetryable: true,
    });
  }
}
