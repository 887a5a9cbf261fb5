import { ApplicationFailure, log, patched } from '@temporalio/workflow';
import { ActivityErrorType, accountLabel, describeLeftBehind, formatDuration, innermostMessage } from '../../domain';
import { boundAdoptedAccount } from './account-expiry';
import { awaitApproval } from './approval';
import { writeAudit, writeAuditUntilDone } from './audit';
import { GRANT_FAILED_ERROR, failureType } from './errors';
import { notifyGrantee, sendAdminAlert } from './notify';
import { DATABASE, NOTIFY, db, notify } from './options';
import { CHECK_WITH_REQUESTED_AUDIT } from './patches';
import { endingOf, revokeUntilDone } from './revocation';
import type { Grant } from './state';

// Provisioning as a saga: audit REQUESTED, (the approval gate), check the target,
// create the account, grant privileges, audit GRANTED, notify. Each step's
// compensation is registered before the step runs; on a failure after its retries
// they run in reverse, ROLLED_BACK is audited, administrators are told, and the
// grant ends FAILED. The caller shields all of it from cancellation
// (docs/decisions/0107-provisioning-saga.md).

/** A step's undo; `unless` skips it for failures after which there is nothing of ours to undo. */
interface Compensation {
  name: string;
  run: () => Promise<string | void>;
  unless?: (err: unknown) => boolean;
}

/** Runs the provisioning steps; on a failure, their compensations. Returns whether the grant became ACTIVE. */
export async function provision(g: Grant): Promise<boolean> {
  const { request, state } = g;
  const compensations: Compensation[] = [];
  let step = 'audit REQUESTED';
  const checkTarget = () =>
    db.checkTarget.executeWithOptions({ ...DATABASE, summary: `check ${request.target.schema} and its admin secret ${request.target.adminSecretId}` }, [g.accountRef()]);
  let checked: ReturnType<typeof checkTarget> | undefined;
  try {
    const requested = g.auditRecord('REQUESTED', request.requestedBy, {
      reason: request.reason,
      // Break-glass: said where the request is audited, before anything is created.
      ...(request.breakGlass ? { detail: `break-glass: granted without approval for ${formatDuration(request.maxDurationMs)} at most, never extended; the administrators and the owner are alerted and it is reviewed after the fact` } : {}),
    });
    const recorded = writeAudit(requested, `audit REQUESTED by ${request.requestedBy}`);
    // Checking the target creates nothing, so it runs while REQUESTED is being audited;
    // not for a grant that waits for approval, whose check must be fresh when approved.
    if (!request.approval && patched(CHECK_WITH_REQUESTED_AUDIT)) {
      const inFlight = checkTarget();
      inFlight.catch(() => undefined); // its failure is handled at its step below
      checked = inFlight;
    }
    await recorded;
    g.commitEvent(requested);

    if (request.approval) {
      step = 'audit APPROVAL_REQUESTED';
      if (!(await awaitApproval(g, request.approval))) return false;
    }
    // A duration's clock starts now, when access is about to be granted.
    if (request.durationMs !== undefined) state.expiresAt = new Date(Date.now() + request.durationMs).toISOString();
    // A standing grant's first review period too, when it waited for an approver (0109).
    if (request.standing && request.approval && state.standing) {
      state.expiresAt = new Date(Date.now() + request.standing.reviewMs).toISOString();
      state.standing.reviewBy = state.expiresAt;
    }
    // What the approver agreed to: extensions beyond it wait for an approver.
    if (request.approval) state.approvedUntil = state.expiresAt;
    g.setStatus('PROVISIONING');

    // Before anything is created: a wrong admin secret, an unreachable server or a
    // missing schema fails here, with nothing to undo.
    step = 'check target';
    await (checked ?? checkTarget());

    // Compensations are registered before their step: a step that fails may have done
    // part of its work, and every compensation is idempotent.
    step = 'create account';
    compensations.push({
      name: 'drop account and delete secret',
      run: async () => {
        // Should the server refuse the drop, the trail must say the account is still there (contained).
        const ending = endingOf(await revokeUntilDone(g, 'rollback'));
        if (ending.dropped) return;
        return `the server refused to drop the account (${ending.refusal ?? 'no reason given'}); it stays contained${ending.leftBehindCount ? `, defining ${describeLeftBehind(ending.leftBehind, ending.leftBehindCount)}` : ''}`;
      },
      // The account name was taken by an account this grant does not own: leave it alone.
      unless: (err) => failureType(err) === ActivityErrorType.AccountConflict,
    });
    const created = await db.createAccount.executeWithOptions({ ...DATABASE, summary: `create account ${state.account} and store its secret ${request.secretName}` }, [
      { ...g.accountRef(), validUntil: state.expiresAt },
    ]);
    state.secretName = created.secretName;
    state.connection = created.connection;

    step = 'grant privileges';
    compensations.push({
      name: 'revoke privileges',
      run: () => db.revokePrivileges.executeWithOptions({ ...DATABASE, summary: `compensate: revoke privileges of ${state.account}` }, [g.accountRef()]),
    });
    await db.grantPrivileges.executeWithOptions(
      { ...DATABASE, summary: `grant ${state.accessLevel} (${state.privileges.join(', ')}) on ${request.target.schema}` },
      [{ ...g.accountRef(), privileges: state.privileges }],
    );

    step = 'audit GRANTED';
    const granted = g.auditRecord('GRANTED', request.requestedBy, { reason: request.reason });
    await writeAudit(granted, `audit GRANTED ${state.accessLevel} until ${state.expiresAt}`);
    g.commitEvent(granted);

    step = 'notify';
    await notify.notifyGrant.executeWithOptions({ ...NOTIFY, summary: `email GRANTED to ${state.email} and the project owner` }, [
      { kind: 'GRANTED', grant: state, owner: request.owner, eventId: granted.eventId, schema: request.target.schema },
    ]);

    state.grantedAt = new Date().toISOString();
    g.setStatus('ACTIVE');
    return true;
  } catch (err) {
    await rollBack(g, step, err, compensations);
    return false;
  }
}

