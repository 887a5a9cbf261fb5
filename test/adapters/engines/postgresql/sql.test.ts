import { strict as assert } from 'node:assert';
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';

import { ApplicationFailure } from '@temporalio/common';
import fc from 'fast-check';

import { ActivityErrorType } from '../../../../src/adapters/errors';
import { pgLevels, pgPrivileges, privilegePlan } from '../../../../src/adapters/engines/postgresql';
import { toActivityError, isPermanentRefusal } from '../../../../src/adapters/engines/postgresql/errors';
import { complement, heldSet, namesOfSet, objectsOfRows, privilegeStatements, ALL } from '../../../../src/adapters/engines/postgresql/privileges';
import {
  checkLevelGroup,
  createLevelGroupStatements,
  directSet,
  groupIsCurrent,
  groupSet,
  joinGroupStatement,
  leaveGroupsStatement,
  levelGroupName,
  membershipsOfRows,
} from '../../../../src/adapters/engines/postgresql/groups';
import {
  alterRoleStatement,
  backendsLeftStatement,
  checkAccount,
  checkSchema,
  checkValidUntil,
  commentStatement,
  connectionLimit,
  containAllStatement,
  containStatement,
  dropRoleStatement,
  rolesStatement,
  tracedRolesStatement,
  createRoleStatement,
  isOurs,
  ownershipTag,
  quoteIdent,
  quoteLiteral,
  reassignStatements,
  scramVerifier,
  signalSessionsStatement,
  terminateStatement,
} from '../../../../src/adapters/engines/postgresql/sql';
import { rootPool } from './pg';

// The PostgreSQL statement builders without a server, and the two quoting
// functions against the server (what it reads back is what went in).

function invalidIdentifier(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof ApplicationFailure && err.type === ActivityErrorType.InvalidIdentifier);
}

const scope = { database: 'appdb', schema: 'app', account: 'grantee_1', creators: ['app_owner'] };

