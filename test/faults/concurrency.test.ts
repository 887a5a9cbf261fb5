import assert from 'node:assert/strict';

import { startFaultStack, type FaultStack } from '../support/fault-stack';
import { runAccounts } from '../support/mariadb';
import { until } from '../support/wait';

// Requests that race each other, over HTTP, on the real stack. Whatever order
// they land in, each grant must end in a state its audit trail explains, and a
// closed grant leaves no account behind. Each race runs on several grants at
// once, so that more than one interleaving is exercised.

describe('faults: concurrent requests', function () {
  this.timeout(120_000);
  let stack: FaultStack;

  before(async () => {
    stack = await startFaultStack({ databases: ['main'] });
  });
  after(async () => {
    await stack?.stop();
  });

  /** Sends `a`, and `b` `delayMs` later (or first, when negative), both before either answers. */
  const race = async <A, B>(a: () => Promise<A>, b: () => Promise<B>, delayMs: number): Promise<[A, B]> => {
    const after = <T>(ms: number, fn: () => Promise<T>) => new Promise<void>((r) => setTimeout(r, ms)).then(fn);
    return Promise.all([after(Math.max(0, -delayMs), a), after(Math.max(0, delayMs), b)]);
  };
  /** How much later the second request of each race leaves: interleavings from "it wins" to "it loses". */
  const DELAYS = [-20, 0, 40, 150];

  const events = async (grantId: string) => (await stack.audit.forGrant(grantId)).map((e) => e.event);

  /** Grants that are ACTIVE, one per email. */
  const activeGrants = async (count: number, expiresAt?: string) =>
    Promise.all(
      Array.from({ length: count }, async () => {
        const res = await stack.requestGrant({ email: stack.newEmail(), database: 'main', ...(expiresAt ? { expiresAt } : {}) });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        return res.body as { grantId: string; account: string; expiresAt: string };
      }),
    );

  it('When twenty identical POST /grants arrive at once, then one grant is made and nineteen get 409', async () => {
    const email = stack.newEmail();
    const before = (await runAccounts()).length;
    const answers = await Promise.all(Array.from({ length: 20 }, () => stack.requestGrant({ email, database: 'main' })));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [201, ...Array(19).fill(409)], answers.map((a) => `${a.status} ${a.body?.error ?? a.body?.status}`).join(', '));
    const made = answers.find((a) => a.status === 201)!.body;
    for (const a of answers.filter((x) => x.status === 409)) {
      assert.equal(a.body.error, 'grant_exists');
      assert.equal(a.body.grantId, made.grantId);
    }
    assert.equal((await runAccounts()).length, before + 1, 'one account');
    const o = await stack.assertConsistent(made.grantId);
    assert.deepEqual(o.audit.map((e) => e.event), ['REQUESTED', 'GRANTED']);
    assert.equal(o.granteeMails.length, 1, 'one e-mail');
    const runs = [];
    for await (const wf of stack.client.workflow.list({ query: `WorkflowId = '${made.grantId}'` })) runs.push(wf.runId);
    assert.equal(runs.length, 1, 'one workflow');
  });

  it('When a revoke races an extend, then the grant ends REVOKED, EXTENDED is in the trail exactly when the extend was accepted, and no account is left', async () => {
    const grants = await activeGrants(DELAYS.length);
    const later = new Date(Date.now() + 20 * 24 * 3600_000).toISOString();
    const results = await Promise.all(
      grants.map(async (g, i) => {
        const revoke = () => stack.call('POST', stack.grantPath(g.grantId, '/revoke'), { reason: 'race' });
        const extend = () => stack.call('POST', stack.grantPath(g.grantId, '/extend'), { expiresAt: later });
        const [r, x] = await race(revoke, extend, DELAYS[i]!);
        return { g, r, x };
      }),
    );
    for (const { g, r, x } of results) {
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.ok([200, 409].includes(x.status), `extend answered ${x.status} ${JSON.stringify(x.body)}`);
      const final = await stack.waitClosed(g.grantId, 30_000);
      assert.equal(final.status, 'REVOKED');
      await stack.assertConsistent(g.grantId);
      const trail = await events(g.grantId);
      if (x.status === 200) {
        assert.deepEqual(trail, ['REQUESTED', 'GRANTED', 'EXTENDED', 'REVOKE_REQUESTED', 'REVOKED']);
      } else {
        assert.deepEqual(trail, ['REQUESTED', 'GRANTED', 'REVOKE_REQUESTED', 'REVOKED']);
        assert.match(x.body.error, /^grant_(not_active|closed)$/);
      }
    }
    // eslint-disable-next-line no-console
    console.log(`      (extend accepted ${results.filter((x) => x.x.status === 200).length} of ${results.length} times)`);
  });

  it('When an extend races the expiry, then either it was accepted and the grant is ACTIVE until the new expiry, or it got 409 and the grant EXPIRED', async () => {
    const expiresAt = Date.now() + 4000;
    const grants = await activeGrants(5, new Date(expiresAt).toISOString());
    const later = new Date(Date.now() + 3600_000).toISOString();
    // Extends sent from just before to just after the expiry.
    const offsets = [-400, -150, 0, 150, 400];
    const results = await Promise.all(
      grants.map(async (g, i) => {
        await new Promise((r) => setTimeout(r, Math.max(0, expiresAt + offsets[i]! - Date.now())));
        return { g, x: await stack.call('POST', stack.grantPath(g.grantId, '/extend'), { expiresAt: later }) };
      }),
    );
    let accepted = 0;
    for (const { g, x } of results) {
      assert.ok([200, 409].includes(x.status), `extend answered ${x.status} ${JSON.stringify(x.body)}`);
      if (x.status === 200) {
        accepted += 1;
        assert.equal(x.body.expiresAt, later);
        // Well past the old expiry, it is still ACTIVE, with the new expiry.
        await new Promise((r) => setTimeout(r, Math.max(0, expiresAt + 3000 - Date.now())));
        const o = await stack.assertConsistent(g.grantId);
        assert.equal(o.state.status, 'ACTIVE');
        assert.equal(o.state.expiresAt, later);
        assert.deepEqual(o.audit.map((e) => e.event), ['REQUESTED', 'GRANTED', 'EXTENDED']);
        assert.equal(o.audit[2]!.expiresAt, later);
        // Clean up through the API, and check nothing is left.
        assert.equal((await stack.call('POST', stack.grantPath(g.grantId, '/revoke'), {})).status, 202);
        assert.equal((await stack.waitClosed(g.grantId, 30_000)).status, 'REVOKED');
        await stack.assertConsistent(g.grantId);
      } else {
        assert.match(x.body.error, /^grant_(not_active|closed|expired)$/);
        const final = await stack.waitClosed(g.grantId, 30_000);
        assert.equal(final.status, 'EXPIRED');
        const o = await stack.assertConsistent(g.grantId);
        assert.deepEqual(o.audit.map((e) => e.event), ['REQUESTED', 'GRANTED', 'EXPIRED']);
        assert.ok(Date.parse(o.audit[2]!.at) >= expiresAt, 'not expired before its time');
      }
    }
    // eslint-disable-next-line no-console
    console.log(`      (extend accepted ${accepted} of ${results.length} times, offsets ${offsets.join(', ')} ms)`);
  });

  it('When level changes are kept in flight across the expiry, then those after it are refused and the grant still expires', async () => {
    const expiresAt = Date.now() + 4000;
    const [g] = await activeGrants(1, new Date(expiresAt).toISOString());
    const stopAt = expiresAt + 8000;
    const answers: { at: number; status: number; error?: string }[] = [];
    // Two callers, each sending its next change as soon as the previous one is answered.
    const caller = async (levels: string[]) => {
      await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - 1500 - Date.now())));
      for (let i = 0; Date.now() < stopAt; i++) {
        const res = await stack.call('PATCH', stack.grantPath(g!.grantId), { accessLevel: levels[i % 2] });
        answers.push({ at: Date.now(), status: res.status, error: res.body?.error });
        if (res.status === 409 && Date.now() > expiresAt + 2000) await new Promise((r) => setTimeout(r, 100));
      }
    };
    await Promise.all([caller(['READ', 'READ_WRITE']), caller(['READ_WRITE', 'READ'])]);
    const final = await stack.waitClosed(g!.grantId, 30_000);
    assert.equal(final.status, 'EXPIRED');
    await stack.assertConsistent(g!.grantId);
    const late = answers.filter((a) => a.at > expiresAt + 1000);
    assert.ok(late.length > 0);
    for (const a of late) assert.ok(a.status === 409 && /^grant_(expired|not_active|closed)$/.test(a.error ?? ''), `a change after the expiry answered ${a.status} ${a.error}`);
    const o = await stack.outcome(g!.grantId);
    assert.equal(o.accountExists, false);
    // eslint-disable-next-line no-console
    console.log(`      (${answers.filter((a) => a.status === 200).length} changes accepted before the expiry, ${late.length} refused after it)`);
  });

  it('When a level change races a revoke, then the grant ends REVOKED, LEVEL_CHANGED is in the trail exactly when the change was accepted, and no account is left', async () => {
    const grants = await activeGrants(DELAYS.length);
    const results = await Promise.all(
      grants.map(async (g, i) => {
        const revoke = () => stack.call('POST', stack.grantPath(g.grantId, '/revoke'), { reason: 'race' });
        const change = () => stack.call('PATCH', stack.grantPath(g.grantId), { accessLevel: 'READ' });
        const [r, c] = await race(revoke, change, DELAYS[i]!);
        return { g, r, c };
      }),
    );
    for (const { g, r, c } of results) {
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.ok([200, 409].includes(c.status), `level change answered ${c.status} ${JSON.stringify(c.body)}`);
      const final = await stack.waitClosed(g.grantId, 30_000);
      assert.equal(final.status, 'REVOKED');
      await stack.assertConsistent(g.grantId);
      const trail = await events(g.grantId);
      if (c.status === 200) {
        assert.equal(c.body.accessLevel, 'READ');
        assert.deepEqual(trail, ['REQUESTED', 'GRANTED', 'LEVEL_CHANGED', 'REVOKE_REQUESTED', 'REVOKED']);
      } else {
        assert.deepEqual(trail, ['REQUESTED', 'GRANTED', 'REVOKE_REQUESTED', 'REVOKED']);
      }
    }
    await until('no account of these grants', async () => (await Promise.all(results.map(async ({ g }) => (await stack.outcome(g.grantId)).accountExists))).every((x) => !x), 5000);
    // eslint-disable-next-line no-console
    console.log(`      (level change accepted ${results.filter((x) => x.c.status === 200).length} of ${results.length} times)`);
  });
});
