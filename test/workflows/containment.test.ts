import assert from 'node:assert/strict';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import type { AdminMailRequest, GrantMailRequest, RevocationResult } from '../../src/activities';
import { ARMED_REVOCATION_QUEUE_SUFFIX, GrantErrorType, type GrantRequest, type GrantState, type LeftBehindObject } from '../../src/domain';
import { grantAccess } from '../../src/workflows';
import { RETAINED_RETRY_MS } from '../../src/workflows/grant-access';
import { extendUpdate, grantStateQuery, retryDropUpdate, revokeSignal } from '../../src/contract/messages';
import { SA } from '../../src/contract/search-attributes';
import { uniqueTaskQueue } from '../support/temporal';
import { useTimeSkipping } from './harness';
import { DAY, RecordedActivities, grantRequest } from './fixtures';

// The end of access as the revocation reports it (issue 13, item 1): access ends
// when the account is contained, whatever the drop does. Objects the account left
// behind are named; a drop the server refuses leaves the grant REVOKED / EXPIRED
// but its workflow open, the account retained, until a retried drop succeeds.

const OBJECTS: LeftBehindObject[] = [
  { kind: 'VIEW', schema: 'dev_project', name: 'v_orders' },
  { kind: 'TRIGGER', schema: 'dev_project', name: 'trg_audit', note: 'on table orders' },
  { kind: 'EVENT', schema: 'dev_project', name: 'ev_nightly', note: 'disabled' },
];
const CONTAINED_AT = '2030-01-01T00:00:00.000Z';
const REFUSAL = "MySQL refused: the account is the definer of stored objects (error 4006)";

const refused = (extra: Partial<RevocationResult> = {}): RevocationResult => ({
  accountExisted: true,
  sessionsKilled: 1,
  secretDeleted: true,
  containedAt: CONTAINED_AT,
  dropped: false,
  refusal: REFUSAL,
  leftBehind: OBJECTS,
  leftBehindCount: 3,
  ...extra,
});
const dropped = (extra: Partial<RevocationResult> = {}): RevocationResult => ({
  accountExisted: true,
  sessionsKilled: 0,
  secretDeleted: false,
  containedAt: CONTAINED_AT,
  dropped: true,
  leftBehind: [],
  leftBehindCount: 0,
  ...extra,
});

