import { ApplicationFailure, CancellationScope, patched } from '@temporalio/workflow';
import {
  ACCESS_LEVEL_NAME,
  GrantErrorType,
  checkExpiryWindow,
  formatDuration,
  innermostMessage,
  isDowngrade,
  catalogueOf,
  parseExpiry,
  type ChangeLevelArgs,
  type ChangeLevelResult,
  type ExtendArgs,
  type ExtendResult,
} from '../../domain';
import { moveAccountExpiry } from './account-expiry';
import { auditBeforeChange, writeAuditUntilDone } from './audit';
import { refuseBreakGlassChange } from './break-glass';
import { refuseWhileExtensionPending, requestExtension } from './extension-approval';
import { applyLevel, finishLoweringLater, stopLowering } from './lowering';
import { notifyInBackground } from './notify';
import { DATABASE, LOWERING, db } from './options';
import { LOWERING_ONLY_LOWERS } from './patches';
import type { Grant } from './state';
import { exclusive } from './updates';

// The extend and changeAccessLevel updates. Validators refuse bad input before it
// reaches history; the change itself runs in turn with the other updates, and is
// audited before it is made, so access never exceeds what the trail says.

export function validateExtend(g: Grant, args: ExtendArgs): void {
  refuseBreakGlassChange(g, 'extended');
  g.requireActive();
  // Its review bounds a standing grant: only a reviewer's keep moves its deadline.
  if (g.request.standing) g.invalid(`this is a standing grant, reviewed every ${formatDuration(g.request.standing.reviewMs)}: its deadline ${g.state.expiresAt} moves only when a reviewer keeps it (POST /grants/{grantId}/review)`);
  g.refuseAtExpiry();
  refuseWhileExtensionPending(g);
  if (typeof args?.expiresAt !== 'string') g.invalid('expiresAt: is required');
  const parsed = parseExpiry(args.expiresAt);
  if (!parsed.ok) g.invalid(`expiresAt: ${parsed.reason}`);
  if (parsed.expiresAt.getTime() <= Date.parse(g.state.expiresAt)) {
    g.invalid(`expiresAt: must be later than the current expiry ${g.state.expiresAt}`);
  }
  const window = checkExpiryWindow(parsed.expiresAt, new Date(), g.request.maxDurationMs);
  if (window) g.invalid(`expiresAt: ${window}`);
}

export function extend(g: Grant, args: ExtendArgs): Promise<ExtendResult> {
  return exclusive(g, async () => {
    const previous = g.state.expiresAt;
    const next = (parseExpiry(args.expiresAt) as { expiresAt: Date }).expiresAt.toISOString();
    if (Date.parse(next) <= Date.parse(previous)) g.invalid(`expiresAt: must be later than the current expiry ${previous}`);
    refuseWhileExtensionPending(g);
    // Beyond what an approver agreed to, by someone who is neither an approver nor an admin:
    // the approvers decide. Without `mayExceedApproval` (older requests), it never waits.
    const bound = g.state.approvedUntil;
    if (args.mayExceedApproval === false && bound !== undefined && Date.parse(next) > Date.parse(bound)) return requestExtension(g, args, previous, next, bound);
    const record = g.auditRecord('EXTENDED', args.actor, { reason: args.reason, detail: `expiry moved from ${previous} to ${next}`, expiresAt: next });
    await auditBeforeChange(record, `audit EXTENDED until ${next}`);
    g.commitEvent(record);
    g.refuseIfEnding();
    g.state.expiresAt = next;
    // An approver or an admin extending is an approval of the new expiry.
    if (bound !== undefined && args.mayExceedApproval === true && Date.parse(next) > Date.parse(bound)) g.state.approvedUntil = next;
    g.expiryVersion++;
    g.publish();
    notifyInBackground(g, 'EXTENDED', record.eventId, { previous: { expiresAt: previous }, actor: args.actor, ...(args.reason ? { reason: args.reason } : {}) });
    await moveAccountExpiry(g, next);
    return { expiresAt: next };
  });
}