describe('PostgreSQL statements', () => {
  describe('validation', () => {
    it('accepts the project names and refuses anything else', () => {
      assert.equal(checkAccount('dba_x1'), 'dba_x1');
      for (const bad of ['', 'A', 'a-b', 'a"b', 'a;b', 'pg_x', 'x'.repeat(33), 'a b', 'é']) invalidIdentifier(() => checkAccount(bad));
      assert.equal(checkSchema('App_1'), 'App_1');
      for (const bad of ['', 'a.b', 'a"b', 'pg_catalog', 'x'.repeat(64)]) invalidIdentifier(() => checkSchema(bad));
    });

    it('refuses hostile account and schema names, whatever they hold (property)', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (name) => {
          for (const check of [checkAccount, checkSchema]) {
            try {
              const ok = check(name);
              assert.match(ok, /^[A-Za-z0-9_]{1,63}$/);
            } catch (err) {
              assert.ok(err instanceof ApplicationFailure && err.type === ActivityErrorType.InvalidIdentifier);
            }
          }
        }),
        { numRuns: 500 },
      );
    });

    it('builders refuse names with quotes or semicolons before any SQL is made (property)', () => {
      const hostile = fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom('"', "'", ';', '\\', '\u0000', ' ', '-'), fc.string({ maxLength: 10 })).map(([a, b, c]) => `a${a}${b}${c}`);
      fc.assert(
        fc.property(hostile, (name) => {
          invalidIdentifier(() => createRoleStatement(name, 'Password123', { maxUserConnections: 1 }));
          invalidIdentifier(() => privilegeStatements('GRANT', ALL, { ...scope, account: name }));
          invalidIdentifier(() => privilegeStatements('GRANT', ALL, { ...scope, schema: name }));
          invalidIdentifier(() => reassignStatements(name, 'owner'));
        }),
      );
    });

    it('maps the connection limit (0 is no limit) and checks the expiry', () => {
      assert.equal(connectionLimit(0), -1);
      assert.equal(connectionLimit(7), 7);
      invalidIdentifier(() => connectionLimit(-1));
      invalidIdentifier(() => connectionLimit(2 ** 31));
      invalidIdentifier(() => connectionLimit(1.5));
      assert.equal(checkValidUntil('2030-01-02T03:04:05Z'), '2030-01-02T03:04:05.000Z');
      for (const bad of ['2030-01-02', "2030-01-02T03:04:05Z'; DROP", '2030-13-02T03:04:05Z', 'infinity']) invalidIdentifier(() => checkValidUntil(bad));
    });
  });

  describe('quoting', () => {
    it('quoteIdent doubles quotes and refuses NUL, empty and over-long names', () => {
      assert.equal(quoteIdent('a"b'), '"a""b"');
      invalidIdentifier(() => quoteIdent(''));
      invalidIdentifier(() => quoteIdent('a\u0000'));
      invalidIdentifier(() => quoteIdent('é'.repeat(32)));
    });

    it('quoteLiteral refuses quotes, backslashes and control characters', () => {
      assert.equal(quoteLiteral('dbaccess grant g-1'), "'dbaccess grant g-1'");
      for (const bad of ["a'b", 'a\\b', 'a\nb']) invalidIdentifier(() => quoteLiteral(bad));
    });

    it('the server reads every quoted identifier back as it was (property)', async () => {
      const pool = rootPool();
      const names = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((s) => !s.includes('\u0000') && Buffer.byteLength(s) <= 63);
      await fc.assert(
        fc.asyncProperty(names, async (name) => {
          const result = await pool.query(`SELECT 1 AS ${quoteIdent(name)}`);
          assert.equal(result.fields[0]!.name, name);
        }),
        { numRuns: 60 },
      );
    });

    it('the server reads every accepted literal back as it was (property)', async () => {
      const pool = rootPool();
      const texts = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 }).filter((s) => !/['\\]/.test(s));
      await fc.assert(
        fc.asyncProperty(texts, async (text) => {
          const result = await pool.query(`SELECT ${quoteLiteral(text)}::text AS v`);
          assert.equal(result.rows[0].v, text);
        }),
        { numRuns: 60 },
      );
    });
  });

  describe('roles', () => {
    it('creates a LOGIN role with a SCRAM verifier, the limit and the expiry; never the password itself', () => {
      const s = createRoleStatement('grantee_1', 'Secret-pass-1', { maxUserConnections: 3, validUntil: '2030-01-01T00:00:00Z' });
      assert.match(s.sql, /^CREATE ROLE "grantee_1" LOGIN NOSUPERUSER .* CONNECTION LIMIT 3 PASSWORD 'SCRAM-SHA-256\$4096:[^']+' VALID UNTIL '2030-01-01T00:00:00.000Z'$/);
      assert.ok(!s.sql.includes('Secret-pass-1'));
      assert.equal(s.sensitive, true);
      const a = alterRoleStatement('grantee_1', 'Secret-pass-1', { maxUserConnections: 0 });
      assert.match(a.sql, /^ALTER ROLE "grantee_1" .*CONNECTION LIMIT -1 PASSWORD 'SCRAM/);
      assert.ok(!a.sql.includes('VALID UNTIL'));
      assert.equal(containStatement('grantee_1').sql, 'ALTER ROLE "grantee_1" NOLOGIN PASSWORD NULL');
      assert.equal(containAllStatement(['grantee_1', 'grantee_2']).sql, 'ALTER ROLE "grantee_1" NOLOGIN PASSWORD NULL;\nALTER ROLE "grantee_2" NOLOGIN PASSWORD NULL');
      assert.deepEqual(containAllStatement(['grantee_1']), containStatement('grantee_1'));
      invalidIdentifier(() => containAllStatement(['ok_1', 'x"; DROP ROLE y; --']));
      assert.equal(dropRoleStatement(['grantee_1', 'grantee_2']).sql, 'DROP ROLE IF EXISTS "grantee_1", "grantee_2"');
      // A batch signals every session at once and waits for none of them in the statement: the wait is one poll for them all.
      const signal = signalSessionsStatement(['grantee_1', 'grantee_2']);
      assert.deepEqual(signal.values, ['{grantee_1,grantee_2}']);
      assert.match(signal.sql, /pg_terminate_backend\(pid\) AS signalled/);
      assert.deepEqual(backendsLeftStatement([41, 42]).values, ['{41,42}']);
      invalidIdentifier(() => backendsLeftStatement([]));
      invalidIdentifier(() => backendsLeftStatement([41, 0]));
      assert.deepEqual(rolesStatement(['grantee_1']).values, ['{grantee_1}']);
      // Array parameters hold checked names only: a brace, comma or quote never reaches the literal.
      invalidIdentifier(() => rolesStatement(['a,b']));
      invalidIdentifier(() => signalSessionsStatement(['x}']));
      invalidIdentifier(() => tracedRolesStatement([]));
      invalidIdentifier(() => dropRoleStatement([]));
      assert.equal(commentStatement('grantee_1', 'g-1').sql, `COMMENT ON ROLE "grantee_1" IS 'dbaccess grant g-1'`);
      assert.deepEqual(terminateStatement(42).values, [42, 2000]);
      invalidIdentifier(() => terminateStatement(0));
    });

    it('the SCRAM verifier is the one the server computes for the same salt', async () => {
      const client = await rootPool().connect();
      try {
        await client.query("SET password_encryption = 'scram-sha-256'");
        const name = `tpgscram_${Date.now()}`;
        await client.query(`CREATE ROLE ${name} PASSWORD 'Known-pass-42'`);
        try {
          const stored = (await client.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [name])).rows[0].rolpassword as string;
          const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored)!;
          assert.equal(scramVerifier('Known-pass-42', Buffer.from(salt!, 'base64'), Number(iterations)), stored);
        } finally {
          await client.query(`DROP ROLE ${name}`);
        }
      } finally {
        client.release();
      }
      // And the format of RFC 5802 by hand, for a fixed salt.
      const salt = Buffer.alloc(16, 1);
      const salted = pbkdf2Sync('Password123', salt, 4096, 32, 'sha256');
      const stored = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest('base64');
      assert.ok(scramVerifier('Password123', salt).includes(`$${stored}:`));
    });

    it('the ownership tag names the grant; isOurs tells the service’s roles from others', () => {
      assert.equal(ownershipTag('g-1'), 'dbaccess grant g-1');
      assert.equal(ownershipTag(), 'dbaccess account');
      assert.ok(isOurs('dbaccess grant g-1'));
      assert.ok(isOurs('dbaccess grant g-1', 'g-1'));
      assert.ok(!isOurs('dbaccess grant g-2', 'g-1'));
      for (const other of [null, undefined, '', 'app role', 'dbaccess grant ', "dbaccess grant x'y"]) assert.ok(!isOurs(other));
      invalidIdentifier(() => ownershipTag("g'1"));
      // The service's grant ids carry the grantee's e-mail.
      assert.equal(ownershipTag('grant/shop/orders/a.b+c@example.com'), 'dbaccess grant grant/shop/orders/a.b+c@example.com');
      assert.ok(isOurs('dbaccess grant grant/shop/orders/a@example.com', 'grant/shop/orders/a@example.com'));
      for (const bad of ['g 1', 'g\\1', 'g"1', 'x'.repeat(201)]) invalidIdentifier(() => ownershipTag(bad));
    });
  });

  describe('privileges', () => {
    it('maps the levels: READ, READ_WRITE (with sequence USAGE for nextval) and ADMIN', () => {
      assert.deepEqual(privilegePlan(pgLevels.READ!), { schema: ['USAGE'], tables: ['SELECT'], sequences: ['SELECT'], routines: [] });
      assert.deepEqual(privilegePlan(pgLevels.READ_WRITE!), { schema: ['USAGE'], tables: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], sequences: ['USAGE', 'SELECT'], routines: [] });
      assert.deepEqual(privilegePlan(pgLevels.ADMIN!), ALL);
      assert.ok(Object.keys(pgPrivileges).includes('TRUNCATE'));
    });

    it('refuses privilege names without a PostgreSQL meaning, and anything not a name', () => {
      for (const bad of ['LOCK TABLES', 'select', 'ALL', 'SELECT; DROP', 'constructor', '__proto__']) invalidIdentifier(() => privilegePlan([bad]));
    });

    it('grants on the database, the schema, its objects and the creators’ future objects', () => {
      const objects = objectsOfRows('app', [
        { kind: 'tables', name: 't1', args: null },
        { kind: 'tables', name: 'we"ird; name', args: null },
        { kind: 'sequences', name: 't1_id_seq', args: null },
        { kind: 'routines', name: 'f', args: 'integer, "my type"' },
      ]);
      const sql = privilegeStatements('GRANT', privilegePlan(['SELECT']), scope, objects, { database: true }).map((s) => s.sql);
      assert.deepEqual(sql, [
        'GRANT CONNECT ON DATABASE "appdb" TO "grantee_1"',
        'GRANT USAGE ON SCHEMA "app" TO "grantee_1"',
        'GRANT SELECT ON TABLE "app"."t1", "app"."we""ird; name" TO "grantee_1"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "app" GRANT SELECT ON TABLES TO "grantee_1"',
        'GRANT SELECT ON SEQUENCE "app"."t1_id_seq" TO "grantee_1"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "app" GRANT SELECT ON SEQUENCES TO "grantee_1"',
      ]);
      const admin = privilegeStatements('GRANT', ALL, { ...scope, creators: [] }, objects).map((s) => s.sql);
      assert.ok(admin.includes('GRANT EXECUTE ON ROUTINE "app"."f"(integer, "my type") TO "grantee_1"'));
    });

    it('tags each statement with the access lists it rewrites, so that endings revoke one group while others revoke another and never share a row', () => {
      const objects = objectsOfRows('app', [
        { kind: 'tables', name: 't1', args: null },
        { kind: 'sequences', name: 't1_id_seq', args: null },
        { kind: 'routines', name: 'f', args: '' },
      ]);
      const tagged = privilegeStatements('REVOKE', ALL, scope, objects, { database: true }).map((s) => `${s.acl}: ${s.sql.replace(/ FROM .*$/, '')}`);
      assert.deepEqual(tagged, [
        'database: REVOKE CONNECT ON DATABASE "appdb"',
        'database: REVOKE USAGE, CREATE ON SCHEMA "app"',
        'tables: REVOKE SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLE "app"."t1"',
        'database: ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "app" REVOKE SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLES',
        'sequences: REVOKE USAGE, SELECT, UPDATE ON SEQUENCE "app"."t1_id_seq"',
        'database: ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "app" REVOKE USAGE, SELECT, UPDATE ON SEQUENCES',
        'sequences: REVOKE EXECUTE ON ROUTINE "app"."f"()',
        'database: ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "app" REVOKE EXECUTE ON ROUTINES',
      ]);
    });

    it('names many objects in statements of at most 100', () => {
      const rows = Array.from({ length: 250 }, (_, i) => ({ kind: 'tables', name: `t${i}`, args: null }));
      const sql = privilegeStatements('REVOKE', ALL, scope, objectsOfRows('app', rows)).filter((s) => s.sql.includes(' ON TABLE '));
      assert.deepEqual(sql.map((s) => s.sql.split(', "app"').length), [100, 100, 50]);
    });

    it('refuses routine argument lists that could end the statement', () => {
      for (const args of ['integer) TO x; --', 'a; b', 'x\u0000']) invalidIdentifier(() => objectsOfRows('app', [{ kind: 'routines', name: 'f', args }]));
    });

    it('revokes exactly what a lower level does not hold', () => {
      const rest = complement(privilegePlan(['SELECT']));
      assert.deepEqual(rest.schema, ['CREATE']);
      assert.deepEqual(rest.tables, ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']);
      const objects = objectsOfRows('app', [{ kind: 'tables', name: 't', args: null }, { kind: 'routines', name: 'f', args: '' }]);
      const sql = privilegeStatements('REVOKE', rest, { ...scope, creators: [] }, objects).map((s) => s.sql);
      assert.ok(sql.includes('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLE "app"."t" FROM "grantee_1"'));
      assert.ok(sql.includes('REVOKE EXECUTE ON ROUTINE "app"."f"() FROM "grantee_1"'));
    });

    it('reads held privileges back as catalogue names', () => {
      const rows = [
        { kind: 'schema', privilege_type: 'USAGE' },
        { kind: 'tables', privilege_type: 'SELECT' },
        { kind: 'tables', privilege_type: 'INSERT' },
        { kind: 'other', privilege_type: 'USAGE' },
      ];
      assert.deepEqual(namesOfSet(heldSet(rows)), ['SELECT', 'INSERT']);
      assert.deepEqual(namesOfSet(ALL), ['ALL PRIVILEGES']);
    });
  });

  describe('level groups', () => {
    it('names one group per database, schema and set, in a shape no account has; the group never holds CREATE, the account holds only that', () => {
      const admin = privilegePlan(['ALL PRIVILEGES']);
      const read = privilegePlan(['SELECT']);
      const g = levelGroupName('db', 'app', groupSet(read));
      assert.match(g, /^dbaccess-lvl-[0-9a-f]{16}$/);
      assert.equal(levelGroupName('db', 'app', groupSet(privilegePlan(['SELECT']))), g, 'the same three give the same name');
      assert.notEqual(levelGroupName('db2', 'app', groupSet(read)), g);
      assert.notEqual(levelGroupName('db', 'app2', groupSet(read)), g);
      assert.notEqual(levelGroupName('db', 'app', groupSet(privilegePlan(['SELECT', 'INSERT']))), g);
      assert.throws(() => checkAccount(g), 'a group name is never an account name');
      assert.deepEqual(groupSet(admin).schema, ['USAGE']);
      assert.deepEqual(directSet(admin), { schema: ['CREATE'], tables: [], sequences: [], routines: [] });
      assert.deepEqual(directSet(read), { schema: [], tables: [], sequences: [], routines: [] });
    });

    it('creates the group without login, tagged; a member of PostgreSQL 16 or later may not act as the group (SET FALSE), one of 15 may', () => {
      const g = levelGroupName('db', 'app', groupSet(privilegePlan(['SELECT'])));
      const [create, comment] = createLevelGroupStatements(g, 'db', 'app');
      assert.equal(create!.sql, `CREATE ROLE "${g}" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT`);
      assert.equal(comment!.sql, `COMMENT ON ROLE "${g}" IS 'dbaccess level group db/app'`);
      assert.equal(joinGroupStatement(g, 'alice_x', 150004).sql, `GRANT "${g}" TO "alice_x"`);
      assert.equal(joinGroupStatement(g, 'alice_x', 160000).sql, `GRANT "${g}" TO "alice_x" WITH INHERIT TRUE, SET FALSE`);
      assert.equal(leaveGroupsStatement([g], ['a_1', 'b_2']).sql, `REVOKE "${g}" FROM "a_1", "b_2"`);
      assert.equal(leaveGroupsStatement([g], ['a_1']).acl, 'database');
    });

    it('takes a group as current only when it holds exactly its set everywhere a grant would give it, the default privileges of every creator included', () => {
      const set = groupSet(privilegePlan(['SELECT', 'INSERT']));
      const good = [
        { kind: 'database', creator: null, privs: ['CONNECT'] },
        { kind: 'schema', creator: null, privs: ['USAGE'] },
        { kind: 'tables', creator: null, privs: ['INSERT', 'SELECT'] },
        { kind: 'sequences', creator: null, privs: ['SELECT', 'USAGE'] },
        { kind: 'default tables', creator: 'owner', privs: ['INSERT', 'SELECT'] },
        { kind: 'default sequences', creator: 'owner', privs: ['SELECT', 'USAGE'] },
      ];
      assert.equal(groupIsCurrent(good, set, ['owner']), true);
      const without = (i: number) => good.filter((_, j) => j !== i);
      // The database, the schema and each creator's default privileges must be there; tables and sequences are there when the schema has some.
      for (const i of [0, 1, 4, 5]) assert.equal(groupIsCurrent(without(i), set, ['owner']), false, `without ${good[i]!.kind}`);
      assert.equal(groupIsCurrent(without(2), set, ['owner']), true, 'a schema without tables');
      const changed = (i: number, privs: string[]) => good.map((r, j) => (j === i ? { ...r, privs } : r));
      assert.equal(groupIsCurrent(changed(2, ['SELECT']), set, ['owner']), false, 'a table missing INSERT');
      assert.equal(groupIsCurrent(changed(2, ['DELETE', 'INSERT', 'SELECT']), set, ['owner']), false, 'a table with more (drift)');
      assert.equal(groupIsCurrent(changed(1, ['CREATE', 'USAGE']), set, ['owner']), false, 'CREATE on the schema');
      assert.equal(groupIsCurrent([...good, { kind: 'routines', creator: null, privs: ['EXECUTE'] }], set, ['owner']), false, 'EXECUTE it should not hold');
      assert.equal(groupIsCurrent(good, set, ['owner', 'app_writer']), false, 'a creator without default privileges');
      assert.equal(groupIsCurrent([...good, { kind: 'something new', creator: null, privs: [] }], set, ['owner']), false, 'a kind it does not know');
    });

    it('refuses anything but a group of the service where a group is named, and reads only such groups back', () => {
      for (const bad of ['dbaccess-lvl-', 'dbaccess-lvl-0123456789abcdeg', 'dbaccess-lvl-0123456789abcdef"; DROP ROLE x; --', 'postgres', 'alice_x', 'DBACCESS-LVL-0123456789ABCDEF']) {
        assert.throws(() => checkLevelGroup(bad), ApplicationFailure, bad);
        assert.throws(() => joinGroupStatement(bad, 'alice_x', 150000), ApplicationFailure, bad);
        assert.throws(() => leaveGroupsStatement([bad], ['alice_x']), ApplicationFailure, bad);
      }
      assert.throws(() => joinGroupStatement('dbaccess-lvl-0123456789abcdef', 'Robert"); DROP', 150000), ApplicationFailure);
      const rows = [
        { account: 'a_1', grp: 'dbaccess-lvl-0123456789abcdef' },
        { account: 'a_1', grp: 'dbaccess-lvl-x' },
        { account: 'b_2', grp: 'dbaccess-lvl-fedcba9876543210' },
      ];
      assert.deepEqual([...membershipsOfRows(rows)], [
        ['a_1', ['dbaccess-lvl-0123456789abcdef']],
        ['b_2', ['dbaccess-lvl-fedcba9876543210']],
      ]);
    });
  });

  describe('errors', () => {
    it('maps SQLSTATEs to the activity error types, without the text of a statement carrying a verifier', () => {
      const secretId = 'srv';
      const type = (code: string) => toActivityError(Object.assign(new Error('m'), { code }), { secretId, secrets: [] }).type;
      assert.equal(type('42501'), ActivityErrorType.AdminPrivilegeMissing);
      assert.equal(type('28P01'), ActivityErrorType.AdminAccessDenied);
      assert.equal(type('3D000'), ActivityErrorType.UnknownDatabase);
      assert.equal(type('ECONNREFUSED'), ActivityErrorType.DatabaseUnavailable);
      assert.equal(type('55P03'), ActivityErrorType.DatabaseUnavailable);
      const sensitive = createRoleStatement('grantee_1', 'Secret-pass-1', { maxUserConnections: 1 });
      const mapped = toActivityError(Object.assign(new Error(`syntax error near ${sensitive.sql}`), { code: '42601' }), { secretId, secrets: ['admin-pw'], statement: sensitive });
      assert.ok(!mapped.message.includes('SCRAM'));
      const plain = toActivityError(Object.assign(new Error('oops admin-pw here'), { code: '42601' }), { secretId, secrets: ['admin-pw'] });
      assert.ok(!plain.message.includes('admin-pw'));
      assert.ok(isPermanentRefusal({ code: '2BP01' }));
      assert.ok(!isPermanentRefusal({ code: '55P03' }));
      assert.ok(!isPermanentRefusal(new Error('Connection terminated')));
    });
  });
});
