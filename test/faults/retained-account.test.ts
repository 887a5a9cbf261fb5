import assert from 'node:assert/strict';

import type { RowDataPacket } from 'mysql2/promise';

import type { AuditRecord } from '../../src/adapters/ports';
import { startFaultStack, type FaultStack } from '../support/fault-stack';
import { accountExists, canLogin, connectAs, queryFails, randomPassword, rootPool, sessionsOf, showGrants } from '../support/mariadb';
import type { Hold } from '../support/proxy';
import type { CapturedMail } from '../support/smtp';
import { until } from '../support/wait';

// A grant whose account the server refuses to drop, on the real stack: the
// worker is a child process whose MariaDB is behind the project's TCP proxy, and
// the proxy answers the account's DROP USER with MySQL 8's error 4006
// (ER_CANNOT_USER_REFERENCED_AS_DEFINER), as MySQL 8.0.22+ does while the account
// is the DEFINER of a stored object; the MariaDB behind it never sees the DROP.
// The test reads MariaDB, moto and the mail directly, so what it sees is the truth.
//
// The grant must end REVOKED / EXPIRED with the account contained (access has
// ended), retained and reported once, with one DROP per revocation and per retry
// (no retry storm), until an administrator retries the drop once the server
// accepts it.

/** How long the test watches for more DROP attempts after the grant ended. */
const QUIET_WINDOW_MS = 22_000;

/** MySQL 8's refusal, errno, SQLSTATE and message text as the server sends them. */
function definerRefusal(account: string, what: 'a view' | 'a stored routine' | 'an event') {
  return { errno: 4006, sqlState: 'HY000', message: `Operation DROP USER failed for '${account}'@'%' as it is referenced as a definer account in ${what}.` };
}

/** Whether MariaDB has the account locked. */
async function isLocked(account: string): Promise<boolean> {
  const [rows] = await rootPool().query<RowDataPacket[]>("SELECT JSON_VALUE(Priv, '$.account_locked') AS locked FROM mysql.global_priv WHERE User = ? AND Host = '%'", [account]);
  return String(rows[0]?.locked) === '1';
}

async function eventStatus(schema: string, name: string): Promise<{ status: string; definer: string }[]> {
  const [rows] = await rootPool().query<RowDataPacket[]>('SELECT STATUS AS status, DEFINER AS definer FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?', [schema, name]);
  return rows.map((r) => ({ status: String(r.status), definer: String(r.definer) }));
}

