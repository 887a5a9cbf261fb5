import assert from 'node:assert/strict';

import { startFaultStack, type FaultStack } from '../support/fault-stack';
import { accountExists } from '../support/mariadb';
import { until } from '../support/wait';

// The Temporal server is stopped and started again on its state file while
// grants are open. This stack has a dev server of its own (SQLite state file,
// like `npm run dev`), so stopping it disturbs no other test. The worker keeps
// running through the outage, as it would in production.

describe('faults: the Temporal server restarts', function () {
  this.timeout(180_000);
  let stack: FaultStack;

  before(async () => {
    // A short lead, so that one grant is armed before the outage and another is not.
    stack = await startFaultStack({ databases: ['main'], ownTemporal: true, revocationLead: '5s' });
  });
  after(async () => {
    await stack?.stop();
  });

  it('When the Temporal server is stopped and started again, then open grants survive, an armed revocation drops its account on time during the outage, and one not yet armed is revoked once the server is back', async () => {
    const temporal = stack.temporal!;
    const longEmail = stack.newEmail();
    const long = await stack.requestGrant({ email: longEmail, database: 'main' });
    assert.equal(long.status, 201, JSON.stringify(long.body));
    // Expires 12 s from now: armed 5 s before that, when the server will be down.
    const lateExpiry = Date.now() + 12_000;
    const late = await stack.requestGrant({ email: stack.newEmail(), database: 'main', accessLevel: 'READ', expiresAt: new Date(lateExpiry).toISOString() });
    assert.equal(late.status, 201, JSON.stringify(late.body));
    // Expires within the lead: armed as soon as it is ACTIVE, before the outage.
    const armedExpiry = Date.now() + 4500;
    const armed = await stack.requestGrant({ email: stack.newEmail(), database: 'main', accessLevel: 'READ', expiresAt: new Date(armedExpiry).toISOString() });
    assert.equal(armed.status, 201, JSON.stringify(armed.body));
    await stack.waitForPending(armed.body.grantId, 'revokeAccess', 10_000, { started: true });
    const workerPid = stack.worker.process.pid;

    await temporal.stop();
    assert.ok(Date.now() < armedExpiry - 500, 'the server went down before the armed expiry');
    // The armed revocation needs nothing from Temporal at the expiry.
    await until('the armed account to be dropped', async () => !(await accountExists(armed.body.account, '%')), 10_000);
    const armedLagMs = Date.now() - armedExpiry;
    assert.ok(armedLagMs < 2000, `dropped ${armedLagMs} ms after its expiry, with the server down`);
    // Down past the late expiry: nothing can revoke that one while the server is away.
    await new Promise((r) => setTimeout(r, Math.max(0, lateExpiry + 5000 - Date.now())));
    assert.equal(await accountExists(late.body.account, '%'), true, 'the outage was real: the unarmed account outlived its expiry');

    await temporal.start();
    const backAt = Date.now();
    await until('the expired account to be dropped', async () => !(await accountExists(late.body.account, '%')), 60_000);
    const revokedAfterMs = Date.now() - backAt;

    for (const [g, expiry] of [[late, lateExpiry], [armed, armedExpiry]] as const) {
      const expired = await stack.waitClosed(g.body.grantId, 60_000);
      assert.equal(expired.status, 'EXPIRED');
      const e = await stack.assertConsistent(g.body.grantId);
      assert.deepEqual(e.audit.map((x) => x.event), ['REQUESTED', 'GRANTED', 'EXPIRED']);
      assert.ok(Date.parse(e.audit.at(-1)!.at) >= expiry, 'not revoked before its expiry');
    }

    // The long grant is untouched, and the API still serves it.
    const got = await stack.call('GET', stack.grantPath(long.body.grantId));
    assert.equal(got.status, 200, JSON.stringify(got.body));
    assert.equal(got.body.status, 'ACTIVE');
    assert.equal(got.body.workflow.runId, (await stack.handle(long.body.grantId).describe()).runId, 'the same run, not a new one');
    await stack.assertConsistent(long.body.grantId);
    assert.equal(stack.worker.process.pid, workerPid, 'the worker rode out the outage without a restart');
    assert.ok(stack.worker.process.running);
    // eslint-disable-next-line no-console
    console.log(`      (armed account dropped ${armedLagMs} ms after its expiry during the outage; unarmed one revoked ${revokedAfterMs} ms after the server was back)`);
  });
});
