import assert from 'node:assert/strict';
import { DynamoAuditStore } from '../../src/adapters/aws';
import { accountExists } from '../support/mariadb';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';

// A fleet, not a process (issue 17, part 1): two workers and two API processes
// against one Temporal server and one task queue. Grants are served by both
// workers, a duplicate request sent to both API processes gives one grant, a
// revoke through one API process reaches a grant whatever worker serves it, and
// what must happen once (a reminder, the reconciler's schedule) happens once.

describe('end to end: two workers and two API processes', function () {
  this.timeout(180_000);
  let stack: TestStack;
  const scheduleId = `dbaccess-reconciler-fleet-${Date.now()}`;

  before(async () => {
    stack = await startTestStack({ fleet: { workers: 2, apis: 2 }, reminders: ['10s'], reconciler: { scheduleId, interval: '1h' } });
  });
  after(async () => {
    await stack?.client.schedule.getHandle(scheduleId).delete().catch(() => undefined);
    await stack?.stop();
  });

  /** A call to API process `i`, with the admin key. */
  async function callAt(i: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${stack.fleet.urls[i]}${path}`, {
      method,
      headers: { authorization: `Bearer ${stack.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  const request = (email: string, expiresAt = new Date(Date.now() + 3 * 86_400_000).toISOString()) => ({ email, name: 'Fleet Test', project: stack.project, database: stack.databases.main, accessLevel: 'READ', expiresAt });
  const created = (log: string[]) => log.filter((line) => line.includes('"account ensured"')).length;

  it('When grants are asked for through both API processes, then both workers serve them, and each grant is ACTIVE with its account', async () => {
    const grants = await Promise.all(Array.from({ length: 16 }, (_, i) => callAt(i % 2, 'POST', '/grants', request(stack.newEmail()))));
    for (const g of grants) assert.equal(g.status, 201, JSON.stringify(g.body));
    for (const g of grants) assert.ok(await accountExists(g.body.account, '%'), g.body.account);
    const perWorker = stack.fleet.workerLogs.map(created);
    assert.equal(perWorker.reduce((a, b) => a + b, 0), 16, `accounts created per worker: ${perWorker.join(', ')}`);
    assert.ok(perWorker.every((n) => n > 0), `each worker created accounts: ${perWorker.join(', ')}`);
  });

  it('When the same request is sent 20 times through two API processes at once, then exactly one grant exists and the others answer 409 naming it', async () => {
    const email = stack.newEmail();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => callAt(i % 2, 'POST', '/grants', request(email))));
    const statuses = answers.map((a) => a.status).sort();
    assert.equal(statuses.filter((s) => s === 201).length, 1, JSON.stringify(statuses));
    const refused = answers.filter((a) => a.status !== 201);
    assert.ok(refused.every((a) => a.status === 409 && a.body.error === 'grant_exists'), JSON.stringify(refused.map((a) => a.body)));
    const grantId = answers.find((a) => a.status === 201)!.body.grantId as string;
    assert.ok(refused.every((a) => a.body.grantId === grantId));
    const trail = await new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable).forGrant(grantId);
    assert.deepEqual(trail.filter((e) => e.event === 'REQUESTED' || e.event === 'GRANTED').map((e) => e.event), ['REQUESTED', 'GRANTED'], 'one grant, audited once');
  });

  it('When a grant made through one API process is revoked through the other, then its account is dropped, whichever worker served it', async () => {
    const g = await callAt(0, 'POST', '/grants', request(stack.newEmail()));
    assert.equal(g.status, 201);
    const revoked = await callAt(1, 'POST', `/grants/${encodeURIComponent(g.body.grantId)}/revoke`, { reason: 'fleet' });
    assert.equal(revoked.status, 202, JSON.stringify(revoked.body));
    await until('the account to be dropped', async () => !(await accountExists(g.body.account, '%')), 20_000);
    // The drop comes first; the audit event and the state follow.
    await until('the grant to be REVOKED', async () => (await callAt(0, 'GET', `/grants/${encodeURIComponent(g.body.grantId)}`)).body.status === 'REVOKED', 20_000);
  });

  it('When a grant with a reminder runs to its expiry, then the reminder is sent once and the account dropped once, not once per worker', async () => {
    const email = stack.newEmail();
    const g = await callAt(1, 'POST', '/grants', request(email, new Date(Date.now() + 20_000).toISOString()));
    assert.equal(g.status, 201);
    await until('EXPIRED', async () => (await callAt(0, 'GET', `/grants/${encodeURIComponent(g.body.grantId)}`)).body.status === 'EXPIRED', 60_000);
    const events = (await new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable).forGrant(g.body.grantId)).map((e) => e.event);
    assert.equal(events.filter((e) => e === 'REMINDER_SENT').length, 1, JSON.stringify(events));
    assert.equal(events.filter((e) => e === 'EXPIRED').length, 1, JSON.stringify(events));
    const reminders = stack.components.smtp.messages.filter((m) => m.to.includes(email) && m.subject.startsWith('[dbaccess] reminder:'));
    assert.equal(reminders.length, 1);
    assert.equal(await accountExists(g.body.account, '%'), false);
  });

  it('When both workers start with the reconciler schedule, then there is one schedule, and a run of it is one reconciler workflow', async () => {
    const logs = stack.fleet.workerLogs.map((log) => log.filter((line) => line.includes('"reconciler schedule ready"')).map((line) => JSON.parse(line).change as string));
    assert.deepEqual(logs.map((l) => l.length), [1, 1], 'each worker ensured the schedule');
    assert.ok(logs.flat().includes('created'), JSON.stringify(logs));
    const schedules: string[] = [];
    for await (const s of stack.client.schedule.list()) if (s.scheduleId === scheduleId) schedules.push(s.scheduleId);
    assert.deepEqual(schedules, [scheduleId]);
    const handle = stack.client.schedule.getHandle(scheduleId);
    await handle.trigger();
    const runs = await until('the triggered run', async () => {
      const d = await handle.describe();
      return d.info.recentActions.length > 0 && d.info.recentActions;
    }, 20_000);
    assert.equal(runs.length, 1);
  });

  /** Per grant, the worker holding its armed revocation, and the attempt (from the pending activity). */
  async function armedHolders(grantIds: string[]): Promise<Map<string, { worker: string; attempt: number; started: boolean }>> {
    const out = new Map<string, { worker: string; attempt: number; started: boolean }>();
    for (const id of grantIds) {
      const pending = (await stack.client.workflow.getHandle(id).describe()).raw.pendingActivities ?? [];
      const armed = pending.find((a) => a.activityType?.name === 'revokeAccess');
      if (armed) out.set(id, { worker: armed.lastWorkerIdentity ?? '', attempt: armed.attempt ?? 1, started: [2, 'PENDING_ACTIVITY_STATE_STARTED'].includes(armed.state as never) });
    }
    return out;
  }

  // Last: it stops the workers the other tests use.
  it('When both workers are restarted one at a time, one during the lead and one at the expiry, then the first hands its armed revocations back at once, the second finishes its endings, and every account is dropped at its expiry, none before it and the last within 15 s', async () => {
    const expiresAt = new Date(Math.ceil((Date.now() + 40_000) / 1000) * 1000);
    const grants = await Promise.all(Array.from({ length: 40 }, (_, i) => callAt(i % 2, 'POST', '/grants', request(stack.newEmail(), expiresAt.toISOString()))));
    for (const g of grants) assert.equal(g.status, 201, JSON.stringify(g.body));
    const ids = grants.map((g) => g.body.grantId as string);
    // Armed at once (the lead is a minute): each attempt now waits on one of the two workers.
    const armed = await until('every revocation armed and waiting on a worker', async () => {
      const holders = await armedHolders(ids);
      return holders.size === ids.length && [...holders.values()].every((h) => h.started) && holders;
    }, 15_000);
    const heldBy = (name: string) => ids.filter((id) => armed.get(id)!.worker === name);
    assert.ok(heldBy('test-worker-1').length > 0 && heldBy('test-worker-2').length > 0, JSON.stringify([...armed.values()].map((h) => h.worker)));

    // During the lead: the stopping worker's attempts are started again elsewhere, well within the heartbeat timeout (10 s).
    const held = heldBy('test-worker-1');
    const stoppedAt = Date.now();
    stack.fleet.workers[0]!.shutdown();
    await stack.fleet.startWorker();
    await until(`test-worker-1's ${held.length} armed revocations to be taken up by another worker`, async () => {
      const now = await armedHolders(held);
      return held.every((id) => {
        const h = now.get(id);
        return h !== undefined && h.started && h.worker !== 'test-worker-1' && h.attempt > 1;
      });
    }, 20_000);
    const handBack = Date.now() - stoppedAt;
    process.stdout.write(`      (test-worker-1's ${held.length} armed revocations taken up by another worker ${handBack} ms after it was told to stop)\n`);
    assert.ok(handBack < 5000, `handed back in ${handBack} ms, not at once`);

    // At the expiry, while the second worker ends access for its share: it finishes, then stops.
    await new Promise((r) => setTimeout(r, expiresAt.getTime() + 100 - Date.now()));
    const second = stack.fleet.workers[1]!;
    second.shutdown();
    const replacement = stack.fleet.startWorker();

    const lags = new Map<string, number>();
    await until('every account to be dropped', async () => {
      const left = grants.map((g) => g.body.account as string).filter((a) => !lags.has(a));
      const gone = await Promise.all(left.map(async (a) => !(await accountExists(a, '%'))));
      const lag = Date.now() - expiresAt.getTime();
      left.forEach((a, i) => gone[i] && lags.set(a, lag));
      return lags.size === grants.length;
    }, 60_000);
    const sorted = [...lags.values()].sort((a, b) => a - b);
    process.stdout.write(`      (dropped ${sorted[0]} to ${sorted.at(-1)} ms after the expiry)\n`);
    assert.ok(sorted[0]! >= -150, 'no account dropped before its expiry');
    assert.ok(sorted.at(-1)! < 15_000, `the last account was dropped ${sorted.at(-1)} ms after the expiry`);
    await replacement;
    await until('the second worker to have stopped', () => second.worker.getState() === 'STOPPED' && second.expiryWorker.getState() === 'STOPPED', 30_000);
    for (const id of ids) await until(`${id} to be EXPIRED`, async () => (await stack.client.workflow.getHandle(id).query<{ status: string }>('grantState')).status === 'EXPIRED', 60_000);
  });
});
