import assert from 'node:assert/strict';
import { accountExists, schemaGrants } from '../support/mariadb';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';

// A revocation armed ahead of the expiry, on the real stack (default
// revocationLead, 1m): every grant here expires within the lead, so its
// revocation is handed to the worker as soon as it is ACTIVE and waits there for
// the exact instant. Extensions, level changes and revokes arrive while it waits.
// A stand-down reaches the armed attempt with its next heartbeat, within 10 s
// (worker.ts), so the grants that are updated expire 20 s or more after they start.

describe('end to end: the revocation armed ahead of the expiry', function () {
  this.timeout(120_000);
  let stack: TestStack;

  before(async () => {
    stack = await startTestStack();
  });
  after(async () => {
    await stack?.stop();
  });

  async function grant(secondsLeft: number, accessLevel = 'READ_WRITE') {
    const expiresAt = new Date(Date.now() + secondsLeft * 1000).toISOString();
    const created = await stack.call('POST', '/grants', { email: stack.newEmail(), name: 'Ann Armed', project: stack.project, database: 'main', accessLevel, expiresAt });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body as { grantId: string; account: string; expiresAt: string };
  }

  /** Waits until the grant's revokeAccess is running on the worker, armed for `expiresAt`. */
  async function armed(grantId: string, expiresAt: string): Promise<void> {
    await until(`the revocation of ${grantId} to be armed for ${expiresAt}`, async () => {
      const { raw } = await stack.client.workflow.getHandle(grantId).describe();
      // Before the expiry, and with no revoke asked, a running revokeAccess can only be the armed one.
      return (raw.pendingActivities ?? []).some((a) => a.activityType?.name === 'revokeAccess' && [2, 'PENDING_ACTIVITY_STATE_STARTED'].includes(a.state as never));
    }, 15_000);
    assert.ok(Date.now() < Date.parse(expiresAt), 'armed before the expiry');
  }

  /** Polls MariaDB around the expiry; returns when the account went, in ms after the expiry. */
  async function dropLag(account: string, expiresAt: string): Promise<number> {
    const at = Date.parse(expiresAt);
    await new Promise((r) => setTimeout(r, Math.max(0, at - 250 - Date.now())));
    assert.equal(await accountExists(account, '%'), true, 'the account is there until its expiry');
    for (;;) {
      const exists = await accountExists(account, '%');
      const now = Date.now();
      if (!exists) return now - at;
      if (now - at > 30_000) assert.fail(`account ${account} still exists 30 s after its expiry`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function closed(grantId: string): Promise<{ status: string; accessEndedAt: string; history: { event: string }[] }> {
    let body: { status: string; accessEndedAt: string; history: { event: string }[] } | undefined;
    await until(`${grantId} to close`, async () => {
      const got = await stack.call('GET', stack.grantPath(grantId));
      body = got.body;
      return got.status === 200 && ['EXPIRED', 'REVOKED'].includes(got.body.status);
    }, 60_000);
    return body!;
  }

  it('When the expiry comes, then the account is there until it and dropped at it by the armed revocation; the grant ends EXPIRED', async () => {
    const g = await grant(8);
    await armed(g.grantId, g.expiresAt);
    const lag = await dropLag(g.account, g.expiresAt);
    assert.ok(lag >= 0 && lag < 1500, `dropped ${lag} ms after the expiry`);
    const done = await closed(g.grantId);
    assert.equal(done.status, 'EXPIRED');
    assert.deepEqual(done.history.map((e) => e.event), ['REQUESTED', 'GRANTED', 'EXPIRED']);
    // What the armed revocation reported is the grant's: when access ended.
    assert.ok(Date.parse(done.accessEndedAt) >= Date.parse(g.expiresAt), `access ended at ${done.accessEndedAt}`);
    // eslint-disable-next-line no-console
    console.log(`      (dropped ${lag} ms after the expiry)`);
  });

  it('When the grant is extended while its revocation is armed, then the revocation stands down, the account outlives the old expiry, and the new one is armed and kept', async () => {
    const g = await grant(20);
    await armed(g.grantId, g.expiresAt);
    const later = new Date(Date.parse(g.expiresAt) + 6000).toISOString();
    const asked = Date.now();
    const extended = await stack.call('POST', stack.grantPath(g.grantId, '/extend'), { expiresAt: later, reason: 'one more query' });
    assert.equal(extended.status, 200, JSON.stringify(extended.body));
    assert.equal(extended.body.expiresAt, later);
    const answeredIn = Date.now() - asked;
    assert.ok(Date.now() < Date.parse(g.expiresAt), `the extension was answered before the old expiry (${answeredIn} ms)`);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(g.expiresAt) + 1500 - Date.now())));
    assert.equal(await accountExists(g.account, '%'), true, 'the account outlived the old expiry');
    await armed(g.grantId, later);
    const lag = await dropLag(g.account, later);
    assert.ok(lag >= 0 && lag < 1500, `dropped ${lag} ms after the new expiry`);
    const done = await closed(g.grantId);
    assert.equal(done.status, 'EXPIRED');
    assert.deepEqual(done.history.map((e) => e.event), ['REQUESTED', 'GRANTED', 'EXTENDED', 'EXPIRED']);
    // eslint-disable-next-line no-console
    console.log(`      (extension answered in ${answeredIn} ms while armed; dropped ${lag} ms after the new expiry)`);
  });

  it('When the level changes while the revocation is armed, then the new privileges are set and the account is still dropped at the expiry', async () => {
    const g = await grant(22);
    await armed(g.grantId, g.expiresAt);
    const changed = await stack.call('PATCH', stack.grantPath(g.grantId), { accessLevel: 'READ' });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.accessLevel, 'READ');
    const grants = await schemaGrants(g.account, '%', stack.components.schema);
    assert.ok(grants.some((l) => /GRANT SELECT ON/.test(l)) && !grants.some((l) => /INSERT/.test(l)), grants.join('; '));
    await armed(g.grantId, g.expiresAt);
    const lag = await dropLag(g.account, g.expiresAt);
    assert.ok(lag >= 0 && lag < 1500, `dropped ${lag} ms after the expiry`);
    const done = await closed(g.grantId);
    assert.equal(done.status, 'EXPIRED');
    assert.deepEqual(done.history.map((e) => e.event), ['REQUESTED', 'GRANTED', 'LEVEL_CHANGED', 'EXPIRED']);
  });

  it('When a revoke arrives while the revocation is armed, then access ends at once, not at the expiry, and the grant ends REVOKED', async () => {
    const g = await grant(45);
    await armed(g.grantId, g.expiresAt);
    const asked = Date.now();
    const revoked = await stack.call('POST', stack.grantPath(g.grantId, '/revoke'), { reason: 'done early' });
    assert.equal(revoked.status, 202, JSON.stringify(revoked.body));
    await until('the account to be dropped', async () => !(await accountExists(g.account, '%')), 10_000);
    const tookMs = Date.now() - asked;
    assert.ok(tookMs < 5000, `dropped ${tookMs} ms after the revoke`);
    const done = await closed(g.grantId);
    assert.equal(done.status, 'REVOKED');
    assert.deepEqual(done.history.map((e) => e.event), ['REQUESTED', 'GRANTED', 'REVOKE_REQUESTED', 'REVOKED']);
    assert.ok(Date.now() < Date.parse(g.expiresAt), 'closed before the expiry: the armed revocation stood down');
  });
});