/**
 * Adopts an account the old scripts created: verify it holds exactly the level
 * (nothing is created or changed but the owner mark of an engine that keeps one), audit ADOPTED, ACTIVE; from then on it is like
 * any other grant. A refusal is audited ADOPTION_REFUSED and the grant ends FAILED.
 * The password stays the one the scripts handed out; dbaccess never knows it.
 */
export async function adopt(g: Grant): Promise<boolean> {
  const { request, state } = g;
  const adoption = request.adoption!;
  const { requestedBy } = request;
  const at = accountLabel(request.target, state.account);
  let step = 'audit REQUESTED';
  try {
    const requested = g.auditRecord('REQUESTED', requestedBy, {
      reason: request.reason,
      detail: `adoption of ${at}, created by the old scripts (${adoption.source})`,
    });
    await writeAudit(requested, `audit REQUESTED (adoption) by ${requestedBy}`);
    g.commitEvent(requested);
    g.setStatus('PROVISIONING');

    step = 'verify adoption';
    const { connection } = await db.verifyAdoption.executeWithOptions(
      { ...DATABASE, summary: `verify ${at} holds exactly ${state.accessLevel} (${state.privileges.join(', ')}) on ${request.target.schema}; mark it as this grant's where the server records owners, change nothing else` },
      [{ ...g.accountRef(), privileges: state.privileges }],
    );
    state.connection = connection;
    await boundAdoptedAccount(g);

    step = 'audit ADOPTED';
    const record = Object.entries(adoption.oldRecord)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    const adopted = g.auditRecord('ADOPTED', requestedBy, {
      reason: request.reason,
      detail: [
        `${at} verified: ${state.accessLevel} (${state.privileges.join(', ')}) on ${request.target.schema}; kept as it is, password unchanged and not stored by dbaccess`,
        `old record: ${record}`,
        ...adoption.notes,
      ].join('; '),
    });
    await writeAudit(adopted, `audit ADOPTED ${state.accessLevel} until ${state.expiresAt}`);
    g.commitEvent(adopted);
    state.grantedAt = new Date().toISOString();
    g.setStatus('ACTIVE');
    const grant = g.snapshot();
    g.inBackground(() => notifyGrantee(g, 'ADOPTED', grant, adopted.eventId));
    return true;
  } catch (err) {
    const message = innermostMessage(err);
    log.warn('adoption refused', { grantId: state.grantId, step, message });
    state.failure = { step, message };
    const refused = g.auditRecord('ADOPTION_REFUSED', requestedBy, { detail: `step "${step}" failed: ${message}; nothing was changed on the server` });
    await writeAuditUntilDone(refused, 'audit ADOPTION_REFUSED');
    g.commitEvent(refused);
    g.setStatus('FAILED');
    await g.settle();
    throw ApplicationFailure.create({
      type: GRANT_FAILED_ERROR,
      message: `adoption refused at step "${step}": ${message}; nothing was changed`,
      nonRetryable: true,
      details: [{ step }],
    });
  }
}

async function rollBack(g: Grant, step: string, err: unknown, compensations: Compensation[]): Promise<never> {
  const message = innermostMessage(err);
  log.warn('grant provisioning failed; rolling back', { grantId: g.state.grantId, step, message });
  g.setStatus('ROLLING_BACK');
  const undone: string[] = [];
  for (const c of [...compensations].reverse()) {
    if (c.unless?.(err)) continue;
    try {
      const note = await c.run();
      undone.push(note ? `${c.name} (${note})` : c.name);
    } catch (compErr) {
      // Keep going: the remaining compensations must still run.
      log.error('compensation failed', { grantId: g.state.grantId, compensation: c.name, message: innermostMessage(compErr) });
    }
  }
  g.state.failure = { step, message };
  const detail = `step "${step}" failed: ${message}; undone: ${undone.length ? undone.join(', ') : 'nothing to undo'}`;
  const rolledBack = g.auditRecord('ROLLED_BACK', 'dbaccess', { detail });
  try {
    await writeAudit(rolledBack, 'audit ROLLED_BACK');
    g.commitEvent(rolledBack);
  } catch (auditErr) {
    log.error('could not write the ROLLED_BACK audit event', { grantId: g.state.grantId, message: innermostMessage(auditErr) });
    // The grant's own history still says what happened, and that the trail lacks it.
    g.commitEvent({ ...rolledBack, detail: `${detail} (not in the audit trail: ${innermostMessage(auditErr)})` });
  }
  g.setStatus('FAILED');
  try {
    await sendAdminAlert({ kind: 'FAILED', grant: g.state, eventId: rolledBack.eventId, detail }, 'email FAILED to administrators');
  } catch (mailErr) {
    log.error('could not e-mail administrators about the failed grant', { grantId: g.state.grantId, message: innermostMessage(mailErr) });
  }
  await g.settle();
  throw ApplicationFailure.create({
    type: GRANT_FAILED_ERROR,
    message: `grant failed at step "${step}": ${message}; everything it created was rolled back`,
    nonRetryable: true,
    details: [{ step }],
  });
}
