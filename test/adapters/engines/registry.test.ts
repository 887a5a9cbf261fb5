import { strict as assert } from 'node:assert';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';

import { createActivities, type ActivityDeps } from '../../../src/activities';
import { mysqlEngine } from '../../../src/adapters/engines/mysql';
import { pgLevels, pgPrivileges, postgresqlEngine } from '../../../src/adapters/engines/postgresql';
import type { EngineAccounts } from '../../../src/adapters/engines/port';
import { ENGINE_REDACTION } from '../../../src/adapters/engines/redaction';
import { assertRegistry, engineFor, registeredEngines } from '../../../src/adapters/engines/registry';
import { createAccountRouter } from '../../../src/adapters/engines/router';
import { ConfigError, engineProblems, enginesBySecret, grantTargetOf, parseFileConfig } from '../../../src/config';
import { ActivityErrorType, ENGINE_KEYS, MYSQL_PRIVILEGES, PG_PRIVILEGES, type GrantTarget, type PrivilegeCatalogue } from '../../../src/domain';
import { scrubText } from '../../../src/observability/logger';

// The engine seam: the registry and what it checks, the configuration's engine
// field and its per-engine privilege check, and the router that sends each call
// to its target's engine.

const READ = ['SELECT'];
const READ_WRITE = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

function doc(database: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    allowedEmailDomains: ['example.com'],
    administrators: [{ name: 'DBA', email: 'dba@example.com' }],
    projects: { p: { ownerName: 'O', ownerEmail: 'o@example.com', databases: { d: { adminSecretId: 'admin/d', ...database } } } },
    ...extra,
  };
}

