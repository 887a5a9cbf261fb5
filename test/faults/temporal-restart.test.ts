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
    stack = await startFaultStack({ databases: ['main'], ownTemporal: true });
  });
  after(async () => {
    await stack?.stop();
  });

  it('When the Temporal server is stopped and started again, then open grants survive, and one that expired while it was down is revoked once it is back', async () => {
    const temporal = stack.temporal!;
    const longEmail = stack.newEmail();
    const long = await stack.requestGrant({ email: longEmail, database: 'main' });
    assert.equal(long.status, 201, JSON.stringify(long.body));
    const shortEmail = stack.newEmail();
    const expiresAt = Date.now() + 5000;
    const short = await stack.requestGrant({ email: shortEmail, database: 'main', accessLevel: 'READ', expiresAt: new Date(expiresAt).toISOString() });
    assert.equal(short.status, 201, JSON.stringify(short.body));
    const workerPid = stack.worker.process.pid;

    await temporal.stop();
    // Down past the expiry: nothing can revoke the account while the timer's server is away.
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt + 5000 - Date.now())));
    assert.equal(await accountExists(short.body.account, '%'), true, 'the outage was real: the account outlived its expiry');

    await temporal.start();
    const backAt = Date.now();
    await until('the expired account to be dropped', async () => !(await accountExists(short.body.account, '%')), 60_000);
    const revokedAfterMs = Date.now() - backAt;

    const expired = await stack.waitClosed(short.body.grantId, 30_000);
    assert.equal(expired.status, 'EXPIRED');
    const e = await stack.assertConsistent(short.body.grantId);
    assert.deepEqual(e.audit.map((x) => x.event), ['REQUESTED', 'GRANTED', 'EXPIRED']);
    assert.ok(Date.parse(e.audit.at(-1)!.at) >= expiresAt, 'not revoked before its expiry');

    // The long grant is untouched, and the API still serves it.
    const got = await stack.call('GET', stack.grantPath(long.body.grantId));
    assert.equal(got.status, 200, JSON.stringify(got.body));
    assert.equal(got.body.status, 'ACTIVE');
    assert.equal(got.body.workflow.runId, (await stack.handle(long.body.grantId).describe()).runId, 'the same run, not a new one');
    await stack.assertConsistent(long.body.grantId);
    assert.equal(stack.worker.process.pid, workerPid, 'the worker rode out the outage without a restart');
    assert.ok(stack.worker.process.running);
    // eslint-disable-next-line no-console
    console.log(`      (expired grant revoked ${revokedAfterMs} ms after the server was back)`);
  });
});
