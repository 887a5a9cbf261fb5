import assert from 'node:assert/strict';

import { REVOKE_ATTEMPTS_BEFORE_ALERT } from '../../src/workflows/grant-access';
import { startFaultStack, type FaultStack } from '../support/fault-stack';
import { accountExists, schemaGrants } from '../support/mariadb';
import { caught } from '../support/proxy';
import { until } from '../support/wait';

// Outages of one dependency at a time, on the real stack: the worker is a child
// process whose MariaDB, AWS emulator and SMTP server are behind proxies that
// the test cuts and restores. No error is simulated: the worker's connections
// really fail.

const ALERT_SUBJECT = /ACTION NEEDED: revoking/;
const FAILED_SUBJECT = /FAILED and rolled back/;

describe('faults: a dependency is down', function () {
  this.timeout(240_000);
  let stack: FaultStack;
  let expiryStack: FaultStack;
  let expiryCase: Promise<{ ok: string } | { err: unknown }>;

  before(async () => {
    // The MariaDB case is a minute of mostly waiting: it runs on a stack of its own
    // (its own worker, proxies, admin and audit table), started first, while the
    // AWS and SMTP cases run on this one; its test awaits it last.
    expiryStack = await startFaultStack({ databases: ['expiry'] });
    expiryCase = mariadbDownAtExpiry(expiryStack).then(
      (ok) => ({ ok }),
      (err: unknown) => ({ err }),
    );
    stack = await startFaultStack({ databases: ['audit', 'mail', 'mail2', 'awsexpiry'] });
  });
  after(async () => {
    await expiryCase;
    await stack?.stop();
    await expiryStack?.stop();
  });

  it('When the AWS emulator goes down as GRANTED is being audited, then the grant is rolled back (no access without audit) and administrators are told why', async () => {
    const { aws } = stack;
    const email = stack.newEmail();
    const grantId = `grant/${stack.project}/audit/${email}`;
    const hold = aws.hold((t) => t.includes('"S":"GRANTED"') && t.includes(email), { until: 'request' });
    const answer = stack.requestGrant({ email, database: 'audit' });
    await caught(hold, 'the GRANTED PutItem');
    aws.cut();
    hold.release();
    try {
      // The audit write fails after its retries; the compensations begin. Privileges are a
      // database matter, so they go at once, while the emulator is still down.
      await until('ROLLING_BACK', async () => (await stack.state(grantId)).status === 'ROLLING_BACK', 60_000);
      const { account } = await stack.state(grantId);
      await until('the privileges to be revoked', async () => (await schemaGrants(account, '%', stack.components.schema)).length === 0, 20_000);
      assert.ok(!(await stack.audit.forGrant(grantId)).some((e) => e.event === 'GRANTED'), 'GRANTED never reached the trail');
    } finally {
      // Dropping the account checks its secret's owner tag (Secrets Manager): it completes once AWS is back.
      aws.restore();
    }
    const final = await stack.waitClosed(grantId, 60_000);
    assert.equal(final.status, 'FAILED');
    assert.equal(final.failure?.step, 'audit GRANTED');
    const res = await answer;
    assert.ok([202, 502].includes(res.status), `POST /grants answered ${res.status}`);

    const o = await stack.assertConsistent(grantId);
    assert.deepEqual(o.audit.map((e) => e.event), ['REQUESTED', 'ROLLED_BACK']);
    assert.ok(!o.granteeMails.some((m) => /granted/i.test(m.subject)), 'the grantee was not told of access they never had');
    const told = o.adminMails.find((m) => FAILED_SUBJECT.test(m.subject))!;
    assert.match(told.text, /audit GRANTED/, 'the e-mail names the step');
    assert.ok(told.text.includes(final.failure!.message.slice(0, 40)), 'and the reason');
  });

  it('When the AWS emulator is down at the expiry, then the account is still dropped on time; the secret and the audit follow once it is back', async () => {
    const { aws } = stack;
    const expiresAt = Date.now() + 6000;
    const res = await stack.requestGrant({ email: stack.newEmail(), database: 'awsexpiry', accessLevel: 'READ', expiresAt: new Date(expiresAt).toISOString() });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const grantId: string = res.body.grantId;
    aws.cut();
    try {
      // The revoke knows the account is this grant's: it does not wait for Secrets Manager.
      await until('the account to be dropped', async () => !(await accountExists(res.body.account, '%')), 15_000);
      const lagMs = Date.now() - expiresAt;
      assert.ok(lagMs < 3000, `revoked ${lagMs} ms after the expiry, with AWS down`);
      // The armed revocation retries its secret deletion; the grant shows REVOKING within its grace after the expiry.
      await until('the grant to show REVOKING', async () => (await stack.state(grantId)).status === 'REVOKING', 15_000);
    } finally {
      aws.restore();
    }
    const final = await stack.waitClosed(grantId, 60_000);
    assert.equal(final.status, 'EXPIRED');
    const o = await stack.assertConsistent(grantId);
    assert.deepEqual(o.audit.map((e) => e.event).slice(0, 3), ['REQUESTED', 'GRANTED', 'EXPIRED']);
  });

  it('When SMTP is down, then a grant being provisioned is rolled back after the e-mail retries, and an expiry is neither delayed nor blocked (NOTIFY_FAILED)', async () => {
    const { smtp } = stack;
    // A grant given while SMTP is up, expiring while it is down.
    const expiringEmail = stack.newEmail();
    const expiresAt = Date.now() + 6000;
    const expiring = await stack.requestGrant({ email: expiringEmail, database: 'mail2', accessLevel: 'READ', expiresAt: new Date(expiresAt).toISOString() });
    assert.equal(expiring.status, 201, JSON.stringify(expiring.body));
    const expiringId: string = expiring.body.grantId;

    smtp.cut();
    const email = stack.newEmail();
    const grantId = `grant/${stack.project}/mail/${email}`;
    const answer = stack.requestGrant({ email, database: 'mail' });
    try {
      // The expiry is on time although no e-mail can be sent.
      await until('the expiring account to be dropped', async () => !(await accountExists(expiring.body.account, '%')), 15_000);
      const lagMs = Date.now() - expiresAt;
      assert.ok(lagMs < 3000, `revoked ${lagMs} ms after the expiry`);
      await until('EXPIRED in the trail', async () => (await stack.audit.forGrant(expiringId)).some((e) => e.event === 'EXPIRED'), 5000);

      // The grant being provisioned: e-mail is a provisioning step, so after its five attempts it is rolled back.
      // (ROLLING_BACK lasts well under a second here: the database and AWS are up.)
      await until('ROLLING_BACK or FAILED', async () => ['ROLLING_BACK', 'FAILED'].includes((await stack.state(grantId)).status), 60_000);
      assert.ok(!stack.components.smtp.messages.some((m) => m.subject.includes(email)), 'nothing reached the mail server');
      // The expired grant's e-mail gave up too, and that is recorded.
      await until('NOTIFY_FAILED', async () => (await stack.audit.forGrant(expiringId)).some((e) => e.event === 'NOTIFY_FAILED'), 60_000);
    } finally {
      // SMTP comes back while the rollback is running, so the administrators' alert gets through.
      smtp.restore();
    }
    const expired = await stack.waitClosed(expiringId, 10_000);
    assert.equal(expired.status, 'EXPIRED');
    const e = await stack.assertConsistent(expiringId);
    assert.deepEqual(e.audit.map((x) => x.event), ['REQUESTED', 'GRANTED', 'EXPIRED', 'NOTIFY_FAILED']);
    assert.match(e.audit.at(-1)!.detail ?? '', /EXPIRED e-mail not sent/);

    const final = await stack.waitClosed(grantId, 60_000);
    assert.equal(final.status, 'FAILED');
    assert.equal(final.failure?.step, 'notify');
    assert.ok([202, 502].includes((await answer).status));
    const o = await stack.assertConsistent(grantId);
    assert.deepEqual(o.audit.map((x) => x.event), ['REQUESTED', 'GRANTED', 'ROLLED_BACK']);
    const told = await stack.components.smtp.waitFor((m) => FAILED_SUBJECT.test(m.subject) && m.subject.includes(email), 30_000);
    assert.match(told.text, /notify/);
    assert.match(told.text, /SMTP/, 'the reason names the mail server');
  });

  it('When MariaDB is unreachable at the expiry, then the revoke retries with bounded backoff, administrators get one alert, and the account is gone within seconds of the connection coming back', async () => {
    const result = await expiryCase;
    if ('err' in result) throw result.err;
    // eslint-disable-next-line no-console
    console.log(`      (${result.ok})`);
  });
});
/**
 * MariaDB is cut just before a grant's expiry and stays cut for the first six
 * attempts and 30 s more; returns what it measured.
 */
