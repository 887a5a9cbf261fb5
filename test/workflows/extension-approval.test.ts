import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ApprovalMailRequest } from '../../src/activities';
import { GrantErrorType, type ApprovalRequirement, type GrantRequest, type GrantState } from '../../src/domain';
import { grantAccess } from '../../src/workflows';
import { approveUpdate, changeAccessLevelUpdate, denyUpdate, extendUpdate, grantStateQuery, revokeSignal } from '../../src/contract/messages';
import { uniqueTaskQueue } from '../support/temporal';
import { useTimeSkipping } from './harness';
import { DAY, RecordedActivities, grantRequest } from './fixtures';

// An approval bounds what was approved (issue 13, item 2): an extension beyond the
// approved expiry, asked by someone who is neither an approver nor an admin, waits
// for an approver; the grant keeps its expiry meanwhile. And the approval gate has
// one outcome after its timeout (item 6b).

const HOUR = 3600_000;
const APPROVAL: ApprovalRequirement = { reasons: ['every ADMIN grant needs approval'], timeoutMs: 8 * HOUR, approvers: [{ name: 'Ann Approver', email: 'ann@example.com' }] };

describe('grantAccess workflow: extensions beyond an approval (time-skipping)', function () {
  this.timeout(120_000);
  const h = useTimeSkipping('extension');

  type Handle = Awaited<ReturnType<typeof start>>['handle'];

  async function start(taskQueue: string, overrides: Partial<GrantRequest> = {}, ttlMs = HOUR) {
    const now = new Date(await h.env.currentTimeMs());
    const request = { ...grantRequest({ now, ttlMs, accessLevel: 'ADMIN', privileges: ['ALL PRIVILEGES'] }), approval: APPROVAL, requestedBy: 'rita', ...overrides };
    const handle = await h.env.client.workflow.start(grantAccess, { taskQueue, workflowId: `${request.grantId}/${uniqueTaskQueue('id')}`, args: [request] });
    h.started.push(handle);
    return { handle, request };
  }

  /** A grant approved by ann for what it asked (one hour), ACTIVE. */
  async function approved(taskQueue: string, overrides: Partial<GrantRequest> = {}, ttlMs = HOUR) {
    const started = await start(taskQueue, overrides, ttlMs);
    await h.waitFor(started.handle, 'PENDING_APPROVAL');
    await started.handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann', actorEmail: 'ann@example.com' }] });
    const active = await h.waitFor(started.handle, 'ACTIVE');
    return { ...started, active };
  }

  async function refusal(promise: Promise<unknown>): Promise<ApplicationFailure> {
    try {
      await promise;
    } catch (err) {
      assert.ok(err instanceof WorkflowUpdateFailedError, `expected an update failure, got ${String(err)}`);
      assert.ok(err.cause instanceof ApplicationFailure);
      return err.cause;
    }
    assert.fail('the update was accepted');
  }

  const later = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();
  const extendBy = (handle: Handle, to: string, extra: { actor?: string; mayExceedApproval?: boolean; actorEmail?: string } = {}) =>
    handle.executeUpdate(extendUpdate, { args: [{ expiresAt: to, actor: extra.actor ?? 'rita', mayExceedApproval: extra.mayExceedApproval ?? false, ...(extra.actorEmail ? { actorEmail: extra.actorEmail } : {}) }] });
  const approvalMails = (recorded: RecordedActivities, kind: string) =>
    recorded.succeeded().filter((c) => c.name === 'notifyApproval' && c.kind === kind).map((c) => c.input as ApprovalMailRequest);

  it('When the requester extends an approved grant beyond what was approved, then the expiry stays, the approvers are asked, and an approval moves it', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle, active } = await approved(tq);
      assert.equal(active.approvedUntil, active.expiresAt, 'what was approved is kept');
      const to = later(active.expiresAt, 80 * DAY);

      const answer = await extendBy(handle, to, { actorEmail: 'rita@example.com' });
      assert.equal(answer.expiresAt, active.expiresAt, 'the grant keeps its expiry');
      assert.equal(answer.pending?.requestedExpiresAt, to);
      assert.ok(Date.parse(answer.pending!.decideBy) <= Date.parse(active.expiresAt), 'decided by the expiry at the latest');
      const waiting = await handle.query(grantStateQuery);
      assert.equal(waiting.expiresAt, active.expiresAt);
      assert.equal(waiting.pendingExtension?.to, to);
      const requested = recorded.audits().find((a) => a.event === 'EXTENSION_REQUESTED')!;
      assert.equal(requested.actor, 'rita');
      assert.equal(requested.expiresAt, active.expiresAt);
      await h.waitFor(handle, () => approvalMails(recorded, 'EXTENSION_REQUESTED').length === 1);
      const ask = approvalMails(recorded, 'EXTENSION_REQUESTED')[0]!;
      assert.deepEqual(ask.extension, { from: active.expiresAt, to, requestedBy: 'rita' });
      assert.deepEqual(ask.approvers.map((a) => a.email), ['ann@example.com']);

      // One at a time; nobody approves an extension they asked for, or their own access.
      assert.equal((await refusal(extendBy(handle, later(to, DAY)))).type, GrantErrorType.ExtensionPending);
      assert.equal((await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'rita' }] }))).type, GrantErrorType.SelfApproval);
      assert.equal((await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'other', actorEmail: 'RITA@example.com' }] }))).type, GrantErrorType.SelfApproval);
      assert.equal((await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'john', actorEmail: 'john.doe@example.com' }] }))).type, GrantErrorType.SelfApproval);

      const decided = await handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann', actorEmail: 'ann@example.com', reason: 'quarter close' }] });
      assert.equal(decided.status, 'ACTIVE');
      const after = await handle.query(grantStateQuery);
      assert.equal(after.expiresAt, to);
      assert.equal(after.approvedUntil, to);
      assert.equal(after.pendingExtension, undefined);
      const extended = recorded.audits().find((a) => a.event === 'EXTENDED')!;
      assert.equal(extended.actor, 'ann', 'the approver extended it');
      assert.equal(extended.expiresAt, to);
      assert.match(extended.detail!, /asked by rita/);
      await h.waitFor(handle, () => recorded.trace().includes('notifyGrant:EXTENDED'));
      // The approval moved the server-side expiry; asking alone did not.
      assert.deepEqual(recorded.succeeded().filter((c) => c.name === 'setAccountExpiry').map((c) => (c.input as { validUntil: string }).validUntil), [to]);
      // Another stretch is asked again.
      const again = await extendBy(handle, later(to, DAY));
      assert.ok(again.pending, 'beyond the newly approved expiry: asked again');
      // Its e-mail sent before the worker stops: an activity left behind stops the test server's clock.
      await h.waitFor(handle, () => approvalMails(recorded, 'EXTENSION_REQUESTED').length === 2);
    });
  });

  it('When an approver denies the extension, then the grant keeps its expiry and the trail and the grantee say so', async () => {
    const recorded = new RecordedActivities();
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle, active } = await approved(tq);
      await extendBy(handle, later(active.expiresAt, 10 * DAY));
      assert.equal((await refusal(handle.executeUpdate(denyUpdate, { args: [{ actor: 'ann', reason: ' ' }] }))).type, GrantErrorType.Invalid);
      const denied = await handle.executeUpdate(denyUpdate, { args: [{ actor: 'ann', reason: 'one hour is enough' }] });
      assert.equal(denied.status, 'ACTIVE');
      const after = await handle.query(grantStateQuery);
      assert.equal(after.expiresAt, active.expiresAt);
      assert.equal(after.pendingExtension, undefined);
      return handle.result();
    });
    assert.equal(state.status, 'EXPIRED');
    const events = state.history.map((e) => e.event);
    assert.deepEqual(events, ['REQUESTED', 'APPROVAL_REQUESTED', 'APPROVED', 'GRANTED', 'EXTENSION_REQUESTED', 'EXTENSION_DENIED', 'EXPIRED']);
    const deniedEvent = recorded.audits().find((a) => a.event === 'EXTENSION_DENIED')!;
    assert.equal(deniedEvent.actor, 'ann');
    assert.equal(deniedEvent.reason, 'one hour is enough');
    const mail = approvalMails(recorded, 'EXTENSION_DENIED')[0]!;
    assert.equal(mail.actor, 'ann');
    assert.equal(mail.extension?.requestedBy, 'rita');
    assert.ok(!recorded.audits().some((a) => a.event === 'EXTENDED'));
    assert.ok(!recorded.calls.some((c) => c.name === 'setAccountExpiry'), 'a denied extension moves nothing on the server');
  });

  it('When nobody decides before the approval timeout, then the extension is denied by the service and a late approval is refused', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      // A two-day grant: the eight-hour approval timeout comes first.
      const { handle, active } = await approved(tq, { durationMs: 2 * DAY }, 2 * DAY);
      const answer = await extendBy(handle, later(active.expiresAt, DAY));
      const asked = Date.parse(recorded.audits().find((a) => a.event === 'EXTENSION_REQUESTED')!.at);
      assert.equal(Date.parse(answer.pending!.decideBy) - asked, 8 * HOUR);
      await h.env.sleep(8 * HOUR + 60_000);
      const after = await h.waitFor(handle, (s) => s.history.some((e) => e.event === 'EXTENSION_DENIED'));
      assert.equal(after.expiresAt, active.expiresAt);
      assert.equal(after.status, 'ACTIVE');
      const denied = recorded.audits().find((a) => a.event === 'EXTENSION_DENIED');
      await h.waitFor(handle, () => recorded.audits().some((a) => a.event === 'EXTENSION_DENIED'));
      assert.equal((denied ?? recorded.audits().find((a) => a.event === 'EXTENSION_DENIED'))!.actor, 'dbaccess');
      assert.equal((await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann' }] }))).type, GrantErrorType.NotPending);
      await handle.signal(revokeSignal, { actor: 'rita' });
      await handle.result();
    });
    assert.equal(recorded.audits().filter((a) => a.event === 'EXTENSION_DENIED').length, 1);
  });

  it('When the grant expires before anyone decides, then it expires at the approved time and the extension is denied', async () => {
    const recorded = new RecordedActivities();
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle, active } = await approved(tq);
      await extendBy(handle, later(active.expiresAt, DAY));
      return handle.result();
    });
    assert.equal(state.status, 'EXPIRED');
    const expired = recorded.audits().find((a) => a.event === 'EXPIRED')!;
    assert.ok(Date.parse(expired.at) - Date.parse(state.expiresAt) < 60_000, 'expired at the approved expiry');
    assert.ok(state.history.some((e) => e.event === 'EXTENSION_DENIED'));
    assert.equal(state.pendingExtension, undefined);
  });

  it('When an admin or an approver extends beyond the approval, then it applies at once and becomes what was approved', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle, active } = await approved(tq);
      const to = later(active.expiresAt, 3 * DAY);
      const answer = await extendBy(handle, to, { actor: 'admin', mayExceedApproval: true });
      assert.deepEqual(answer, { expiresAt: to });
      const after = await handle.query(grantStateQuery);
      assert.equal(after.expiresAt, to);
      assert.equal(after.approvedUntil, to);
      assert.ok(!recorded.audits().some((a) => a.event === 'EXTENSION_REQUESTED'));
      // Ended, so that no background e-mail is left running when the worker stops.
      await handle.signal(revokeSignal, { actor: 'rita' });
      await handle.result();
    });
  });

  it('When an extension arrives without the approval flag (a caller from before approvals bound extensions), then it applies as it always did', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle, active } = await approved(tq);
      const to = later(active.expiresAt, 3 * DAY);
      const answer = await handle.executeUpdate(extendUpdate, { args: [{ expiresAt: to, actor: 'rita' }] });
      assert.deepEqual(answer, { expiresAt: to });
      // Ended, so that no background e-mail is left running when the worker stops.
      await handle.signal(revokeSignal, { actor: 'rita' });
      await handle.result();
    });
  });

  it('When the level is lowered to one that needs no approval, then extensions are free again; when an admin raises a grant to a gated level, the grant as it stands is what was approved', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle, active } = await approved(tq);
      await handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'READ', privileges: ['SELECT'], actor: 'rita', approval: null }] });
      const lowered = await handle.query(grantStateQuery);
      assert.equal(lowered.approvedUntil, undefined);
      const to = later(active.expiresAt, 2 * DAY);
      assert.deepEqual(await extendBy(handle, to), { expiresAt: to });

      await handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'ADMIN', privileges: ['ALL PRIVILEGES'], actor: 'admin', approval: APPROVAL }] });
      assert.equal((await handle.query(grantStateQuery)).approvedUntil, to);
      const asked = await extendBy(handle, later(to, DAY));
      assert.ok(asked.pending, 'beyond what the admin let stand: asked');
      await h.waitFor(handle, () => approvalMails(recorded, 'EXTENSION_REQUESTED').length === 1);
    });
  });

  it('When a grant needs no approval, then its requester extends it without asking anyone', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, { approval: undefined });
      const active: GrantState = await h.waitFor(handle, 'ACTIVE');
      assert.equal(active.approvedUntil, undefined);
      const to = later(active.expiresAt, 30 * DAY);
      assert.deepEqual(await extendBy(handle, to), { expiresAt: to });
      // Ended, so that no background e-mail is left running when the worker stops.
      await handle.signal(revokeSignal, { actor: 'rita' });
      await handle.result();
    });
  });
});

