import { strict as assert } from 'node:assert';

import { ApplicationFailure } from '@temporalio/common';
import type { RowDataPacket } from 'mysql2/promise';

import type { GrantTarget } from '../../../../src/domain';
import { ActivityErrorType } from '../../../../src/adapters/errors';
import { adminGrantStatements, createMysqlAccountManager, sessionSettingsStatement, type MysqlAccountManager, type MysqlAccountManagerOptions } from '../../../../src/adapters/engines/mysql';
import type { AdminCredentials } from '../../../../src/adapters/ports';
import {
  accountExists,
  canLogin,
  connectAs,
  createAdmin,
  createSchema,
  grantGlobal,
  holdLock,
  MARIADB_HOST,
  MARIADB_PORT,
  processesOf,
  randomName,
  randomPassword,
  rootPool,
  RUN_PREFIX,
  schemaGrants,
  sessionsOf,
  setPassword,
  showGrants,
  StaticCredentialSource,
  totalAccounts,
  type TestAdmin,
  queryFails,
  startProxy,
  withGlobalSqlMode,
} from '../../../support/mariadb';
import { expectFailure } from '../../../support/failures';
import { until } from '../../../support/wait';

// The MySQL account manager against the machine's MariaDB 10.11, always through
// an admin created with exactly adminGrantStatements (never root), so that every
// passing test also proves that list of admin privileges is enough.

const READ = ['SELECT'];
const READ_WRITE = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];
const ADMIN = ['ALL PRIVILEGES'];

interface LogLine {
  level: string;
  obj: object;
  msg: string;
}

/** Every password this file generates, to prove none reaches an error or a log. */
const passwords: string[] = [];
function newPassword(): string {
  const pw = randomPassword();
  passwords.push(pw);
  return pw;
}

let counter = 0;
function newAccount(): string {
  counter += 1;
  return `${RUN_PREFIX}_u${counter}_${randomName(3)}`;
}


/** Everything an error exposes: message, stack, details, JSON, and a cause if any. */
function everything(err: unknown): string {
  const e = err as { message?: string; stack?: string; cause?: unknown; details?: unknown };
  return [String(err), e.message, e.stack, JSON.stringify(err), JSON.stringify(e.details), e.cause ? everything(e.cause) : ''].join('\n');
}

function assertNoSecret(text: string, ...secrets: string[]): void {
  for (const s of secrets) assert.ok(!text.includes(s), `a secret leaked into: ${text.slice(0, 300)}`);
}