function problemsOf(input: unknown): string[] {
  try {
    parseFileConfig(input);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  return [];
}

describe('engines: registry, configuration, router', () => {
  describe('registry', () => {
    it('When the engines are listed, then there is one per ENGINE_KEYS key, and engineFor finds MySQL by its key', () => {
      assert.deepEqual(registeredEngines().map((e) => e.key).sort(), [...ENGINE_KEYS].sort());
      const mysql = engineFor('mysql');
      assert.equal(mysql, mysqlEngine);
      assert.equal(mysql.guide.engine, 'mysql');
      assert.deepEqual(mysql.privileges.names, MYSQL_PRIVILEGES.names);
      for (const rule of mysql.redaction) assert.ok(ENGINE_REDACTION.includes(rule));
    });

    it('When an engine key is not registered, then engineFor refuses it naming the registered ones', () => {
      assert.throws(() => engineFor('oracle'), /no database engine "oracle" \(registered: mysql, postgresql\)/);
    });

    it('When a registry misses a key, repeats one, or registers an engine whose catalogue, guide or redaction does not match, then it is refused at load', () => {
      assert.throws(() => assertRegistry([]), /must register each of ENGINE_KEYS/);
      assert.throws(() => assertRegistry([mysqlEngine, mysqlEngine]), /once/);
      assert.throws(() => assertRegistry([mysqlEngine, { ...mysqlEngine, key: 'oracle' }]), /ENGINE_KEYS/);
      const privileges = { ...mysqlEngine.privileges, names: ['SELECT'] };
      assert.throws(() => assertRegistry([{ ...mysqlEngine, privileges }, postgresqlEngine]), /PRIVILEGE_CATALOGUES\.mysql/);
      assert.throws(() => assertRegistry([{ ...mysqlEngine, guide: { ...mysqlEngine.guide, engine: 'other' } }, postgresqlEngine]), /guide/);
      assert.throws(() => assertRegistry([{ ...mysqlEngine, redaction: [[/x/g, 'y']] }, postgresqlEngine]), /engines\/redaction\.ts/);
      assert.equal(assertRegistry([mysqlEngine, postgresqlEngine]).get('mysql'), mysqlEngine);
      assert.equal(assertRegistry([postgresqlEngine, mysqlEngine]).get('postgresql'), postgresqlEngine);
    });

    it("When MySQL's rules are asked, then a change that takes a privilege away ends sessions and one that only adds does not", () => {
      const { endsSessions } = mysqlEngine.privileges;
      assert.equal(endsSessions(READ_WRITE, READ), true);
      assert.equal(endsSessions(['SELECT', 'INSERT'], ['SELECT', 'UPDATE']), true);
      assert.equal(endsSessions(READ, READ_WRITE), false);
      assert.equal(endsSessions(READ, ['ALL PRIVILEGES']), false);
    });

    it("When MySQL's admin secret is read, then its keys make the credentials, and a bad one is named by its keys without any value", () => {
      const creds = mysqlEngine.parseAdminSecret({ MYSQL_HOST: ' db.internal ', MYSQL_PORT: '3307', MYSQL_USERNAME: 'admin', MYSQL_PASSWORD: 'pw-secret-1' }, 'admin/d');
      assert.deepEqual(creds, { host: 'db.internal', port: 3307, username: 'admin', password: 'pw-secret-1' });
      assert.equal(mysqlEngine.parseAdminSecret({ MYSQL_HOST: 'h', MYSQL_USERNAME: 'u', MYSQL_PASSWORD: 'p' }, 'x').port, 3306);
      assert.throws(
        () => mysqlEngine.parseAdminSecret({ MYSQL_HOST: 'h', MYSQL_PORT: 'pw-secret-2', MYSQL_PASSWORD: 'pw-secret-3' }, 'admin/d'),
        (err: Error) => /MYSQL_USERNAME is missing/.test(err.message) && /MYSQL_PORT must be a port number/.test(err.message) && !/pw-secret/.test(err.message),
      );
    });

    it("When a log text quotes a statement that sets a password, then the logger takes it out by MySQL's rules", () => {
      assert.equal(scrubText("ALTER USER 'a'@'%' IDENTIFIED BY 's3cr3t' ACCOUNT LOCK"), "ALTER USER 'a'@'%' IDENTIFIED BY '[redacted]' ACCOUNT LOCK");
    });
  });

  describe('postgresql', () => {
    it('When PostgreSQL is looked up, then it is registered with its guide, its catalogue (the default levels, ALL PRIVILEGES included) and its redaction', () => {
      const pg = engineFor('postgresql');
      assert.equal(pg, postgresqlEngine);
      assert.equal(pg.guide.engine, 'postgresql');
      assert.deepEqual(pg.privileges.names, PG_PRIVILEGES.names);
      assert.deepEqual(pg.privileges.defaultLevels, { READ: ['SELECT'], READ_WRITE: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], ADMIN: ['ALL PRIVILEGES'] });
      assert.deepEqual(pg.privileges.normalize(['delete', 'select', 'Select']), ['SELECT', 'DELETE']);
      assert.deepEqual(pg.privileges.normalize(['SELECT', 'all']), ['ALL PRIVILEGES']);
      assert.throws(() => pg.privileges.normalize(['LOCK TABLES']), /"LOCK TABLES" is not an allowed PostgreSQL privilege/);
      assert.throws(() => pg.privileges.normalize([]), /at least one privilege/);
      // The adapter gives a meaning to exactly the catalogue's names, and its levels are the catalogue's.
      assert.deepEqual(Object.keys(pgPrivileges), [...PG_PRIVILEGES.names]);
      assert.equal(pgLevels, PG_PRIVILEGES.defaultLevels);
      for (const rule of pg.redaction) assert.ok(ENGINE_REDACTION.includes(rule));
    });

    it('When a PostgreSQL level changes, then no session is ended: privileges are checked at every statement', () => {
      assert.equal(postgresqlEngine.privileges.endsSessions(READ_WRITE, READ), false);
      assert.equal(postgresqlEngine.privileges.endsSessions(['ALL PRIVILEGES'], READ), false);
    });

    it("When PostgreSQL's admin secret is read, then the RDS shape makes the credentials with its database, and a bad one names fields, never values", () => {
      const creds = postgresqlEngine.parseAdminSecret({ engine: 'postgres', host: 'pg.internal', port: '5433', username: 'dbaccess_admin', password: 'pw-secret-1', dbname: 'app' }, 'admin/pg');
      assert.deepEqual(creds, { host: 'pg.internal', port: 5433, username: 'dbaccess_admin', password: 'pw-secret-1', database: 'app' });
      assert.throws(
        () => postgresqlEngine.parseAdminSecret({ MYSQL_HOST: 'h', MYSQL_USERNAME: 'u', MYSQL_PASSWORD: 'pw-secret-2' }, 'admin/pg'),
        (err: Error) => err.message === 'has no valid host' && !/pw-secret/.test(err.message),
      );
      assert.throws(() => postgresqlEngine.parseAdminSecret({ engine: 'mysql', host: 'h', username: 'u', password: 'p' }, 'admin/pg'), /not for a PostgreSQL server/);
    });

    it('When a log text quotes a PostgreSQL password literal or a verifier, then the logger takes it out', () => {
      const verifier = 'SCRAM-SHA-256$4096:c2FsdHNhbHQ=$c3RvcmVka2V5c3RvcmVka2V5c3RvcmVka2V5c3Q=:c2VydmVya2V5c2VydmVya2V5c2VydmVya2V5c2U=';
      const out = scrubText(`failed: CREATE ROLE "a" LOGIN PASSWORD '${verifier}' VALID UNTIL '2031-01-01'`);
      assert.ok(!out.includes('c2FsdHNhbHQ') && !out.includes('c3RvcmVk'), out);
      assert.match(out, /PASSWORD '\[redacted\]' VALID UNTIL/);
      assert.equal(scrubText(`stored ${verifier} and md5${'0123456789abcdef'.repeat(2)}`), 'stored [redacted] and [redacted]');
      assert.equal(scrubText("ALTER ROLE x PASSWORD E'it''s'"), "ALTER ROLE x PASSWORD '[redacted]'");
    });

    it('When a database names engine postgresql, then the file loads, its target says so, and a MySQL-only privilege in its levels is refused', () => {
      const cfg = parseFileConfig(doc({ engine: 'postgresql' }));
      assert.equal(grantTargetOf(cfg.projects.p!.databases.d!).engine, 'postgresql');
      assert.deepEqual([...enginesBySecret(cfg)], [['admin/d', 'postgresql']]);
      const problems = problemsOf(doc({ engine: 'postgresql', accessLevels: { OPS: ['SELECT', 'LOCK TABLES'] } }));
      assert.equal(problems.length, 1);
      assert.match(problems[0]!, /accessLevels\.OPS: "LOCK TABLES" is not an allowed PostgreSQL privilege.*engine postgresql/);
    });
  });

  describe('configuration', () => {
    it('When a database names no engine or mysql, then it loads (engine kept only when named) and its grant target says so', () => {
      const plain = parseFileConfig(doc()).projects.p!.databases.d!;
      assert.equal(plain.engine, undefined);
      assert.deepEqual(grantTargetOf(plain), { schema: 'd', adminSecretId: 'admin/d', hostPattern: '%', maxUserConnections: 5 });
      const named = parseFileConfig(doc({ engine: 'mysql' }));
      assert.equal(named.projects.p!.databases.d!.engine, 'mysql');
      assert.equal(grantTargetOf(named.projects.p!.databases.d!).engine, 'mysql');
      assert.deepEqual([...enginesBySecret(named)], [['admin/d', 'mysql']]);
    });

    it('When a database names an engine that is not registered, then the file is refused naming the accepted ones', () => {
      assert.deepEqual(problemsOf(doc({ engine: 'oracle' })), ['$.projects.p.databases.d.engine: must be one of mysql, postgresql']);
      assert.deepEqual(problemsOf(doc({ engine: 'sqlite' })), ['$.projects.p.databases.d.engine: must be one of mysql, postgresql']);
    });

    it("When a level lists a privilege the database's engine does not know, then the file is refused at the table that defines it", () => {
      const problems = problemsOf(doc({ engine: 'mysql', accessLevels: { READ: ['SELECT', 'CONNECT'] } }));
      assert.equal(problems.length, 1);
      assert.match(problems[0]!, /^\$\.projects\.p\.databases\.d\.accessLevels\.READ: "CONNECT" is not an allowed privilege/);
    });

    // A second engine, as the configuration's rule sees it: its own names only.
    const OTHER: PrivilegeCatalogue = {
      engine: 'other',
      names: ['SELECT', 'CONNECT'],
      defaultLevels: { READ: ['SELECT'] },
      normalize: (list) => {
        const bad = list.find((p) => !['SELECT', 'CONNECT'].includes(p));
        if (bad !== undefined) throw new Error(`"${bad}" is not a privilege of other`);
        return [...list];
      },
    };
    const catalogues = { mysql: MYSQL_PRIVILEGES, other: OTHER };
    const databasesOf = (raw: any) =>
      Object.entries(raw.projects).flatMap(([project, p]: [string, any]) => Object.entries(p.databases).map(([database, d]) => ({ project, database, d: d as Record<string, unknown> })));

    it('When levels apply to databases of two engines, then each database checks the levels it can be granted against its own engine, most specific table first', () => {
      const raw = {
        accessLevels: { READ: ['SELECT'], WRITE: ['INSERT'] },
        projects: {
          p: {
            databases: {
              m: { adminSecretId: 'admin/m', engine: 'mysql' },
              o: { adminSecretId: 'admin/o', engine: 'other', accessLevels: { WRITE: ['CONNECT'] } },
              q: { adminSecretId: 'admin/o', engine: 'other' },
            },
          },
        },
      };
      const problems = engineProblems(raw, databasesOf(raw), () => true, catalogues);
      // o overrides WRITE with a name of its own engine; q inherits the top-level WRITE, which other refuses.
      assert.deepEqual(problems, [{ path: ['accessLevels', 'WRITE'], reason: '"INSERT" is not a privilege of other (for p/q, engine other)' }]);
    });

    it('When two databases share an admin secret but name different engines, then the second is refused: one secret is one server', () => {
      const raw = { projects: { p: { databases: { a: { adminSecretId: 'admin/x' }, b: { adminSecretId: 'admin/x', engine: 'other' } } } } };
      const problems = engineProblems(raw, databasesOf(raw), () => true, catalogues);
      assert.equal(problems.length, 1);
      assert.deepEqual(problems[0]!.path, ['projects', 'p', 'databases', 'b', 'engine']);
      assert.match(problems[0]!.reason, /is other, but p\/a names the same adminSecretId with engine mysql/);
    });
  });

  describe('router', () => {
    const target = (extra: Partial<GrantTarget> = {}): GrantTarget => ({ schema: 's', adminSecretId: 'admin/m', hostPattern: '%', maxUserConnections: 1, ...extra });

    /** A fake engine's accounts that records what reached it. */
    function recording(key: string, calls: string[]): EngineAccounts {
      const note = (what: string) => async () => {
        calls.push(`${key}:${what}`);
        return undefined as never;
      };
      return {
        checkTarget: async () => (calls.push(`${key}:checkTarget`), { host: key, port: 1, engine: key }),
        accountExists: note('accountExists'),
        ensureAccount: note('ensureAccount'),
        setAccountExpiry: note('setAccountExpiry'),
        setPrivileges: note('setPrivileges'),
        revokeAllPrivileges: note('revokeAllPrivileges'),
        schemaPrivileges: note('schemaPrivileges'),
        accountFootprint: note('accountFootprint'),
        adoptAccount: note('adoptAccount'),
        killSessions: note('killSessions'),
        endAccess: note('endAccess'),
        accountGrants: note('accountGrants'),
        inventory: note('inventory'),
        close: note('close'),
      };
    }

    function router(secrets: Record<string, string> = {}) {
      const calls: string[] = [];
      const built: string[] = [];
      const accounts = createAccountRouter({
        create: (key) => {
          if (key !== 'mysql' && key !== 'other') throw new Error(`no database engine "${key}"`);
          built.push(key);
          return recording(key, calls);
        },
        engineOfSecret: (id) => secrets[id],
      });
      return { accounts, calls, built };
    }

    it("When a target names its engine, then every call goes to that engine's manager, built once on first use", async () => {
      const { accounts, calls, built } = router();
      assert.deepEqual(built, [], 'nothing built before a call');
      assert.equal((await accounts.checkTarget(target({ engine: 'other' }))).engine, 'other');
      await accounts.setPrivileges(target({ engine: 'other' }), 'acct', READ, undefined);
      await accounts.endAccess(target({ engine: 'mysql' }), 'acct');
      await accounts.killSessions(target({ engine: 'other' }), 'acct');
      await accounts.adoptAccount(target({ engine: 'other' }), 'acct', 'g1');
      assert.deepEqual(calls, ['other:checkTarget', 'other:setPrivileges', 'mysql:endAccess', 'other:killSessions', 'other:adoptAccount']);
      assert.deepEqual(built, ['other', 'mysql']);
      await accounts.close();
      assert.deepEqual(calls.slice(-2).sort(), ['mysql:close', 'other:close']);
    });

    it("When a target names no engine, then it goes to its admin secret's configured engine, else MySQL's (grants begun before engines existed)", async () => {
      const { accounts, calls } = router({ 'admin/o': 'other' });
      await accounts.accountExists(target({ adminSecretId: 'admin/o' }), 'acct');
      await accounts.accountExists(target({ adminSecretId: 'admin/gone' }), 'acct');
      await accounts.inventory('admin/o', () => true);
      await accounts.inventory('admin/m', () => true);
      assert.deepEqual(calls, ['other:accountExists', 'mysql:accountExists', 'other:inventory', 'mysql:inventory']);
    });

    it('When a target names an engine that has no manager, then the call fails with InvalidIdentifier and reaches no engine', async () => {
      const { accounts, calls } = router();
      await assert.rejects(accounts.endAccess(target({ engine: 'oracle' }), 'acct'), (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure);
        assert.equal(err.type, ActivityErrorType.InvalidIdentifier);
        assert.match(err.message, /database engine oracle/);
        return true;
      });
      assert.deepEqual(calls, []);
    });

    it("When a level is lowered, then changePrivileges ends sessions only when the target's engine says the change needs it", async () => {
      const quiet = new DefaultLogger('ERROR', () => undefined);
      for (const [rule, expected] of [
        [undefined, ['mysql:setPrivileges', 'mysql:killSessions']],
        [() => false, ['mysql:setPrivileges']],
        [(t: GrantTarget, previous: readonly string[], next: readonly string[]) => mysqlEngine.privileges.endsSessions(previous, next), ['mysql:setPrivileges', 'mysql:killSessions']],
      ] as const) {
        const { accounts, calls } = router();
        const deps = { accounts, ...(rule ? { endsSessions: rule } : {}) } as unknown as ActivityDeps;
        const change = { grantId: 'g', account: 'acct', secretName: 's', project: 'p', database: 'd', target: target({ engine: 'mysql' }), privileges: READ, previous: READ_WRITE };
        await new MockActivityEnvironment(undefined, { logger: quiet }).run(() => createActivities(deps).changePrivileges(change as never));
        assert.deepEqual(calls, expected);
      }
    });

    it("When an account is created or its grant extended, then the engine is given the grant's expiry and id, and the activity reports whether the expiry moved", async () => {
      const quiet = new DefaultLogger('ERROR', () => undefined);
      const seen: unknown[] = [];
      const accounts = {
        accountExists: async () => false,
        checkTarget: async () => ({ host: 'h', port: 5432, engine: 'postgresql' }),
        ensureAccount: async (_t: GrantTarget, _a: string, _p: string, o: unknown) => void seen.push(['ensureAccount', { ...(o as object), signal: undefined }]),
        setAccountExpiry: async (_t: GrantTarget, a: string, validUntil: string) => (seen.push(['setAccountExpiry', a, validUntil]), a === 'acct'),
      };
      const secrets = { describe: async () => undefined, put: async () => undefined };
      const deps = { accounts, secrets } as unknown as ActivityDeps;
      const ref = { grantId: 'grant/p/d/x@example.com', account: 'acct', secretName: 's', project: 'p', database: 'd', target: target({ engine: 'postgresql' }) };
      const env = () => new MockActivityEnvironment(undefined, { logger: quiet });
      await env().run(() => createActivities(deps).createAccount({ ...ref, validUntil: '2031-01-01T00:00:00.000Z' }));
      await env().run(() => createActivities(deps).createAccount(ref));
      assert.deepEqual(await env().run(() => createActivities(deps).setAccountExpiry({ ...ref, validUntil: '2031-02-01T00:00:00.000Z' })), { moved: true });
      assert.deepEqual(await env().run(() => createActivities(deps).setAccountExpiry({ ...ref, account: 'gone', validUntil: '2031-02-01T00:00:00.000Z' })), { moved: false });
      assert.deepEqual(seen, [
        ['ensureAccount', { grantId: ref.grantId, validUntil: '2031-01-01T00:00:00.000Z', signal: undefined }],
        ['ensureAccount', { grantId: ref.grantId, signal: undefined }],
        ['setAccountExpiry', 'acct', '2031-02-01T00:00:00.000Z'],
        ['setAccountExpiry', 'gone', '2031-02-01T00:00:00.000Z'],
      ]);
    });
  });
});