describe('grantAccess workflow: one outcome for an approval timeout (time-skipping)', function () {
  this.timeout(120_000);
  const h = useTimeSkipping('gate-timeout');

  it('When an approval arrives while the timeout\'s DENIED is being audited, then it is refused and the request ends DENIED with one audit trail', async () => {
    // The DENIED audit keeps failing until the test lets it through.
    const recorded = new RecordedActivities().fail('recordAudit', { kind: 'DENIED' });
    const state = await h.withWorker(recorded, async (tq) => {
      const now = new Date(await h.env.currentTimeMs());
      const request = { ...grantRequest({ now, ttlMs: 7 * DAY, accessLevel: 'ADMIN', privileges: ['ALL PRIVILEGES'] }), approval: APPROVAL };
      const handle = await h.env.client.workflow.start(grantAccess, { taskQueue: tq, workflowId: `${request.grantId}/${uniqueTaskQueue('id')}`, args: [request] });
      h.started.push(handle);
      await h.waitFor(handle, 'PENDING_APPROVAL');
      await h.env.sleep(APPROVAL.timeoutMs + 60_000);
      await h.waitFor(handle, () => recorded.calls.some((c) => c.name === 'recordAudit' && c.kind === 'DENIED'));
      const late = await handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann', actorEmail: 'ann@example.com' }] }).then(
        (answer) => assert.fail(`the approval was accepted: ${JSON.stringify(answer)}`),
        (err: unknown) => err,
      );
      assert.ok(late instanceof WorkflowUpdateFailedError && late.cause instanceof ApplicationFailure);
      assert.equal(late.cause.type, GrantErrorType.NotPending);
      assert.match(late.cause.message, /no decision by/);
      recorded.fail('recordAudit', { kind: 'DENIED', times: 0 });
      return handle.result();
    });
    assert.equal(state.status, 'DENIED');
    assert.deepEqual(state.history.map((e) => e.event), ['REQUESTED', 'APPROVAL_REQUESTED', 'DENIED']);
    assert.ok(!recorded.audits().some((a) => a.event === 'APPROVED'));
    assert.ok(!recorded.trace().includes('createAccount'));
  });
});
