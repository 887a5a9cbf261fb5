import assert from 'node:assert/strict';
import { temporal } from '@temporalio/proto';
import type { WorkflowBundle } from '@temporalio/worker';
import type { RunningWorker } from '../../src/worker';
import { DynamoAuditStore } from '../../src/adapters/aws';
import { accountExists } from '../support/mariadb';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';
import { NEXT_RELEASE_PATCH } from './fixtures/next-release';
import { nextReleaseBundle } from './fixtures/next-release-bundle';

// A rolling deploy of new workflow code (issue 17, part 4;
// docs/decisions/0702-rolling-deploys-of-workflow-code.md): unversioned workers of
// the shipped code ("old") and of the next release ("new": the same code plus a step
// after an extension, guarded by patched()) on one task queue. Grants started by the
// old worker go on on the new one; and the case a mixed fleet can meet, an old
// worker given a history that a new worker took past the patched() branch, ends
// well once only new workers serve. The tests run in order: each stops workers.

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const { WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR } = temporal.api.enums.v1.WorkflowTaskFailedCause;

describe('end to end: a rolling deploy of new workflow code', function () {
  this.timeout(120_000);
  let stack: TestStack;
  let next: WorkflowBundle;
  let audit: DynamoAuditStore;
  /** The grant of the mixed case, started by the old worker with the others. */
  let mixed: { grantId: string; account: string };

  before(async () => {
    [stack, next] = await Promise.all([startTestStack({ fleet: { workers: 1 } }), nextReleaseBundle()]);
    audit = new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable);
  });
  after(async () => {
    await stack?.stop();
  });

  /** The identity of the stack's i-th worker (0: the first, old one). */
  const worker = (i: number) => `test-worker-${i + 1}`;

  async function grant(expiresInMs: number): Promise<{ grantId: string; account: string }> {
    const expiresAt = new Date(Date.now() + expiresInMs).toISOString();
    const created = await stack.call('POST', '/grants', { email: stack.newEmail(), name: 'Rolling Deploy', project: stack.project, database: stack.databases.main, accessLevel: 'READ', expiresAt });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'ACTIVE');
    return created.body;
  }

  async function extend(grantId: string, byMs: number): Promise<void> {
    const current = (await stack.call('GET', stack.grantPath(grantId))).body.expiresAt as string;
    const extended = await stack.call('POST', stack.grantPath(grantId, '/extend'), { expiresAt: new Date(Date.parse(current) + byMs).toISOString(), reason: 'rolling deploy' });
    assert.equal(extended.status, 200, JSON.stringify(extended.body));
  }

  async function revoke(grantId: string): Promise<void> {
    const revoked = await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'rolling deploy' });
    assert.equal(revoked.status, 202, JSON.stringify(revoked.body));
  }

  /** Stops a worker as SIGTERM does, and waits until it has stopped. */
  async function stopGracefully(w: RunningWorker): Promise<void> {
    w.shutdown();
    await until('the worker to stop', () => [w.worker, w.expiryWorker].every((x) => x.getState() === 'STOPPED'), 30_000);
  }

  async function historyOf(grantId: string): Promise<HistoryEvent[]> {
    return (await stack.client.workflow.getHandle(grantId).fetchHistory()).events ?? [];
  }

  /** The patch ids recorded in a history, in order. */
  function patchesIn(events: HistoryEvent[]): string[] {
    return events
      .map((e) => e.markerRecordedEventAttributes)
      .filter((m) => m?.markerName === 'core_patch')
      .map((m) => JSON.parse(Buffer.from(m!.details!['patch-data']!.payloads![0]!.data!).toString()).id as string);
  }

  /** Who completed each workflow task, in order. */
  const completedBy = (events: HistoryEvent[]) => events.flatMap((e) => (e.workflowTaskCompletedEventAttributes ? [e.workflowTaskCompletedEventAttributes.identity] : []));
  const failedTasks = (events: HistoryEvent[]) => events.flatMap((e) => (e.workflowTaskFailedEventAttributes ? [e.workflowTaskFailedEventAttributes] : []));

  async function trail(grantId: string): Promise<string[]> {
    return (await audit.forGrant(grantId)).map((e) => e.event);
  }

  async function closedAs(grantId: string, status: string, timeoutMs: number): Promise<void> {
    await until(`${grantId} to be ${status}`, async () => (await stack.call('GET', stack.grantPath(grantId))).body.status === status, timeoutMs);
    await until(`${grantId}'s workflow to complete`, async () => (await stack.client.workflow.getHandle(grantId).describe()).status.name === 'COMPLETED', 10_000);
  }

  it('When grants started by an old worker are served by a new one once the old one stops, then one is extended on the new code, one revoked and one expires, each account dropped and each audit trail complete', async () => {
    const [old] = stack.fleet.workers;
    // Both short ones are armed on the old worker at once (the lead is a minute).
    const extended = await grant(25_000);
    const revoked = await grant(86_400_000);
    const expiring = await grant(20_000);
    mixed = await grant(86_400_000);

    await stack.fleet.startWorker({ workflowBundle: next });
    await stopGracefully(old!);
    await extend(extended.grantId, 10_000);
    await revoke(revoked.grantId);

    await closedAs(revoked.grantId, 'REVOKED', 20_000);
    await closedAs(expiring.grantId, 'EXPIRED', 40_000);
    await closedAs(extended.grantId, 'EXPIRED', 40_000);
    for (const g of [extended, revoked, expiring]) assert.equal(await accountExists(g.account, '%'), false, g.account);
    assert.deepEqual(await trail(extended.grantId), ['REQUESTED', 'GRANTED', 'EXTENDED', 'EXPIRED']);
    assert.deepEqual(await trail(revoked.grantId), ['REQUESTED', 'GRANTED', 'REVOKE_REQUESTED', 'REVOKED']);
    assert.deepEqual(await trail(expiring.grantId), ['REQUESTED', 'GRANTED', 'EXPIRED']);

    for (const g of [extended, revoked, expiring]) {
      const events = await historyOf(g.grantId);
      assert.deepEqual(failedTasks(events), [], 'the new worker replays what the old one wrote');
      const by = completedBy(events);
      assert.equal(by[0], worker(0), 'started by the old worker');
      assert.equal(by.at(-1), worker(1), 'ended by the new worker');
    }
    // The extension took the next release's path: its marker, then its step after the update was accepted.
    const events = await historyOf(extended.grantId);
    assert.ok(patchesIn(events).includes(NEXT_RELEASE_PATCH), JSON.stringify(patchesIn(events)));
    const accepted = events.find((e) => e.workflowExecutionUpdateAcceptedEventAttributes)!.eventId!;
    assert.ok(events.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'checkTarget' && e.eventId! > accepted));
    for (const g of [revoked, expiring]) assert.ok(!patchesIn(await historyOf(g.grantId)).includes(NEXT_RELEASE_PATCH), 'never reached the patched step');
    // The revocation armed on the old worker failed its attempt when that worker stopped; the new one dropped the account.
    const expiry = await historyOf(expiring.grantId);
    const revocations = expiry.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'revokeAccess').map((e) => String(e.eventId));
    const drops = expiry.flatMap((e) => (revocations.includes(String(e.activityTaskStartedEventAttributes?.scheduledEventId)) ? [e.activityTaskStartedEventAttributes!] : []));
    assert.deepEqual(drops.map((d) => [d.identity, d.attempt! > 1]), [[worker(1), true]]);
  });

  it('When an old worker is given a grant that a new worker took past a patched() branch, then its workflow task fails on non-determinism and is retried without failing the grant, and the grant is revoked once only new workers serve it', async () => {
    await extend(mixed.grantId, 86_400_000);
    assert.ok(patchesIn(await historyOf(mixed.grantId)).includes(NEXT_RELEASE_PATCH));

    // Only an old worker: a restart of the old release, or a rollback.
    const [, newer] = stack.fleet.workers;
    await stack.fleet.startWorker();
    await stopGracefully(newer!);
    await revoke(mixed.grantId);
    const failed = await until('the old worker to fail a workflow task', async () => failedTasks(await historyOf(mixed.grantId))[0], 20_000);
    assert.equal(failed.identity, worker(2));
    assert.equal(failed.cause, WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR);
    assert.match(failed.failure?.message ?? '', new RegExp(`Nondeterminism error: .*${NEXT_RELEASE_PATCH}`));
    process.stdout.write(`      (${failed.identity}: ${failed.failure?.message})\n`);
    await new Promise((r) => setTimeout(r, 3000));
    const during = await stack.client.workflow.getHandle(mixed.grantId).describe();
    assert.equal(during.status.name, 'RUNNING', 'a non-determinism error fails the task, not the grant');
    assert.ok((during.raw.pendingWorkflowTask?.attempt ?? 0) >= 2, 'the task is retried');
    assert.equal(await accountExists(mixed.account, '%'), true, 'the revoke waits');
    assert.deepEqual(await trail(mixed.grantId), ['REQUESTED', 'GRANTED', 'EXTENDED']);
    // A change asked for meanwhile is refused as unavailable for now, naming why: nothing is changed.
    const asked = Date.now();
    const refused = await stack.call('POST', stack.grantPath(mixed.grantId, '/extend'), { expiresAt: new Date(Date.now() + 10 * 86_400_000).toISOString(), reason: 'rolling deploy' });
    process.stdout.write(`      (an extension meanwhile: ${refused.status} after ${Date.now() - asked} ms)\n`);
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'grant_unavailable');
    assert.equal(refused.headers.get('retry-after'), '30', 'the caller is told to come back once the deploy has moved on');
    assert.match(refused.body.message, /workflow task is failing/);

    // The rollout goes on: a new worker joins, the old one stops.
    const [, , old] = stack.fleet.workers;
    const rolledOut = Date.now();
    await stack.fleet.startWorker({ workflowBundle: next });
    await stopGracefully(old!);
    await closedAs(mixed.grantId, 'REVOKED', 45_000);
    process.stdout.write(`      (revoked ${Date.now() - rolledOut} ms after a new worker joined)\n`);
    assert.equal(await accountExists(mixed.account, '%'), false);
    assert.deepEqual(await trail(mixed.grantId), ['REQUESTED', 'GRANTED', 'EXTENDED', 'REVOKE_REQUESTED', 'REVOKED']);
    const events = await historyOf(mixed.grantId);
    assert.ok(failedTasks(events).every((f) => f.identity === worker(2)), 'only the old worker failed');
    const afterFailure = completedBy(events.slice(events.findIndex((e) => e.workflowTaskFailedEventAttributes)));
    assert.ok(afterFailure.length > 0 && afterFailure.every((w) => w === worker(3)), JSON.stringify(afterFailure));
  });
});
