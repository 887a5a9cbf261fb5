import { strict as assert } from 'node:assert';

import { createPostgresAccountManager, pgLevels, scramVerifier, type PostgresAccountManager } from '../../../../src/adapters/engines/postgresql';
import { ActivityErrorType } from '../../../../src/adapters/errors';
import { expectFailure } from '../../../support/failures';
import { createFixture, randomName, randomPassword, RUN_PREFIX, sqlstateOf, StaticCredentialSource, type Fixture } from './pg';

// The PostgreSQL account manager against the machine's PostgreSQL 15, through
// an admin that is no superuser (CREATEROLE, pg_signal_backend, member of the
// owner role), so every passing test also proves that is enough.

const READ = [...pgLevels.READ!];
const READ_WRITE = [...pgLevels.READ_WRITE!];
const ADMIN = [...pgLevels.ADMIN!];

describe('PostgreSQL account manager', function () {
  this.timeout(30_000);
  let fx: Fixture;
  let manager: PostgresAccountManager;
  let source: StaticCredentialSource;
  const logs: string[] = [];
  const passwords: string[] = [];
  const account = (tag: string) => `${RUN_PREFIX}_${tag}${randomName(3)}`;
  const password = () => {
    const p = randomPassword();
    passwords.push(p);
    return p;
  };

  before(async () => {
    fx = await createFixture('m');
    await fx.query(`CREATE TABLE app.t1 (id serial PRIMARY KEY, v text)`);
    await fx.query(`ALTER TABLE app.t1 OWNER TO "${fx.owner}"`);
    await fx.query(`ALTER SEQUENCE app.t1_id_seq OWNER TO "${fx.owner}"`);
    source = new StaticCredentialSource(fx.credentials);
    const logger = { info: (o: object, m: string) => logs.push(JSON.stringify(o) + m), warn: (o: object, m: string) => logs.push(JSON.stringify(o) + m) };
    manager = createPostgresAccountManager({ credentials: source, logger });
  });

  after(async () => {
    await manager?.close();
    for (const p of passwords) for (const line of logs) assert.ok(!line.includes(p), 'a password reached a log line');
  });

  async function role(name: string) {
    return (await fx.query<{ rolcanlogin: boolean; rolconnlimit: number; rolvaliduntil: Date | null; rolpassword: string; comment: string }>(
      "SELECT rolcanlogin, rolconnlimit, rolvaliduntil, rolpassword, shobj_description(oid, 'pg_authid') AS comment FROM pg_authid WHERE rolname = $1",
      [name],
    ))[0];
  }

  function passwordMatches(stored: string, pw: string): boolean {
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored)!;
    return scramVerifier(pw, Buffer.from(salt!, 'base64'), Number(iterations)) === stored;
  }

  it('checkTarget accepts a CREATEROLE admin and returns the endpoint, with the database a session opens', async () => {
    assert.deepEqual(await manager.checkTarget(fx.target()), { host: '127.0.0.1', port: 5432, engine: 'postgresql', database: fx.database });
  });

  it('checkTarget refuses a missing schema, a superuser admin and an admin without CREATEROLE', async () => {
    await expectFailure(manager.checkTarget(fx.target({ schema: 'nope' })), ActivityErrorType.UnknownDatabase);
    const su = createPostgresAccountManager({ credentials: new StaticCredentialSource({ ...fx.credentials, username: 'postgres' }) });
    const weak = `${RUN_PREFIX}_weak`;
    await fx.query(`CREATE ROLE "${weak}" LOGIN`);
    const plain = createPostgresAccountManager({ credentials: new StaticCredentialSource({ ...fx.credentials, username: weak }) });
    try {
      const err = await expectFailure(su.checkTarget(fx.target()), ActivityErrorType.AdminPrivilegeMissing);
      assert.match(err.message, /superuser/);
      const err2 = await expectFailure(plain.checkTarget(fx.target()), ActivityErrorType.AdminPrivilegeMissing);
      assert.match(err2.message, /CREATEROLE and membership in pg_signal_backend and membership in the owner \S+ of schema \S+/);
    } finally {
      await su.close();
      await plain.close();
    }
  });

  it('ensureAccount creates a tagged LOGIN role with limit and expiry; a second call moves both and the password', async () => {
    const name = account('e');
    const first = password();
    await manager.ensureAccount(fx.target(), name, first, { validUntil: '2031-01-01T00:00:00Z', grantId: 'g-1' });
    let r = (await role(name))!;
    assert.equal(r.rolcanlogin, true);
    assert.equal(r.rolconnlimit, 5);
    assert.equal(r.rolvaliduntil?.toISOString(), '2031-01-01T00:00:00.000Z');
    assert.equal(r.comment, 'dbaccess grant g-1');
    assert.ok(passwordMatches(r.rolpassword, first));
    const second = password();
    await manager.ensureAccount(fx.target({ maxUserConnections: 0 }), name, second, { validUntil: '2031-02-01T00:00:00Z', grantId: 'g-1' });
    r = (await role(name))!;
    assert.equal(r.rolconnlimit, -1);
    assert.equal(r.rolvaliduntil?.toISOString(), '2031-02-01T00:00:00.000Z');
    assert.ok(passwordMatches(r.rolpassword, second) && !passwordMatches(r.rolpassword, first));
    assert.equal(await manager.setAccountExpiry(fx.target(), name, '2031-03-01T12:00:00Z'), true);
    assert.equal((await role(name))!.rolvaliduntil?.toISOString(), '2031-03-01T12:00:00.000Z');
    assert.equal(await manager.accountExists(fx.target(), name), true);
    assert.equal(await manager.accountExists(fx.target(), account('none')), false);
  });

  it('refuses a role it did not make, and one of another grant, without touching it', async () => {
    const foreign = account('f');
    await fx.query(`CREATE ROLE "${foreign}" LOGIN CONNECTION LIMIT 9`);
    await expectFailure(manager.ensureAccount(fx.target(), foreign, password()), ActivityErrorType.AccountConflict);
    await expectFailure(manager.setPrivileges(fx.target(), foreign, READ), ActivityErrorType.AccountConflict);
    await expectFailure(manager.killSessions(fx.target(), foreign), ActivityErrorType.AccountConflict);
    await expectFailure(manager.endAccess(fx.target(), foreign), ActivityErrorType.AccountConflict);
    const r = (await role(foreign))!;
    assert.equal(r.rolcanlogin, true);
    assert.equal(r.rolconnlimit, 9);
    const other = account('o');
    await manager.ensureAccount(fx.target(), other, password(), { grantId: 'g-a' });
    await expectFailure(manager.ensureAccount(fx.target(), other, password(), { grantId: 'g-b' }), ActivityErrorType.AccountConflict);
  });

  it('adoptAccount tags a role made by hand as the grant’s, so it can then be changed and ended; refuses one of another grant and a missing one', async () => {
    const old = account('a');
    await fx.query(`CREATE ROLE "${old}" LOGIN`);
    await fx.query(`COMMENT ON ROLE "${old}" IS 'an old script'`);
    await expectFailure(manager.setPrivileges(fx.target(), old, READ), ActivityErrorType.AccountConflict);
    await manager.adoptAccount(fx.target(), old, 'g-adopt');
    assert.equal((await role(old))!.comment, 'dbaccess grant g-adopt');
    await manager.adoptAccount(fx.target(), old, 'g-adopt');
    await manager.setPrivileges(fx.target(), old, READ);
    await expectFailure(manager.adoptAccount(fx.target(), old, 'g-other'), ActivityErrorType.AccountConflict);
    assert.equal((await role(old))!.comment, 'dbaccess grant g-adopt', 'another grant’s mark is kept');
    assert.equal((await manager.endAccess(fx.target(), old)).dropped, true);
    await expectFailure(manager.adoptAccount(fx.target(), old, 'g-adopt'), ActivityErrorType.AccountConflict);
  });

  it('refuses hostile names before reading a secret or sending SQL', async () => {
    const reads = source.reads;
    for (const bad of ['x"; DROP ROLE postgres; --', "a'b", 'A', 'pg_signal_backend', 'a;b']) {
      await expectFailure(manager.ensureAccount(fx.target(), bad, password()), ActivityErrorType.InvalidIdentifier);
      await expectFailure(manager.endAccess(fx.target(), bad), ActivityErrorType.InvalidIdentifier);
    }
    for (const bad of ['a.b', 'x"y', 'pg_catalog', 'a;b', '']) {
      await expectFailure(manager.setPrivileges(fx.target({ schema: bad }), 'ok_name', READ), ActivityErrorType.InvalidIdentifier);
    }
    await expectFailure(manager.setPrivileges(fx.target(), 'ok_name', ['SELECT; DROP TABLE x']), ActivityErrorType.InvalidIdentifier);
    await expectFailure(manager.ensureAccount(fx.target(), 'ok_name', password(), { validUntil: "2030-01-01'" }), ActivityErrorType.InvalidIdentifier);
    assert.equal(source.reads, reads);
  });

  it('READ: selects existing and future tables, writes nothing', async () => {
    const name = account('r');
    await manager.ensureAccount(fx.target(), name, password());
    await manager.setPrivileges(fx.target(), name, READ);
    await fx.query(`CREATE TABLE app.later_r (x int)`);
    await fx.query(`ALTER TABLE app.later_r OWNER TO "${fx.owner}"`);
    // A table the owner creates itself, after the grant: default privileges.
    const owner = await fx.connectAs(fx.owner);
    await owner.query('CREATE TABLE app.by_owner_r (x int)');
    const c = await fx.connectAs(name);
    await c.query('SELECT * FROM app.t1');
    await c.query('SELECT * FROM app.by_owner_r');
    assert.equal(await sqlstateOf(c.query("INSERT INTO app.t1 (v) VALUES ('x')")), '42501');
    assert.equal(await sqlstateOf(c.query('CREATE TABLE app.mine (x int)')), '42501');
    assert.deepEqual(await manager.schemaPrivileges(fx.target(), name), ['SELECT']);
  });

  it('READ_WRITE: inserts through a serial (nextval), updates, deletes; creates nothing', async () => {
    const name = account('w');
    await manager.ensureAccount(fx.target(), name, password());
    await manager.setPrivileges(fx.target(), name, READ_WRITE);
    const owner = await fx.connectAs(fx.owner);
    await owner.query('CREATE TABLE app.by_owner_w (id bigserial, v text)');
    const c = await fx.connectAs(name);
    await c.query("INSERT INTO app.t1 (v) VALUES ('w')");
    await c.query("INSERT INTO app.by_owner_w (v) VALUES ('w')");
    await c.query("UPDATE app.by_owner_w SET v = 'x'");
    await c.query('DELETE FROM app.by_owner_w');
    assert.equal(await sqlstateOf(c.query('TRUNCATE app.t1')), '42501');
    assert.equal(await sqlstateOf(c.query('CREATE TABLE app.mine (x int)')), '42501');
    assert.deepEqual(await manager.schemaPrivileges(fx.target(), name), ['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
  });

  it('ADMIN: creates in the schema and holds everything on its objects', async () => {
    const name = account('a');
    await manager.ensureAccount(fx.target(), name, password());
    await manager.setPrivileges(fx.target(), name, ADMIN);
    const c = await fx.connectAs(name);
    await c.query('CREATE TABLE app.admin_made (x int)');
    await c.query('TRUNCATE app.t1');
    assert.deepEqual(await manager.schemaPrivileges(fx.target(), name), ['ALL PRIVILEGES']);
  });

  it('a lowered level takes effect in an open session at once, and an upgrade keeps access throughout', async () => {
    const name = account('d');
    await manager.ensureAccount(fx.target(), name, password());
    await manager.setPrivileges(fx.target(), name, READ_WRITE);
    const c = await fx.connectAs(name);
    await c.query("INSERT INTO app.t1 (v) VALUES ('before')");
    await manager.setPrivileges(fx.target(), name, READ, READ_WRITE);
    assert.equal(await sqlstateOf(c.query("INSERT INTO app.t1 (v) VALUES ('after')")), '42501');
    await c.query('SELECT * FROM app.t1');
    await manager.setPrivileges(fx.target(), name, READ_WRITE, READ);
    await c.query("INSERT INTO app.t1 (v) VALUES ('again')");
    await manager.revokeAllPrivileges(fx.target(), name);
    assert.equal(await sqlstateOf(c.query('SELECT * FROM app.t1')), '42501');
    assert.deepEqual(await manager.schemaPrivileges(fx.target(), name), []);
  });

  it('killSessions ends the role’s sessions only', async () => {
    const name = account('k');
    await manager.ensureAccount(fx.target(), name, password());
    await manager.setPrivileges(fx.target(), name, READ);
    const a = await fx.connectAs(name);
    await fx.connectAs(name, fx.otherDatabase);
    const bystander = await fx.connectAs(fx.owner);
    assert.equal(await manager.killSessions(fx.target(), name), 2);
    assert.notEqual(await sqlstateOf(a.query('SELECT 1')), undefined);
    await bystander.query('SELECT 1');
    assert.equal(await manager.killSessions(fx.target(), name), 0);
  });

  it('accountFootprint names what the role holds beyond the schema', async () => {
    const name = account('p');
    await manager.ensureAccount(fx.target(), name, password());
    await manager.setPrivileges(fx.target(), name, READ);
    assert.deepEqual(await manager.accountFootprint(fx.target(), name), []);
    await fx.query(`CREATE SCHEMA other_${name}`);
    await fx.query(`CREATE TABLE other_${name}.t (x int)`);
    await fx.query(`GRANT SELECT ON other_${name}.t TO "${name}"`);
    await fx.query(`GRANT "${fx.owner}" TO "${name}"`);
    await fx.query(`ALTER ROLE "${name}" CREATEDB`);
    const held = await manager.accountFootprint(fx.target(), name);
    assert.deepEqual(held, [
      { kind: 'global', what: 'CREATEDB' },
      { kind: 'role', what: fx.owner },
      { kind: 'table', what: `other_${name}.t: SELECT` },
    ]);
    assert.equal(await manager.accountFootprint(fx.target(), account('none')), undefined);
    assert.equal(await manager.schemaPrivileges(fx.target(), account('none')), undefined);
  });

  it('accountFootprint names the schemas and databases a role owns, so that such a role is never adopted (its end would hand over and drop an owner)', async () => {
    const name = account('o');
    await manager.ensureAccount(fx.target(), name, password());
    await fx.query(`CREATE SCHEMA owned_${name} AUTHORIZATION "${name}"`);
    try {
      assert.deepEqual(await manager.accountFootprint(fx.target(), name), [{ kind: 'schema', what: `owner of schema owned_${name}` }]);
    } finally {
      await fx.query(`DROP SCHEMA owned_${name}`);
    }
  });
});
