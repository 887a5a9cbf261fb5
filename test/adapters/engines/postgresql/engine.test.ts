import { strict as assert } from 'node:assert';

import { judgeAdmin, pgLevels, postgresqlEngine } from '../../../../src/adapters/engines/postgresql';
import type { AdminCredentials, EngineAccounts } from '../../../../src/adapters/engines/port';
import { ConfigError } from '../../../../src/config/errors';
import { privilegeDifference } from '../../../../src/domain';
import { createFixture, PG_HOST, PG_PORT, randomName, randomPassword, RUN_PREFIX, type Fixture } from './pg';

// PostgreSQL as a registered engine against the machine's PostgreSQL 15: the
// start-up check of its admin roles and the inventory the reconciler reads.

describe('PostgreSQL engine: start-up check and inventory', function () {
  this.timeout(30_000);
  let fx: Fixture;
  let accounts: EngineAccounts;
  const logs: string[] = [];
  const logger = { info: (o: object, m: string) => logs.push(`${m} ${JSON.stringify(o)}`), warn: (o: object, m: string) => logs.push(`${m} ${JSON.stringify(o)}`) };
  const source = (creds: Record<string, AdminCredentials>) => ({ get: async (id: string) => creds[id]! });

  before(async () => {
    fx = await createFixture('e');
    accounts = postgresqlEngine.createAccounts({ credentials: source({ [fx.target().adminSecretId]: fx.credentials }) });
  });
  after(async () => accounts?.close());

  describe('start-up check', () => {
    it('When the admin is a CREATEROLE member of pg_signal_backend and of the schema owner, then nothing is missing or in excess', async () => {
      const result = await postgresqlEngine.checkAdmin({ scopes: new Map([['admin/ok', [fx.schema]]]), credentials: source({ 'admin/ok': fx.credentials }), allowExtraPrivileges: false, logger });
      assert.deepEqual([result.excess.size, result.missing.size, result.unchecked.size], [0, 0, 0]);
    });

    it('When a schema is missing or its owner is not the admin’s, then that is reported as missing; an unreachable server as unchecked', async () => {
      const stranger = `${RUN_PREFIX}_st${randomName(3)}`;
      await fx.query(`CREATE ROLE "${stranger}" NOLOGIN`);
      await fx.query(`CREATE SCHEMA other_owner AUTHORIZATION "${stranger}"`);
      const result = await postgresqlEngine.checkAdmin({
        scopes: new Map([
          ['admin/some', ['nope', 'other_owner', fx.schema]],
          ['admin/down', [fx.schema]],
        ]),
        credentials: source({ 'admin/some': fx.credentials, 'admin/down': { ...fx.credentials, port: 1 } }),
        allowExtraPrivileges: false,
        logger,
        timeoutMs: 2000,
      });
      assert.deepEqual(result.missing.get('admin/some'), ['schema nope (it does not exist)', `membership in the owner ${stranger} of schema other_owner`]);
      assert.ok(result.unchecked.has('admin/down'));
    });

    it('When the admin is a superuser, then the start is refused unless extra privileges are allowed', async () => {
      const superuser = { host: PG_HOST, port: PG_PORT, username: 'postgres', password: 'unused-under-trust', database: fx.database };
      const options = { scopes: new Map([['admin/super', [fx.schema]]]), credentials: source({ 'admin/super': superuser }), logger };
      await assert.rejects(postgresqlEngine.checkAdmin({ ...options, allowExtraPrivileges: false }), (err: unknown) => err instanceof ConfigError && /superuser/.test(String((err as ConfigError).problems)));
      const allowed = await postgresqlEngine.checkAdmin({ ...options, allowExtraPrivileges: true });
      assert.deepEqual(allowed.excess.get('admin/super'), ['SUPERUSER']);
    });

    it('When the rule is asked without a server, then a superuser lacks nothing and a plain role lacks each requirement', () => {
      assert.deepEqual(judgeAdmin({ super: true }, new Map()), { superuser: true, missing: [] });
      assert.deepEqual(judgeAdmin({}, new Map([['s', { owner: 'o', member: false }]])), { superuser: false, missing: ['CREATEROLE', 'membership in pg_signal_backend', 'membership in the owner o of schema s'] });
    });
  });

  describe('inventory', () => {
    it('When the reconciler lists the server, then the service’s LOGIN roles appear with their schema privileges in catalogue names, and neither the admin nor NOLOGIN roles do', async () => {
      const rw = `${RUN_PREFIX}_i${randomName(4)}`;
      const admin = `${RUN_PREFIX}_j${randomName(4)}`;
      await accounts.ensureAccount(fx.target(), rw, randomPassword(), { grantId: `grant/p/d/${rw}@example.com` });
      await accounts.setPrivileges(fx.target(), rw, [...pgLevels.READ_WRITE!]);
      await accounts.ensureAccount(fx.target(), admin, randomPassword(), { grantId: `grant/p/d/${admin}@example.com` });
      await accounts.setPrivileges(fx.target(), admin, [...pgLevels.ADMIN!]);
      const nologin = `${RUN_PREFIX}_n${randomName(4)}`;
      await fx.query(`CREATE ROLE "${nologin}" NOLOGIN`);
      await fx.query(`GRANT USAGE ON SCHEMA ${fx.schema} TO "${nologin}"`);
      const include = (user: string) => user.startsWith(RUN_PREFIX);
      const server = await accounts.inventory(fx.target().adminSecretId, include);
      assert.equal(server.dialect, 'postgresql');
      assert.equal(server.adminAccount, fx.admin);
      const users = server.accounts.map((a) => a.user);
      assert.ok(users.includes(rw) && users.includes(admin), JSON.stringify(users));
      assert.ok(!users.includes(fx.admin), 'the admin is never a candidate');
      assert.ok(!users.includes(nologin) && !server.grants.some((g) => g.user === nologin), 'a role that cannot log in is no account');
      assert.ok(server.accounts.every((a) => a.host === '%'));
      const of = (user: string) => server.grants.filter((g) => g.user === user);
      assert.deepEqual(of(rw).map((g) => [g.serviceSchema, g.privileges]), [[fx.schema, ['SELECT', 'INSERT', 'UPDATE', 'DELETE']]]);
      assert.deepEqual(of(admin).map((g) => [g.serviceSchema, g.privileges]), [[fx.schema, ['ALL PRIVILEGES']]]);
      // The reconciler's comparison sees no drift for either.
      assert.deepEqual(privilegeDifference(pgLevels.ADMIN!, of(admin)[0]!.privileges, server.databasePrivileges), { extra: [], missing: [] });

      const one = await accounts.accountGrants(fx.target(), rw);
      assert.deepEqual(one.hosts, ['%']);
      assert.deepEqual(one.grants.map((g) => g.privileges), [['SELECT', 'INSERT', 'UPDATE', 'DELETE']]);
      const none = await accounts.accountGrants(fx.target(), `${RUN_PREFIX}_none`);
      assert.deepEqual([none.hosts, none.grants], [[], []]);
    });
  });
});
