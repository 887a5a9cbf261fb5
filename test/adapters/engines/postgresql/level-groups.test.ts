import { strict as assert } from 'node:assert';

import { createPostgresAccountManager, pgLevels, type PostgresAccountManager } from '../../../../src/adapters/engines/postgresql';
import { ActivityErrorType } from '../../../../src/adapters/errors';
import { expectFailure } from '../../../support/failures';
import { createFixture, randomName, randomPassword, RUN_PREFIX, sqlstateOf, StaticCredentialSource, type Fixture } from './pg';

// Level groups (docs/decisions/0609-postgresql-level-groups.md) on the machine's
// PostgreSQL 15: a level's privileges on a schema are held once, by a group role
// of the service, and each grant's account is its member. What a grantee could do
// with its membership (act as the group, make things the group owns, outlive its
// grant through them) is tried too.

const READ = [...pgLevels.READ!];
const READ_WRITE = [...pgLevels.READ_WRITE!];
const ADMIN = [...pgLevels.ADMIN!];

describe('PostgreSQL account manager: level groups', function () {
  this.timeout(30_000);
  let fx: Fixture;
  let manager: PostgresAccountManager;
  const account = (tag: string) => `${RUN_PREFIX}_${tag}${randomName(3)}`;

  before(async () => {
    fx = await createFixture('lg');
    await fx.query('CREATE TABLE app.t (id serial PRIMARY KEY, v text)');
    await fx.query(`ALTER TABLE app.t OWNER TO "${fx.owner}"`);
    await fx.query(`ALTER SEQUENCE app.t_id_seq OWNER TO "${fx.owner}"`);
    await fx.query("INSERT INTO app.t (v) VALUES ('row')");
    manager = createPostgresAccountManager({ credentials: new StaticCredentialSource(fx.credentials) });
  });

  after(async () => {
    await manager?.close();
  });

  async function grant(level: string[], tag = 'g'): Promise<string> {
    const name = account(tag);
    await manager.ensureAccount(fx.target(), name, randomPassword(), { grantId: `g-${name}` });
    await manager.setPrivileges(fx.target(), name, level);
    return name;
  }

  /** The roles named in the access list of a table. */
  async function aclRoles(table: string): Promise<string[]> {
    const rows = await fx.query<{ role: string }>(`SELECT DISTINCT pg_get_userbyid(a.grantee) AS role FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = $1::regclass ORDER BY 1`, [table]);
    return rows.map((r) => r.role);
  }

  async function groupsOf(name: string): Promise<string[]> {
    const rows = await fx.query<{ g: string }>('SELECT g.rolname AS g FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles a ON a.oid = m.member WHERE a.rolname = $1 ORDER BY 1', [name]);
    return rows.map((r) => r.g);
  }

  it('When several grants get one level on a schema, then they share one tagged NOLOGIN group, and the access lists name the group, not the accounts', async () => {
    const [a, b, c] = [await grant(READ), await grant(READ), await grant(READ)];
    const [group] = await groupsOf(a);
    assert.match(group!, /^dbaccess-lvl-[0-9a-f]{16}$/);
    assert.deepEqual(await groupsOf(b), [group]);
    assert.deepEqual(await groupsOf(c), [group]);
    const role = (await fx.query<{ login: boolean; inherit: boolean; comment: string }>("SELECT rolcanlogin AS login, rolinherit AS inherit, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1", [group]))[0]!;
    assert.deepEqual(role, { login: false, inherit: false, comment: `dbaccess level group ${fx.database}/app` });
    const acl = await aclRoles('app.t');
    assert.ok(acl.includes(group!), acl.join(', '));
    for (const name of [a, b, c]) assert.ok(!acl.includes(name), `${name} is not in the access list`);
    // Each reads through the group, and what the reconciler and the drift check read is the level.
    const session = await fx.connectAs(b);
    assert.equal((await session.query('SELECT v FROM app.t')).rows[0].v, 'row');
    assert.equal(await sqlstateOf(session.query("INSERT INTO app.t (v) VALUES ('no')")), '42501');
    assert.deepEqual(await manager.schemaPrivileges(fx.target(), b), ['SELECT']);
    const listed = await manager.accountGrants(fx.target(), b);
    assert.deepEqual(listed.grants.map((g) => [g.schema, g.privileges]), [['app', ['SELECT']]]);
    assert.deepEqual(await manager.accountFootprint(fx.target(), b), [], 'its own level group is not something more it holds');
    await session.end();

    // Another level is another group; ADMIN's CREATE is the account's own, never the group's.
    const w = await grant(READ_WRITE);
    const [writers] = await groupsOf(w);
    assert.notEqual(writers, group);
    const admin = await grant(ADMIN);
    const schemaAcl = await fx.query<{ role: string; p: string }>("SELECT pg_get_userbyid(a.grantee) AS role, a.privilege_type AS p FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = 'app'");
    assert.deepEqual(schemaAcl.filter((r) => r.role === admin).map((r) => r.p), ['CREATE']);
    assert.ok(!schemaAcl.some((r) => r.role.startsWith('dbaccess-lvl-') && r.p === 'CREATE'), 'no group may create in the schema');
    for (const name of [a, b, c, w, admin]) await manager.endAccess(fx.target(), name);
  });

  it('When the group already holds its level everywhere, then a further grant only adds a membership and rewrites no access list; a new table is picked up by the next grant', async () => {
    const version = async (table: string) => (await fx.query<{ v: string }>('SELECT xmin::text AS v FROM pg_class WHERE oid = $1::regclass', [table]))[0]!.v;
    const first = await grant(READ_WRITE);
    const before = { table: await version('app.t'), sequence: await version('app.t_id_seq') };
    const second = await grant(READ_WRITE);
    assert.deepEqual({ table: await version('app.t'), sequence: await version('app.t_id_seq') }, before, 'the catalogue rows were not rewritten');
    await fx.query('CREATE TABLE app.later (x int)');
    await fx.query(`ALTER TABLE app.later OWNER TO "${fx.owner}"`);
    await fx.query(`REVOKE ALL ON app.later FROM "${(await groupsOf(first))[0]}"`);
    const third = await grant(READ_WRITE);
    const session = await fx.connectAs(first);
    await session.query('INSERT INTO app.later VALUES (1)');
    await session.end();
    await fx.query('DROP TABLE app.later');
    for (const name of [first, second, third]) await manager.endAccess(fx.target(), name);
  });

  it('When one member of a group is ended, then only its membership goes: the others keep reading; the group stays for the next grant', async () => {
    const [a, b] = [await grant(READ), await grant(READ)];
    const [group] = await groupsOf(a);
    const other = await fx.connectAs(b);
    const ending = await manager.endAccess(fx.target(), a);
    assert.equal(ending.dropped, true);
    assert.equal((await fx.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [a])).length, 0);
    assert.equal((await other.query('SELECT count(*)::int AS n FROM app.t')).rows[0].n, 1, 'the other member still reads, in its open session');
    assert.ok((await aclRoles('app.t')).includes(group!));
    await other.end();
    await manager.endAccess(fx.target(), b);
  });

  it('When a level is changed, then the membership moves in one step: a lowered level reaches an open session at once, and no old group is left', async () => {
    const name = await grant(READ_WRITE);
    const [writers] = await groupsOf(name);
    const session = await fx.connectAs(name);
    await session.query("INSERT INTO app.t (v) VALUES ('written')");
    await manager.setPrivileges(fx.target(), name, READ, READ_WRITE);
    const [readers] = await groupsOf(name);
    assert.notEqual(readers, writers);
    assert.deepEqual(await groupsOf(name), [readers]);
    assert.equal(await sqlstateOf(session.query("INSERT INTO app.t (v) VALUES ('no')")), '42501', 'the open session lost INSERT at once');
    assert.ok((await session.query('SELECT count(*) FROM app.t')).rows.length === 1);
    await fx.query("DELETE FROM app.t WHERE v = 'written'");
    await session.end();
    await manager.endAccess(fx.target(), name);
  });

  it('When an account holds privileges of its own (granted before the groups), then setting its level moves them to the group, and ending it removes both', async () => {
    const name = account('old');
    await manager.ensureAccount(fx.target(), name, randomPassword(), { grantId: `g-${name}` });
    // What the adapter granted before level groups: every privilege on the account itself.
    await fx.query(`GRANT CONNECT ON DATABASE "${fx.database}" TO "${name}"; GRANT USAGE ON SCHEMA app TO "${name}"; GRANT SELECT ON app.t TO "${name}"; GRANT SELECT ON SEQUENCE app.t_id_seq TO "${name}"`);
    assert.ok((await aclRoles('app.t')).includes(name));
    await manager.setPrivileges(fx.target(), name, READ);
    assert.ok(!(await aclRoles('app.t')).includes(name), 'its own entry is gone');
    assert.equal((await groupsOf(name)).length, 1);
    assert.deepEqual(await manager.schemaPrivileges(fx.target(), name), ['SELECT']);

    const legacy = account('old');
    await manager.ensureAccount(fx.target(), legacy, randomPassword(), { grantId: `g-${legacy}` });
    await fx.query(`GRANT CONNECT ON DATABASE "${fx.database}" TO "${legacy}"; GRANT USAGE ON SCHEMA app TO "${legacy}"; GRANT SELECT ON app.t TO "${legacy}"`);
    const ending = await manager.endAccess(fx.target(), legacy);
    assert.equal(ending.dropped, true);
    assert.ok(!(await aclRoles('app.t')).includes(legacy));
    await manager.endAccess(fx.target(), name);
  });

  it('When a grantee acts as its group (SET ROLE) and makes a large object and a table where everyone may create, then its ending gives them to the owner role and reports them; the group keeps its privileges and owns nothing', async () => {
    const name = await grant(READ, 'setrole');
    const stays = await grant(READ, 'stays');
    const [group] = await groupsOf(name);
    const here = await fx.connectAs(name);
    await here.query(`SET ROLE "${group}"`);
    const lo = Number((await here.query('SELECT lo_create(0) AS oid')).rows[0].oid);
    // The group cannot create in the grant's schema, nor be made a login, nor let anyone else in.
    assert.equal(await sqlstateOf(here.query('CREATE TABLE app.as_group (x int)')), '42501');
    assert.equal(await sqlstateOf(here.query(`ALTER ROLE "${group}" LOGIN`)), '42501');
    assert.equal(await sqlstateOf(here.query(`GRANT "${group}" TO "${fx.owner}"`)), '42501');
    assert.equal(await sqlstateOf(here.query(`COMMENT ON ROLE "${group}" IS 'mine'`)), '42501');
    // A role may set its own password, so a member acting as the group can give it one: it still cannot log in.
    await here.query(`ALTER ROLE "${group}" PASSWORD 'outlive-the-grant-1'`);
    assert.equal(await sqlstateOf(fx.connectAs(group!)), '28000');
    // Another database of the server whose public schema lets everyone create (PUBLIC has CONNECT on every database by default).
    const elsewhere = await fx.connectAs(name, fx.otherDatabase);
    await elsewhere.query(`SET ROLE "${group}"`);
    await elsewhere.query('CREATE TABLE public.planted (x int)');
    const ownerOf = async (sql: string, values: unknown[], database?: string) => (await fx.query<{ owner: string }>(sql, values, database))[0]?.owner;
    assert.equal(await ownerOf('SELECT pg_get_userbyid(lomowner) AS owner FROM pg_largeobject_metadata WHERE oid = $1', [lo]), group);

    const ending = await manager.endAccess(fx.target(), name);
    assert.equal(ending.dropped, true);
    assert.equal(ending.leftBehindCount, 2);
    assert.deepEqual(
      ending.leftBehind.map((o) => `${o.kind} ${o.schema}.${o.name} (${o.note})`).sort(),
      [
        `OTHER .large object ${lo} (made as level group ${group} by one of its members; owner now ${fx.owner})`,
        `TABLE public.planted (in database ${fx.otherDatabase}; made as level group ${group} by one of its members; owner now ${fx.owner})`,
      ].sort(),
    );
    assert.equal(await ownerOf('SELECT pg_get_userbyid(lomowner) AS owner FROM pg_largeobject_metadata WHERE oid = $1', [lo]), fx.owner);
    assert.equal(await ownerOf("SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'public.planted'::regclass", [], fx.otherDatabase), fx.owner);
    const owned = await fx.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid WHERE r.rolname = $1 AND s.deptype = 'o'", [group]);
    assert.equal(owned[0]!.n, 0, 'the group owns nothing any more');
    const reader = await fx.connectAs(stays);
    assert.equal((await reader.query('SELECT count(*)::int AS n FROM app.t')).rows[0].n, 1, 'the other member still reads');
    await reader.end();
    await manager.endAccess(fx.target(), stays);
    await fx.query('SELECT lo_unlink($1)', [lo]);
  });

  it('When a privilege is added to a group by hand, then every member shows the drift, and setting a member’s level again takes it back from the group', async () => {
    const [a, b] = [await grant(READ), await grant(READ)];
    const [group] = await groupsOf(a);
    await fx.query(`GRANT INSERT ON app.t TO "${group}"`);
    assert.ok((await manager.schemaPrivileges(fx.target(), a))!.includes('INSERT'), 'the drift shows on the member');
    assert.ok((await manager.schemaPrivileges(fx.target(), b))!.includes('INSERT'), 'the other member holds it too');
    await manager.setPrivileges(fx.target(), a, READ, READ);
    assert.deepEqual(await manager.schemaPrivileges(fx.target(), a), ['SELECT']);
    assert.deepEqual(await manager.schemaPrivileges(fx.target(), b), ['SELECT']);
    for (const name of [a, b]) await manager.endAccess(fx.target(), name);
  });

  it('When a role of the group’s name exists that is not the service’s group, then the grant is refused and the role is left alone', async () => {
    const name = account('squat');
    await manager.ensureAccount(fx.target(), name, randomPassword(), { grantId: `g-${name}` });
    // The name the service would give the group of TRUNCATE alone (no other test asks for it).
    await manager.setPrivileges(fx.target(), name, ['TRUNCATE']);
    const [group] = await groupsOf(name);
    await manager.endAccess(fx.target(), name);
    await fx.query(`COMMENT ON ROLE "${group}" IS 'made by hand'`);
    const again = account('squat');
    await manager.ensureAccount(fx.target(), again, randomPassword(), { grantId: `g-${again}` });
    const refused = await expectFailure(manager.setPrivileges(fx.target(), again, ['TRUNCATE']), ActivityErrorType.AccountConflict);
    assert.match(refused.message, /is not this service's level group/);
    assert.deepEqual(await groupsOf(again), []);
    assert.equal((await fx.query<{ c: string }>("SELECT shobj_description(oid, 'pg_authid') AS c FROM pg_roles WHERE rolname = $1", [group]))[0]!.c, 'made by hand');
    await manager.endAccess(fx.target(), again);
  });
});
