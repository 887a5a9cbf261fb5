import { strict as assert } from 'node:assert';

import { createPostgresAccountManager, pgLevels, type PostgresAccountManager } from '../../../../src/adapters/engines/postgresql';
import { ActivityErrorType } from '../../../../src/adapters/errors';
import { expectFailure } from '../../../support/failures';
import { createFixture, randomName, randomPassword, RUN_PREFIX, sqlstateOf, StaticCredentialSource, type Fixture } from './pg';

// Ending a PostgreSQL account's access: contained, sessions ended, what it made
// kept (handed to the owner role and reported), then dropped; idempotent.

describe('PostgreSQL account manager: ending access', function () {
  this.timeout(30_000);
  let fx: Fixture;
  let manager: PostgresAccountManager;
  const account = (tag: string) => `${RUN_PREFIX}_${tag}${randomName(3)}`;

  before(async () => {
    fx = await createFixture('end');
    await fx.query('CREATE TABLE app.base (id serial PRIMARY KEY, v text)');
    await fx.query(`ALTER TABLE app.base OWNER TO "${fx.owner}"`);
    manager = createPostgresAccountManager({ credentials: new StaticCredentialSource(fx.credentials) });
  });

  after(async () => {
    await manager?.close();
  });

  async function owners(database?: string) {
    const rows = await fx.query<{ name: string; owner: string }>(
      `SELECT n.nspname || '.' || c.relname AS name, pg_get_userbyid(c.relowner) AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('app', 'public') AND c.relkind = 'r'
       UNION ALL SELECT n.nspname || '.' || p.proname, pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('app', 'public')`,
      [],
      database,
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.owner]));
  }

  it('ends sessions, keeps what the grantee made (owned by the owner role, reported), drops the role; twice', async () => {
    const name = account('g');
    await manager.ensureAccount(fx.target(), name, randomPassword(), { grantId: 'g-end' });
    await manager.setPrivileges(fx.target(), name, [...pgLevels.ADMIN!]);
    const a = await fx.connectAs(name);
    await a.query("CREATE TABLE app.kept (x int); INSERT INTO app.kept VALUES (1), (2); CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS 'SELECT 1'");
    await a.query("INSERT INTO app.base (v) VALUES ('grantee row')");
    const b = await fx.connectAs(name, fx.otherDatabase);
    await b.query('CREATE TABLE public.elsewhere (x int)');

    const ending = await manager.endAccess(fx.target(), name);
    assert.equal(ending.existed, true);
    assert.equal(ending.dropped, true);
    assert.equal(ending.refusal, undefined);
    assert.equal(ending.sessionsKilled, 2);
    assert.ok(ending.containedAt);
    assert.equal(ending.leftBehindCount, 3);
    assert.deepEqual(
      ending.leftBehind.map((o) => `${o.kind} ${o.schema}.${o.name} (${o.note})`).sort(),
      [`FUNCTION app.f (owner now ${fx.owner})`, `TABLE app.kept (owner now ${fx.owner})`, `TABLE public.elsewhere (in database ${fx.otherDatabase}; owner now ${fx.owner})`].sort(),
    );

    // Sessions gone, the role gone (no login), the data kept and now the owner's.
    assert.notEqual(await sqlstateOf(a.query('SELECT 1')), undefined);
    assert.notEqual(await sqlstateOf(b.query('SELECT 1')), undefined);
    assert.equal((await fx.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).length, 0);
    assert.equal(await sqlstateOf(fx.connectAs(name)), '28000');
    assert.deepEqual((await fx.query('SELECT x FROM app.kept ORDER BY x')).map((r) => r.x), [1, 2]);
    assert.equal((await fx.query("SELECT count(*)::int AS n FROM app.base WHERE v = 'grantee row'"))[0]!.n, 1);
    const here = await owners();
    assert.equal(here['app.kept'], fx.owner);
    assert.equal(here['app.f'], fx.owner);
    assert.equal((await owners(fx.otherDatabase))['public.elsewhere'], fx.owner);

    const again = await manager.endAccess(fx.target(), name);
    assert.deepEqual(again, { existed: false, sessionsKilled: 0, dropped: true, leftBehind: [], leftBehindCount: 0 });
    assert.equal(await manager.accountExists(fx.target(), name), false);
  });

  it("what the grantee made does not run with the owner role's rights once it is handed over: definer routines become invoker, views check the reader, rules and its triggers are disabled", async () => {
    // A schema of the owner that grantees never get: what the hand-over must not open.
    await fx.query('CREATE SCHEMA IF NOT EXISTS vault');
    await fx.query(`ALTER SCHEMA vault OWNER TO "${fx.owner}"`);
    await fx.query('CREATE TABLE IF NOT EXISTS vault.secret (v text)');
    await fx.query(`ALTER TABLE vault.secret OWNER TO "${fx.owner}"`);
    const name = account('p');
    await manager.ensureAccount(fx.target(), name, randomPassword(), { grantId: 'g-plant' });
    await manager.setPrivileges(fx.target(), name, [...pgLevels.ADMIN!]);
    const a = await fx.connectAs(name);
    await a.query(`CREATE FUNCTION app.peek() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS 'BEGIN RETURN (SELECT count(*) FROM vault.secret); END'`);
    await a.query('CREATE TABLE app.log (x int); CREATE TABLE app.inbox (x int)');
    await a.query('CREATE VIEW app.logged AS SELECT x FROM app.log');
    await a.query('CREATE RULE copy AS ON INSERT TO app.inbox DO ALSO INSERT INTO app.log VALUES (NEW.x)');
    // A trigger on the owner's table (ADMIN holds TRIGGER), whose code would run as whoever writes it.
    await a.query(`CREATE FUNCTION app.trap() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN INSERT INTO app.log VALUES (99); RETURN NEW; END'`);
    await a.query('CREATE TRIGGER trap AFTER INSERT ON app.base FOR EACH ROW EXECUTE FUNCTION app.trap()');
    await a.query('GRANT ALL ON app.inbox, app.logged TO PUBLIC');
    await a.end();

    const ending = await manager.endAccess(fx.target(), name);
    assert.equal(ending.dropped, true);

    // Someone else who may call the function (EXECUTE is PUBLIC's) gets no more than their own rights.
    const reader = account('rd');
    await fx.query(`CREATE ROLE "${reader}" LOGIN`);
    await fx.query(`GRANT CONNECT ON DATABASE "${fx.database}" TO "${reader}"`);
    await fx.query(`GRANT USAGE ON SCHEMA app TO "${reader}"`);
    const r = await fx.connectAs(reader);
    try {
      assert.equal(await sqlstateOf(r.query('SELECT app.peek()')), '42501', 'the routine runs with the caller\'s rights, not the owner role\'s');
      const [fn] = await fx.query<{ definer: boolean }>("SELECT prosecdef AS definer FROM pg_proc WHERE proname = 'peek' AND pronamespace = 'app'::regnamespace");
      assert.equal(fn!.definer, false);
      const [view] = await fx.query<{ options: string[] | null }>("SELECT reloptions AS options FROM pg_class WHERE oid = 'app.logged'::regclass");
      assert.ok(view!.options?.includes('security_invoker=true'), String(view!.options));
      const [rule] = await fx.query<{ enabled: string }>("SELECT ev_enabled AS enabled FROM pg_rewrite WHERE rulename = 'copy' AND ev_class = 'app.inbox'::regclass");
      assert.equal(rule!.enabled, 'D');
      // An insert through the kept table no longer writes elsewhere with the owner role's rights,
      // and the owner's own writes no longer run the grantee's trigger.
      await r.query('INSERT INTO app.inbox VALUES (7)');
      await fx.query("INSERT INTO app.base (v) VALUES ('after the grant')");
      assert.equal((await fx.query('SELECT count(*)::int AS n FROM app.log'))[0]!.n, 0);
      assert.ok(
        ending.leftBehind.some((o) => o.name === 'trap' && /trigger trap on app\.base disabled/.test(o.note ?? '')),
        JSON.stringify(ending.leftBehind),
      );
      assert.ok(
        ending.leftBehind.some((o) => o.name === 'peek' && /security invoker/i.test(o.note ?? '')),
        JSON.stringify(ending.leftBehind),
      );
    } finally {
      await r.end();
      await fx.query(`DROP OWNED BY "${reader}"`);
      await fx.query(`DROP ROLE "${reader}"`);
    }
  });

  it('a take-down the server refuses leaves the role contained (no login, no privilege, no session) and says why', async () => {
    const stranger = `${RUN_PREFIX}_stranger`;
    await fx.query(`CREATE ROLE "${stranger}" NOLOGIN`);
    // The admin is no member of this owner role: REASSIGN OWNED is refused.
    const refusing = createPostgresAccountManager({ credentials: new StaticCredentialSource(fx.credentials), ownerRole: stranger });
    try {
      const name = account('r');
      await manager.ensureAccount(fx.target(), name, randomPassword());
      await manager.setPrivileges(fx.target(), name, [...pgLevels.READ_WRITE!]);
      const s = await fx.connectAs(name);
      await s.query('CREATE TEMP TABLE scratch (x int)');
      await fx.query(`CREATE TABLE app.given_${name} (x int)`);
      await fx.query(`ALTER TABLE app.given_${name} OWNER TO "${name}"`);
      const ending = await refusing.endAccess(fx.target(), name);
      assert.deepEqual(ending.leftBehind, [{ kind: 'TABLE', schema: 'app', name: `given_${name}`, note: 'still owned by the account' }]);
      assert.equal(ending.existed, true);
      assert.equal(ending.dropped, false);
      assert.match(ending.refusal ?? '', /SQLSTATE 42501/);
      assert.equal(ending.sessionsKilled, 1);
      assert.notEqual(await sqlstateOf(s.query('SELECT 1')), undefined);
      const r = (await fx.query<{ rolcanlogin: boolean; rolpassword: string | null }>('SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1', [name]))[0]!;
      assert.equal(r.rolcanlogin, false);
      // No password at all: every password check fails, whatever is tried.
      assert.equal(r.rolpassword, null);
      assert.equal(await sqlstateOf(fx.connectAs(name)), '28000');
      assert.deepEqual(await manager.schemaPrivileges(fx.target(), name), []);
      // The regular manager finishes the job later.
      const done = await manager.endAccess(fx.target(), name);
      assert.equal(done.dropped, true);
    } finally {
      await refusing.close();
    }
  });

  it('contains and drops the role even when the schema is gone', async () => {
    const name = account('s');
    const schema = `gone_${randomName(4)}`;
    await fx.query(`CREATE SCHEMA ${schema} AUTHORIZATION "${fx.owner}"`);
    await manager.ensureAccount(fx.target({ schema }), name, randomPassword());
    await manager.setPrivileges(fx.target({ schema }), name, [...pgLevels.READ!]);
    const s = await fx.connectAs(name);
    await fx.query(`DROP SCHEMA ${schema} CASCADE`);
    await manager.revokeAllPrivileges(fx.target({ schema }), name);
    const ending = await manager.endAccess(fx.target({ schema }), name);
    assert.equal(ending.dropped, true);
    assert.equal(ending.sessionsKilled, 1);
    assert.notEqual(await sqlstateOf(s.query('SELECT 1')), undefined);
  });

  it('a burst of endings on one server is served in batches: each account contained, its sessions ended, dropped; a role it did not make fails alone; one that made a table is handed over', async () => {
    const logged: { fields: Record<string, unknown>; msg: string }[] = [];
    const logger = { info: (fields: object, msg: string) => logged.push({ fields: fields as Record<string, unknown>, msg }), warn: (fields: object, msg: string) => logged.push({ fields: fields as Record<string, unknown>, msg }) };
    // Two connections: one batch at a time, so calls made while it runs wait and share the next.
    const batched = createPostgresAccountManager({ credentials: new StaticCredentialSource(fx.credentials), poolSize: 2, logger });
    const foreign = account('x');
    try {
      const names = Array.from({ length: 8 }, (_, i) => account(`b${i}`));
      for (const name of names) {
        await manager.ensureAccount(fx.target(), name, randomPassword(), { grantId: `g-${name}` });
        await manager.setPrivileges(fx.target(), name, [...pgLevels.READ_WRITE!]);
      }
      await manager.setPrivileges(fx.target(), names[7]!, [...pgLevels.ADMIN!]);
      const sessions = await Promise.all(names.map((n) => fx.connectAs(n)));
      await sessions[7]!.query('CREATE TABLE app.made_in_burst (x int)');
      await fx.query(`CREATE ROLE "${foreign}" LOGIN`);

      const results = await Promise.allSettled([...names, foreign].map((n) => batched.endAccess(fx.target(), n)));
      for (const [i, name] of names.entries()) {
        const r = results[i]!;
        assert.equal(r.status, 'fulfilled', `${name}: ${r.status === 'rejected' ? String(r.reason) : ''}`);
        const ending = (r as PromiseFulfilledResult<Awaited<ReturnType<typeof batched.endAccess>>>).value;
        assert.equal(ending.existed, true);
        assert.equal(ending.dropped, true);
        assert.equal(ending.sessionsKilled, 1, name);
        assert.ok(ending.containedAt);
        assert.notEqual(await sqlstateOf(sessions[i]!.query('SELECT 1')), undefined, `${name}'s session still answers`);
        assert.deepEqual(ending.leftBehind, i === 7 ? [{ kind: 'TABLE', schema: 'app', name: 'made_in_burst', note: `owner now ${fx.owner}` }] : []);
      }
      const last = results[names.length]!;
      assert.equal(last.status, 'rejected');
      assert.equal(((last as PromiseRejectedResult).reason as { type?: string }).type, ActivityErrorType.AccountConflict);
      const left = await fx.query<{ rolname: string; rolcanlogin: boolean }>('SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY($1::text[])', [[...names, foreign]]);
      assert.deepEqual(left, [{ rolname: foreign, rolcanlogin: true }]);
      assert.equal((await owners())['app.made_in_burst'], fx.owner);
      // Fewer batches than accounts: the calls made while the first ran were served together.
      const batches = logged.filter((l) => l.msg === 'access ended; account dropped').map((l) => Number(l.fields.batch));
      assert.equal(batches.length, names.length);
      assert.ok(Math.max(...batches) > 1, `batch sizes ${batches.join(', ')}`);
    } finally {
      await batched.close();
      await fx.query(`DROP ROLE IF EXISTS "${foreign}"`);
    }
  });

  it('batches on several connections revoke side by side with grants being made: no statement collides on a catalogue row, every account ends and every grant holds its privileges', async () => {
    // Three batch slots: one batch's tables are revoked while another's database and schema are, and grants wait their turn.
    const wide = createPostgresAccountManager({ credentials: new StaticCredentialSource(fx.credentials), poolSize: 4, maxBatch: 5 });
    try {
      const ending = Array.from({ length: 30 }, (_, i) => account(`p${i}`));
      const granted = Array.from({ length: 6 }, (_, i) => account(`q${i}`));
      for (const name of [...ending, ...granted]) await manager.ensureAccount(fx.target(), name, randomPassword(), { grantId: `g-${name}` });
      for (const name of ending) await manager.setPrivileges(fx.target(), name, [...pgLevels.READ_WRITE!]);
      const results = await Promise.allSettled([
        ...ending.map((n) => wide.endAccess(fx.target(), n)),
        ...granted.map((n) => wide.setPrivileges(fx.target(), n, [...pgLevels.READ!])),
      ]);
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${[...ending, ...granted][i]}: ${String(r.reason)}`] : []));
      assert.deepEqual(failed, []);
      const left = await fx.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[]) ORDER BY 1', [[...ending, ...granted]]);
      assert.deepEqual(left.map((r) => r.rolname), [...granted].sort());
      for (const name of granted) {
        const session = await fx.connectAs(name);
        try {
          await session.query('SELECT count(*) FROM app.base');
        } finally {
          await session.end();
        }
      }
    } finally {
      await wide.close();
    }
  });

  it('refuses a role it did not make', async () => {
    const foreign = account('f');
    await fx.query(`CREATE ROLE "${foreign}" LOGIN`);
    await expectFailure(manager.endAccess(fx.target(), foreign), ActivityErrorType.AccountConflict);
    assert.equal((await fx.query<{ rolcanlogin: boolean }>('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [foreign]))[0]!.rolcanlogin, true);
  });

  it('an unreachable server is DatabaseUnavailable', async () => {
    const down = createPostgresAccountManager({ credentials: new StaticCredentialSource({ ...fx.credentials, port: 1 }), connectTimeoutMs: 1000 });
    try {
      await expectFailure(down.endAccess(fx.target(), account('u')), ActivityErrorType.DatabaseUnavailable);
      await expectFailure(down.checkTarget(fx.target()), ActivityErrorType.DatabaseUnavailable);
    } finally {
      await down.close();
    }
  });
});
