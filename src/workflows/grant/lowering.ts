import { CancellationScope, isCancellation, log } from '@temporalio/workflow';
import { ActivityErrorType, innermostMessage, type ChangeLevelArgs, type ChangeLevelResult } from '../../domain';
import { writeAuditUntilDone } from './audit';
import { failureType } from './errors';
import { alertAdmins, notifyInBackground } from './notify';
import { FINISH_LOWERING, finishing } from './options';
import type { Grant, LoweringWork } from './state';

// Lowering access only lowers it: a lowering that fails midway is finished, never
// undone (docs/decisions/0105-lowering-only-lowers.md).

/** The grant is at its new level; what that means for the approval bound (see ChangeLevelArgs.approval). */
export function applyLevel(g: Grant, args: ChangeLevelArgs, privileges: string[]): void {
  g.state.accessLevel = args.accessLevel;
  g.state.privileges = privileges;
  if (args.approval === null) {
    // The new level needs no approval: there is nothing left for an extension to exceed.
    delete g.state.approvedUntil;
  } else if (args.approval) {
    // Only an admin reaches a level behind the gate: the grant as it stands is approved.
    g.gate = args.approval;
    g.state.approvedUntil ??= g.state.expiresAt;
  }
  g.publish();
}

/**
 * A lowering failed after its audit: the lower level stays, administrators are
 * alerted once, and the rest is retried in the background, outside the update
 * lock, so that neither later changes nor the expiry wait for it.
 */
export function finishLoweringLater(
  g: Grant,
  args: ChangeLevelArgs,
  previousLevel: string,
  previous: string[],
  privileges: string[],
  changedEventId: string,
  err: unknown,
): ChangeLevelResult {
  const sessionsOnly = failureType(err) === ActivityErrorType.SessionsNotEnded;
  applyLevel(g, args, privileges);
  const incomplete = sessionsOnly
    ? `${previousLevel} → ${args.accessLevel}: the privileges were lowered, but the account's open sessions could not be ended (${innermostMessage(err)}); ` +
      `${args.accessLevel} stays, and ending the sessions is retried until it succeeds`
    : `${previousLevel} → ${args.accessLevel} failed midway (${innermostMessage(err)}); ${previousLevel} is not restored: ` +
      `${args.accessLevel} is applied again, and the sessions ended, until it succeeds`;
  const record = g.auditRecord('LEVEL_CHANGE_INCOMPLETE', 'dbaccess', { detail: incomplete });
  g.commitEvent(record);
  const grant = g.snapshot();
  g.inBackground(() => writeAuditUntilDone(record, 'audit LEVEL_CHANGE_INCOMPLETE'));
  g.inBackground(() =>
    alertAdmins(
      g,
      { kind: 'LEVEL_CHANGE_INCOMPLETE', grant, eventId: record.eventId, detail: incomplete, owner: g.request.owner },
      'alert administrators: a lowering of access could not finish',
    ),
  );
  finishLowering(g, { step: sessionsOnly ? 'sessions' : 'privileges', previous });
  notifyInBackground(g, 'LEVEL_CHANGED', changedEventId, {
    previous: { accessLevel: previousLevel, privileges: previous },
    actor: args.actor,
    ...(args.reason ? { reason: args.reason } : {}),
  });
  return { accessLevel: args.accessLevel, sessionsKilled: 0, incomplete };
}

/** Applies the lower level again (if needed) and ends the account's sessions, retrying until done or stopped. */
export function finishLowering(g: Grant, work: LoweringWork): void {
  const scope = new CancellationScope();
  const ref = g.accountRef();
  const level = g.state.accessLevel;
  const privileges = g.state.privileges;
  const lowering = { work, scope, done: Promise.resolve() };
  lowering.done = scope
    .run(async () => {
      if (work.step === 'privileges') {
        try {
          await finishing.changePrivileges.executeWithOptions(
            { ...FINISH_LOWERING, summary: `apply ${level} (${privileges.join(', ')}) again to ${g.state.account}: a lowering is finished, never undone` },
            [{ ...ref, privileges, previous: work.previous }],
          );
          return;
        } catch (err) {
          if (isCancellation(err) || failureType(err) !== ActivityErrorType.SessionsNotEnded) throw err;
          work.step = 'sessions';
        }
      }
      await finishing.endSessions.executeWithOptions({ ...FINISH_LOWERING, summary: `end the open sessions of ${g.state.account}, lowered to ${level}` }, [ref]);
    })
    .then(
      () => log.info('lowering finished', { grantId: g.state.grantId, accessLevel: level }),
      (err: unknown) => {
        if (!isCancellation(err)) log.error('lowering could not be finished', { grantId: g.state.grantId, message: innermostMessage(err) });
      },
    )
    .finally(() => {
      if (g.lowering === lowering) g.lowering = undefined;
    });
  g.lowering = lowering;
}

/** Stops finishing a lowering (a new level, or the end of access, supersedes it). */
export async function stopLowering(g: Grant): Promise<void> {
  const lowering = g.lowering;
  if (!lowering) return;
  lowering.scope.cancel();
  await lowering.done;
}
