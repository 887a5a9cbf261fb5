import assert from 'node:assert/strict';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, ActivityFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { GrantState } from '../../src/domain';
import { grantAccess } from '../../src/workflows';
import { changeAccessLevelUpdate, extendUpdate, grantStateQuery, revokeSignal } from '../../src/workflows/messages';
import { REVOKE_ATTEMPTS_BEFORE_ALERT } from '../../src/workflows/grant-access';
import { timeSkippingTemporal, uniqueTaskQueue, workflowBundle } from '../support/temporal';
import { DAY, RecordedActivities, grantRequest, type StepName } from './fixtures';

// The grant lifecycle on the time-skipping test server, with recorded
// activities: what runs, in which order, and what is undone when a step fails.

describe('grantAccess workflow (time-skipping)', function () {
  this.timeout(120_000);
  let env: TestWorkflowEnvironment;

  before(async () => {
    env = await timeSkippingTemporal();
    await workflowBundle();
  });
  after(async () => {
    await env?.teardown();
  });

  async function withWorker<T>(recorded: RecordedActivities, fn: (taskQueue: string) => Promise<T>): Promise<T> {
    const taskQueue = uniqueTaskQueue('wf');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: recorded.activities(),
    });
    return worker.runUntil(fn(taskQueue));
  }

  async function start(taskQueue: string, ttlMs: number, overrides: Parameters<typeof grantRequest>[0] extends infer P ? Partial<P> : never = {}) {
    const now = new Date(await env.currentTimeMs());
    const request = grantRequest({ now, ttlMs, ...overrides });
    const handle = await env.client.workflow.start(grantAccess, {
      taskQueue,
      workflowId: `${request.grantId}/${uniqueTaskQueue('id')}`,
      args: [{ ...request, grantId: request.grantId }],
    });
    return { handle, request };
  }

  async function waitForStatus(handle: { query: (q: typeof grantStateQuery) => Promise<GrantState> }, status: string): Promise<GrantState> {
    for (let i = 0; i < 200; i++) {
      const state = await handle.query(grantStateQuery);
      if (state.status === status) return state;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`grant never reached ${status}`);
  }

  it('When a 30-day grant runs its course, then it is provisioned, audited, notified, and revoked at the expiry', async () => {
    const recorded = new RecordedActivities();
    const state = await withWorker(recorded, async (tq) => {
      const { handle } = await start(tq, 30 * DAY);
      return handle.result();
    });
    assert.equal(state.status, 'EXPIRED');
    assert.deepEqual(recorded.trace(), [
      'recordAudit:REQUESTED',
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
});
