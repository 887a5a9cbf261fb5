import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { GrantErrorType, type GrantRequest, type GrantState } from '../../src/domain';
import { grantAccess } from '../../src/workflows';
import { approveUpdate, denyUpdate, extendUpdate, grantStateQuery, revokeSignal } from '../../src/contract/messages';
import { uniqueTaskQueue } from '../support/temporal';
import { until } from '../support/wait';
import { useTimeSkipping } from './harness';
import { DAY, RecordedActivities, grantRequest } from './fixtures';

// The approval gate on the time-skipping server: nothing is created before an
// approval; a denial, a timeout or a withdrawal ends the request with nothing
// created; nobody approves their own request; a duration starts at approval.

const HOUR = 3600_000;
const APPROVAL = { reasons: ['every ADMIN grant needs approval'], timeoutMs: DAY, approvers: [{ name: 'Ann Approver', email: 'ann@example.com' }] };
const PROVISIONING_STEPS = ['checkTarget', 'createAccount', 'grantPrivileges', 'revokeAccess', 'revokePrivileges', 'changePrivileges'];

describe('grantAccess workflow: approval gate (time-skipping)', function () {
  this.timeout(120_000);
  const h = useTimeSkipping('approval');

  async function start(taskQueue: string, overrides: Partial<GrantRequest> = {}, ttlMs = 7 * DAY) {
    const now = new Date(await h.env.currentTimeMs());
    const request = { ...grantRequest({ now, ttlMs, accessLevel: 'ADMIN', privileges: ['ALL PRIVILEGES'] }), approval: APPROVAL, ...overrides };
    const handle = await h.env.client.workflow.start(grantAccess, { taskQueue, workflowId: `${request.grantId}/${uniqueTaskQueue('id')}`, args: [request] });
    h.started.push(handle);
    return { handle, request };
  }

  const waitForStatus = (handle: { query: (q: typeof grantStateQuery) => Promise<GrantState> }, status: string) => h.waitFor(handle, status);

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

  const created = (recorded: RecordedActivities) => recorded.trace().filter((t) => PROVISIONING_STEPS.includes(t));

  it('When a request needs approval, then it waits with nothing created, and an approval provisions it', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq);
      const pending = await waitForStatus(handle, 'PENDING_APPROVAL');
      assert.deepEqual(pending.approval?.reasons, APPROVAL.reasons);
      assert.deepEqual(created(recorded), [], 'nothing is created in MySQL before approval');
      // The status turns PENDING_APPROVAL once the request is audited; the approvers' e-mail follows as an activity of its own.
      await until('the approvers to be told', () => recorded.succeeded().some((c) => c.name === 'notifyApproval'), 20_000);
      assert.deepEqual(recorded.trace(), ['recordAudit:REQUESTED', 'recordAudit:APPROVAL_REQUESTED', 'notifyApproval:APPROVAL_REQUESTED']);
      const mail = recorded.succeeded().find((c) => c.name === 'notifyApproval')!.input as { approvers: { email: string }[] };
      assert.deepEqual(mail.approvers.map((a) => a.email), ['ann@example.com']);

      const reply = await handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann', actorEmail: 'ann@example.com', reason: 'on call' }] });
      assert.equal(reply.status, 'PROVISIONING');
      const active = await waitForStatus(handle, 'ACTIVE');
      assert.equal(active.approval?.decision, 'APPROVED');
      assert.equal(active.approval?.decidedBy, 'ann');
      const events = active.history.map((h) => h.event);
      assert.deepEqual(events, ['REQUESTED', 'APPROVAL_REQUESTED', 'APPROVED', 'GRANTED']);
      const approved = recorded.audits().find((a) => a.event === 'APPROVED')!;
      assert.equal(approved.actor, 'ann');
      assert.equal(approved.reason, 'on call');
      // The approval is audited before anything is created.
      const trace = recorded.trace();
      assert.ok(trace.indexOf('recordAudit:APPROVED') < trace.indexOf('createAccount'));
    });
  });

  it('When an approver denies the request, then it ends DENIED with nothing created, and the grantee is told why', async () => {
    const recorded = new RecordedActivities();
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq);
      await waitForStatus(handle, 'PENDING_APPROVAL');
      const missing = await refusal(handle.executeUpdate(denyUpdate, { args: [{ actor: 'ann', reason: '  ' }] }));
      assert.equal(missing.type, GrantErrorType.Invalid);
      assert.match(missing.message, /^reason: /);
      const reply = await handle.executeUpdate(denyUpdate, { args: [{ actor: 'ann', reason: 'use READ' }] });
      assert.equal(reply.status, 'DENIED');
      return handle.result();
    });
    assert.equal(state.status, 'DENIED');
    assert.equal(state.approval?.decision, 'DENIED');
    assert.deepEqual(created(recorded), []);
    assert.deepEqual(state.history.map((h) => h.event), ['REQUESTED', 'APPROVAL_REQUESTED', 'DENIED']);
    const denied = recorded.audits().find((a) => a.event === 'DENIED')!;
    assert.equal(denied.actor, 'ann');
    assert.equal(denied.reason, 'use READ');
    const mail = recorded.succeeded().find((c) => c.name === 'notifyApproval' && c.kind === 'DENIED')!.input as { actor: string; reason: string };
    assert.equal(mail.actor, 'ann');
    assert.equal(mail.reason, 'use READ');
  });

  it('When nobody decides in time, then the request is DENIED by the service at the timeout', async () => {
    const recorded = new RecordedActivities();
    const { state, startedAt } = await h.withWorker(recorded, async (tq) => {
      const startedAt = await h.env.currentTimeMs();
      const { handle } = await start(tq, { approval: { ...APPROVAL, timeoutMs: 8 * HOUR } });
      return { state: await handle.result(), startedAt };
    });
    assert.equal(state.status, 'DENIED');
    assert.deepEqual(created(recorded), []);
    const denied = recorded.audits().find((a) => a.event === 'DENIED')!;
    assert.equal(denied.actor, 'dbaccess');
    assert.match(denied.reason ?? '', /no decision by/);
    const waited = Date.parse(denied.at) - startedAt;
    assert.ok(waited >= 8 * HOUR && waited < 8 * HOUR + 60_000, `denied after ${waited} ms`);
  });

  it('When the requester, or the grantee, tries to approve, then it is refused and the request still waits', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle, request } = await start(tq);
      await waitForStatus(handle, 'PENDING_APPROVAL');
      const own = await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: request.requestedBy }] }));
      assert.equal(own.type, GrantErrorType.SelfApproval);
      const self = await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'someone-else', actorEmail: request.email.toUpperCase() }] }));
      assert.equal(self.type, GrantErrorType.SelfApproval);
      const state = await handle.query(grantStateQuery);
      assert.equal(state.status, 'PENDING_APPROVAL');
      assert.ok(!recorded.audits().some((a) => a.event === 'APPROVED'), 'a refused approval writes no audit event');
      // Changes wait for the grant to exist.
      const extend = await refusal(handle.executeUpdate(extendUpdate, { args: [{ expiresAt: '2099-01-01', actor: 'admin' }] }));
      assert.equal(extend.type, GrantErrorType.NotActive);
    });
  });

  it('When the request is revoked while pending, then it ends REVOKED with nothing created, and a later approval is refused', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq);
      await waitForStatus(handle, 'PENDING_APPROVAL');
      await handle.signal(revokeSignal, { actor: 'requester', reason: 'not needed' });
      const state = await handle.result();
      assert.equal(state.status, 'REVOKED');
      assert.deepEqual(created(recorded), [], 'nothing to revoke: nothing was created');
      assert.deepEqual(state.history.map((h) => h.event), ['REQUESTED', 'APPROVAL_REQUESTED', 'REVOKE_REQUESTED', 'REVOKED']);
      await assert.rejects(handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann' }] }));
    });
  });

  it('When a pending request is approved after the revoke signal, then the approval is refused as not pending', async () => {
    const recorded = new RecordedActivities();
    // The DENIED-path audit is held back so the workflow is still open when the approval arrives.
    recorded.fail('recordAudit', { kind: 'REVOKED', times: 3 });
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq);
      await waitForStatus(handle, 'PENDING_APPROVAL');
      await handle.signal(revokeSignal, { actor: 'requester' });
      const late = await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann' }] }));
      assert.equal(late.type, GrantErrorType.NotPending);
      assert.equal((await handle.result()).status, 'REVOKED');
      assert.deepEqual(created(recorded), []);
    });
  });

  it('When the workflow is cancelled while pending, then the request ends REVOKED with nothing created', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq);
      await waitForStatus(handle, 'PENDING_APPROVAL');
      await handle.cancel();
      const state = await handle.result();
      assert.equal(state.status, 'REVOKED');
      assert.equal(state.history.at(-1)?.actor, 'temporal');
      assert.deepEqual(created(recorded), []);
    });
  });

  it('When a request asks for a duration, then its clock starts at approval, not at the request', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, { durationMs: 8 * HOUR });
      await waitForStatus(handle, 'PENDING_APPROVAL');
      // Three hours pass before anyone approves.
      await h.env.sleep(3 * HOUR);
      await handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann' }] });
      const active = await waitForStatus(handle, 'ACTIVE');
      const granted = recorded.audits().find((a) => a.event === 'GRANTED')!;
      assert.equal(Date.parse(active.expiresAt) - Date.parse(granted.at) <= 8 * HOUR, true);
      assert.ok(Date.parse(active.expiresAt) - Date.parse(granted.at) > 8 * HOUR - 60_000, 'eight hours from the grant');
      assert.equal(granted.expiresAt, active.expiresAt, 'the audit trail has the real expiry');
      const state = await handle.result();
      assert.equal(state.status, 'EXPIRED');
    });
  });

  it('When a standing grant needs approval, then its first review period starts at approval, not at the request', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const standing = { reviewMs: 30 * DAY, decideWithinMs: 7 * DAY, reviewers: [{ name: 'Ann Approver', email: 'ann@example.com' }] };
      const { handle } = await start(tq, { standing }, 30 * DAY);
      await waitForStatus(handle, 'PENDING_APPROVAL');
      // Twenty hours pass before anyone approves.
      await h.env.sleep(20 * HOUR);
      await handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann' }] });
      const active = await waitForStatus(handle, 'ACTIVE');
      const granted = recorded.audits().find((a) => a.event === 'GRANTED')!;
      const period = Date.parse(active.expiresAt) - Date.parse(granted.at);
      assert.ok(period <= 30 * DAY && period > 30 * DAY - 60_000, `a full period from the grant: ${period} ms`);
      assert.equal(active.standing?.reviewBy, active.expiresAt, 'the review is due at the new deadline');
      assert.equal(granted.expiresAt, active.expiresAt);
      assert.equal(active.approvedUntil, active.expiresAt);
    });
  });

  it('When a grant needs no approval, then it never waits and the steps are those of an ordinary grant', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, { approval: undefined, durationMs: 2 * HOUR }, DAY);
      const active = await waitForStatus(handle, 'ACTIVE');
      assert.deepEqual(active.history.map((h) => h.event), ['REQUESTED', 'GRANTED']);
      assert.ok(!recorded.trace().some((t) => t.startsWith('notifyApproval')));
      const granted = recorded.audits().find((a) => a.event === 'GRANTED')!;
      assert.equal(Date.parse(active.expiresAt) - Date.parse(granted.at) <= 2 * HOUR, true);
    });
  });
});
