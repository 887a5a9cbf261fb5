import assert from 'node:assert/strict';

import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';

import { DynamoAuditStore } from '../../src/adapters/aws';
import { accountExists, canLogin, MARIADB_HOST, MARIADB_PORT, queryFails, randomName, randomPassword, rootPool, RUN_PREFIX, sessionsOf } from '../support/mariadb';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';

// What an ADMIN grantee can do with its real credentials, on the real stack
// (API, worker, Temporal, moto, SMTP) and the machine's MariaDB 10.11: it
// defines stored objects (DEFINER = itself, the default), writes data, keeps
// sessions open, and tries what ADMIN allows to keep access past the grant's
// end. When the grant is revoked, nothing of it may still give access: MariaDB
// drops an account that defines objects (MySQL 8 refuses: see
// test/faults/retained-account.test.ts), and the objects are reported as left behind.

const ER_NO_SUCH_USER = 1449;
const ER_ACCESS_DENIED = 1045;
// The account's own MAX_USER_CONNECTIONS (1203 is the server-wide max_user_connections).
const ER_USER_LIMIT_REACHED = 1226;

interface Credentials {
  username: string;
  password: string;
  host: string;
  port: number;
  database: string;
}

describe('end to end: what an ADMIN grantee leaves behind, and what it tries to keep access with', function () {
  this.timeout(180_000);
  let stack: TestStack;
  let audit: DynamoAuditStore;
  const opened: Connection[] = [];

  before(async () => {
    stack = await startTestStack();
    audit = new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable);
  });
  after(async () => {
    for (const c of opened) c.destroy();
    await stack?.stop();
  });

  async function rows(sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
    return (await rootPool().query<RowDataPacket[]>(sql, values))[0];
  }

  /** Connects as the grantee, as it would with what it was given. */
  async function login(c: Credentials, password = c.password): Promise<Connection> {
    const conn = await mysql.createConnection({ host: c.host, port: c.port, user: c.username, password, database: c.database, connectTimeout: 3000, multipleStatements: false });
    opened.push(conn);
    return conn;
  }

  /** An ADMIN grant through the API; the grantee's credentials from the one-time link of its GRANTED e-mail. */
  async function adminGrant(): Promise<{ grantId: string; account: string; email: string; credentials: Credentials }> {
    const email = stack.newEmail();
    const created = await stack.call('POST', '/grants', {
      email,
      name: 'Greta Grantee',
      project: stack.project,
      database: stack.databases.main,
      accessLevel: 'ADMIN',
      expiresAt: new Date(Date.now() + 7 * 24 * 3600_000).toISOString(),
      reason: 'schema work',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { grantId, account } = created.body as { grantId: string; account: string };
    const granted = await stack.components.smtp.waitFor((m) => m.to.includes(email) && /granted/i.test(m.subject), 15_000);
    const token = /\/credentials\/([A-Za-z0-9_-]{43})\b/.exec(granted.text)?.[1];
    assert.ok(token, 'the GRANTED e-mail has a one-time credential link');
    const viewed = await stack.call('GET', `/credentials/${token}`, undefined, { key: null, headers: { accept: 'application/json' } });
    assert.equal(viewed.status, 200, JSON.stringify(viewed.body));
    const credentials = viewed.body as Credentials;
    assert.equal(credentials.username, account);
    assert.equal(credentials.database, stack.components.schema);
    // The test reads the server directly; the link names the same one.
    assert.deepEqual([credentials.host, Number(credentials.port)], [MARIADB_HOST, MARIADB_PORT]);
    return { grantId, account, email, credentials: { ...credentials, port: Number(credentials.port) } };
  }

  /** Revokes through the API and waits until the grant's workflow has closed REVOKED. */
  async function revoke(grantId: string): Promise<any> {
    const res = await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'work done' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return until(`${grantId} to close REVOKED`, async () => {
      const got = await stack.call('GET', stack.grantPath(grantId));
      return got.body.status === 'REVOKED' && got.body.workflow?.status === 'COMPLETED' && got.body;
    }, 60_000);
  }

  async function definers(schema: string, names: string[]): Promise<string[]> {
    const found = await rows(
      'SELECT DEFINER AS d FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?) UNION ALL ' +
        'SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_NAME IN (?) UNION ALL ' +
        'SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND TRIGGER_NAME IN (?) UNION ALL ' +
        'SELECT DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME IN (?)',
      [schema, names, schema, names, schema, names, schema, names],
    );
    return found.map((r) => String(r.d));
  }

  async function eventStatuses(schema: string, names: string[]): Promise<Record<string, string>> {
    const found = await rows('SELECT EVENT_NAME AS name, STATUS AS status FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME IN (?)', [schema, names]);
    return Object.fromEntries(found.map((r) => [String(r.name), String(r.status)]));
  }

  it('When an ADMIN grantee has created a view, a procedure, a function, a trigger and an event, inserted data and kept a session open, and the grant is revoked, then it cannot log in, its session is gone, the event is disabled, the REVOKED event and the owner\'s e-mail name every object, the data stays, and the account is dropped with the objects reported as left behind', async () => {
    const { components } = stack;
    const schema = components.schema;
    const g = await adminGrant();
    const x = randomName(4);
    const names = { table: `orders_${x}`, view: `v_orders_${x}`, procedure: `p_count_${x}`, fn: `f_answer_${x}`, trigger: `tr_upper_${x}`, event: `ev_purge_${x}` };

    const session = await login(g.credentials);
    await session.query(`CREATE TABLE ${names.table} (id INT PRIMARY KEY, v VARCHAR(40))`);
    await session.query(`CREATE TRIGGER ${names.trigger} BEFORE INSERT ON ${names.table} FOR EACH ROW SET NEW.v = UPPER(NEW.v)`);
    await session.query(`INSERT INTO ${names.table} VALUES (1, 'first order'), (2, 'second order')`);
    await session.query(`CREATE VIEW ${names.view} AS SELECT * FROM ${names.table}`);
    await session.query(`CREATE PROCEDURE ${names.procedure}() SELECT COUNT(*) AS n FROM ${names.table}`);
    await session.query(`CREATE FUNCTION ${names.fn}() RETURNS INT DETERMINISTIC RETURN 42`);
    await session.query(`CREATE EVENT ${names.event} ON SCHEDULE EVERY 1 DAY STARTS CURRENT_TIMESTAMP + INTERVAL 1 DAY DO DELETE FROM ${names.table}`);
    const objects = [names.view, names.procedure, names.fn, names.trigger, names.event];
    assert.deepEqual(await definers(schema, objects), objects.map(() => `${g.account}@%`), 'every object is defined by the grantee (the default DEFINER)');
    assert.deepEqual(await eventStatuses(schema, [names.event]), { [names.event]: 'ENABLED' });
    const [counted] = await session.query<RowDataPacket[][]>(`CALL ${names.procedure}()`);
    assert.equal(Number(counted[0]![0]!.n), 2, 'the grantee uses what it made');

    const final = await revoke(g.grantId);

    // Access has ended: no login, no session.
    assert.equal(await canLogin(g.account, g.credentials.password), false, 'the password no longer logs in');
    assert.equal(await queryFails(session), true, 'the session open at the revoke is gone');
    assert.deepEqual(await sessionsOf(g.account), []);
    // The event no longer runs; it keeps its definer (it was not handed to the admin).
    assert.deepEqual(await rows('SELECT STATUS AS status, DEFINER AS definer FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?', [schema, names.event]), [
      { status: 'DISABLED', definer: `${g.account}@%` },
    ]);
    // MariaDB drops an account that defines objects: dropped, and the objects reported as left behind.
    assert.equal(await accountExists(g.account, '%'), false, 'the account is dropped');
    assert.equal(final.retained, undefined);
    const expected = [
      { kind: 'EVENT', schema, name: names.event, note: 'disabled' },
      { kind: 'FUNCTION', schema, name: names.fn },
      { kind: 'PROCEDURE', schema, name: names.procedure },
      { kind: 'TRIGGER', schema, name: names.trigger, note: `on table ${names.table}` },
      { kind: 'VIEW', schema, name: names.view },
    ];
    assert.deepEqual(final.leftBehind, { objects: expected, count: 5 });
    assert.ok(Date.parse(final.accessEndedAt) <= Date.parse(final.endedAt), `access ended at ${final.accessEndedAt}`);

    // The REVOKED audit event names every object.
    const trail = await audit.forGrant(g.grantId);
    const revoked = trail.filter((e) => e.event === 'REVOKED');
    assert.equal(revoked.length, 1);
    assert.equal(revoked[0]!.accessEndedAt, final.accessEndedAt);
    for (const o of expected) assert.ok(revoked[0]!.detail?.includes(`${o.kind} ${schema}.${o.name}`), `the REVOKED event names ${o.kind} ${o.name}: ${revoked[0]!.detail}`);
    assert.ok(!trail.some((e) => e.event === 'ACCOUNT_RETAINED'), 'not retained');

    // The owner's REVOKED e-mail (a copy of the grantee's) names every object.
    const mail = await components.smtp.waitFor((m) => [...m.cc, ...m.to].includes(components.owner.email) && m.text.includes(g.grantId) && /revoked/i.test(m.subject), 15_000);
    assert.match(mail.subject, /5 stored object\(s\) left behind/);
    for (const o of expected) assert.ok(mail.text.includes(`${o.kind} ${schema}.${o.name}`), `the owner's e-mail names ${o.kind} ${o.name}`);
    assert.ok(mail.to.includes(g.email), 'the grantee is told too');

    // The grantee's data is untouched.
    assert.deepEqual(await rows(`SELECT id, v FROM \`${schema}\`.${names.table} ORDER BY id`), [
      { id: 1, v: 'FIRST ORDER' },
      { id: 2, v: 'SECOND ORDER' },
    ]);
  });

  it("When the grantee leaves code for another account to run (a SQL SECURITY DEFINER procedure and view, triggers on tables the other account writes, one looping in the other account's statement at the revoke), changes its own password, holds every session it may open with a statement running, and keeps retrying to log in through the revoke, then after the revoke none of it runs with its rights or logs in", async () => {
    const { components } = stack;
    const schema = components.schema;
    const g = await adminGrant();
    const x = randomName(4);
    const t = { hidden: `hidden_${x}`, inbox: `inbox_${x}`, loot: `loot_${x}`, procedure: `p_leak_${x}`, view: `v_leak_${x}`, trigger: `tr_copy_${x}`, slow: `slow_${x}`, slowTrigger: `tr_slow_${x}`, invoker: `p_whoami_${x}` };

    const session = await login(g.credentials);
    await session.query(`CREATE TABLE ${t.hidden} (id INT PRIMARY KEY, v VARCHAR(40))`);
    await session.query(`INSERT INTO ${t.hidden} VALUES (1, 'only the grantee may read this')`);
    await session.query(`CREATE TABLE ${t.inbox} (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))`);
    await session.query(`CREATE TABLE ${t.loot} (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))`);
    await session.query(`CREATE DEFINER = CURRENT_USER PROCEDURE ${t.procedure}() SQL SECURITY DEFINER SELECT v FROM ${t.hidden}`);
    await session.query(`CREATE DEFINER = CURRENT_USER SQL SECURITY DEFINER VIEW ${t.view} AS SELECT v FROM ${t.hidden}`);
    // Code that runs with its caller's rights, whoever wrote it: not the grantee's access, but named in the report all the same.
    await session.query(`CREATE PROCEDURE ${t.invoker}() SQL SECURITY INVOKER SELECT CURRENT_USER() AS u`);
    await session.query(`CREATE TRIGGER ${t.trigger} AFTER INSERT ON ${t.inbox} FOR EACH ROW INSERT INTO ${t.loot} (v) VALUES (NEW.v)`);
    // A trigger that keeps the statement that fired it busy, writing with the grantee's rights (bounded: 60 s).
    await session.query(`CREATE TABLE ${t.slow} (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))`);
    await session.query(
      `CREATE TRIGGER ${t.slowTrigger} AFTER INSERT ON ${t.slow} FOR EACH ROW BEGIN DECLARE i INT DEFAULT 0; ` +
        `WHILE i < 300 DO INSERT INTO ${t.loot} (v) VALUES ('loop'); DO SLEEP(0.2); SET i = i + 1; END WHILE; END`,
    );

    // Another account (an application's), granted only what runs the grantee's code.
    const app = { account: `${RUN_PREFIX}_app_${x}`, password: randomPassword() };
    await rootPool().query('CREATE USER ?@? IDENTIFIED BY ?', [app.account, '%', app.password]);
    await rootPool().query(`GRANT EXECUTE ON PROCEDURE \`${schema}\`.${t.procedure} TO ?@?`, [app.account, '%']);
    await rootPool().query(`GRANT SELECT ON \`${schema}\`.${t.view} TO ?@?`, [app.account, '%']);
    await rootPool().query(`GRANT EXECUTE ON PROCEDURE \`${schema}\`.${t.invoker} TO ?@?`, [app.account, '%']);
    await rootPool().query(`GRANT INSERT ON \`${schema}\`.${t.inbox} TO ?@?`, [app.account, '%']);
    await rootPool().query(`GRANT INSERT ON \`${schema}\`.${t.slow} TO ?@?`, [app.account, '%']);
    const appConn = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: app.account, password: app.password, database: schema });
    opened.push(appConn);
    // While the grant lasts, each runs with the grantee's rights.
    const [called] = await appConn.query<RowDataPacket[][]>(`CALL ${t.procedure}()`);
    assert.equal(called[0]![0]!.v, 'only the grantee may read this');
    assert.equal((await appConn.query<RowDataPacket[]>(`SELECT v FROM ${t.view}`))[0][0]!.v, 'only the grantee may read this');
    await appConn.query(`INSERT INTO ${t.inbox} (v) VALUES ('before')`);
    assert.deepEqual(await rows(`SELECT v FROM \`${schema}\`.${t.loot}`), [{ v: 'before' }]);
    await assert.rejects(appConn.query(`SELECT * FROM ${t.hidden}`), /denied/, 'the other account cannot read the table itself');

    // The grantee sets a password of its own, so that the secret's is not the only one it knows.
    const own = randomPassword();
    await session.query('SET PASSWORD = PASSWORD(?)', [own]);
    // It cannot give itself more (no GRANT OPTION, no CREATE USER): nothing beyond its own account to keep.
    await assert.rejects(session.query(`GRANT SELECT ON \`${schema}\`.* TO ?@?`, [app.account, '%']), /denied/i);
    await assert.rejects(session.query('CREATE USER ?@? IDENTIFIED BY ?', [`${RUN_PREFIX}_spare_${x}`, '%', own]), /denied/i);
    await assert.rejects(session.query('ALTER USER CURRENT_USER() ACCOUNT UNLOCK'), /denied/i);

    // Every session it may open, one of them in the middle of a long statement.
    const limit = stack.config.projects[stack.project]!.databases[stack.databases.main]!.maxUserConnections;
    const sessions = [session];
    while (sessions.length < limit) sessions.push(await login(g.credentials, own));
    await assert.rejects(login(g.credentials, own), (err: { errno?: number }) => err.errno === ER_USER_LIMIT_REACHED, 'the connection limit holds');
    const sleeping = sessions.at(-1)!.query('SELECT SLEEP(120)').then(
      () => 'finished',
      () => 'ended',
    );
    await until('the long statement to run', async () => (await rows("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND INFO LIKE 'SELECT SLEEP%'", [g.account])).length === 1);

    // The other account writes to the slow trigger's table: its statement runs the grantee's loop, with the grantee's rights.
    const appBusy = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: app.account, password: app.password, database: schema });
    opened.push(appBusy);
    const busy = appBusy.query(`INSERT INTO ${t.slow} (v) VALUES ('fires the loop')`).then(
      () => 'finished',
      () => 'ended',
    );
    // While it runs the grantee's code, the server lists the other account's session under the grantee's name.
    await until("the other account's session to run the grantee's trigger", async () => (await rows('SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND ID = ?', [g.account, appBusy.threadId])).length === 1);

    // And it keeps trying to log in, with both passwords, through the revoke.
    const attempts: { at: number; ok: boolean }[] = [];
    let trying = true;
    const retrying = (async () => {
      while (trying) {
        for (const password of [own, g.credentials.password]) {
          const at = Date.now();
          try {
            // Kept open (and checked at the end) like every session it got.
            await login(g.credentials, password);
            attempts.push({ at, ok: true });
          } catch {
            attempts.push({ at, ok: false });
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    let final: any;
    let ended = 0;
    try {
      final = await revoke(g.grantId);
      ended = Date.now();
      // Keep trying a little after the grant has ended.
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      trying = false;
      await retrying;
    }
    const afterEnd = attempts.filter((a) => a.at >= ended);
    assert.ok(afterEnd.length > 0, 'the grantee kept trying after the end');
    assert.deepEqual(afterEnd.filter((a) => a.ok), [], 'no login after the end');

    // No session survives: those held, the one in its long statement, any the retries got.
    assert.equal(await sleeping, 'ended', 'the long statement was ended with its session');
    for (const s of opened.filter((c) => c !== appConn && c !== appBusy)) assert.equal(await queryFails(s), true, 'a grantee session is gone');
    assert.deepEqual(await sessionsOf(g.account), []);
    assert.equal(await canLogin(g.account, own), false, 'its own password no longer logs in');
    assert.equal(await canLogin(g.account, g.credentials.password), false, "the secret's password no longer logs in");
    assert.equal(await accountExists(g.account, '%'), false);

    // What it left for others to run no longer runs with its rights: its definer is gone.
    const noDefiner = (err: { errno?: number }) => err.errno === ER_NO_SUCH_USER;
    await assert.rejects(appConn.query(`CALL ${t.procedure}()`), noDefiner, 'the SQL SECURITY DEFINER procedure');
    // MariaDB answers a view whose definer is gone as if the caller lacked the rights (after a 1449 warning).
    await assert.rejects(appConn.query(`SELECT v FROM ${t.view}`), (err: { errno?: number }) => err.errno === ER_ACCESS_DENIED, 'the SQL SECURITY DEFINER view');
    await assert.rejects(appConn.query(`INSERT INTO ${t.inbox} (v) VALUES ('after')`), noDefiner, 'the trigger (and so the write: the report says so)');
    const [whoami] = await appConn.query<RowDataPacket[][]>(`CALL ${t.invoker}()`);
    assert.equal(whoami[0]![0]!.u, `${app.account}@%`, 'SQL SECURITY INVOKER code runs with its caller\'s rights, never the grantee\'s');
    // The statement running the grantee's loop was ended with it (rolled back), not left to run its course.
    assert.equal(await busy, 'ended', "the other account's statement in the grantee's trigger was ended");
    assert.deepEqual(await rows(`SELECT v FROM \`${schema}\`.${t.loot}`), [{ v: 'before' }], 'the triggers wrote nothing that stayed');
    assert.deepEqual(
      final.leftBehind.objects.map((o: { kind: string; name: string }) => `${o.kind} ${o.name}`),
      [`PROCEDURE ${t.procedure}`, `PROCEDURE ${t.invoker}`, `TRIGGER ${t.trigger}`, `TRIGGER ${t.slowTrigger}`, `VIEW ${t.view}`],
    );
    // Its data stays.
    assert.deepEqual(await rows(`SELECT v FROM \`${schema}\`.${t.hidden}`), [{ v: 'only the grantee may read this' }]);
  });

  describe('with the event scheduler on (the MySQL 8 default)', () => {
    let scheduler: string | undefined;

    before(async () => {
      scheduler = String((await rows('SELECT @@GLOBAL.event_scheduler AS s'))[0]!.s);
      // Server-wide, so on only for these tests; restored after them.
      if (scheduler !== 'ON') await rootPool().query('SET GLOBAL event_scheduler = ON');
    });
    after(async () => {
      if (scheduler && scheduler !== 'ON') await rootPool().query(`SET GLOBAL event_scheduler = ${scheduler === 'DISABLED' ? 'OFF' : scheduler}`);
    });

    it('When the grantee has an event running a loop at the revoke, one firing every second and one scheduled to fire after the revoke, then after the revoke none of them runs: the running one is ended with the sessions, the others are disabled', async () => {
      const { components } = stack;
      const schema = components.schema;
      const g = await adminGrant();
      const x = randomName(4);
      const n = { beat: `beat_${x}`, loop: `p_loop_${x}`, running: `ev_running_${x}`, tick: `ev_tick_${x}`, later: `ev_later_${x}` };
      const session = await login(g.credentials);
      try {
        await session.query(`CREATE TABLE ${n.beat} (id INT AUTO_INCREMENT PRIMARY KEY, src VARCHAR(10), at DATETIME(3))`);
        // A loop that would write forever with the grantee's rights, in an event's own thread (no login needed), going on whatever error a statement meets.
        await session.query(`CREATE PROCEDURE ${n.loop}() BEGIN DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END; WHILE 1 DO INSERT INTO ${n.beat} (src, at) VALUES ('loop', NOW(3)); DO SLEEP(0.2); END WHILE; END`);
        await session.query(`CREATE EVENT ${n.running} ON SCHEDULE AT CURRENT_TIMESTAMP ON COMPLETION PRESERVE DO CALL ${n.loop}()`);
        await session.query(`CREATE EVENT ${n.tick} ON SCHEDULE EVERY 1 SECOND DO INSERT INTO ${n.beat} (src, at) VALUES ('tick', NOW(3))`);
        const later = new Date(Date.now() + 15_000);
        await session.query(`CREATE EVENT ${n.later} ON SCHEDULE AT CURRENT_TIMESTAMP + INTERVAL 15 SECOND ON COMPLETION PRESERVE DO INSERT INTO ${n.beat} (src, at) VALUES ('later', NOW(3))`);
        const bySource = async () => Object.fromEntries((await rows(`SELECT src, COUNT(*) AS c FROM \`${schema}\`.${n.beat} GROUP BY src`)).map((r) => [String(r.src), Number(r.c)]));
        await until('the loop and the tick to run', async () => {
          const c = await bySource();
          return (c.loop ?? 0) >= 3 && (c.tick ?? 0) >= 2;
        }, 15_000);
        // The loop runs in a thread of the grantee's name that it never logged in with.
        const threads = await rows("SELECT ID AS id, HOST AS host, COMMAND AS command FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND = 'Connect'", [g.account]);
        assert.equal(threads.length, 1, `the event's thread: ${JSON.stringify(threads)}`);

        await revoke(g.grantId);
        const atEnd = await bySource();
        assert.ok(Date.now() < later.getTime(), 'the revoke ended before the later event was due (else this test proves nothing about it)');
        // Past the later event's time, and several ticks and loop turns.
        await new Promise((r) => setTimeout(r, Math.max(3000, later.getTime() + 3000 - Date.now())));
        assert.deepEqual(await bySource(), atEnd, 'nothing ran with the grantee\'s rights after the revoke');
        assert.equal(atEnd.later, undefined, 'the later event never fired');
        assert.deepEqual(await sessionsOf(g.account), [], "no thread of the grantee's name is left");
        assert.deepEqual(await eventStatuses(schema, [n.running, n.tick, n.later]), { [n.running]: 'DISABLED', [n.tick]: 'DISABLED', [n.later]: 'DISABLED' });
        assert.equal(await accountExists(g.account, '%'), false);
      } finally {
        // Whatever happened, nothing of it keeps running on the shared server.
        for (const name of [n.running, n.tick, n.later]) await rootPool().query(`DROP EVENT IF EXISTS \`${schema}\`.${name}`);
        for (const r of await rows('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?', [g.account])) {
          await rootPool().query(`KILL ${Number(r.id)}`).catch(() => undefined);
        }
      }
    });
  });
});
