import assert from 'node:assert/strict';

import { startFaultStack, type FaultStack } from '../support/fault-stack';
import { caught, type Hold } from '../support/proxy';
import { until } from '../support/wait';

// The worker is killed with SIGKILL while every provisioning step, and a
// revocation, is in flight, each for a different grant; then it is started
// again. Each grant is on a database of its own (its own MariaDB proxy), so
// each one can be stopped at a different step, and one kill covers them all:
//
//   audit REQUESTED   its PutItem never reaches the AWS emulator
//   check target      its schema check never reaches MariaDB
//   create account    CREATE USER ran on the server, the worker never heard back
//   grant privileges  GRANT ran on the server, the worker never heard back
//   audit GRANTED     its PutItem never reaches the AWS emulator
//   e-mail            its RCPT TO never reaches the SMTP server
//   revocation        DROP USER ran on the server, the worker never heard back
//   rollback          a grant whose GRANT keeps failing (its connection is reset
//                     at each one) is being rolled back: DROP USER ran on the
//                     server, the worker never heard back
//
// Afterwards each provisioning grant must be ACTIVE with all of its artifacts,
// the one being rolled back FAILED with none, and the interrupted revocation
// must end REVOKED. The rolled-back grant needs ~17 s to exhaust its five
// attempts before the kill; the killed attempts are retried once Temporal
// notices they are gone (heartbeat timeout 15 s for database steps,
// start-to-close 15 s for audit writes, 30 s for e-mail): about 55 s in all.

