import { strict as assert } from 'node:assert';
import net from 'node:net';

import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';

import { LEFT_BEHIND_LIST_LIMIT, type GrantTarget } from '../../../../src/domain';
import { createMysqlAccountManager, type MysqlAccountManager } from '../../../../src/adapters/engines/mysql';
import {
  accountExists,
  canLogin,
  connectAs,
  createAdmin,
  createSchema,
  grantGlobal,
  MARIADB_HOST,
  MARIADB_PORT,
  queryFails,
  randomName,
  randomPassword,
  rootPool,
  RUN_PREFIX,
  sessionsOf,
  StaticCredentialSource,
  type TestAdmin,
} from '../../../support/mariadb';
import { until } from '../../../support/wait';

// Ending access on the machine's MariaDB 10.11, through an admin created with
// exactly adminGrantStatements: an ADMIN grantee that planted stored objects
// with itself as definer is contained (no login, no privilege, no session), its
// event disabled without handing it to the admin, every object named, its data
// untouched, and the account dropped; sessions are matched by user AND host.

interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

/** A connection to MariaDB from a chosen loopback source address (127.0.0.2 is not 127.0.0.1 to the server). */
function connectFrom(localAddress: string, user: string, password: string, database?: string): Promise<Connection> {
  return mysql.createConnection({
    user,
    password,
    ...(database ? { database } : {}),
    connectTimeout: 3000,
    stream: () => net.connect({ host: MARIADB_HOST, port: MARIADB_PORT, localAddress }),
  });
}

