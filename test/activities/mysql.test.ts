import { strict as assert } from 'node:assert';

import { ApplicationFailure } from '@temporalio/common';

import type { GrantTarget } from '../../src/domain';
import { ActivityErrorType } from '../../src/activities/errors';
import { adminGrantStatements, createMysqlAccountManager } from '../../src/activities/mysql';
import type { AccountManager } from '../../src/activities/ports';
import {
  accountExists,
  canLogin,
  connectAs,
  createAdmin,
  createSchema,
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
} from '../support/mariadb';
import { expectFailure } from '../support/failures';

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
  let manager: AccountManager;
  const logs: LogLine[] = [];
  const logger = {
    info: (obj: object, msg: string) => logs.push({ level: 'info', obj, msg }),
    warn: (obj: object, msg: string) => logs.push({ level: 'warn', obj, msg }),
  };
  const extraManagers: AccountManager[] = [];

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

  function otherManager(credentials: StaticCredentialSource): AccountManager {
    const m = createMysqlAccountManager({ credentials, logger, connectTimeoutMs: 3000, poolSize: 2 });
    extraManagers.push(m);
    return m;
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
    assert.match(lines[0]!, /^GRANT PROCESS, CREATE USER, CONNECTION ADMIN ON \*\.\* TO /);
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

  describe('dropAccount', () => {
    it('When the account is dropped, then login fails and a connection opened before is dead', async () => {
      const { account, password } = await grantee(READ_WRITE);
      const before = await connectAs(account, password, schema);
      const result = await manager.dropAccount(target(), account);
      assert.deepEqual(result, { existed: true, sessionsKilled: 1 });
      assert.equal(await queryFails(before), true);
      assert.equal(await canLogin(account, password), false);
      assert.equal(await accountExists(account, '%'), false);
      assert.deepEqual(await sessionsOf(account), []);
    });

    it('When dropAccount runs twice, then the second call is fine and reports existed=false', async () => {
      const { account } = await grantee(READ);
      assert.equal((await manager.dropAccount(target(), account)).existed, true);
      assert.deepEqual(await manager.dropAccount(target(), account), { existed: false, sessionsKilled: 0 });
    });

    it('When an earlier drop stopped after the lock, then dropAccount finishes the job', async () => {
      const { account, password } = await grantee(READ);
      await rootPool().query('ALTER USER ?@? ACCOUNT LOCK', [account, '%']);
      assert.equal(await canLogin(account, password), false);
      assert.deepEqual(await manager.dropAccount(target(), account), { existed: true, sessionsKilled: 0 });
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
        calls.push([`account ${JSON.stringify(a)}`, () => m.dropAccount(target(), a)]);
      }
      for (const h of hostileHosts) {
        calls.push([`host ${JSON.stringify(h)}`, () => m.ensureAccount(target({ hostPattern: h }), newAccount(), newPassword())]);
        calls.push([`host ${JSON.stringify(h)}`, () => m.dropAccount(target({ hostPattern: h }), newAccount())]);
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
      await expectFailure(manager.dropAccount(target(), admin.account), ActivityErrorType.InvalidIdentifier);
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
      assert.deepEqual(await m.dropAccount(target(), account), { existed: true, sessionsKilled: 0 });
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

    it('When the admin lacks PROCESS, then killSessions fails with AdminPrivilegeMissing instead of reporting none', async () => {
      const weak = await createAdmin([schema], { grants: [] });
      await rootPool().query('GRANT CREATE USER, CONNECTION ADMIN ON *.* TO ?@?', [weak.account, '%']);
      const m = otherManager(new StaticCredentialSource(weak.credentials));
      const { account, password } = await grantee(READ);
      const conn = await connectAs(account, password, schema);
      try {
        const err = await expectFailure(m.killSessions(target(), account), ActivityErrorType.AdminPrivilegeMissing);
        assert.match(err.message, /PROCESS/);
        await expectFailure(m.dropAccount(target(), account), ActivityErrorType.AdminPrivilegeMissing);
      } finally {
        await conn.end();
      }
    });

    it('When the admin lacks CONNECTION ADMIN, then killSessions fails with AdminPrivilegeMissing naming it', async () => {
      const weak = await createAdmin([schema], { grants: [] });
      await rootPool().query('GRANT PROCESS ON *.* TO ?@?', [weak.account, '%']);
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