export function validateChangeLevel(g: Grant, args: ChangeLevelArgs): void {
  refuseBreakGlassChange(g, 'changed to another level');
  g.requireActive();
  g.refuseAtExpiry();
  if (typeof args?.accessLevel !== 'string' || !ACCESS_LEVEL_NAME.test(args.accessLevel)) g.invalid('accessLevel: must be a level name such as READ');
  try {
    catalogueOf(g.request.target).normalize(args.privileges ?? []);
  } catch (err) {
    g.invalid(`privileges: ${(err as Error).message}`);
  }
}

export function changeLevel(g: Grant, args: ChangeLevelArgs): Promise<ChangeLevelResult> {
  return exclusive(g, async () => {
    const previousLevel = g.state.accessLevel;
    const previous = g.state.privileges;
    if (args.accessLevel === previousLevel) return { accessLevel: previousLevel, sessionsKilled: 0 };
    // The target engine's names (MySQL's for a target that names no engine: grants begun before engines existed).
    const privileges = catalogueOf(g.request.target).normalize(args.privileges);
    const lowering = isDowngrade(previous, privileges);
    const detail = `${previousLevel} (${previous.join(', ')}) → ${args.accessLevel} (${privileges.join(', ')})`;
    const record = g.auditRecord('LEVEL_CHANGED', args.actor, { reason: args.reason, detail, accessLevel: args.accessLevel });
    return CancellationScope.nonCancellable(async () => {
      await auditBeforeChange(record, `audit LEVEL_CHANGED ${previousLevel} → ${args.accessLevel}`);
      g.commitEvent(record);
      g.refuseIfEnding();
      // A new level is a new cause: a difference the last repair saw may be right now.
      g.lastRepair = undefined;
      // A lowering still being finished gives way: this change sets the level afresh.
      await stopLowering(g);
      let sessionsKilled: number;
      try {
        ({ sessionsKilled } = await db.changePrivileges.executeWithOptions(
          { ...(lowering ? LOWERING : DATABASE), summary: `set ${args.accessLevel} (${privileges.join(', ')}) on ${g.request.target.schema} for ${g.state.account}` },
          [{ ...g.accountRef(), privileges, previous }],
        ));
      } catch (err) {
        // Access ended meanwhile (the expiry did not wait for this change): nothing to undo or finish.
        g.refuseIfEnding();
        // Lowering only lowers: finish it, never put the higher level back.
        if (lowering && patched(LOWERING_ONLY_LOWERS)) return finishLoweringLater(g, args, previousLevel, previous, privileges, record.eventId, err);
        // Put the old level back exactly and say so in the trail, then refuse the update.
        try {
          await db.grantPrivileges.executeWithOptions({ ...DATABASE, summary: `restore ${previousLevel} after a failed change` }, [{ ...g.accountRef(), privileges: previous }]);
        } catch (restoreErr) {
          // The account's privileges are now unknown: access that cannot be vouched for ends.
          const reason = `the change to ${args.accessLevel} failed (${innermostMessage(err)}) and ${previousLevel} could not be restored (${innermostMessage(restoreErr)})`;
          g.revokeRequest ??= { actor: 'dbaccess', reason };
          throw ApplicationFailure.create({ type: GrantErrorType.LevelChangeFailed, message: `${reason}; the grant is being revoked`, nonRetryable: true });
        }
        const back = g.auditRecord('LEVEL_CHANGED', 'dbaccess', { detail: `change to ${args.accessLevel} failed and was undone: ${innermostMessage(err)}`, accessLevel: previousLevel });
        g.commitEvent(back);
        // In the background: an audit outage must not hold the update lock, which the end of access waits for.
        g.inBackground(() => writeAuditUntilDone(back, 'audit LEVEL_CHANGED (undone)'));
        throw ApplicationFailure.create({ type: GrantErrorType.LevelChangeFailed, message: `the level change failed and was undone: ${innermostMessage(err)}`, nonRetryable: true });
      }
      g.refuseIfEnding();
      applyLevel(g, args, privileges);
      notifyInBackground(g, 'LEVEL_CHANGED', record.eventId, {
        previous: { accessLevel: previousLevel, privileges: previous },
        actor: args.actor,
        ...(args.reason ? { reason: args.reason } : {}),
      });
      return { accessLevel: args.accessLevel, sessionsKilled };
    });
  });
}