describe('containment: ending access on MariaDB', function () {
  this.timeout(30_000);

  let schema: string;
  let admin: TestAdmin;
  let manager: MysqlAccountManager;
  const logs: LogLine[] = [];
  const extra: MysqlAccountManager[] = [];
  let counter = 0;

  const target = (over: Partial<GrantTarget> = {}): GrantTarget => ({ schema, adminSecretId: 'test/containment', hostPattern: '%', maxUserConnections: 5, ...over });

  function newAccount(): string {
    counter += 1;
    return `${RUN_PREFIX}_c${counter}_${randomName(3)}`;
  }

  async function adminGrantee(): Promise<{ account: string; password: string }> {
    const account = newAccount();
    const password = randomPassword();
    await manager.ensureAccount(target(), account, password);
    await manager.setPrivileges(target(), account, ['ALL PRIVILEGES']);
    return { account, password };
  }

  async function rows(sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
    return (await rootPool().query<RowDataPacket[]>(sql, values))[0];
  }

  before(async () => {
    schema = await createSchema(`${RUN_PREFIX}_ct_${randomName(4)}`);
    admin = await createAdmin([schema]);
    const logger = {
      info: (obj: object, msg: string) => logs.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
      warn: (obj: object, msg: string) => logs.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    };
    manager = createMysqlAccountManager({ credentials: new StaticCredentialSource(admin.credentials), logger, connectTimeoutMs: 3000 });
  });

  after(async () => {
    await manager.close();
    for (const m of extra) await m.close();
  });

  it('When an ADMIN grantee left a view, a procedure, a function, a trigger and an event and keeps a session open, then endAccess contains it, disables the event (its definer unchanged), names every object, keeps the data, drops the account; a second endAccess changes nothing', async () => {
    const { account, password } = await adminGrantee();
    const conn = await connectAs(account, password, schema);
    const table = `data_${counter}`;
    await conn.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, v VARCHAR(20))`);
    await conn.query(`INSERT INTO ${table} VALUES (1, 'kept'), (2, 'also kept')`);
    await conn.query(`CREATE VIEW v_${counter} AS SELECT * FROM ${table}`);
    await conn.query(`CREATE PROCEDURE p_${counter}() SELECT COUNT(*) FROM ${table}`);
    await conn.query(`CREATE FUNCTION f_${counter}() RETURNS INT DETERMINISTIC RETURN 1`);
    await conn.query(`CREATE TRIGGER tr_${counter} BEFORE INSERT ON ${table} FOR EACH ROW SET NEW.v = UPPER(NEW.v)`);
    await conn.query(`CREATE EVENT ev_${counter} ON SCHEDULE EVERY 1 HOUR DO INSERT INTO ${table} VALUES (FLOOR(RAND() * 1000000) + 10, 'event')`);
    const definer = `${account}@%`;

    const ended = await manager.endAccess(target(), account);

    // Contained: the old password no longer logs in, the open session is gone.
    assert.equal(await canLogin(account, password), false);
    assert.equal(await queryFails(conn), true);
    await until('no session of the account is left', async () => (await sessionsOf(account)).length === 0, 3000);
    // Disabled, and still the grantee's: a plain ALTER EVENT would have made the admin its definer.
    assert.deepEqual(await rows('SELECT STATUS AS status, DEFINER AS definer FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?', [schema, `ev_${counter}`]), [
      { status: 'DISABLED', definer },
    ]);
    // Every object named, with what it hangs on.
    assert.deepEqual(ended.leftBehind, [
      { kind: 'EVENT', schema, name: `ev_${counter}`, note: 'disabled' },
      { kind: 'FUNCTION', schema, name: `f_${counter}` },
      { kind: 'PROCEDURE', schema, name: `p_${counter}` },
      { kind: 'TRIGGER', schema, name: `tr_${counter}`, note: `on table ${table}` },
      { kind: 'VIEW', schema, name: `v_${counter}` },
    ]);
    assert.equal(ended.leftBehindCount, 5);
    assert.deepEqual([ended.existed, ended.dropped, ended.refusal], [true, true, undefined]);
    assert.ok(ended.sessionsKilled >= 1);
    assert.ok(ended.containedAt);
    // The grantee's data is untouched (MariaDB drops an account that defines objects; the objects stay).
    assert.deepEqual(await rows(`SELECT id, v FROM \`${schema}\`.${table} ORDER BY id`), [
      { id: 1, v: 'kept' },
      { id: 2, v: 'also kept' },
    ]);
    assert.equal(await accountExists(account, '%'), false);

    const again = await manager.endAccess(target(), account);
    assert.deepEqual({ ...again, leftBehind: again.leftBehind.length }, { existed: false, sessionsKilled: 0, dropped: true, leftBehind: 5, leftBehindCount: 5 });
    assert.deepEqual(await rows('SELECT STATUS AS status, DEFINER AS definer FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?', [schema, `ev_${counter}`]), [
      { status: 'DISABLED', definer },
    ]);
    assert.equal((await rows(`SELECT COUNT(*) AS n FROM \`${schema}\`.${table}`))[0]!.n, 2);
  });

  it(`When the account defines more objects than the report lists (${LEFT_BEHIND_LIST_LIMIT}), then the count is exact, the list is capped, and every event is disabled, listed or not`, async () => {
    const { account, password } = await adminGrantee();
    const conn = await connectAs(account, password, schema);
    const n = LEFT_BEHIND_LIST_LIMIT + 2;
    try {
      for (let i = 0; i < n; i++) await conn.query(`CREATE EVENT many_${counter}_${String(i).padStart(3, '0')} ON SCHEDULE EVERY 1 DAY DO SELECT 1`);
    } finally {
      conn.destroy();
    }
    const ended = await manager.endAccess(target(), account);
    assert.equal(ended.leftBehindCount, n);
    assert.equal(ended.leftBehind.length, LEFT_BEHIND_LIST_LIMIT);
    const statuses = await rows('SELECT STATUS AS status, COUNT(*) AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME LIKE ? GROUP BY STATUS', [schema, `many\\_${counter}\\_%`]);
    assert.deepEqual(statuses.map((r) => ({ status: r.status, n: Number(r.n) })), [{ status: 'DISABLED', n }]);
  });

  it('When an event name holds backticks, quotes and unicode, then it is disabled by exactly that name and reported as it is', async () => {
    const { account, password } = await adminGrantee();
    const conn = await connectAs(account, password, schema);
    const name = `e\`v'"${counter} ✓ünï`;
    try {
      await conn.query(`CREATE EVENT \`${name.replace(/`/g, '``')}\` ON SCHEDULE EVERY 1 DAY DO SELECT 1`);
    } finally {
      conn.destroy();
    }
    const ended = await manager.endAccess(target(), account);
    assert.deepEqual(ended.leftBehind, [{ kind: 'EVENT', schema, name, note: 'disabled' }]);
    assert.deepEqual(await rows('SELECT STATUS AS status FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?', [schema, name]), [{ status: 'DISABLED' }]);
  });

  it('When the admin may not name another definer (no SET USER), then the event is left as it is, not handed to the admin, and the report says why', async () => {
    const weak = await createAdmin([schema]);
    await grantGlobal(['SET USER'], weak, true);
    const m = createMysqlAccountManager({ credentials: new StaticCredentialSource(weak.credentials), connectTimeoutMs: 3000 });
    extra.push(m);
    const { account, password } = await adminGrantee();
    const conn = await connectAs(account, password, schema);
    try {
      await conn.query(`CREATE EVENT kept_${counter} ON SCHEDULE EVERY 1 DAY DO SELECT 1`);
    } finally {
      conn.destroy();
    }
    const ended = await m.endAccess(target(), account);
    assert.equal(ended.dropped, true);
    assert.equal(ended.leftBehind.length, 1);
    assert.match(ended.leftBehind[0]!.note ?? '', /^left enabled: the admin account may not keep the grantee as its definer \(it lacks SET USER/);
    assert.deepEqual(await rows('SELECT DEFINER AS definer FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?', [schema, `kept_${counter}`]), [
      { definer: `${account}@%` },
    ]);
  });

  it('When endAccess is called for several accounts at once, then they are ended in one batch and each gets its own result', async () => {
    const grantees = [await adminGrantee(), await adminGrantee(), await adminGrantee()];
    const sessions = await Promise.all(grantees.map((g) => connectAs(g.account, g.password, schema)));
    const missing = newAccount();
    const before = logs.length;
    const results = await Promise.all([...grantees.map((g) => manager.endAccess(target(), g.account)), manager.endAccess(target(), missing)]);
    for (const [i, g] of grantees.entries()) {
      assert.deepEqual([results[i]!.existed, results[i]!.sessionsKilled, results[i]!.dropped], [true, 1, true], g.account);
      assert.equal(await accountExists(g.account, '%'), false);
      assert.equal(await queryFails(sessions[i]!), true);
    }
    assert.deepEqual(results[3], { existed: false, sessionsKilled: 0, dropped: true, leftBehind: [], leftBehindCount: 0 });
    const batches = logs.slice(before).filter((l) => l.msg.startsWith('access ended')).map((l) => l.obj.batch);
    assert.deepEqual(batches, [4, 4, 4, 4]);
  });

  describe('sessions by user and host', () => {
    it('When the user name has two accounts (u@% and u@127.0.0.1), then ending u@% ends only the sessions the server gave to u@% and leaves u@127.0.0.1 and its session alone', async () => {
      const account = newAccount();
      const wide = randomPassword();
      const local = randomPassword();
      await manager.ensureAccount(target(), account, wide);
      await manager.setPrivileges(target(), account, ['SELECT']);
      await manager.ensureAccount(target({ hostPattern: '127.0.0.1' }), account, local);
      await manager.setPrivileges(target({ hostPattern: '127.0.0.1' }), account, ['SELECT']);
      // From 127.0.0.2 only u@% matches; from 127.0.0.1 the server picks the more specific u@127.0.0.1.
      const viaWide = await connectFrom('127.0.0.2', account, wide, schema);
      const viaLocal = await connectFrom('127.0.0.1', account, local, schema);
      try {
        assert.deepEqual((await viaWide.query<RowDataPacket[]>('SELECT CURRENT_USER() AS u'))[0], [{ u: `${account}@%` }]);
        assert.deepEqual((await viaLocal.query<RowDataPacket[]>('SELECT CURRENT_USER() AS u'))[0], [{ u: `${account}@127.0.0.1` }]);

        const ended = await manager.endAccess(target(), account);
        assert.equal(ended.sessionsKilled, 1);
        assert.equal(await queryFails(viaWide), true, 'the session of u@% is gone');
        assert.deepEqual((await viaLocal.query<RowDataPacket[]>('SELECT 1 AS one'))[0], [{ one: 1 }], 'the session of u@127.0.0.1 is still there');
        assert.equal(await accountExists(account, '127.0.0.1'), true);
        assert.equal(await canLogin(account, wide), false);

        // And the other way round: killSessions of u@127.0.0.1 ends its own.
        assert.equal(await manager.killSessions(target({ hostPattern: '127.0.0.1' }), account), 1);
        assert.equal(await queryFails(viaLocal), true);
      } finally {
        viaWide.destroy();
        viaLocal.destroy();
      }
    });

    it('When the user name has only the one account, then every session of the name is that account\'s, whatever its client host', async () => {
      const account = newAccount();
      const password = randomPassword();
      await manager.ensureAccount(target({ hostPattern: '127.0.0.%' }), account, password);
      const a = await connectFrom('127.0.0.1', account, password);
      const b = await connectFrom('127.0.0.2', account, password);
      try {
        assert.equal(await manager.killSessions(target({ hostPattern: '127.0.0.%' }), account), 2);
        assert.equal(await queryFails(a), true);
        assert.equal(await queryFails(b), true);
      } finally {
        a.destroy();
        b.destroy();
      }
    });
  });
});