async function mariadbDownAtExpiry(stack: FaultStack): Promise<string> {
  const proxy = stack.mysql.expiry!;
  const email = stack.newEmail();
  const expiresAt = Date.now() + 4000;
  const created = await stack.requestGrant({ email, database: 'expiry', accessLevel: 'READ', expiresAt: new Date(expiresAt).toISOString() });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const { grantId, account } = created.body as { grantId: string; account: string };

  // The worker's pooled connections are reset, and every new one too.
  proxy.cut();
  const triesBefore = proxy.accepted;

  // The armed attempts fail, then the ordinary revoke's first attempts (1 s .. 10 s apart);
  // then one alert, and the retries go on.
  const retrying = await until('REVOKE_RETRYING in the audit trail', async () => (await stack.audit.forGrant(grantId)).find((e) => e.event === 'REVOKE_RETRYING'), 120_000);
  const alertAfterMs = Date.parse(retrying.at) - expiresAt;
  assert.match(retrying.detail ?? '', new RegExp(`failed ${REVOKE_ATTEMPTS_BEFORE_ALERT} times`));
  // Stay down long enough after the alert for the retries to reach their 10 s ceiling
  // (1 + 2 + 4 + 8 s, then 10 s): an unbounded backoff would show a gap of 16 s or more.
  const outageMs = alertAfterMs + 30_000;
  await new Promise((r) => setTimeout(r, expiresAt + outageMs - Date.now()));

  const during = await stack.outcome(grantId);
  assert.equal(during.state.status, 'REVOKING');
  assert.equal(await accountExists(account, '%'), true, 'the server really was out of reach: the account is still there');
  assert.deepEqual(during.audit.map((e) => e.event), ['REQUESTED', 'GRANTED', 'REVOKE_RETRYING'], 'one REVOKE_RETRYING, not one per attempt');
  const alerts = during.adminMails.filter((m) => ALERT_SUBJECT.test(m.subject));
  assert.equal(alerts.length, 1, `one alert to the administrators (got: ${during.adminMails.map((m) => m.subject).join('; ')})`);
  assert.deepEqual(alerts[0]!.to.sort(), stack.components.administrators.map((a) => a.email).sort());
  // Retried throughout, never more than 10 s (+ one attempt's time) apart.
  const tries = proxy.acceptedAt.slice(triesBefore);
  const afterAlert = tries.filter((t) => t > Date.parse(retrying.at));
  assert.ok(afterAlert.length >= 2, `still retrying after the alert (${afterAlert.length} connection attempts)`);
  // The gap still open at the end of the outage counts too.
  const gaps = [...tries.slice(1), Date.now()].map((t, i) => t - tries[i]!);
  assert.ok(Math.max(...gaps) < 13_000, `bounded backoff: largest gap between attempts ${Math.max(...gaps)} ms`);

  proxy.restore();
  const restoredAt = Date.now();
  await until('the account to be dropped', async () => !(await accountExists(account, '%')), 20_000);
  const goneAfterMs = Date.now() - restoredAt;
  assert.ok(goneAfterMs < 15_000, `account gone ${goneAfterMs} ms after the connection came back`);

  const final = await stack.waitClosed(grantId, 30_000);
  assert.equal(final.status, 'EXPIRED');
  const o = await stack.assertConsistent(grantId);
  assert.deepEqual(o.audit.map((e) => e.event), ['REQUESTED', 'GRANTED', 'REVOKE_RETRYING', 'EXPIRED']);
  assert.equal(o.adminMails.filter((m) => ALERT_SUBJECT.test(m.subject)).length, 1, 'still one alert');
  return `alert ${Math.round(alertAfterMs / 1000)} s after the expiry, outage ${Math.round(outageMs / 1000)} s, account gone ${goneAfterMs} ms after the connection came back`;
}
