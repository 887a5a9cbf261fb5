import { strict as assert } from 'node:assert';

import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import mysql, { type RowDataPacket } from 'mysql2/promise';

import { createActivities, type RevocationResult } from '../../src/activities';
import { createMysqlAccountManager, type MysqlAccountManager } from '../../src/adapters/engines/mysql';
import { createTestComponents, type TestComponents } from '../support/components';
import {
  accountExists,
  canLogin,
  connectAs,
  createAdmin,
  createSchema,
  MARIADB_HOST,
  MARIADB_PORT,
  queryFails,
  randomName,
  randomPassword,
  rootPool,
  RUN_PREFIX,
  sessionsOf,
  showGrants,
  StaticCredentialSource,
  type TestAdmin,
} from '../support/mariadb';
import { startTcpProxy, type TcpProxy } from '../support/proxy';
import { until } from '../support/wait';

// MySQL 8.0.22+ refuses DROP USER with error 4006 while the account is the
// DEFINER of a stored object. No MySQL 8 runs here, so the project's TCP proxy
// answers the DROP USER with that error packet instead of forwarding it (the
// MariaDB behind it never sees the statement, the connection stays usable):
// the account manager must treat it as a refusal (access has ended, the account
// is contained and retained), not as an outage retried in a loop.

const DEFINER_REFUSAL = {
  errno: 4006,
  sqlState: 'HY000',
  message: "Operation DROP USER failed for 'x'@'%' as it is referenced as a definer account in a view.",
};

/** Whether MariaDB has the account locked. */
async function isLocked(account: string): Promise<boolean> {
  const [rows] = await rootPool().query<RowDataPacket[]>("SELECT JSON_VALUE(Priv, '$.account_locked') AS locked FROM mysql.global_priv WHERE User = ? AND Host = '%'", [account]);
  return String(rows[0]?.locked) === '1';
}

