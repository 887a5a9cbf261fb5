import assert from 'node:assert/strict';
import type { NoticeMailRequest } from '../../src/activities';
import type { GrantState } from '../../src/domain';
import { grantAccess } from '../../src/workflows';
import { extendUpdate, grantStateQuery, revokeSignal } from '../../src/contract/messages';
import { uniqueTaskQueue } from '../support/temporal';
import { useTimeSkipping } from './harness';
import { DAY, RecordedActivities, grantRequest } from './fixtures';

// Reminders before the expiry, on the time-skipping test server: when they are
// sent, to whom, how an extension re-plans them, and that they never hold up
// the end of access.

const HOUR = 3600_000;
const REMINDERS = [3 * DAY, DAY];

describe('grant reminders (time-skipping)', function () {
  this.timeout(120_000);
  const h = useTimeSkipping('rem');

  async function start(taskQueue: string, ttlMs: number, reminderOffsetsMs: number[] | null = REMINDERS) {
    const now = new Date(await h.env.currentTimeMs());
    const request = { ...grantRequest({ now, ttlMs }), ...(reminderOffsetsMs ? { reminderOffsetsMs } : {}) };
    const handle = await h.env.client.workflow.start(grantAccess, { taskQueue, workflowId: `${request.grantId}/${uniqueTaskQueue('id')}`, args: [request] });
    h.started.push(handle);
    return handle;
  }

  const waitFor = (handle: { query: (q: typeof grantStateQuery) => Promise<GrantState> }, ok: (s: GrantState) => boolean, _what: string) => h.waitFor(handle, ok);

  const reminders = (r: RecordedActivities) =>
    r
      .succeeded()
      .filter((c) => c.name === 'notifyGrantee' && c.kind === 'REMINDER')
      .map((c) => c.input as NoticeMailRequest);

  /** How long before the expiry each reminder was sent, in hours (from its audit event's time). */
  const sentBefore = (r: RecordedActivities) =>
    r
      .audits()
      .filter((a) => a.event === 'REMINDER_SENT')
      .map((a) => Math.round((Date.parse(a.expiresAt) - Date.parse(a.at)) / HOUR));

  it('When a 10-day grant runs its course, then the grantee and the owner are reminded 3 days and 1 day before, each audited REMINDER_SENT', async () => {
    const recorded = new RecordedActivities();
    const state = await h.withWorker(recorded, async (tq) => (await start(tq, 10 * DAY)).result());
    assert.equal(state.status, 'EXPIRED');
    assert.deepEqual(sentBefore(recorded), [72, 24]);
    const mails = reminders(recorded);
    assert.deepEqual(
      mails.map((m) => m.beforeMs),
      [3 * DAY, DAY],
    );
    for (const m of mails) {
      assert.equal(m.grant.email, 'john.doe@example.com');
      assert.equal(m.owner.email, 'owner@example.com');
      assert.equal(m.grant.expiresAt, state.expiresAt);
    }
    // Each e-mail carries the id of its audit event (deterministic Message-ID).
    const events = recorded.audits().filter((a) => a.event === 'REMINDER_SENT');
    assert.deepEqual(
      mails.map((m) => m.eventId),
      events.map((e) => e.eventId),
    );
    assert.deepEqual(
      state.history.map((h) => h.event),
      ['REQUESTED', 'GRANTED', 'REMINDER_SENT', 'REMINDER_SENT', 'EXPIRED'],
    );
    const expired = recorded.audits().find((a) => a.event === 'EXPIRED')!;
    assert.ok(Date.parse(expired.at) - Date.parse(state.expiresAt) < 60_000, 'revoked on time');
  });

  it('When a grant lasts 2 days, then only the 1-day reminder is sent; a 12-hour grant gets none', async () => {
    const twoDays = new RecordedActivities();
    await h.withWorker(twoDays, async (tq) => (await start(tq, 2 * DAY)).result());
    assert.deepEqual(sentBefore(twoDays), [24]);

    const halfDay = new RecordedActivities();
    const state = await h.withWorker(halfDay, async (tq) => (await start(tq, 12 * HOUR)).result());
    assert.equal(state.status, 'EXPIRED');
    assert.deepEqual(reminders(halfDay), []);
    assert.deepEqual(sentBefore(halfDay), []);
  });

  it('When a grant is extended after its 3-day reminder, then the 3-day and 1-day reminders are sent again before the new expiry', async () => {
    const recorded = new RecordedActivities();
    const { state, newExpiry } = await h.withWorker(recorded, async (tq) => {
      const handle = await start(tq, 10 * DAY);
      await waitFor(handle, (s) => s.status === 'ACTIVE', 'ACTIVE');
      // Skip past the 3-day reminder (7 days in), not to the 1-day one.
      await h.env.sleep(7 * DAY + HOUR);
      const after3d = await waitFor(handle, (s) => s.history.some((h) => h.event === 'REMINDER_SENT'), 'the 3-day reminder');
      const newExpiry = new Date(Date.parse(after3d.expiresAt) + 10 * DAY).toISOString();
      await handle.executeUpdate(extendUpdate, { args: [{ expiresAt: newExpiry, actor: 'alice' }] });
      return { state: await handle.result(), newExpiry };
    });
    assert.equal(state.expiresAt, newExpiry);
    const events = recorded.audits().filter((a) => a.event === 'REMINDER_SENT');
    assert.equal(events.length, 3, `reminders: ${sentBefore(recorded).join(', ')}`);
    assert.notEqual(events[0]!.expiresAt, newExpiry, 'the first was for the old expiry');
    assert.deepEqual(
      events.slice(1).map((e) => e.expiresAt),
      [newExpiry, newExpiry],
    );
    assert.deepEqual(sentBefore(recorded), [72, 72, 24]);
    assert.deepEqual(
      state.history.map((h) => h.event),
      ['REQUESTED', 'GRANTED', 'REMINDER_SENT', 'EXTENDED', 'REMINDER_SENT', 'REMINDER_SENT', 'EXPIRED'],
    );
  });

  it('When the grant is revoked before its reminders, then none is sent', async () => {
    const recorded = new RecordedActivities();
    const state = await h.withWorker(recorded, async (tq) => {
      const handle = await start(tq, 10 * DAY);
      await waitFor(handle, (s) => s.status === 'ACTIVE', 'ACTIVE');
      await handle.signal(revokeSignal, { actor: 'bob', reason: 'done' });
      return handle.result();
    });
    assert.equal(state.status, 'REVOKED');
    assert.deepEqual(reminders(recorded), []);
    assert.ok(!recorded.audits().some((a) => a.event === 'REMINDER_SENT'));
  });

  it('When the reminder e-mails fail, then NOTIFY_FAILED is audited and the grant still expires on time', async () => {
    const recorded = new RecordedActivities().fail('notifyGrantee', { type: 'MailRejected' });
    const state = await h.withWorker(recorded, async (tq) => (await start(tq, 10 * DAY)).result());
    assert.equal(state.status, 'EXPIRED');
    const expired = recorded.audits().find((a) => a.event === 'EXPIRED')!;
    assert.ok(Date.parse(expired.at) >= Date.parse(state.expiresAt));
    assert.ok(Date.parse(expired.at) - Date.parse(state.expiresAt) < 60_000, 'not delayed by the failing reminders');
    const failed = recorded.audits().filter((a) => a.event === 'NOTIFY_FAILED');
    assert.equal(failed.length, 2);
    assert.match(failed[0]!.detail!, /^REMINDER e-mail not sent/);
    assert.ok(!recorded.audits().some((a) => a.event === 'REMINDER_SENT'), 'a reminder that was not sent is not audited as sent');
  });

  it('When a request carries no reminder settings (made before reminders existed), then it sends none', async () => {
    const recorded = new RecordedActivities();
    const state = await h.withWorker(recorded, async (tq) => (await start(tq, 10 * DAY, null)).result());
    assert.equal(state.status, 'EXPIRED');
    assert.deepEqual(reminders(recorded), []);
  });
});