describe('faults: the worker is killed during each step', function () {
  this.timeout(240_000);
  let stack: FaultStack;

  before(async () => {
    stack = await startFaultStack({ databases: ['requested', 'check', 'create', 'grant', 'granted', 'notify', 'revoke', 'rollback'] });
  });
  after(async () => {
    await stack?.stop();
  });

  it('When the worker process starts as the image starts it (src/worker/process-tuning.ts), then it reports no memory setting missing', () => {
    const output = stack.worker.output();
    assert.match(output, /"msg":"worker started"/);
    assert.doesNotMatch(output, /started without the memory settings/);
  });

  it('When the worker is SIGKILLed mid-step and restarted, then every grant ends ACTIVE with everything or FAILED with nothing, and the interrupted revoke ends REVOKED', async () => {
    const { mysql, aws, smtp } = stack;

    // A grant to revoke, ACTIVE before the faults begin.
    const revokeEmail = stack.newEmail();
    const toRevoke = await stack.requestGrant({ email: revokeEmail, database: 'revoke' });
    assert.equal(toRevoke.status, 201, JSON.stringify(toRevoke.body));
    const revokeId: string = toRevoke.body.grantId;

    // A grant whose GRANT fails at every attempt, caught in its rollback.
    const rollbackEmail = stack.newEmail();
    const rollbackId = `grant/${stack.project}/rollback/${rollbackEmail}`;
    const grantFails = mysql.rollback!.hold('GRANT SELECT, INSERT, UPDATE, DELETE', { until: 'reset' });
    const rollbackDrop = mysql.rollback!.hold('DROP USER ', { until: 'reply' });
    const rollbackAnswer = stack.requestGrant({ email: rollbackEmail, database: 'rollback' });
    await caught(rollbackDrop, 'the rollback\'s DROP USER', 60_000);
    assert.equal((await stack.state(rollbackId)).status, 'ROLLING_BACK');
    assert.ok(grantFails.hits >= 5, `GRANT failed ${grantFails.hits} times`);

    const emails = {
      requested: stack.newEmail(),
      check: stack.newEmail(),
      create: stack.newEmail(),
      grant: stack.newEmail(),
      granted: stack.newEmail(),
      notify: stack.newEmail(),
    };
    const holds: Record<string, Hold> = {
      requested: aws.hold((t) => t.includes('"S":"REQUESTED"') && t.includes(emails.requested), { until: 'request' }),
      check: mysql.check!.hold('information_schema.SCHEMATA', { until: 'request' }),
      create: mysql.create!.hold('CREATE USER IF NOT EXISTS', { until: 'reply' }),
      grant: mysql.grant!.hold('GRANT SELECT, INSERT, UPDATE, DELETE', { until: 'reply' }),
      granted: aws.hold((t) => t.includes('"S":"GRANTED"') && t.includes(emails.granted), { until: 'request' }),
      notify: smtp.hold(`RCPT TO:<${emails.notify}>`, { until: 'request' }),
      revoke: mysql.revoke!.hold('DROP USER ', { until: 'reply' }),
      rollback: rollbackDrop,
    };
    const activityOf: Record<string, string> = {
      requested: 'recordAudit',
      check: 'checkTarget',
      create: 'createAccount',
      grant: 'grantPrivileges',
      granted: 'recordAudit',
      notify: 'notifyGrant',
      revoke: 'revokeAccess',
      rollback: 'revokeAccess',
    };

    // Every grant is started; each stops at its step.
    const answers = Object.entries(emails).map(([database, email]) => stack.requestGrant({ email, database }));
    const revoked = await stack.call('POST', stack.grantPath(revokeId, '/revoke'), { reason: 'fault test' });
    assert.equal(revoked.status, 202, JSON.stringify(revoked.body));
    const ids: Record<string, string> = { revoke: revokeId, rollback: rollbackId };
    for (const [database, email] of Object.entries(emails)) ids[database] = `grant/${stack.project}/${database}/${email}`;

    await Promise.all(
      Object.entries(holds).map(async ([lane, hold]) => {
        await caught(hold, `the ${lane} step's request`);
        await stack.waitForPending(ids[lane]!, activityOf[lane]!);
      }),
    );
    // The half-done steps really are half done.
    assert.equal((await stack.outcome(ids.create!)).accountExists, true, 'CREATE USER ran before the kill');
    assert.equal((await stack.outcome(ids.revoke!)).accountExists, false, 'DROP USER ran before the kill');
    assert.equal((await stack.outcome(rollbackId)).accountExists, false, 'DROP USER ran before the kill');
    assert.equal((await stack.outcome(rollbackId)).secretExists, true, 'the secret was not yet deleted');

    await stack.worker.kill();
    const killedAt = Date.now();
    for (const hold of [...Object.values(holds), grantFails]) hold.release();
    // The API answered 202 for those still provisioning; it does not matter here.
    await Promise.all([...answers, rollbackAnswer]);
    await stack.worker.restart();

    // Provisioning grants become ACTIVE; the revoked one closes.
    await until(
      'every provisioning grant to be ACTIVE',
      async () => {
        const states = await Promise.all(Object.keys(emails).map(async (lane) => (await stack.state(ids[lane]!)).status));
        return states.every((s) => s === 'ACTIVE' || s === 'FAILED');
      },
      90_000,
    );
    const final = await stack.waitClosed(revokeId, 60_000);
    assert.equal(final.status, 'REVOKED');
    const failed = await stack.waitClosed(rollbackId, 60_000);
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.failure?.step, 'grant privileges');
    const recoveredInMs = Date.now() - killedAt;

    for (const lane of Object.keys(emails)) {
      const o = await stack.assertConsistent(ids[lane]!);
      assert.equal(o.state.status, 'ACTIVE', `${lane}: nothing failed for good, so the grant is ACTIVE`);
    }
    const r = await stack.assertConsistent(revokeId);
    assert.deepEqual(
      r.audit.map((e) => e.event),
      ['REQUESTED', 'GRANTED', 'REVOKE_REQUESTED', 'REVOKED'],
    );
    const f = await stack.assertConsistent(rollbackId);
    assert.deepEqual(f.audit.map((e) => e.event), ['REQUESTED', 'ROLLED_BACK']);
    assert.ok(!f.granteeMails.length, 'the grantee of the failed grant got no e-mail');
    // eslint-disable-next-line no-console
    console.log(`      (every grant settled ${Math.round(recoveredInMs / 1000)} s after the kill)`);
  });
});