describe('a drop the server refuses (MySQL 4006, injected through the proxy)', function () {
  this.timeout(60_000);

  let schema: string;
  let admin: TestAdmin;
  let proxy: TcpProxy;
  const managers: MysqlAccountManager[] = [];
  let counter = 0;

  const target = () => ({ schema, adminSecretId: 'test/definer-refusal', hostPattern: '%', maxUserConnections: 5 });

  function manager(options: { poolSize?: number } = {}): MysqlAccountManager {
    const m = createMysqlAccountManager({ credentials: new StaticCredentialSource({ ...admin.credentials, host: proxy.host, port: proxy.port }), connectTimeoutMs: 3000, ...options });
    managers.push(m);
    return m;
  }

  /** An ADMIN grantee (created directly, as root) that defines a view, with a session open. */
  async function grantee(): Promise<{ account: string; password: string; close: () => void }> {
    counter += 1;
    const account = `${RUN_PREFIX}_dr${counter}_${randomName(3)}`;
    const password = randomPassword();
    await rootPool().query('CREATE USER ?@? IDENTIFIED BY ?', [account, '%', password]);
    await rootPool().query(`GRANT ALL PRIVILEGES ON \`${schema.replace(/_/g, '\\_')}\`.* TO ?@?`, [account, '%']);
    const conn = await connectAs(account, password, schema);
    await conn.query(`CREATE VIEW v_${account} AS SELECT * FROM t`);
    return { account, password, close: () => conn.destroy() };
  }

  before(async () => {
    schema = await createSchema(`${RUN_PREFIX}_dr_${randomName(4)}`);
    admin = await createAdmin([schema]);
    proxy = await startTcpProxy({ host: MARIADB_HOST, port: MARIADB_PORT });
  });

  after(async () => {
    for (const m of managers) await m.close();
    await proxy?.close();
  });

  it('When the proxy answers a query with an error, then the client gets that errno, SQLSTATE and message, the server never saw it, and the same connection goes on working', async () => {
    const account = `${RUN_PREFIX}_never_${randomName(3)}`;
    await rootPool().query('CREATE USER ?@? IDENTIFIED BY ?', [account, '%', randomPassword()]);
    const refusal = proxy.answer(/^DROP USER/, DEFINER_REFUSAL);
    const conn = await mysql.createConnection({ host: proxy.host, port: proxy.port, user: admin.account, password: admin.password });
    try {
      await assert.rejects(conn.query('DROP USER ?@?', [account, '%']), (err: { errno?: number; sqlState?: string; sqlMessage?: string }) => {
        assert.deepEqual([err.errno, err.sqlState, err.sqlMessage], [4006, 'HY000', DEFINER_REFUSAL.message]);
        return true;
      });
      assert.equal(refusal.hits, 1);
      assert.equal(await accountExists(account, '%'), true, 'the server never saw the DROP');
      const [rows] = await conn.query<RowDataPacket[]>('SELECT 1 AS one');
      assert.deepEqual(rows, [{ one: 1 }]);
      // Every matching query is answered, on the same connection, until released.
      await assert.rejects(conn.query('DROP USER IF EXISTS ?@?', [account, '%']), { errno: 4006 });
      assert.equal(refusal.hits, 2);
      refusal.release();
      await conn.query('DROP USER IF EXISTS ?@?', [account, '%']);
      assert.equal(await accountExists(account, '%'), false);
    } finally {
      refusal.release();
      conn.destroy();
      await rootPool().query('DROP USER IF EXISTS ?@?', [account, '%']);
    }
  });

  it('When DROP USER is answered with 4006, then endAccess returns dropped:false with a readable refusal, the account is contained (locked, old password refused, no privilege, no session), and each call sends exactly one DROP', async () => {
    const m = manager();
    const g = await grantee();
    const open = await connectAs(g.account, g.password, schema);
    const refusal = proxy.answer(/^DROP USER/, DEFINER_REFUSAL);
    try {
      const first = await m.endAccess(target(), g.account);
      assert.equal(first.existed, true);
      assert.equal(first.dropped, false);
      assert.match(first.refusal ?? '', /definer of stored objects \(MySQL error 4006\)/);
      assert.ok(!/DROP USER|ALTER USER|IDENTIFIED/i.test(first.refusal ?? ''), first.refusal);
      assert.ok(first.containedAt, 'access ended: the containment time is reported');
      assert.ok(first.sessionsKilled >= 1, `sessionsKilled ${first.sessionsKilled}`);
      assert.deepEqual(first.leftBehind, [{ kind: 'VIEW', schema, name: `v_${g.account}` }]);
      assert.equal(first.leftBehindCount, 1);
      assert.equal(refusal.hits, 1, 'one DROP for one call');

      // Contained: it exists, but nobody can use it.
      assert.equal(await accountExists(g.account, '%'), true);
      assert.equal(await isLocked(g.account), true);
      assert.equal(await canLogin(g.account, g.password), false);
      assert.ok((await showGrants(g.account, '%')).every((line) => line.startsWith('GRANT USAGE ON *.* ')), (await showGrants(g.account, '%')).join('\n'));
      assert.equal(await queryFails(open), true, 'the session opened before is gone');
      await until('no session of the account is left', async () => (await sessionsOf(g.account)).length === 0, 3000);

      // A retry (the caller's, or the reconciler's) sends one more DROP, no storm.
      const second = await m.endAccess(target(), g.account);
      assert.equal(second.dropped, false);
      assert.equal(refusal.hits, 2);

      // Once the server accepts the drop, the same call finishes the job.
      refusal.release();
      const third = await m.endAccess(target(), g.account);
      assert.deepEqual([third.existed, third.dropped, third.refusal], [true, true, undefined]);
      assert.equal(await accountExists(g.account, '%'), false);
    } finally {
      refusal.release();
      open.destroy();
      g.close();
    }
  });

  it('When a coalesced DROP USER of several accounts is refused because of one of them, then the batch falls back to one at a time: the others are dropped, that one is retained, all are contained', async () => {
    // One batch at a time: calls made together join one batch.
    const m = manager({ poolSize: 2 });
    const [a, b, c] = [await grantee(), await grantee(), await grantee()];
    // As MySQL does: the whole statement is refused when it names the definer account.
    const refusal = proxy.answer((text) => /^DROP USER/.test(text) && text.includes(`'${b.account}'`), DEFINER_REFUSAL);
    try {
      const [ea, eb, ec] = await Promise.all([a, b, c].map((g) => m.endAccess(target(), g.account)));
      assert.equal(refusal.hits, 2, 'the batch statement, then b alone');
      assert.deepEqual([ea!.dropped, eb!.dropped, ec!.dropped], [true, false, true]);
      assert.match(eb!.refusal ?? '', /4006/);
      assert.equal(await accountExists(a.account, '%'), false);
      assert.equal(await accountExists(c.account, '%'), false);
      assert.equal(await accountExists(b.account, '%'), true);
      assert.equal(await isLocked(b.account), true);
      for (const g of [a, b, c]) assert.equal(await canLogin(g.account, g.password), false, g.account);
      assert.ok((await showGrants(b.account, '%')).every((line) => line.startsWith('GRANT USAGE ON *.* ')));
    } finally {
      refusal.release();
      for (const g of [a, b, c]) g.close();
    }
  });

  describe('revokeAccess (the activity)', () => {
    let components: TestComponents;

    before(async function () {
      this.timeout(120_000);
      components = await createTestComponents();
    });

    after(async () => {
      await components?.close();
    });

    it('When the drop is refused, then revokeAccess reports the account retained with the reason and what holds it, and still deletes the per-grant secret (its password no longer works)', async () => {
      const { ref } = components.newGrant();
      await components.call.createAccount(ref);
      await components.call.grantPrivileges({ ...ref, privileges: ['ALL PRIVILEGES'] });
      const password = (await components.readGrantSecret(ref.secretName))!.password;
      const conn = await connectAs(ref.account, password, components.schema);
      await conn.query('CREATE VIEW kept_view AS SELECT * FROM t');
      conn.destroy();

      const refused = createMysqlAccountManager({
        credentials: new StaticCredentialSource({ ...components.admin.credentials, host: proxy.host, port: proxy.port }),
      });
      managers.push(refused);
      const activities = createActivities({ ...components.deps, accounts: refused });
      const refusal = proxy.answer(/^DROP USER/, DEFINER_REFUSAL);
      try {
        const result: RevocationResult = await new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR', () => undefined) }).run(activities.revokeAccess, ref);
        assert.equal(result.accountExisted, true);
        assert.equal(result.dropped, false);
        assert.match(result.refusal ?? '', /4006/);
        assert.ok(result.containedAt);
        assert.deepEqual(result.leftBehind, [{ kind: 'VIEW', schema: components.schema, name: 'kept_view' }]);
        assert.equal(result.secretDeleted, true);
        assert.equal(await components.secretExists(ref.secretName), false);
        assert.equal(await canLogin(ref.account, password), false);
        assert.equal(await accountExists(ref.account, '%'), true);
      } finally {
        refusal.release();
      }
    });
  });
});
