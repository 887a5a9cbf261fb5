import assert from 'node:assert/strict';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { ARMED_REVOCATION_QUEUE_SUFFIX, type GrantRequest } from '../../src/domain';
import { grantAccess } from '../../src/workflows';
import { uniqueTaskQueue } from '../support/temporal';
import { useTimeSkipping } from './harness';
import { DAY, RecordedActivities, grantRequest } from './fixtures';

// The revocation armed a lead ahead of the expiry (src/workflows/grant/arming.ts):
// handed to a worker of the expiry queue, or revoked the usual way when none serves it.

describe('grantAccess workflow: a revocation armed ahead of the expiry (time-skipping)', function () {
  this.timeout(120_000);
  const h = useTimeSkipping('armed');

  async function start(taskQueue: string, ttlMs: number, overrides: Partial<GrantRequest> = {}) {
    const now = new Date(await h.env.currentTimeMs());
    const request = { ...grantRequest({ now, ttlMs }), ...overrides };
    const handle = await h.env.client.workflow.start(grantAccess, { taskQueue, workflowId: `${request.grantId}/${uniqueTaskQueue('id')}`, args: [request] });
    h.started.push(handle);
    return { handle, request };
  }

  const FULL_TRACE = ['recordAudit:REQUESTED', 'checkTarget', 'createAccount', 'grantPrivileges', 'recordAudit:GRANTED', 'notifyGrant:GRANTED', 'revokeAccess', 'recordAudit:EXPIRED', 'notifyGrant:EXPIRED'];

  it('When a worker serves the expiry queue, then the revocation is handed to it a lead ahead, with the exact expiry, and nothing else revokes', async () => {
    const recorded = new RecordedActivities();
    const armedAt: number[] = [];
    const state = await h.withWorker(recorded, async (tq) => {
      // A recorded stand-in: it notes when it was started and returns at once
      // (the real one waits for notBefore; that is tested on the real stack).
      const expiry = await Worker.create({
        connection: h.env.nativeConnection,
        taskQueue: `${tq}${ARMED_REVOCATION_QUEUE_SUFFIX}`,
        activities: {
          revokeAccess: async (ref: unknown) => {
            armedAt.push(await h.env.currentTimeMs());
            return recorded.activities().revokeAccess(ref as never);
          },
        },
      });
      return expiry.runUntil(async () => {
        const { handle } = await start(tq, DAY, { revocationLeadMs: 60_000 });
        return handle.result();
      });
    });
    assert.equal(state.status, 'EXPIRED');
    assert.deepEqual(recorded.trace(), FULL_TRACE);
    const revoke = recorded.calls.find((c) => c.name === 'revokeAccess')!.input as { notBefore?: string; owned?: boolean };
    assert.equal(revoke.notBefore, state.expiresAt, 'armed for the exact expiry');
    assert.equal(revoke.owned, true, 'the account is known to be the grant\'s: Secrets Manager is not asked first');
    const lead = Date.parse(state.expiresAt) - armedAt[0]!;
    assert.ok(lead > 50_000 && lead <= 60_000, `armed ${lead} ms ahead`);
  });

  it('When the armed attempt never reports (its worker lost, or the attempt lost on its way), then 10 s after the expiry the ordinary revocation runs beside it and the grant ends EXPIRED', async () => {
    const recorded = new RecordedActivities();
    let cancelled = false;
    const state = await h.withWorker(recorded, async (tq) => {
      // A stand-in that takes the attempt and never ends access: it only heartbeats, until told to stop.
      const expiry = await Worker.create({
        connection: h.env.nativeConnection,
        taskQueue: `${tq}${ARMED_REVOCATION_QUEUE_SUFFIX}`,
        activities: {
          revokeAccess: async () => {
            const ctx = Context.current();
            for (;;) {
              ctx.heartbeat();
              try {
                await Promise.race([ctx.cancelled, new Promise((r) => setTimeout(r, 200))]);
              } catch (err) {
                cancelled = true;
                throw err;
              }
            }
          },
        },
      });
      // A short lead: the test server does not skip time while an activity runs.
      return expiry.runUntil(async () => (await start(tq, DAY, { revocationLeadMs: 3_000 })).handle.result());
    });
    assert.equal(state.status, 'EXPIRED');
    // The grant's own queue revoked it (no notBefore), once, and the trail is the usual one.
    assert.deepEqual(recorded.trace(), FULL_TRACE);
    const revoke = recorded.calls.find((c) => c.name === 'revokeAccess')!.input as { notBefore?: string };
    assert.equal(revoke.notBefore, undefined, 'the ordinary revocation');
    const expired = recorded.audits().find((a) => a.event === 'EXPIRED')!;
    const after = Date.parse(expired.at) - Date.parse(state.expiresAt);
    assert.ok(after >= 10_000 && after < 15_000, `revoked ${after} ms after the expiry`);
    assert.equal(cancelled, true, 'the armed attempt was stood down before the grant closed');
  });

  it('When no worker serves the expiry queue, then the arming times out and the grant is revoked at its expiry the usual way', async () => {
    const recorded = new RecordedActivities();
    const state = await h.withWorker(recorded, async (tq) => {
      // The schedule-to-start timeout (10 s at this lead) runs in real time: the test server does not skip it.
      const { handle } = await start(tq, DAY, { revocationLeadMs: 20_000 });
      return handle.result();
    });
    assert.equal(state.status, 'EXPIRED');
    assert.deepEqual(recorded.trace(), FULL_TRACE);
    const revoke = recorded.calls.find((c) => c.name === 'revokeAccess')!.input as { notBefore?: string };
    assert.equal(revoke.notBefore, undefined, 'revoked by the grant\'s own queue');
    const expired = recorded.audits().find((a) => a.event === 'EXPIRED')!;
    assert.ok(Date.parse(expired.at) >= Date.parse(state.expiresAt), 'not before the expiry');
  });
});
