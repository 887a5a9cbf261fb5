import assert from 'node:assert/strict';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { GrantState } from '../../src/domain';
import { grantAccess } from '../../src/workflows';
import { changeAccessLevelUpdate, extendUpdate, grantStateQuery, revokeSignal } from '../../src/contract/messages';
import { REVOKE_ATTEMPTS_BEFORE_ALERT } from '../../src/workflows/grant-access';
import { Worker } from '@temporalio/worker';
import { uniqueTaskQueue, workflowBundle } from '../support/temporal';
import { useTimeSkipping } from './harness';
import { DAY, RecordedActivities, grantRequest, type StepName } from './fixtures';

// The grant lifecycle on the time-skipping test server, with recorded
// activities: what runs, in which order, and what is undone when a step fails.

describe('grantAccess workflow (time-skipping)', function () {
  this.timeout(120_000);
  const h = useTimeSkipping('wf');

  /** The message of the application failure behind a rejected update. */
  function updateFailure(err: unknown): ApplicationFailure {
    assert.ok(err instanceof WorkflowUpdateFailedError, `expected an update failure, got ${String(err)}`);
    assert.ok(err.cause instanceof ApplicationFailure);
    return err.cause;
  }

  async function start(taskQueue: string, ttlMs: number, overrides: Parameters<typeof grantRequest>[0] extends infer P ? Partial<P> : never = {}) {
    const now = new Date(await h.env.currentTimeMs());
    const request = grantRequest({ now, ttlMs, ...overrides });
    const handle = await h.env.client.workflow.start(grantAccess, {
      taskQueue,
      workflowId: `${request.grantId}/${uniqueTaskQueue('id')}`,
      args: [{ ...request, grantId: request.grantId }],
    });
    h.started.push(handle);
    return { handle, request };
  }

  const waitForStatus = (handle: { query: (q: typeof grantStateQuery) => Promise<GrantState> }, status: string) => h.waitFor(handle, status);

  it('When a 30-day grant runs its course, then it is provisioned, audited, notified, and revoked at the expiry', async () => {
    const recorded = new RecordedActivities();
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      return handle.result();
    });
    assert.equal(state.status, 'EXPIRED');
    assert.deepEqual(recorded.trace(), [
      'recordAudit:REQUESTED',
      'checkTarget',
      'createAccount',
      'grantPrivileges',
      'recordAudit:GRANTED',
      'notifyGrant:GRANTED',
      'revokeAccess',
      'recordAudit:EXPIRED',
      'notifyGrant:EXPIRED',
    ]);
    const expired = recorded.audits().find((a) => a.event === 'EXPIRED')!;
    assert.ok(Date.parse(expired.at) >= Date.parse(state.expiresAt), 'revoked no earlier than the expiry');
    assert.ok(Date.parse(expired.at) - Date.parse(state.expiresAt) < 60_000, 'revoked within a minute of the expiry');
    assert.deepEqual(
      state.history.map((h) => h.event),
      ['REQUESTED', 'GRANTED', 'EXPIRED'],
    );
  });

  it('When the grant is extended before its expiry, then it expires at the new time, audited and notified', async () => {
    const recorded = new RecordedActivities();
    const { state, newExpiry } = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      const active = await waitForStatus(handle, 'ACTIVE');
      const newExpiry = new Date(Date.parse(active.expiresAt) + 20 * DAY).toISOString();
      const reply = await handle.executeUpdate(extendUpdate, { args: [{ expiresAt: newExpiry, actor: 'alice', reason: 'more time' }] });
      assert.equal(reply.expiresAt, newExpiry);
      return { state: await handle.result(), newExpiry };
    });
    assert.equal(state.status, 'EXPIRED');
    assert.equal(state.expiresAt, newExpiry);
    const expired = recorded.audits().find((a) => a.event === 'EXPIRED')!;
    assert.ok(Date.parse(expired.at) >= Date.parse(newExpiry), 'not revoked at the old expiry');
    const extended = recorded.audits().find((a) => a.event === 'EXTENDED')!;
    assert.equal(extended.actor, 'alice');
    assert.equal(extended.expiresAt, newExpiry);
    assert.ok(recorded.trace().includes('notifyGrant:EXTENDED'));
    // The server's own bound on the account follows the grant: set at creation, moved by the extension.
    const created = recorded.succeeded().find((c) => c.name === 'createAccount')!.input as { validUntil?: string };
    assert.equal(created.validUntil, recorded.audits().find((a) => a.event === 'GRANTED')!.expiresAt);
    const moves = recorded.succeeded().filter((c) => c.name === 'setAccountExpiry').map((c) => (c.input as { validUntil: string }).validUntil);
    assert.deepEqual(moves, [newExpiry]);
    const trace = recorded.trace();
    assert.ok(trace.indexOf('setAccountExpiry') > trace.indexOf('recordAudit:EXTENDED'), 'moved after the extension is audited');
  });

  it("When the account's server-side expiry cannot be moved, then the extension still stands and the grant expires at the new time", async () => {
    const recorded = new RecordedActivities().fail('setAccountExpiry', { times: 10, type: 'UnknownDatabase' });
    const { state, newExpiry, reply } = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      const active = await waitForStatus(handle, 'ACTIVE');
      const newExpiry = new Date(Date.parse(active.expiresAt) + 20 * DAY).toISOString();
      const reply = await handle.executeUpdate(extendUpdate, { args: [{ expiresAt: newExpiry, actor: 'alice' }] });
      return { state: await handle.result(), newExpiry, reply };
    });
    assert.equal(reply.expiresAt, newExpiry);
    assert.equal(state.expiresAt, newExpiry);
    assert.ok(recorded.calls.some((c) => c.name === 'setAccountExpiry'), 'it was tried');
    assert.equal(state.status, 'EXPIRED');
  });

  it('When an extension is not later, or beyond the maximum duration, then the update is rejected and nothing changes', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 10 * DAY);
      const active = await waitForStatus(handle, 'ACTIVE');
      const earlier = new Date(Date.parse(active.expiresAt) - DAY).toISOString();
      const refusal = (expiresAt: string) =>
        handle.executeUpdate(extendUpdate, { args: [{ expiresAt, actor: 'alice' }] }).then(
          () => assert.fail(`extending to ${expiresAt} should be refused`),
          updateFailure,
        );
      const notLater = await refusal(earlier);
      assert.equal(notLater.type, 'InvalidGrantChange');
      assert.match(notLater.message, /must be later than the current expiry/);
      assert.match((await refusal(new Date(Date.parse(active.expiresAt) + 100 * DAY).toISOString())).message, /maximum duration of 90d/);
      assert.match((await refusal('next tuesday')).message, /^expiresAt: must be a date/);
      const after = await handle.query(grantStateQuery);
      assert.equal(after.expiresAt, active.expiresAt);
      await handle.signal(revokeSignal, { actor: 'test' });
      await handle.result();
    });
    assert.equal(recorded.audits().filter((a) => a.event === 'EXTENDED').length, 0);
  });

  it('When the EXTENDED audit event cannot be written, then the extension is refused and the expiry does not move', async () => {
    // A type the audit retry policy does not retry, so the update fails at once.
    const recorded = new RecordedActivities().fail('recordAudit', { kind: 'EXTENDED', type: 'UnknownDatabase' });
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 10 * DAY);
      const active = await waitForStatus(handle, 'ACTIVE');
      const failure = await handle
        .executeUpdate(extendUpdate, { args: [{ expiresAt: new Date(Date.parse(active.expiresAt) + DAY).toISOString(), actor: 'alice' }] })
        .then(() => assert.fail('the extension should be refused'), updateFailure);
      assert.equal(failure.type, 'AuditUnavailable');
      assert.equal((await handle.query(grantStateQuery)).expiresAt, active.expiresAt);
      await handle.signal(revokeSignal, { actor: 'test' });
      await handle.result();
    });
  });

  it('When a revoke arrives early, then access is removed at once and the trail says who asked and why', async () => {
    const recorded = new RecordedActivities();
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      await waitForStatus(handle, 'ACTIVE');
      await handle.signal(revokeSignal, { actor: 'bob', reason: 'left the team' });
      return handle.result();
    });
    assert.equal(state.status, 'REVOKED');
    assert.ok(Date.parse(state.endedAt!) < Date.parse(state.expiresAt), 'revoked before the expiry');
    assert.deepEqual(recorded.trace().slice(6, 8).sort(), ['recordAudit:REVOKE_REQUESTED', 'revokeAccess']);
    assert.deepEqual(recorded.trace().slice(8), ['recordAudit:REVOKED', 'notifyGrant:REVOKED']);
    const requested = recorded.audits().find((a) => a.event === 'REVOKE_REQUESTED')!;
    assert.equal(requested.actor, 'bob');
    assert.equal(requested.reason, 'left the team');
    assert.deepEqual(
      state.history.map((h) => h.event),
      ['REQUESTED', 'GRANTED', 'REVOKE_REQUESTED', 'REVOKED'],
    );
  });

  it('When the workflow is cancelled (e.g. from the Temporal UI), then it is treated as a revoke', async () => {
    const recorded = new RecordedActivities();
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      await waitForStatus(handle, 'ACTIVE');
      await handle.cancel();
      return handle.result();
    });
    assert.equal(state.status, 'REVOKED');
    assert.ok(recorded.trace().includes('revokeAccess'));
    assert.equal(recorded.audits().find((a) => a.event === 'REVOKE_REQUESTED')!.actor, 'temporal');
  });

  it('When a revoke arrives while the grant is being provisioned, then provisioning completes and is revoked right after', async () => {
    const recorded = new RecordedActivities().fail('grantPrivileges', { times: 2 });
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      await handle.signal(revokeSignal, { actor: 'bob' });
      return handle.result();
    });
    assert.equal(state.status, 'REVOKED');
    const trace = recorded.trace();
    assert.deepEqual(trace.slice(0, 6), ['recordAudit:REQUESTED', 'checkTarget', 'createAccount', 'grantPrivileges', 'recordAudit:GRANTED', 'notifyGrant:GRANTED']);
    // The REVOKE_REQUESTED audit is written alongside the revoke, so either may finish first.
    assert.deepEqual(trace.slice(6, 8).sort(), ['recordAudit:REVOKE_REQUESTED', 'revokeAccess']);
    assert.deepEqual(trace.slice(8), ['recordAudit:REVOKED', 'notifyGrant:REVOKED']);
  });

  it('When the level changes, then the new privileges are set from the old ones, audited first, and notified', async () => {
    const recorded = new RecordedActivities();
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      await waitForStatus(handle, 'ACTIVE');
      const reply = await handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'READ', privileges: ['SELECT'], actor: 'alice' }] });
      assert.deepEqual(reply, { accessLevel: 'READ', sessionsKilled: 1 });
      const same = await handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'READ', privileges: ['SELECT'], actor: 'alice' }] });
      assert.deepEqual(same, { accessLevel: 'READ', sessionsKilled: 0 }, 'asking for the current level is a no-op');
      await handle.signal(revokeSignal, { actor: 'alice' });
      return handle.result();
    });
    assert.equal(state.accessLevel, 'READ');
    assert.deepEqual(state.privileges, ['SELECT']);
    const trace = recorded.trace();
    assert.ok(trace.indexOf('recordAudit:LEVEL_CHANGED') < trace.indexOf('changePrivileges'), 'audited before the change');
    assert.equal(trace.filter((t) => t === 'changePrivileges').length, 1);
    const change = recorded.succeeded().find((c) => c.name === 'changePrivileges')!.input as { privileges: string[]; previous: string[] };
    assert.deepEqual(change.privileges, ['SELECT']);
    assert.deepEqual(change.previous, ['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
    assert.ok(trace.includes('notifyGrant:LEVEL_CHANGED'));
    assert.equal(recorded.audits().find((a) => a.event === 'REVOKED')!.accessLevel, 'READ');
  });

  it("When a PostgreSQL grant's level changes, then the privileges are checked and normalised with PostgreSQL's catalogue", async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY, { target: { schema: 'dev_project', adminSecretId: 'admin/pg', hostPattern: '%', maxUserConnections: 5, engine: 'postgresql' } });
      await waitForStatus(handle, 'ACTIVE');
      // TRUNCATE is PostgreSQL's (MySQL's catalogue has no such name); LOCK TABLES is MySQL's only.
      const reply = await handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'CLEANUP', privileges: ['truncate', 'select', 'SELECT'], actor: 'alice' }] });
      assert.equal(reply.accessLevel, 'CLEANUP');
      await assert.rejects(
        handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'LOCKER', privileges: ['SELECT', 'LOCK TABLES'], actor: 'alice' }] }),
        (err: Error) => /not an allowed PostgreSQL privilege/.test(String((err as { cause?: Error }).cause?.message ?? err.message)),
      );
      await handle.signal(revokeSignal, { actor: 'alice' });
      return handle.result();
    });
    const changes = recorded.succeeded().filter((c) => c.name === 'changePrivileges').map((c) => (c.input as { privileges: string[] }).privileges);
    assert.deepEqual(changes, [['SELECT', 'TRUNCATE']]);
  });

  it('When a level change fails in the database, then the old level is restored, the trail says so, and the caller is told', async () => {
    const recorded = new RecordedActivities().fail('changePrivileges', { type: 'UnknownDatabase' });
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      await waitForStatus(handle, 'ACTIVE');
      const failure = await handle
        .executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'ADMIN', privileges: ['ALL PRIVILEGES'], actor: 'alice' }] })
        .then(() => assert.fail('the change should fail'), updateFailure);
      assert.equal(failure.type, 'LevelChangeFailed');
      assert.match(failure.message, /failed and was undone/);
      await handle.signal(revokeSignal, { actor: 'alice' });
      return handle.result();
    });
    assert.equal(state.accessLevel, 'READ_WRITE');
    const restore = recorded.succeeded().filter((c) => c.name === 'grantPrivileges').map((c) => (c.input as { privileges: string[] }).privileges);
    assert.deepEqual(restore.at(-1), ['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
    const levelEvents = recorded.audits().filter((a) => a.event === 'LEVEL_CHANGED');
    assert.equal(levelEvents.length, 2);
    assert.match(levelEvents[1]!.detail!, /undone/);
  });

  it('When two level changes arrive together, then they run one after the other, each from the level the previous one left', async () => {
    const recorded = new RecordedActivities();
    const taskQueue = uniqueTaskQueue('race');
    const newWorker = async () =>
      // No workflow cache, so no sticky queue pins the workflow to the stopped worker.
      Worker.create({ connection: h.env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities: recorded.activities(), maxCachedWorkflows: 0 });
    const now = new Date(await h.env.currentTimeMs());
    const request = grantRequest({ now, ttlMs: 30 * DAY });
    const handle = await h.env.client.workflow.start(grantAccess, { taskQueue, workflowId: `${request.grantId}/${uniqueTaskQueue('race')}`, args: [request] });
    h.started.push(handle);
    await (await newWorker()).runUntil(waitForStatus(handle, 'ACTIVE'));
    // With no worker polling, both updates wait at the server and then reach the
    // workflow in one activation: the case where a flag-based lock let both in.
    const both = Promise.all([
      handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'ADMIN', privileges: ['ALL PRIVILEGES'], actor: 'a' }] }),
      handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'READ', privileges: ['SELECT'], actor: 'b' }] }),
    ]);
    await new Promise((r) => setTimeout(r, 500));
    const state = await (await newWorker()).runUntil(async () => {
      const [first, second] = await both;
      assert.deepEqual([first.accessLevel, second.accessLevel].sort(), ['ADMIN', 'READ']);
      await handle.signal(revokeSignal, { actor: 'test' });
      return handle.result();
    });
    h.started.splice(h.started.indexOf(handle), 1);
    assert.equal(recorded.maxConcurrentChanges, 1, 'the two changes overlapped');
    const changes = recorded.succeeded().filter((c) => c.name === 'changePrivileges').map((c) => c.input as { privileges: string[]; previous: string[] });
    assert.equal(changes.length, 2);
    assert.deepEqual(changes[0]!.previous, ['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
    assert.deepEqual(changes[1]!.previous, changes[0]!.privileges, 'the second change starts from what the first one set');
    assert.deepEqual(state.privileges, changes[1]!.privileges);
  });

  it('When a level change fails and the old level cannot be restored either, then the grant is revoked rather than left with unknown privileges', async () => {
    // The first grantPrivileges call is provisioning; the restore is the second.
    const recorded = new RecordedActivities().fail('changePrivileges', { type: 'UnknownDatabase' }).fail('grantPrivileges', { skip: 1, type: 'UnknownDatabase' });
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      await waitForStatus(handle, 'ACTIVE');
      const failure = await handle
        .executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'ADMIN', privileges: ['ALL PRIVILEGES'], actor: 'alice' }] })
        .then(() => assert.fail('the change should fail'), updateFailure);
      assert.match(failure.message, /could not be restored.*being revoked/);
      return handle.result();
    });
    assert.equal(state.status, 'REVOKED');
    assert.ok(Date.parse(state.endedAt!) < Date.parse(state.expiresAt));
    const requested = recorded.audits().find((a) => a.event === 'REVOKE_REQUESTED')!;
    assert.equal(requested.actor, 'dbaccess');
    assert.match(requested.reason!, /could not be restored/);
  });

  it('When a message arrives after the grant ended, then updates are refused as not ACTIVE', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      await waitForStatus(handle, 'ACTIVE');
      await handle.signal(revokeSignal, { actor: 'alice' });
      await assert.rejects(
        handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'READ', privileges: ['SELECT'], actor: 'alice' }] }),
        (err: unknown) => err instanceof WorkflowUpdateFailedError || /completed|not ACTIVE/.test(String(err)),
      );
      await handle.result();
    });
    assert.equal(recorded.trace().filter((t) => t === 'changePrivileges').length, 0);
  });

  // Each provisioning step fails for good in turn; the compensations of the steps
  // before it (and of itself, which may have half-happened) run in reverse.
  const cases: { step: StepName; kind?: string; type?: string; label: string; compensations: string[] }[] = [
    { step: 'recordAudit', kind: 'REQUESTED', label: 'audit REQUESTED', compensations: [] },
    { step: 'checkTarget', label: 'check target', compensations: [] },
    { step: 'createAccount', label: 'create account', compensations: ['revokeAccess'] },
    // The account name is someone else's account: it must not be dropped.
    { step: 'createAccount', type: 'AccountConflict', label: 'create account', compensations: [] },
    { step: 'grantPrivileges', label: 'grant privileges', compensations: ['revokePrivileges', 'revokeAccess'] },
    { step: 'recordAudit', kind: 'GRANTED', label: 'audit GRANTED', compensations: ['revokePrivileges', 'revokeAccess'] },
    { step: 'notifyGrant', kind: 'GRANTED', label: 'notify', compensations: ['revokePrivileges', 'revokeAccess'] },
  ];
  for (const c of cases) {
    it(`When "${c.label}" fails for good (${c.type ?? 'UnknownDatabase'}), then exactly [${c.compensations.join(', ')}] run in reverse and the grant ends FAILED`, async () => {
      const recorded = new RecordedActivities().fail(c.step, { ...(c.kind ? { kind: c.kind } : {}), type: c.type ?? 'UnknownDatabase' });
      const err = await h.withWorker(recorded, async (tq) => {
        const { handle } = await start(tq, 30 * DAY);
        const failure = await handle.result().then(
          () => assert.fail('the workflow should fail'),
          (e: unknown) => e,
        );
        const state = await handle.query(grantStateQuery);
        assert.equal(state.status, 'FAILED');
        assert.equal(state.failure?.step, c.label);
        return failure;
      });
      assert.ok(err instanceof WorkflowFailedError);
      assert.ok(err.cause instanceof ApplicationFailure);
      assert.equal(err.cause.type, 'GrantFailed');
      assert.match(err.cause.message, new RegExp(`step "${c.label}"`));

      const trace = recorded.trace();
      const failedAt = recorded.calls.findIndex((call) => call.name === c.step && (!c.kind || call.kind === c.kind) && (call as { failed?: boolean }).failed);
      assert.ok(failedAt >= 0);
      // The target is checked while REQUESTED is audited: either may finish after the other failed.
      const after = recorded.calls
        .slice(failedAt)
        .filter((call) => !(call as { failed?: boolean }).failed)
        .map((call) => (call.kind ? `${call.name}:${call.kind}` : call.name))
        .filter((name) => name !== 'recordAudit:REQUESTED' && name !== 'checkTarget');
      assert.deepEqual(after, [...c.compensations, 'recordAudit:ROLLED_BACK', 'notifyAdmins:FAILED']);
      if (c.label !== 'audit REQUESTED') assert.deepEqual(recorded.audits().map((a) => a.event).slice(0, 1), ['REQUESTED'], 'REQUESTED is the first event of the trail');
      assert.ok(!trace.includes('notifyGrant:GRANTED') || c.step !== 'notifyGrant');
      assert.equal(recorded.audits().at(-1)!.event, 'ROLLED_BACK');
    });
  }

  it('When a provisioning step fails only transiently, then it is retried and the grant becomes ACTIVE', async () => {
    const recorded = new RecordedActivities().fail('createAccount', { times: 3 });
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      await waitForStatus(handle, 'ACTIVE');
      await handle.signal(revokeSignal, { actor: 'test' });
      await handle.result();
    });
    assert.equal(recorded.calls.filter((c) => c.name === 'createAccount').length, 4);
    assert.ok(!recorded.trace().includes('recordAudit:ROLLED_BACK'));
  });

  it('When revocation keeps failing, then it retries without limit, alerts administrators once, and succeeds when the failure stops', async () => {
    const failures = REVOKE_ATTEMPTS_BEFORE_ALERT + 10;
    const recorded = new RecordedActivities().fail('revokeAccess', { times: failures, type: 'DatabaseUnavailable' });
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 2 * DAY);
      return handle.result();
    });
    assert.equal(state.status, 'EXPIRED');
    assert.equal(recorded.calls.filter((c) => c.name === 'revokeAccess').length, failures + 1);
    assert.equal(recorded.trace().filter((t) => t === 'notifyAdmins:REVOKE_RETRYING').length, 1, 'one alert, not one per attempt');
    assert.equal(recorded.audits().filter((a) => a.event === 'REVOKE_RETRYING').length, 1);
    assert.deepEqual(
      state.history.map((h) => h.event),
      ['REQUESTED', 'GRANTED', 'REVOKE_RETRYING', 'EXPIRED'],
    );
  });

  it('When the EXPIRED e-mail cannot be sent, then the revoke is not delayed and NOTIFY_FAILED is recorded', async () => {
    const recorded = new RecordedActivities().fail('notifyGrant', { kind: 'EXPIRED', type: 'MailRejected' });
    const state = await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, DAY);
      return handle.result();
    });
    assert.equal(state.status, 'EXPIRED');
    const trace = recorded.trace();
    assert.ok(trace.indexOf('revokeAccess') < trace.indexOf('recordAudit:NOTIFY_FAILED'));
    assert.equal(state.history.at(-1)!.event, 'NOTIFY_FAILED');
  });

  it('When a grant continues as new, then it resumes with its state and audit sequence without provisioning again', async () => {
    const recorded = new RecordedActivities();
    const state = await h.withWorker(recorded, async (tq) => {
      const now = new Date(await h.env.currentTimeMs());
      const request = grantRequest({ now, ttlMs: DAY });
      const carriedState: GrantState = {
        grantId: request.grantId, status: 'ACTIVE', email: request.email, name: request.name, project: request.project,
        database: request.database, schema: request.target.schema, account: request.account, accessLevel: 'READ', privileges: ['SELECT'],
        expiresAt: request.expiresAt, requestedAt: now.toISOString(), requestedBy: 'test', grantedAt: now.toISOString(),
        history: [{ event: 'REQUESTED', at: now.toISOString(), actor: 'test', accessLevel: 'READ', expiresAt: request.expiresAt }],
      };
      const handle = await h.env.client.workflow.start(grantAccess, {
        taskQueue: tq,
        workflowId: `${request.grantId}/${uniqueTaskQueue('can')}`,
        args: [request, { state: carriedState, sequence: 41 }],
      });
      h.started.push(handle);
      return handle.result();
    });
    assert.equal(state.status, 'EXPIRED');
    assert.deepEqual(recorded.trace(), ['revokeAccess', 'recordAudit:EXPIRED', 'notifyGrant:EXPIRED']);
    assert.match(recorded.audits()[0]!.eventId, /:000042$/);
    assert.equal(recorded.audits()[0]!.accessLevel, 'READ');
  });

  it('When any activity is called, then its input carries no password', async () => {
    const recorded = new RecordedActivities();
    await h.withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, DAY);
      await handle.result();
    });
    for (const call of recorded.calls) assert.doesNotMatch(JSON.stringify(call.input), /password/i, `${call.name} input`);
  });
});