describe('grantAccess workflow: containment and retained accounts (time-skipping)', function () {
  this.timeout(120_000);
  const h = useTimeSkipping('contain');

  async function start(taskQueue: string, ttlMs: number, overrides: Partial<GrantRequest> = {}) {
    const now = new Date(await h.env.currentTimeMs());
    const request = { ...grantRequest({ now, ttlMs }), ...overrides };
    const handle = await h.env.client.workflow.start(grantAccess, { taskQueue, workflowId: `${request.grantId}/${uniqueTaskQueue('id')}`, args: [request] });
    h.started.push(handle);
    return { handle, request };
  }

  const isOpen = async (handle: { describe: () => Promise<{ status: { name: string } }> }) => (await handle.describe()).status.name === 'RUNNING';
  const adminMails = (recorded: RecordedActivities) => recorded.succeeded().filter((c) => c.name === 'notifyAdmins').map((c) => c.input as AdminMailRequest);

  it('When the account is dropped but leaves stored objects behind (MariaDB), then the grant ends with the time access ended and the objects named in its audit event', async () => {
    const recorded = new RecordedActivities().revokeReports(dropped({ leftBehind: OBJECTS, leftBehindCount: 3 }));
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      await h.waitFor(handle, 'ACTIVE');
      await handle.signal(revokeSignal, { actor: 'bob' });
      return handle.result();
    });
    assert.equal(state.status, 'REVOKED');
    assert.equal(state.accessEndedAt, CONTAINED_AT);
    assert.deepEqual(state.leftBehind, { objects: OBJECTS, count: 3 });
    assert.equal(state.retained, undefined);
    const revoked = recorded.audits().find((a) => a.event === 'REVOKED')!;
    assert.equal(revoked.accessEndedAt, CONTAINED_AT);
    assert.match(revoked.detail!, /VIEW dev_project\.v_orders, TRIGGER dev_project\.trg_audit \(on table orders\), EVENT dev_project\.ev_nightly \(disabled\)/);
    assert.ok(!recorded.audits().some((a) => a.event === 'ACCOUNT_RETAINED'));
    const mail = recorded.succeeded().find((c) => c.name === 'notifyGrant' && c.kind === 'REVOKED')!.input as GrantMailRequest;
    assert.deepEqual(mail.grant.leftBehind, { objects: OBJECTS, count: 3 }, 'the e-mail can name them');
  });

  it('When the server refuses the drop at the expiry, then the grant is EXPIRED with access ended, retained, alerted once, and its workflow stays open', async () => {
    const recorded = new RecordedActivities().revokeReports(refused());
    await h.withWorker(recorded, async (tq) => {
      const { handle, request } = await start(tq, DAY);
      await h.env.sleep(DAY + 60_000);
      const ended = await h.waitFor(handle, (s) => s.retained !== undefined && s.status === 'EXPIRED' && s.history.some((e) => e.event === 'ACCOUNT_RETAINED'));
      assert.equal(ended.accessEndedAt, CONTAINED_AT);
      assert.deepEqual(ended.retained, { since: CONTAINED_AT, reason: REFUSAL, objects: OBJECTS, objectCount: 3 });
      assert.deepEqual(ended.history.map((e) => e.event), ['REQUESTED', 'GRANTED', 'EXPIRED', 'ACCOUNT_RETAINED']);
      assert.ok(await isOpen(handle), 'the workflow stays open while the account exists');
      const sa = (await handle.describe()).typedSearchAttributes.get(SA.status);
      assert.equal(sa, 'EXPIRED');

      const expired = recorded.audits().find((a) => a.event === 'EXPIRED')!;
      assert.equal(expired.accessEndedAt, CONTAINED_AT);
      assert.match(expired.detail!, /contained .*refused to drop it \(MySQL refused.*4006\).*VIEW dev_project\.v_orders/);
      const retained = recorded.audits().find((a) => a.event === 'ACCOUNT_RETAINED')!;
      assert.match(retained.detail!, /administrator must deal with them/);
      await h.waitFor(handle, () => adminMails(recorded).length === 1);
      const alert = adminMails(recorded)[0]!;
      assert.equal(alert.kind, 'ACCOUNT_RETAINED');
      assert.deepEqual(alert.owner, request.owner, 'the owner is copied');
      assert.deepEqual(alert.grant.retained?.objects, OBJECTS);
      const mail = recorded.succeeded().find((c) => c.name === 'notifyGrant' && c.kind === 'EXPIRED')!.input as GrantMailRequest;
      assert.equal(mail.grant.retained?.reason, REFUSAL, 'the grantee and the owner are told as usual, with the retained account');

      // Refused again, asked by an administrator: nothing new in the trail, no new alert.
      const again = await handle.executeUpdate(retryDropUpdate, { args: [{ actor: 'admin', reason: 'try again' }] });
      assert.equal(again.outcome, 'retained');
      assert.match(again.detail, /refused the drop again/);
      // Its own retry, a day later; then none before another day.
      const before = recorded.calls.filter((c) => c.name === 'revokeAccess').length;
      await h.env.sleep(RETAINED_RETRY_MS + 60_000);
      await h.waitFor(handle, () => recorded.calls.filter((c) => c.name === 'revokeAccess').length === before + 1);
      await h.env.sleep(RETAINED_RETRY_MS / 2);
      assert.equal(recorded.calls.filter((c) => c.name === 'revokeAccess').length, before + 1, 'no retry storm');
      assert.equal(recorded.audits().filter((a) => a.event === 'ACCOUNT_RETAINED').length, 1);
      assert.equal(adminMails(recorded).length, 1, 'alerted once');
      assert.ok(await isOpen(handle));

      // The administrator has dealt with the objects: the next retry drops the account.
      recorded.revokeReports(dropped({ accountExisted: true }));
      const done = await handle.executeUpdate(retryDropUpdate, { args: [{ actor: 'admin', reason: 'definers changed' }] });
      assert.equal(done.outcome, 'dropped');
      const final = await handle.result();
      assert.equal(final.status, 'EXPIRED');
      assert.equal(final.retained, undefined);
      assert.deepEqual(final.history.map((e) => e.event), ['REQUESTED', 'GRANTED', 'EXPIRED', 'ACCOUNT_RETAINED', 'ACCOUNT_DROPPED']);
      const droppedEvent = recorded.audits().find((a) => a.event === 'ACCOUNT_DROPPED')!;
      assert.equal(droppedEvent.actor, 'admin');
      assert.equal(droppedEvent.reason, 'definers changed');
    });
    // Every retry is the grant's own account, without asking Secrets Manager first.
    for (const call of recorded.calls.filter((c) => c.name === 'revokeAccess')) assert.equal((call.input as { owned?: boolean }).owned, true);
  });

  it('When the armed revocation reports a refused drop at the expiry, then the grant is EXPIRED and retained, and revoke and updates are refused', async () => {
    const recorded = new RecordedActivities().revokeReports(refused());
    await h.withWorker(recorded, async (tq) => {
      const expiry = await Worker.create({
        connection: h.env.nativeConnection,
        taskQueue: `${tq}${ARMED_REVOCATION_QUEUE_SUFFIX}`,
        activities: { revokeAccess: recorded.activities().revokeAccess },
      });
      const { handle } = await start(tq, DAY, { revocationLeadMs: 60_000 });
      await expiry.runUntil(async () => {
        await h.env.sleep(DAY + 60_000);
        const ended = await h.waitFor(handle, (s) => s.history.some((e) => e.event === 'ACCOUNT_RETAINED'));
        assert.equal(ended.status, 'EXPIRED');
        assert.equal(ended.retained?.reason, REFUSAL);
        assert.equal(recorded.calls.filter((c) => c.name === 'revokeAccess').length, 1, 'the armed revocation was the revocation');
        assert.ok((recorded.calls.find((c) => c.name === 'revokeAccess')!.input as { notBefore?: string }).notBefore);
      });
      await handle.signal(revokeSignal, { actor: 'bob' });
      const state = await handle.query(grantStateQuery);
      assert.equal(state.status, 'EXPIRED', 'a revoke changes nothing: access has ended');
      assert.ok(!recorded.audits().some((a) => a.event === 'REVOKE_REQUESTED'));
      await assert.rejects(
        handle.executeUpdate(extendUpdate, { args: [{ expiresAt: new Date(Date.parse(state.expiresAt) + DAY).toISOString(), actor: 'bob' }] }),
        (err: unknown) => err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === GrantErrorType.NotActive && /retained/.test(err.cause.message),
      );
    });
  });

  it('When a retryDrop reaches a grant whose account is not retained, then it answers not-retained and changes nothing', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      await h.waitFor(handle, 'ACTIVE');
      const answer = await handle.executeUpdate(retryDropUpdate, { args: [{ actor: 'reconciler' }] });
      assert.equal(answer.outcome, 'not-retained');
      assert.equal((await handle.query(grantStateQuery)).status, 'ACTIVE');
      assert.equal(recorded.calls.filter((c) => c.name === 'revokeAccess').length, 0);
    });
  });

  it('When a retained grant continues as new, then the new run keeps the account retained and still drops it on request', async () => {
    const recorded = new RecordedActivities().revokeReports(dropped());
    const state = await h.withWorker(recorded, async (tq) => {
      const now = new Date(await h.env.currentTimeMs());
      const request = grantRequest({ now, ttlMs: -DAY });
      const retained = { since: CONTAINED_AT, reason: REFUSAL, objects: OBJECTS, objectCount: 3 };
      const carried: GrantState = {
        grantId: request.grantId, status: 'REVOKED', email: request.email, name: request.name, project: request.project,
        database: request.database, schema: request.target.schema, account: request.account, accessLevel: 'READ', privileges: ['SELECT'],
        expiresAt: request.expiresAt, requestedAt: now.toISOString(), requestedBy: 'test', grantedAt: now.toISOString(), endedAt: now.toISOString(),
        secretName: request.secretName, accessEndedAt: CONTAINED_AT, retained,
        history: [{ event: 'ACCOUNT_RETAINED', at: now.toISOString(), actor: 'dbaccess', accessLevel: 'READ', expiresAt: request.expiresAt }],
      };
      const handle = await h.env.client.workflow.start(grantAccess, {
        taskQueue: tq,
        workflowId: `${request.grantId}/${uniqueTaskQueue('can')}`,
        args: [request, { state: carried, sequence: 9, phase: 'retained' }],
      });
      h.started.push(handle);
      const resumed = await h.waitFor(handle, (s) => s.status === 'REVOKED');
      assert.deepEqual(resumed.retained, retained);
      assert.deepEqual(recorded.trace(), [], 'nothing is provisioned or revoked again on its own');
      const answer = await handle.executeUpdate(retryDropUpdate, { args: [{ actor: 'reconciler' }] });
      assert.equal(answer.outcome, 'dropped');
      return handle.result();
    });
    assert.equal(state.status, 'REVOKED');
    assert.equal(state.retained, undefined);
    assert.deepEqual(recorded.trace(), ['revokeAccess', 'recordAudit:ACCOUNT_DROPPED']);
    assert.match(recorded.audits()[0]!.eventId, /:000010$/, 'the audit sequence continues');
  });

  it('When the server refuses to drop an account during a rollback, then the ROLLED_BACK event says it stays contained', async () => {
    const recorded = new RecordedActivities().fail('grantPrivileges', { type: 'UnknownDatabase' }).revokeReports(refused({ leftBehind: [], leftBehindCount: 0 }));
    const failure = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, DAY);
      return handle.result().then(() => assert.fail('the grant should fail'), (err: unknown) => err);
    });
    assert.ok(failure instanceof WorkflowFailedError);
    const rolledBack = recorded.audits().find((a) => a.event === 'ROLLED_BACK')!;
    assert.match(rolledBack.detail!, /drop account and delete secret \(the server refused to drop the account \(MySQL refused.*\); it stays contained\)/);
    const alert = adminMails(recorded).find((m) => m.kind === 'FAILED')!;
    assert.match(alert.detail, /refused to drop/);
  });
});
