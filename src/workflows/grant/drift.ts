import { ApplicationFailure, CancellationScope } from '@temporalio/workflow';
import { innermostMessage, type PrivilegeRepair, type RepairDriftArgs, type RepairDriftResult } from '../../domain';
import { writeAuditUntilDone } from './audit';
import { DATABASE, repair } from './options';
import type { Grant } from './state';
import { exclusive } from './updates';

// The repairDrift update: the reconciler found the account changed by hand. It is
// checked and repaired here, in turn with the grant's own changes, and shows in
// its history: privileges set back exactly; a dropped account is not re-created
// (someone removed access on purpose, or the server lost it): the grant is revoked.

export function repairDrift(g: Grant, args: RepairDriftArgs): Promise<RepairDriftResult> {
  return exclusive(g, () =>
    CancellationScope.nonCancellable(async (): Promise<RepairDriftResult> => {
      const schema = g.request.target.schema;
      let found: PrivilegeRepair;
      try {
        found = await repair.repairPrivileges.executeWithOptions(
          { ...DATABASE, summary: `reconcile: check that ${g.state.account} holds exactly ${g.state.accessLevel} (${g.state.privileges.join(', ')}) on ${schema}` },
          [{ ...g.accountRef(), privileges: g.state.privileges, ...(g.lastRepair ? { lastRepair: g.lastRepair } : {}) }],
        );
      } catch (err) {
        throw ApplicationFailure.create({ type: 'DriftRepairFailed', message: `the account could not be checked or repaired: ${innermostMessage(err)}`, nonRetryable: true });
      }
      if (found.status === 'clean') return { outcome: 'clean', detail: `${g.state.account} holds exactly the grant's privileges` };
      if (found.status === 'recurring') {
        // The same difference as last time, with no new cause since: a repair that does
        // not hold is reported, not repeated (each repair ends the sessions).
        const last = g.lastRepair;
        const what = [...(last?.removed.length ? [`removed ${last.removed.join(', ')}`] : []), ...(last?.restored.length ? [`restored ${last.restored.join(', ')}`] : [])].join('; ');
        return {
          outcome: 'recurring',
          detail: `${g.state.account} differs from ${g.state.accessLevel} on ${schema} exactly as before the last repair (${what || 'the same difference'}); not repaired again until the grant changes`,
        };
      }
      const detail =
        found.status === 'missing'
          ? `account ${g.state.account} no longer exists on the server; it is not re-created: the grant is revoked`
          : `${g.state.account} held ${found.before.join(', ') || 'nothing'} on ${schema}; set back to ${g.state.privileges.join(', ')}` +
            (found.removed.length ? `; removed ${found.removed.join(', ')}` : '') +
            (found.restored.length ? `; restored ${found.restored.join(', ')}` : '') +
            (found.sessionsKilled ? `; ${found.sessionsKilled} session(s) ended` : '');
      const record = g.auditRecord('DRIFT_REPAIRED', args.actor, { reason: args.reason, detail });
      g.commitEvent(record);
      // In the background: an audit outage must not hold the update lock, which the end of access waits for.
      g.inBackground(() => writeAuditUntilDone(record, 'audit DRIFT_REPAIRED'));
      if (found.status === 'missing') {
        g.revokeRequest ??= { actor: args.actor, reason: detail };
        return { outcome: 'revoking', detail };
      }
      g.lastRepair = { removed: [...found.removed], restored: [...found.restored] };
      return { outcome: 'repaired', detail };
    }),
  );
}