describe('faults: a retained account (the server refuses DROP USER with MySQL 4006)', function () {
  this.timeout(240_000);
  let stack: FaultStack;

  before(async () => {
    // One database (and so one proxy) per case: each case counts only its own DROPs.
    stack = await startFaultStack({ databases: ['revoked', 'expired'] });
  });
  after(async () => {
    await stack?.stop();
  });

  const events = (trail: AuditRecord[]) => trail.map((e) => e.event);
  const count = (list: string[], what: string) => list.filter((e) => e === what).length;

  async function grantOf(grantId: string): Promise<any> {
    const res = await stack.call('GET', stack.grantPath(grantId));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  /** The ACCOUNT_RETAINED alert about `account`: messages to the administrators, and those the owner received (to, cc or envelope). */
  function retainedAlerts(account: string): { admins: CapturedMail[]; owner: CapturedMail[] } {
    const { smtp, administrators, owner } = stack.components;
    const alerts = smtp.messages.filter((m) => /kept after access ended: it defines stored objects/.test(m.subject) && m.subject.includes(account));
    const admins = administrators.map((a) => a.email);
    return {
      admins: alerts.filter((m) => m.to.some((t) => admins.includes(t))),
      owner: alerts.filter((m) => [...m.to, ...m.cc, ...m.envelopeTo].includes(owner.email)),
    };
  }

  /** Contained: it exists, locked, the password refused, no privilege, no session. */
  async function assertContained(account: string, passwords: string[]): Promise<void> {
    assert.equal(await accountExists(account, '%'), true, 'the account is retained (the server never saw a DROP)');
    assert.equal(await isLocked(account), true, 'locked');
    for (const password of passwords) assert.equal(await canLogin(account, password), false, 'a password the grantee knows is refused');
    const grants = await showGrants(account, '%');
    assert.ok(grants.every((line) => line.startsWith('GRANT USAGE ON *.* ')), `no privilege left: ${grants.join(' | ')}`);
    assert.deepEqual(await sessionsOf(account), [], 'no session left');
  }

  /** Waits QUIET_WINDOW_MS after `endedAt` and asserts nothing more was tried or told meanwhile. */
  async function assertQuiet(grantId: string, account: string, refusal: Hold, drops: number, endedAt: number): Promise<void> {
    const trail = events(await stack.audit.forGrant(grantId));
    const alerts = retainedAlerts(account);
    await new Promise((r) => setTimeout(r, Math.max(0, endedAt + QUIET_WINDOW_MS - Date.now())));
    assert.equal(refusal.hits, drops, `DROP USER attempts over ${QUIET_WINDOW_MS / 1000} s after the end: ${refusal.hits}`);
    assert.deepEqual(events(await stack.audit.forGrant(grantId)), trail, 'nothing more audited');
    const later = retainedAlerts(account);
    assert.deepEqual([later.admins.length, later.owner.length], [alerts.admins.length, alerts.owner.length], 'no second alert');
    const d = await stack.handle(grantId).describe();
    assert.equal(d.status.name, 'RUNNING', 'the workflow stays open while the account is retained');
    const pending = await stack.pendingActivities(grantId);
    assert.deepEqual(pending, [], `nothing retrying: ${JSON.stringify(pending)}`);
  }

  /** The second grant of the same person is refused while the account is retained (409 naming it). */
  async function assertNewGrantRefused(email: string, database: string, grantId: string, account: string): Promise<void> {
    const res = await stack.requestGrant({ email, database });
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.equal(res.body.error, 'grant_exists');
    assert.equal(res.body.grantId, grantId);
    assert.ok(res.body.message.includes(`account ${account} is retained`), res.body.message);
    assert.match(res.body.message, /retry-drop/);
  }

  /** An admin retries the drop once the server accepts it: dropped, audited, the workflow closes, a new grant starts. */
  async function assertDroppedOnRetry(email: string, database: string, grantId: string, account: string): Promise<void> {
    const retried = await stack.call('POST', stack.grantPath(grantId, '/retry-drop'), { reason: 'the definers were changed by the DBA' });
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(retried.body.outcome, 'dropped');
    assert.equal(await accountExists(account, '%'), false);
    const closed = await stack.waitClosed(grantId, 30_000);
    assert.equal(closed.retained, undefined);
    assert.equal((await stack.handle(grantId).describe()).status.name, 'COMPLETED');
    const trail = await stack.audit.forGrant(grantId);
    const dropped = trail.filter((e) => e.event === 'ACCOUNT_DROPPED');
    assert.equal(dropped.length, 1);
    assert.equal(dropped[0]!.actor, 'fault-admin');
    assert.equal(events(trail).at(-1), 'ACCOUNT_DROPPED');

    const again = await stack.requestGrant({ email, database });
    assert.equal(again.status, 201, JSON.stringify(again.body));
    assert.equal(again.body.account, account, 'the same account name, created anew');
    const secret = await stack.components.readGrantSecret((await stack.state(grantId)).secretName!);
    assert.ok(secret && (await canLogin(account, secret.password, stack.components.schema)), 'the new grant works');
    const revoked = await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'test over' });
    assert.equal(revoked.status, 202);
    await stack.waitClosed(grantId, 30_000);
  }

  it('When the drop is refused at a revoke, then the grant ends REVOKED with the account contained and its session gone, is shown retained, is audited and alerted once, sends no more DROP, refuses a second grant, and is dropped when an admin retries once the server accepts', async () => {
    const database = 'revoked';
    const { components } = stack;
    const email = stack.newEmail();
    const created = await stack.requestGrant({ email, database, accessLevel: 'ADMIN' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { grantId, account } = created.body as { grantId: string; account: string };

    // The grantee logs in with the password of its per-grant secret, defines a view, and stays connected.
    const secret = (await components.readGrantSecret((await stack.state(grantId)).secretName!))!;
    const session = await connectAs(account, secret.password, components.schema);
    const view = `kept_${account.slice(-6)}`;
    await session.query(`CREATE VIEW ${view} AS SELECT * FROM t`);

    const refusal = stack.mysql[database]!.answer((text) => text.startsWith('DROP USER') && text.includes(`'${account}'`), definerRefusal(account, 'a view'));
    try {
      const revoked = await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'incident closed' });
      assert.equal(revoked.status, 202, JSON.stringify(revoked.body));
      const ended = await until('the grant to end with its account retained', async () => {
        const g = await grantOf(grantId);
        return g.status === 'REVOKED' && g.retained && g;
      }, 60_000);
      const endedAt = Date.now();

      // Shown retained, with the reason and what holds it, while the workflow runs on.
      assert.equal(ended.workflow.status, 'RUNNING');
      assert.ok(ended.accessEndedAt, 'the grant says when access ended');
      assert.equal(ended.retained.since, ended.accessEndedAt);
      assert.match(ended.retained.reason, /definer of stored objects \(MySQL error 4006\)/);
      assert.deepEqual(ended.retained.objects, [{ kind: 'VIEW', schema: components.schema, name: view }]);
      assert.equal(ended.retained.objectCount, 1);

      // Contained: the session opened before is gone, the password refused, no privilege.
      assert.equal(await queryFails(session), true, 'the session opened before the revoke is gone');
      await assertContained(account, [secret.password]);
      assert.equal(await components.secretExists((await stack.state(grantId)).secretName!), false, 'the per-grant secret is deleted');
      assert.equal(refusal.hits, 1, 'one DROP for the revocation');

      // Audited: REVOKED (when access ended) then ACCOUNT_RETAINED, once each.
      const trail = await stack.audit.forGrant(grantId);
      const list = events(trail);
      assert.deepEqual([count(list, 'REVOKED'), count(list, 'ACCOUNT_RETAINED')], [1, 1], list.join(', '));
      assert.ok(list.indexOf('REVOKED') < list.indexOf('ACCOUNT_RETAINED'), list.join(', '));
      const revokedEvent = trail.find((e) => e.event === 'REVOKED')!;
      assert.equal(revokedEvent.accessEndedAt, ended.accessEndedAt);
      assert.match(revokedEvent.detail ?? '', /refused to drop it .*4006.*retained/);
      assert.ok(trail.find((e) => e.event === 'ACCOUNT_RETAINED')!.detail?.includes(`VIEW ${components.schema}.${view}`));

      // Alerted once: the administrators, the owner in copy.
      const alerts = await until('the ACCOUNT_RETAINED alert', async () => {
        const a = retainedAlerts(account);
        return a.admins.length > 0 && a.owner.length > 0 && a;
      }, 30_000);
      assert.deepEqual([alerts.admins.length, alerts.owner.length], [1, 1]);
      assert.ok(alerts.admins[0]!.text.includes(view), 'the alert names the object');
      assert.ok(alerts.admins[0]!.text.includes('dbaccess retry-drop'), 'the alert says what to do');

      // No retry storm: nothing more over the window; a second grant is refused meanwhile.
      await assertNewGrantRefused(email, database, grantId, account);
      await assertQuiet(grantId, account, refusal, 1, endedAt);
      await assertContained(account, [secret.password]);
    } finally {
      refusal.release();
    }
    // The server accepts the drop now: an admin retries it.
    await assertDroppedOnRetry(email, database, grantId, account);
    assert.equal(refusal.hits, 1, 'the accepted DROP went to the server');
  });

  it('When the drop is refused at the expiry (the armed revocation), then the grant ends EXPIRED with the account contained, its event disabled and a password the grantee set itself refused; one DROP per revocation and per retry, a refused retry changes nothing, and an accepted one drops it', async () => {
    const database = 'expired';
    const { components } = stack;
    const email = stack.newEmail();
    // Within the revocation lead (1 m): the revocation is armed as soon as the grant is ACTIVE.
    const expiresAt = new Date(Date.now() + 25_000).toISOString();
    const created = await stack.requestGrant({ email, database, accessLevel: 'ADMIN', expiresAt });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { grantId, account } = created.body as { grantId: string; account: string };

    // The grantee defines a procedure and an event, then sets a password of its own, and stays connected.
    const secret = (await components.readGrantSecret((await stack.state(grantId)).secretName!))!;
    const session = await connectAs(account, secret.password, components.schema);
    const suffix = account.slice(-6);
    await session.query(`CREATE PROCEDURE p_${suffix}() SELECT COUNT(*) FROM t`);
    await session.query(`CREATE EVENT e_${suffix} ON SCHEDULE EVERY 1 HOUR STARTS CURRENT_TIMESTAMP + INTERVAL 1 HOUR DO INSERT INTO t VALUES (FLOOR(RAND() * 1000000) + 100, 'event')`);
    const own = randomPassword();
    await session.query('SET PASSWORD = PASSWORD(?)', [own]);
    assert.equal(await canLogin(account, own), true, 'its own password works before the expiry');

    const refusal = stack.mysql[database]!.answer((text) => text.startsWith('DROP USER') && text.includes(`'${account}'`), definerRefusal(account, 'a stored routine'));
    try {
      assert.equal(Date.now() < Date.parse(expiresAt), true, 'set up before the expiry');
      const ended = await until('the grant to expire with its account retained', async () => {
        const g = await grantOf(grantId);
        return g.status === 'EXPIRED' && g.retained && g;
      }, 90_000);
      const endedAt = Date.now();
      assert.equal(ended.workflow.status, 'RUNNING');
      assert.ok(Date.parse(ended.accessEndedAt) >= Date.parse(expiresAt), `access ended at ${ended.accessEndedAt}, at or after the expiry ${expiresAt}`);
      assert.match(ended.retained.reason, /4006/);
      assert.deepEqual(ended.retained.objects, [
        { kind: 'EVENT', schema: components.schema, name: `e_${suffix}`, note: 'disabled' },
        { kind: 'PROCEDURE', schema: components.schema, name: `p_${suffix}` },
      ]);

      // The armed revocation was the revocation: one revokeAccess in the history, one DROP.
      const history = await stack.handle(grantId).fetchHistory();
      const revocations = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'revokeAccess');
      assert.equal(revocations.length, 1, 'one revocation, armed');
      assert.equal(revocations[0]!.activityTaskScheduledEventAttributes!.taskQueue?.name, `${stack.taskQueue}-expiry`, 'on the armed revocations\' queue');
      assert.equal(refusal.hits, 1, 'one DROP for the revocation');

      assert.equal(await queryFails(session), true, 'the session opened before the expiry is gone');
      await assertContained(account, [secret.password, own]);
      assert.deepEqual(await eventStatus(components.schema, `e_${suffix}`), [{ status: 'DISABLED', definer: `${account}@%` }], 'its event is disabled, still its own');

      const trail = await stack.audit.forGrant(grantId);
      const list = events(trail);
      assert.deepEqual([count(list, 'EXPIRED'), count(list, 'ACCOUNT_RETAINED')], [1, 1], list.join(', '));
      assert.ok(list.indexOf('EXPIRED') < list.indexOf('ACCOUNT_RETAINED'), list.join(', '));
      assert.equal(trail.find((e) => e.event === 'EXPIRED')!.accessEndedAt, ended.accessEndedAt);

      const alerts = await until('the ACCOUNT_RETAINED alert', async () => {
        const a = retainedAlerts(account);
        return a.admins.length > 0 && a.owner.length > 0 && a;
      }, 30_000);
      assert.deepEqual([alerts.admins.length, alerts.owner.length], [1, 1]);

      await assertNewGrantRefused(email, database, grantId, account);
      await assertQuiet(grantId, account, refusal, 1, endedAt);

      // Refused again: one more DROP, the picture kept, nothing audited or alerted again.
      const before = events(await stack.audit.forGrant(grantId));
      const again = await stack.call('POST', stack.grantPath(grantId, '/retry-drop'), {});
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.outcome, 'retained');
      assert.match(again.body.detail, /refused the drop again/);
      assert.equal(refusal.hits, 2, 'one DROP for the retry');
      assert.deepEqual(events(await stack.audit.forGrant(grantId)), before);
      const stillRetained = await grantOf(grantId);
      assert.equal(stillRetained.status, 'EXPIRED');
      assert.ok(stillRetained.retained);
      await assertContained(account, [secret.password, own]);
      assert.deepEqual(await stack.pendingActivities(grantId), []);
      const quiet = retainedAlerts(account);
      assert.deepEqual([quiet.admins.length, quiet.owner.length], [1, 1], 'no second alert');
    } finally {
      refusal.release();
    }
    await assertDroppedOnRetry(email, database, grantId, account);
    assert.equal(refusal.hits, 2);
  });
});