describe('MySQL account manager on MariaDB (least-privileged admin)', function () {
  this.timeout(20_000);

  let schema: string;
  let sibling: string;
  let admin: TestAdmin;
  let source: StaticCredentialSource;
  let manager: MysqlAccountManager;
  const logs: LogLine[] = [];
  const logger = {
    info: (obj: object, msg: string) => logs.push({ level: 'info', obj, msg }),
    warn: (obj: object, msg: string) => logs.push({ level: 'warn', obj, msg }),
  };
  const extraManagers: MysqlAccountManager[] = [];

  const target = (over: Partial<GrantTarget> = {}): GrantTarget => ({
    schema,
    adminSecretId: 'test/mysql-admin',
    hostPattern: '%',
    maxUserConnections: 5,
    ...over,
  });

  /** A fresh account with a password, ensured and (optionally) granted `privileges`. */
  async function grantee(privileges?: string[]): Promise<{ account: string; password: string }> {
    const account = newAccount();
    const password = newPassword();
    await manager.ensureAccount(target(), account, password);
    if (privileges) await manager.setPrivileges(target(), account, privileges);
    return { account, password };
  }

  function otherManager(credentials: StaticCredentialSource, options: Partial<MysqlAccountManagerOptions> = {}): MysqlAccountManager {
    const m = createMysqlAccountManager({ credentials, logger, connectTimeoutMs: 3000, poolSize: 2, ...options });
    extraManagers.push(m);
    return m;
  }

  /** An admin with everything adminGrantStatements lists but PROCESS. */
  async function withoutProcess(): Promise<TestAdmin> {
    const weak = await createAdmin([schema]);
    passwords.push(weak.password);
    await grantGlobal(['PROCESS'], weak, true);
    return weak;
  }

  before(async () => {
    // The sibling differs from the managed schema only where the `_` is.
    schema = await createSchema(`${RUN_PREFIX}_ab_cd`);
    sibling = await createSchema(`${RUN_PREFIX}_abXcd`);
    admin = await createAdmin([schema]);
    passwords.push(admin.password);
    source = new StaticCredentialSource(admin.credentials);
    manager = createMysqlAccountManager({ credentials: source, logger, connectTimeoutMs: 3000 });
  });

  after(async () => {
    await manager.close();
    for (const m of extraManagers) await m.close();
  });

  it('When the admin is set up, then it holds exactly the grants adminGrantStatements lists', async () => {
    assert.deepEqual(admin.grants, adminGrantStatements('mariadb', admin.account, '%', [schema]));
    const lines = await showGrants(admin.account, '%');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^GRANT PROCESS, CREATE USER, SET USER, CONNECTION ADMIN ON \*\.\* TO /);
    assert.ok(lines.some((l) => l.startsWith('GRANT SELECT ON `mysql`.*')));
    assert.ok(lines.some((l) => l.startsWith(`GRANT ALL PRIVILEGES ON \`${schema.replace(/_/g, '\\_')}\`.*`) && l.endsWith('WITH GRANT OPTION')));
  });

  describe('ensureAccount', () => {
    it('When a new account is ensured and granted READ, then it logs in with the password and sees the schema (and nothing else)', async () => {
      const account = newAccount();
      const password = newPassword();
      const endpoint = await manager.ensureAccount(target(), account, password);
      assert.deepEqual(endpoint, { host: '127.0.0.1', port: 3306, engine: 'mariadb' });
      await manager.setPrivileges(target(), account, READ);
      const conn = await connectAs(account, password, schema);
      try {
        const [rows] = await conn.query('SELECT v FROM t WHERE id = 1');
        assert.deepEqual(rows, [{ v: 'one' }]);
        const [dbs] = await conn.query('SHOW DATABASES');
        const names = (dbs as { Database: string }[]).map((r) => r.Database);
        assert.ok(names.includes(schema));
        assert.ok(!names.includes(sibling));
      } finally {
        await conn.end();
      }
    });

    it('When ensureAccount runs twice (a retry with a new password), then the second password works and the first fails', async () => {
      const account = newAccount();
      const first = newPassword();
      const second = newPassword();
      await manager.ensureAccount(target(), account, first);
      await manager.setPrivileges(target(), account, READ);
      await manager.ensureAccount(target({ maxUserConnections: 7 }), account, second);
      assert.equal(await canLogin(account, second, schema), true);
      assert.equal(await canLogin(account, first, schema), false);
      const lines = await showGrants(account, '%');
      assert.ok(lines[0]!.endsWith('WITH MAX_USER_CONNECTIONS 7'), lines[0]);
      assert.equal((await schemaGrants(account, '%', schema)).length, 1, 'the retry keeps the privileges');
    });

    it('When the account was left locked by an interrupted revoke, then ensureAccount unlocks it', async () => {
      const { account } = await grantee(READ);
      await rootPool().query('ALTER USER ?@? ACCOUNT LOCK', [account, '%']);
      const password = newPassword();
      await manager.ensureAccount(target(), account, password);
      assert.equal(await canLogin(account, password, schema), true);
    });

    it('When the schema does not exist, then UnknownDatabase and no account is created', async () => {
      const account = newAccount();
      const err = await expectFailure(manager.ensureAccount(target({ schema: `${RUN_PREFIX}_missing` }), account, newPassword()), ActivityErrorType.UnknownDatabase);
      assert.match(err.message, /does not exist/);
      assert.equal(await accountExists(account, '%'), false);
    });

    it('When the schema exists but differs only in case or is not managed by the admin, then UnknownDatabase', async () => {
      await expectFailure(manager.ensureAccount(target({ schema: schema.toUpperCase() }), newAccount(), newPassword()), ActivityErrorType.UnknownDatabase);
      await expectFailure(manager.ensureAccount(target({ schema: sibling }), newAccount(), newPassword()), ActivityErrorType.UnknownDatabase);
    });
  });

  describe('setPrivileges', () => {
    const levels: [string, string[], string][] = [
      ['READ', READ, 'SELECT'],
      ['READ_WRITE', READ_WRITE, 'SELECT, INSERT, UPDATE, DELETE'],
      ['ADMIN', ADMIN, 'ALL PRIVILEGES'],
    ];
    for (const [name, privileges, shown] of levels) {
      it(`When ${name} is granted, then SHOW GRANTS shows exactly ${shown} on the schema and nothing else`, async () => {
        const { account } = await grantee(privileges);
        const lines = await showGrants(account, '%');
        const on = `\`${schema.replace(/_/g, '\\_')}\`.*`;
        assert.deepEqual(lines, [`GRANT USAGE ON *.* TO \`${account}\`@\`%\` WITH MAX_USER_CONNECTIONS 5`, `GRANT ${shown} ON ${on} TO \`${account}\`@\`%\``]);
      });
    }

    it('When READ is granted, then the account can read but not write', async () => {
      const { account, password } = await grantee(READ);
      const conn = await connectAs(account, password, schema);
      try {
        await conn.query('SELECT * FROM t');
        await assert.rejects(conn.query("INSERT INTO t VALUES (99, 'no')"), (err: { errno?: number }) => err.errno === 1142);
      } finally {
        await conn.end();
      }
    });

    it('When the schema name holds _, then the grant does not leak to a schema that differs only there', async () => {
      const { account, password } = await grantee(ADMIN);
      await assert.rejects(connectAs(account, password, sibling), (err: { errno?: number }) => err.errno === 1044);
      const conn = await connectAs(account, password, schema);
      try {
        await assert.rejects(conn.query(`SELECT * FROM \`${sibling}\`.t`), (err: { errno?: number }) => err.errno === 1142);
        await assert.rejects(conn.query(`CREATE TABLE \`${sibling}\`.x (id INT)`), (err: { errno?: number }) => err.errno === 1142);
      } finally {
        await conn.end();
      }
    });

    const changes: [string, string[], string[], string][] = [
      ['upgraded READ → READ_WRITE', READ, READ_WRITE, 'SELECT, INSERT, UPDATE, DELETE'],
      ['downgraded READ_WRITE → READ', READ_WRITE, READ, 'SELECT'],
      ['downgraded ADMIN → READ', ADMIN, READ, 'SELECT'],
      ['upgraded READ → ADMIN', READ, ADMIN, 'ALL PRIVILEGES'],
    ];
    for (const [what, from, to, shown] of changes) {
      it(`When the level is ${what} (with previous), then the grants are exactly the new set`, async () => {
        const { account } = await grantee(from);
        await manager.setPrivileges(target(), account, to, from);
        assert.deepEqual(await schemaGrants(account, '%', schema), [`GRANT ${shown} ON \`${schema.replace(/_/g, '\\_')}\`.* TO \`${account}\`@\`%\``]);
        // A retried level change (the activity ran again) ends the same way.
        await manager.setPrivileges(target(), account, to, from);
        assert.deepEqual(await schemaGrants(account, '%', schema), [`GRANT ${shown} ON \`${schema.replace(/_/g, '\\_')}\`.* TO \`${account}\`@\`%\``]);
      });
    }

    it('When an upgrade runs, then a session open before it keeps reading, and gets the new rights at its next USE', async () => {
      const { account, password } = await grantee(READ);
      const conn = await connectAs(account, password, schema);
      try {
        await manager.setPrivileges(target(), account, READ_WRITE, READ);
        await conn.query('SELECT * FROM t');
        // Database-level changes reach an open session when it next selects the schema.
        await conn.query(`USE \`${schema}\``);
        await conn.query(`INSERT INTO t VALUES (${1000 + counter}, 'rw')`);
      } finally {
        await conn.end();
      }
    });

    it('When privileges are set without previous, then whatever was there is replaced by exactly the new set', async () => {
      const { account } = await grantee(READ_WRITE);
      await manager.setPrivileges(target(), account, READ);
      assert.deepEqual(await schemaGrants(account, '%', schema), [`GRANT SELECT ON \`${schema.replace(/_/g, '\\_')}\`.* TO \`${account}\`@\`%\``]);
    });
  });

  describe('revokeAllPrivileges and killSessions', () => {
    it('When all privileges are revoked, then only USAGE remains, and a second revoke (and one for a missing account) is no error', async () => {
      const { account } = await grantee(READ_WRITE);
      await manager.revokeAllPrivileges(target(), account);
      assert.deepEqual(await showGrants(account, '%'), [`GRANT USAGE ON *.* TO \`${account}\`@\`%\` WITH MAX_USER_CONNECTIONS 5`]);
      await manager.revokeAllPrivileges(target(), account);
      await manager.revokeAllPrivileges(target(), newAccount());
    });

    it("When sessions are killed, then each open connection of the account is dead and the count says how many; a second call finds none", async () => {
      const { account, password } = await grantee(READ);
      const a = await connectAs(account, password, schema);
      const b = await connectAs(account, password, schema);
      assert.equal(await manager.killSessions(target(), account), 2);
      assert.equal(await queryFails(a), true);
      assert.equal(await queryFails(b), true);
      assert.equal(await manager.killSessions(target(), account), 0);
    });
  });

  describe('endAccess', () => {
    it('When access ends, then login fails, a connection opened before is dead, and the account is dropped', async () => {
      const { account, password } = await grantee(READ_WRITE);
      const before = await connectAs(account, password, schema);
      const { containedAt, ...result } = await manager.endAccess(target(), account);
      assert.deepEqual(result, { existed: true, sessionsKilled: 1, dropped: true, leftBehind: [], leftBehindCount: 0 });
      assert.ok(containedAt && Number.isFinite(Date.parse(containedAt)), String(containedAt));
      assert.equal(await queryFails(before), true);
      assert.equal(await canLogin(account, password), false);
      assert.equal(await accountExists(account, '%'), false);
      assert.deepEqual(await sessionsOf(account), []);
    });

    it('When endAccess runs twice, then the second call is fine and reports existed=false, dropped=true and no containment time', async () => {
      const { account } = await grantee(READ);
      assert.equal((await manager.endAccess(target(), account)).existed, true);
      assert.deepEqual(await manager.endAccess(target(), account), { existed: false, sessionsKilled: 0, dropped: true, leftBehind: [], leftBehindCount: 0 });
    });

    it('When an earlier attempt stopped after the lock, then endAccess finishes the job', async () => {
      const { account, password } = await grantee(READ);
      await rootPool().query('ALTER USER ?@? ACCOUNT LOCK', [account, '%']);
      assert.equal(await canLogin(account, password), false);
      const result = await manager.endAccess(target(), account);
      assert.deepEqual([result.existed, result.sessionsKilled, result.dropped], [true, 0, true]);
      assert.equal(await accountExists(account, '%'), false);
    });
  });

  describe('no injection', () => {
    const hostileAccounts = ["x'; DROP USER root --", 'x`', 'x;y', 'x -- y', 'x/*y*/', 'x#', 'x\u0000y', 'x y', 'Xupper', 'a'.repeat(33), ''];
    const hostileHosts = ["%' OR '1'='1", '%`', '%;', '% -- x', '%/*', '%\u0000', 'a b', 'h'.repeat(256), ''];
    const hostileSchemas = ['a`b', "a'b", 'a;b', 'a.b', 'a b', 'a%b', 'a-- b', 'a/*b', 'a\u0000b', 's'.repeat(65), ''];
    const hostilePrivileges = ['select', 'SELECT; DROP DATABASE x', 'FILE', 'SUPER', 'GRANT OPTION', 'ALL', 'PROCESS', 'SELECT ON *.* TO x'];

    it('When any identifier or privilege is hostile, then every operation throws InvalidIdentifier and sends nothing', async () => {
      const quiet = new StaticCredentialSource(admin.credentials);
      const m = otherManager(quiet);
      const accountsBefore = await totalAccounts();
      const calls: [string, () => Promise<unknown>][] = [];
      for (const a of hostileAccounts) {
        calls.push([`account ${JSON.stringify(a)}`, () => m.ensureAccount(target(), a, newPassword())]);
        calls.push([`account ${JSON.stringify(a)}`, () => m.setPrivileges(target(), a, READ)]);
        calls.push([`account ${JSON.stringify(a)}`, () => m.revokeAllPrivileges(target(), a)]);
        calls.push([`account ${JSON.stringify(a)}`, () => m.killSessions(target(), a)]);
        calls.push([`account ${JSON.stringify(a)}`, () => m.endAccess(target(), a)]);
      }
      for (const h of hostileHosts) {
        calls.push([`host ${JSON.stringify(h)}`, () => m.ensureAccount(target({ hostPattern: h }), newAccount(), newPassword())]);
        calls.push([`host ${JSON.stringify(h)}`, () => m.endAccess(target({ hostPattern: h }), newAccount())]);
      }
      for (const s of hostileSchemas) {
        calls.push([`schema ${JSON.stringify(s)}`, () => m.ensureAccount(target({ schema: s }), newAccount(), newPassword())]);
        calls.push([`schema ${JSON.stringify(s)}`, () => m.setPrivileges(target({ schema: s }), newAccount(), READ)]);
        calls.push([`schema ${JSON.stringify(s)}`, () => m.revokeAllPrivileges(target({ schema: s }), newAccount())]);
      }
      for (const p of hostilePrivileges) {
        calls.push([`privilege ${JSON.stringify(p)}`, () => m.setPrivileges(target(), newAccount(), [p])]);
        calls.push([`previous ${JSON.stringify(p)}`, () => m.setPrivileges(target(), newAccount(), READ, [p])]);
      }
      for (const n of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        calls.push([`maxUserConnections ${n}`, () => m.ensureAccount(target({ maxUserConnections: n }), newAccount(), newPassword())]);
      }
      for (const pw of ["it's-a-password", 'back\\slash-password', 'with space password', 'short']) {
        calls.push(['a password with quotes, backslashes or spaces', () => m.ensureAccount(target(), newAccount(), pw)]);
      }
      for (const [what, call] of calls) {
        const err = await expectFailure(call(), ActivityErrorType.InvalidIdentifier).catch((e: Error) => {
          throw new Error(`${what}: ${e.message}`);
        });
        assert.ok(err.message.length < 300, what);
      }
      assert.deepEqual(quiet.calls, [], 'no credentials were read, so nothing was sent');
      assert.equal(await totalAccounts(), accountsBefore);
    });

    it('When the account named is the admin itself, then it is refused and the admin keeps working', async () => {
      await expectFailure(manager.endAccess(target(), admin.account), ActivityErrorType.InvalidIdentifier);
      await expectFailure(manager.killSessions(target(), admin.account), ActivityErrorType.InvalidIdentifier);
      assert.equal(await accountExists(admin.account, '%'), true);
      await grantee(READ);
    });
  });

  describe('admin credentials and privileges', () => {
    it('When the admin password was rotated and the cached secret is stale, then the refused login re-reads the secret and succeeds', async () => {
      const rotating = await createAdmin([schema]);
      passwords.push(rotating.password);
      const fresh = newPassword();
      await setPassword(rotating.account, '%', fresh);
      const creds = new StaticCredentialSource({ ...rotating.credentials, password: fresh }, rotating.credentials);
      const m = otherManager(creds);
      const account = newAccount();
      await m.ensureAccount(target(), account, newPassword());
      assert.deepEqual(
        creds.calls.map((c) => c.refresh),
        [false, true],
      );
      assert.ok(logs.some((l) => l.level === 'warn' && /re-reading/.test(l.msg)));
    });

    it('When the password rotates while the pool is open, then new connections pick it up through a refresh', async () => {
      const rotating = await createAdmin([schema]);
      passwords.push(rotating.password);
      const creds = new StaticCredentialSource(rotating.credentials);
      const m = otherManager(creds);
      const { account } = await grantee(READ);
      assert.equal(await m.killSessions(target(), account), 0);
      const fresh = newPassword();
      await setPassword(rotating.account, '%', fresh);
      creds.rotate({ ...rotating.credentials, password: fresh });
      // The pool's open connection ends (e.g. a server restart): the next one must log in again.
      for (const id of await sessionsOf(rotating.account)) await rootPool().query(`KILL CONNECTION ${id}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const ended = await m.endAccess(target(), account);
      assert.deepEqual([ended.existed, ended.sessionsKilled, ended.dropped], [true, 0, true]);
      assert.deepEqual(
        creds.calls.map((c) => c.refresh),
        [false, true],
      );
    });

    it('When the server still refuses the admin after a refresh, then AdminAccessDenied without the password', async () => {
      const wrong = newPassword();
      const creds = new StaticCredentialSource({ ...admin.credentials, password: wrong });
      const m = otherManager(creds);
      const password = newPassword();
      const err = await expectFailure(m.ensureAccount(target(), newAccount(), password), ActivityErrorType.AdminAccessDenied);
      assert.deepEqual(
        creds.calls.map((c) => c.refresh),
        [false, true],
      );
      assertNoSecret(everything(err), wrong, password, admin.password);
    });

    it('When the server cannot be reached, then DatabaseUnavailable', async () => {
      const m = otherManager(new StaticCredentialSource({ ...admin.credentials, port: 1 }));
      const err = await expectFailure(m.killSessions(target(), newAccount()), ActivityErrorType.DatabaseUnavailable);
      assert.deepEqual(err.details, [{ code: 'ECONNREFUSED', errno: -111 }]);
      assertNoSecret(everything(err), admin.password);
    });

    it('When the admin lacks CREATE USER, then AdminPrivilegeMissing names it and the error holds no password', async () => {
      const weak = await createAdmin([schema], { grants: [] });
      passwords.push(weak.password);
      await rootPool().query(`GRANT ALL PRIVILEGES ON \`${schema.replace(/_/g, '\\_')}\`.* TO ?@? WITH GRANT OPTION`, [weak.account, '%']);
      const m = otherManager(new StaticCredentialSource(weak.credentials));
      const account = newAccount();
      const password = newPassword();
      const err = await expectFailure(m.ensureAccount(target(), account, password), ActivityErrorType.AdminPrivilegeMissing);
      assert.match(err.message, /CREATE USER ON \*\.\*/);
      assert.deepEqual(err.details, [{ code: 'ER_SPECIFIC_ACCESS_DENIED_ERROR', errno: 1227 }]);
      assertNoSecret(everything(err), password, weak.password);
      assert.equal(await accountExists(account, '%'), false);
    });

    it('When the admin lacks PROCESS, then killSessions fails with AdminPrivilegeMissing instead of reporting none; after GRANT PROCESS the same manager kills them', async () => {
      const weak = await withoutProcess();
      const m = otherManager(new StaticCredentialSource(weak.credentials));
      const { account, password } = await grantee(READ);
      const conn = await connectAs(account, password, schema);
      try {
        const err = await expectFailure(m.killSessions(target(), account), ActivityErrorType.AdminPrivilegeMissing);
        assert.match(err.message, /PROCESS/);
        assert.equal((await sessionsOf(account)).length, 1, 'nothing was killed');
        await grantGlobal(['PROCESS'], weak);
        assert.equal(await m.killSessions(target(), account), 1);
        assert.equal(await queryFails(conn), true);
      } finally {
        conn.destroy();
      }
    });

    it('When the admin lacks PROCESS, then endAccess locks the account and takes its privileges, fails naming PROCESS and does not drop it; a retry after GRANT PROCESS ends the session and drops it', async () => {
      const weak = await withoutProcess();
      const m = otherManager(new StaticCredentialSource(weak.credentials));
      const { account, password } = await grantee(READ);
      const conn = await connectAs(account, password, schema);
      try {
        const err = await expectFailure(m.endAccess(target(), account), ActivityErrorType.AdminPrivilegeMissing);
        assert.match(err.message, /PROCESS/);
        // Contained as far as it could be: no login, nothing on the schema; not dropped before its sessions end.
        assert.equal(await canLogin(account, password), false);
        assert.deepEqual(await schemaGrants(account, '%', schema), []);
        assert.equal(await accountExists(account, '%'), true);
        // The session itself, by id: the refused login's thread may linger for a moment beside it.
        assert.ok((await sessionsOf(account)).includes(conn.threadId), 'the open session is still there');
        await grantGlobal(['PROCESS'], weak);
        const done = await m.endAccess(target(), account);
        assert.deepEqual([done.existed, done.sessionsKilled, done.dropped], [true, 1, true]);
        assert.equal(await queryFails(conn), true);
        assert.equal(await accountExists(account, '%'), false);
      } finally {
        conn.destroy();
      }
    });

    it('When the admin lacks CONNECTION ADMIN, then killSessions fails with AdminPrivilegeMissing naming it', async () => {
      const weak = await createAdmin([schema], { grants: [] });
      await rootPool().query('GRANT PROCESS ON *.* TO ?@?', [weak.account, '%']);
      await rootPool().query('GRANT SELECT ON mysql.* TO ?@?', [weak.account, '%']);
      const m = otherManager(new StaticCredentialSource(weak.credentials));
      const { account, password } = await grantee(READ);
      const conn = await connectAs(account, password, schema);
      try {
        const err = await expectFailure(m.killSessions(target(), account), ActivityErrorType.AdminPrivilegeMissing);
        assert.match(err.message, /CONNECTION ADMIN ON \*\.\*/);
      } finally {
        conn.destroy();
      }
    });
  });

  describe('checkTarget and accountExists', () => {
    it('When the target is sound, then checkTarget returns the endpoint and changes nothing', async () => {
      const before = await totalAccounts();
      assert.deepEqual(await manager.checkTarget(target()), { host: MARIADB_HOST, port: MARIADB_PORT, engine: 'mariadb' });
      assert.equal(await totalAccounts(), before);
    });

    it('When the schema does not exist (or differs in case), then checkTarget fails with UnknownDatabase', async () => {
      const err = await expectFailure(manager.checkTarget(target({ schema: `${RUN_PREFIX}_nothere` })), ActivityErrorType.UnknownDatabase);
      assert.match(err.message, /does not exist/);
      await expectFailure(manager.checkTarget(target({ schema: schema.toUpperCase() })), ActivityErrorType.UnknownDatabase);
    });

    it('When the admin lacks PROCESS, then checkTarget names it; after GRANT PROCESS the same manager passes', async () => {
      const weak = await withoutProcess();
      const m = otherManager(new StaticCredentialSource(weak.credentials));
      const err = await expectFailure(m.checkTarget(target()), ActivityErrorType.AdminPrivilegeMissing);
      assert.match(err.message, /lacks PROCESS ON \*\.\*/);
      await grantGlobal(['PROCESS'], weak);
      assert.equal((await m.checkTarget(target())).engine, 'mariadb');
    });

    it('When the admin lacks CREATE USER and CONNECTION ADMIN, or cannot read mysql.*, then checkTarget says what is missing', async () => {
      const noGlobal = await createAdmin([schema]);
      await grantGlobal(['CREATE USER', 'CONNECTION ADMIN'], noGlobal, true);
      const err = await expectFailure(otherManager(new StaticCredentialSource(noGlobal.credentials)).checkTarget(target()), ActivityErrorType.AdminPrivilegeMissing);
      assert.match(err.message, /lacks CREATE USER, CONNECTION ADMIN ON \*\.\*/);
      const grants = adminGrantStatements('mariadb', 'placeholder', '%', [schema]).filter((g) => !g.includes('ON mysql.*'));
      const noMysql = await createAdmin([schema], { grants: [] });
      for (const g of grants) await rootPool().query(g.replace("'placeholder'@'%'", '?@?'), [noMysql.account, '%']);
      const err2 = await expectFailure(otherManager(new StaticCredentialSource(noMysql.credentials)).checkTarget(target()), ActivityErrorType.AdminPrivilegeMissing);
      assert.match(err2.message, /SELECT ON mysql\.\*/);
    });

    it("When an account's grants are read for the reconciler, then ALL PRIVILEGES means what this server's mysql.db columns say (DELETE HISTORY on MariaDB)", async () => {
      const { account } = await grantee(ADMIN);
      const found = await manager.accountGrants(target(), account);
      const [columns] = await rootPool().query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'db' AND COLUMN_NAME LIKE '%\\_priv' AND COLUMN_NAME <> 'Grant_priv'");
      assert.equal(found.databasePrivileges.length, Number(columns[0]!.n));
      assert.ok(found.databasePrivileges.includes('DELETE HISTORY'));
      assert.deepEqual(found.grants.map((g) => [...g.privileges].sort()), [[...found.databasePrivileges].sort()], 'ALL PRIVILEGES holds each of them');
      assert.deepEqual(await manager.schemaPrivileges(target(), account), ['ALL PRIVILEGES']);
    });

    it('When accounts are looked up, then accountExists is true only for an existing name with the target host pattern', async () => {
      const { account } = await grantee();
      assert.equal(await manager.accountExists(target(), account), true);
      assert.equal(await manager.accountExists(target({ hostPattern: '10.0.%' }), account), false);
      assert.equal(await manager.accountExists(target(), newAccount()), false);
      await manager.endAccess(target(), account);
      assert.equal(await manager.accountExists(target(), account), false);
      await expectFailure(manager.accountExists(target(), "x' OR '1'='1"), ActivityErrorType.InvalidIdentifier);
    });
  });

  describe('no statement outlives its call', () => {
    /** Waits until the admin has a statement waiting on the server whose text matches. */
    async function waiting(pattern: RegExp): Promise<void> {
      await until('the statement to wait on the lock', async () => (await processesOf(admin.account)).some((p) => pattern.test(p.info)), 3000);
    }

    async function noneRunning(pattern: RegExp): Promise<boolean> {
      return !(await processesOf(admin.account)).some((p) => pattern.test(p.info));
    }

    it('When a GRANT waits on a table lock held by another session, then it fails at max_statement_time and never lands later', async () => {
      const m = otherManager(new StaticCredentialSource(admin.credentials), { statementTimeoutSeconds: 0.5, lockWaitTimeoutSeconds: 30 });
      const { account } = await grantee();
      await m.checkTarget(target()); // a configured connection, so that only the GRANT is timed
      const lock = await holdLock('LOCK TABLES mysql.db READ', 'UNLOCK TABLES');
      try {
        const started = Date.now();
        const err = await expectFailure(m.setPrivileges(target(), account, READ, []), ActivityErrorType.DatabaseUnavailable);
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 400 && elapsed < 2000, `failed after ${elapsed} ms`);
        assert.deepEqual(err.details, [{ errno: 1969 }]); // mysql2 has no name for MariaDB's ER_STATEMENT_TIMEOUT
        assert.match(err.message, /gave up waiting while trying to grant SELECT/);
      } finally {
        await lock.release();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(await schemaGrants(account, '%', schema), []);
    });

    it("When CREATE USER waits on a backup lock (BACKUP STAGE BLOCK_COMMIT, MariaDB's LOCK INSTANCE FOR BACKUP), then it fails at lock_wait_timeout and nothing changes after the call returned", async () => {
      const m = otherManager(new StaticCredentialSource(admin.credentials), { lockWaitTimeoutSeconds: 1, statementTimeoutSeconds: 30 });
      const { account } = await grantee();
      await m.checkTarget(target());
      const fresh = newAccount();
      let state: { fresh: boolean; grants: string[] };
      const lock = await holdLock(['BACKUP STAGE START', 'BACKUP STAGE BLOCK_COMMIT'], 'BACKUP STAGE END');
      try {
        const started = Date.now();
        const err = await expectFailure(m.ensureAccount(target(), fresh, newPassword()), ActivityErrorType.DatabaseUnavailable);
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 900 && elapsed < 2500, `failed after ${elapsed} ms`);
        assert.deepEqual(err.details, [{ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }]);
        // MariaDB applies an account change before it waits for the commit lock, so a
        // statement that failed here may already have taken effect (a retry or the
        // compensation handles that); what may never happen is a change after the call returned.
        state = { fresh: await accountExists(fresh, '%'), grants: await schemaGrants(account, '%', schema) };
      } finally {
        await lock.release();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual({ fresh: await accountExists(fresh, '%'), grants: await schemaGrants(account, '%', schema) }, state);
    });

    it('When the server does not answer within the client-side timeout, then DatabaseUnavailable, and the statement was killed on the server before the call returned', async () => {
      const m = otherManager(new StaticCredentialSource(admin.credentials), { queryTimeoutMs: 300, statementTimeoutSeconds: 30, lockWaitTimeoutSeconds: 30 });
      const { account } = await grantee();
      await m.checkTarget(target());
      const lock = await holdLock('LOCK TABLES mysql.db READ', 'UNLOCK TABLES');
      try {
        const started = Date.now();
        const err = await expectFailure(m.setPrivileges(target(), account, READ, []), ActivityErrorType.DatabaseUnavailable);
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 300 && elapsed < 2000, `failed after ${elapsed} ms`);
        assert.deepEqual(err.details, [{ code: 'QUERY_TIMEOUT' }]);
        assert.match(err.message, /within 300 ms while trying to grant SELECT on the schema; the statement was killed on the server/);
        assert.equal(await noneRunning(/^GRANT/), true, 'the GRANT still waits on the server');
      } finally {
        await lock.release();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(await schemaGrants(account, '%', schema), []);
      // The manager carries on with a new connection.
      await m.setPrivileges(target(), account, READ);
      assert.equal((await schemaGrants(account, '%', schema)).length, 1);
    });

    it('When no pool connection comes within acquireTimeoutMs, then DatabaseUnavailable; the connection that arrives late goes back to the pool', async () => {
      const proxy = await startProxy();
      proxy.pause();
      const creds = new StaticCredentialSource({ ...admin.credentials, host: proxy.host, port: proxy.port });
      const m = otherManager(creds, { acquireTimeoutMs: 300, connectTimeoutMs: 5000, poolSize: 1 });
      const { account } = await grantee();
      try {
        const started = Date.now();
        const err = await expectFailure(m.accountExists(target(), account), ActivityErrorType.DatabaseUnavailable);
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 300 && elapsed < 1500, `failed after ${elapsed} ms`);
        assert.deepEqual(err.details, [{ code: 'ACQUIRE_TIMEOUT' }]);
        proxy.resume();
        // With a pool of one, this only works if the late connection was given back.
        assert.equal(await m.accountExists(target(), account), true);
        assert.equal(await m.accountExists(target(), account), true);
      } finally {
        await proxy.close();
      }
    });

    it('When the signal is already aborted, then nothing is read or sent', async () => {
      const creds = new StaticCredentialSource(admin.credentials);
      const m = otherManager(creds);
      const account = newAccount();
      const err = await expectFailure(m.ensureAccount(target(), account, newPassword(), { signal: AbortSignal.abort() }), ActivityErrorType.DatabaseUnavailable);
      assert.deepEqual(err.details, [{ code: 'CANCELLED' }]);
      assert.match(err.message, /cancelled before trying to connect/);
      assert.deepEqual(creds.calls, []);
      assert.equal(await accountExists(account, '%'), false);
    });

    it('When the signal aborts between two statements, then the next one is not sent', async () => {
      // A fresh manager logs "connected" after SELECT VERSION() and before the session settings:
      // aborting there must stop the call before its next statement.
      const controller = new AbortController();
      const aborting = {
        info: (obj: object, msg: string) => {
          logs.push({ level: 'info', obj, msg });
          if (msg === 'connected to database server') controller.abort();
        },
        warn: logger.warn,
      };
      const m = createMysqlAccountManager({ credentials: new StaticCredentialSource(admin.credentials), logger: aborting, poolSize: 1 });
      extraManagers.push(m);
      const account = newAccount();
      const err = await expectFailure(m.ensureAccount(target(), account, newPassword(), { signal: controller.signal }), ActivityErrorType.DatabaseUnavailable);
      assert.deepEqual(err.details, [{ code: 'CANCELLED' }]);
      assert.match(err.message, /cancelled before trying to set the session limits and sql_mode/);
      assert.equal(await accountExists(account, '%'), false);
      // Without a signal the same manager works.
      await m.ensureAccount(target(), account, newPassword());
      assert.equal(await accountExists(account, '%'), true);
    });

    it('When the signal aborts while a statement waits on a lock, then the statement is killed on the server, the rest is not sent, and nothing lands later', async () => {
      const m = otherManager(new StaticCredentialSource(admin.credentials), { statementTimeoutSeconds: 30, lockWaitTimeoutSeconds: 30 });
      const { account } = await grantee(READ);
      await m.checkTarget(target());
      const controller = new AbortController();
      const lock = await holdLock('LOCK TABLES mysql.db READ', 'UNLOCK TABLES');
      try {
        // Without previous: REVOKE ALL (waits on the lock), then GRANT ALL PRIVILEGES.
        const call = m.setPrivileges(target(), account, ADMIN, undefined, { signal: controller.signal });
        await waiting(/^REVOKE ALL PRIVILEGES/);
        const started = Date.now();
        controller.abort();
        const err = await expectFailure(call, ActivityErrorType.DatabaseUnavailable);
        assert.ok(Date.now() - started < 1500);
        assert.deepEqual(err.details, [{ code: 'CANCELLED' }]);
        assert.match(err.message, /cancelled while trying to revoke all privileges on the schema; the statement was killed on the server/);
        assert.equal(await noneRunning(/^(REVOKE|GRANT)/), true);
      } finally {
        await lock.release();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(await schemaGrants(account, '%', schema), [`GRANT SELECT ON \`${schema.replace(/_/g, '\\_')}\`.* TO \`${account}\`@\`%\``]);
    });

    it('When the call takes longer than operationTimeoutMs, then it stops like a cancellation (OPERATION_TIMEOUT)', async () => {
      const m = otherManager(new StaticCredentialSource(admin.credentials), { operationTimeoutMs: 300, statementTimeoutSeconds: 30, lockWaitTimeoutSeconds: 30 });
      const { account } = await grantee();
      await m.checkTarget(target());
      const lock = await holdLock('LOCK TABLES mysql.db READ', 'UNLOCK TABLES');
      try {
        const err = await expectFailure(m.setPrivileges(target(), account, READ, []), ActivityErrorType.DatabaseUnavailable);
        assert.deepEqual(err.details, [{ code: 'OPERATION_TIMEOUT' }]);
        assert.match(err.message, /stopped after 300 ms .*the statement was killed on the server/);
      } finally {
        await lock.release();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(await schemaGrants(account, '%', schema), []);
    });
  });

  describe('a late GRANT never creates an account', () => {
    it('When the server default lets GRANT create accounts, then a plain session does, but the manager\'s GRANT to a dropped account fails and creates nothing', async () => {
      // The hazard, shown with the same least-privileged admin: without NO_AUTO_CREATE_USER,
      // a GRANT to a missing account creates it, without a password.
      const raw = await connectAs(admin.account, admin.password);
      const victim = newAccount();
      try {
        await raw.query("SET SESSION sql_mode = ''");
        await raw.query(`GRANT SELECT ON \`${schema.replace(/_/g, '\\_')}\`.* TO ?@?`, [victim, '%']);
        assert.equal(await accountExists(victim, '%'), true);
        assert.equal(await canLogin(victim, '', schema), true, 'a passwordless account was created');
        await rootPool().query('DROP USER ?@?', [victim, '%']);
        // The manager's session settings, applied to that same lax session, close it.
        const settings = sessionSettingsStatement('mariadb', { lockWaitTimeoutSeconds: 10, statementTimeoutSeconds: 15 });
        await raw.query(settings.sql, [...settings.values]);
        await assert.rejects(raw.query(`GRANT SELECT ON \`${schema.replace(/_/g, '\\_')}\`.* TO ?@?`, [victim, '%']), { errno: 1133 });
        assert.equal(await accountExists(victim, '%'), false);
      } finally {
        raw.destroy();
      }

      // Through the manager, on a connection opened while the server default was lax.
      const { account } = await grantee(READ);
      await manager.endAccess(target(), account);
      const m = otherManager(new StaticCredentialSource(admin.credentials), { poolSize: 1 });
      await withGlobalSqlMode('', async () => {
        assert.equal(await m.accountExists(target(), account), false);
      });
      const err = await expectFailure(m.setPrivileges(target(), account, READ, []), ActivityErrorType.AdminPrivilegeMissing);
      assert.match(err.message, /the account does not exist/);
      assert.equal(await accountExists(account, '%'), false);
    });
  });

  describe('recovery without a restart', () => {
    it("When the admin secret's password, host and port all change (migration), then the next call re-reads it and works on the new address", async () => {
      const moving = await createAdmin([schema]);
      passwords.push(moving.password);
      const proxy = await startProxy({ host: '127.0.0.2' });
      const old: AdminCredentials = { ...moving.credentials, host: proxy.host, port: proxy.port };
      const creds = new StaticCredentialSource(old);
      const m = otherManager(creds);
      assert.deepEqual(await m.checkTarget(target()), { host: '127.0.0.2', port: proxy.port, engine: 'mariadb' });
      const { account } = await grantee(READ);

      const fresh = newPassword();
      await setPassword(moving.account, '%', fresh);
      creds.rotate({ ...moving.credentials, password: fresh });
      await proxy.close(); // the old address is gone, with the pool's open connection
      // Once the pool has noticed, a new connection is refused (ECONNREFUSED) before any statement.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const ended = await m.endAccess(target(), account);
      assert.deepEqual([ended.existed, ended.sessionsKilled, ended.dropped], [true, 0, true]);
      assert.deepEqual(await m.checkTarget(target()), { host: MARIADB_HOST, port: MARIADB_PORT, engine: 'mariadb' });
      assert.deepEqual(
        creds.calls.map((c) => c.refresh),
        [false, true],
      );
    });

    it('When the pooled connection dies between calls (failover), then the call re-reads the secret and runs once more on the new address', async () => {
      const moving = await createAdmin([schema]);
      passwords.push(moving.password);
      const proxy = await startProxy({ host: '127.0.0.2' });
      const creds = new StaticCredentialSource({ ...moving.credentials, host: proxy.host, port: proxy.port });
      const m = otherManager(creds, { poolSize: 1 });
      const { account } = await grantee(READ);
      assert.equal(await m.accountExists(target(), account), true);
      creds.rotate(moving.credentials);
      await proxy.close();
      // No wait: the pool may still hold the dead connection, and the first statement fails on it.
      assert.equal(await m.accountExists(target(), account), true);
      assert.deepEqual(
        creds.calls.map((c) => c.refresh),
        [false, true],
      );
    });

    it('When the server is unreachable and the secret has not changed, then DatabaseUnavailable after one re-read, and the pool is kept', async () => {
      const proxy = await startProxy();
      const creds = new StaticCredentialSource({ ...admin.credentials, host: proxy.host, port: proxy.port });
      const m = otherManager(creds);
      assert.equal(await m.accountExists(target(), newAccount()), false);
      await proxy.close();
      await expectFailure(m.accountExists(target(), newAccount()), ActivityErrorType.DatabaseUnavailable);
      assert.deepEqual(
        creds.calls.map((c) => c.refresh),
        [false, true],
      );
    });
  });

  describe('no secrets in errors or logs', () => {
    it('When the server refuses a value after the password is known (connection limit out of range), then the error holds no password and no SQL', async () => {
      const account = newAccount();
      const password = newPassword();
      const err = await expectFailure(
        manager.ensureAccount(target({ maxUserConnections: 2 ** 31 }), account, password),
        ActivityErrorType.InvalidIdentifier,
      );
      assert.match(err.message, /refused a value while trying to create the account/);
      assert.deepEqual(err.details, [{ code: 'ER_PARSE_ERROR', errno: 1064 }]);
      const text = everything(err);
      assertNoSecret(text, password, admin.password);
      assert.ok(!/IDENTIFIED BY|CREATE USER IF/.test(text), text);
    });

    it('When the manager is closed, then calls fail with DatabaseUnavailable and no password', async () => {
      const m = createMysqlAccountManager({ credentials: new StaticCredentialSource(admin.credentials), logger });
      const { account } = await grantee(READ);
      assert.equal(await m.killSessions(target(), account), 0);
      await m.close();
      const password = newPassword();
      const err = await expectFailure(m.ensureAccount(target(), account, password), ActivityErrorType.DatabaseUnavailable);
      assertNoSecret(everything(err), password, admin.password);
    });

    it('When the admin connection dies mid-operation, then DatabaseUnavailable without the password or SQL', async () => {
      const m = otherManager(new StaticCredentialSource(admin.credentials));
      const { account } = await grantee(READ);
      await m.killSessions(target(), account);
      for (const id of await sessionsOf(admin.account)) await rootPool().query(`KILL CONNECTION ${id}`);
      const password = newPassword();
      // The pooled connection may or may not have noticed yet; either way no secret may surface.
      try {
        await m.ensureAccount(target(), account, password);
        assert.equal(await canLogin(account, password), true);
      } catch (err) {
        assert.ok(err instanceof ApplicationFailure && err.type === ActivityErrorType.DatabaseUnavailable, String(err));
        assertNoSecret(everything(err), password, admin.password);
      }
    });

    it('When the file has run, then no log line contains any password this file generated', () => {
      assert.ok(logs.length > 10);
      const text = JSON.stringify(logs);
      assertNoSecret(text, ...passwords);
      assert.ok(!/IDENTIFIED BY/i.test(text));
    });
  });
});
