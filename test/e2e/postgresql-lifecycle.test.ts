import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type pg from 'pg';
import { grantIdFor, type ReconcileSummary } from '../../src/domain';
import { deriveAccountName } from '../../src/domain/naming';
import { loginAs, startPgServiceStack, type PgCluster, type PgServiceDatabase, type PgServiceStack } from '../support/pg-cluster';
import { RUN_PREFIX, randomName } from '../support/mariadb';
import { ROLE_CLIENTS, type TestStack } from '../support/stack';
import { ROOT } from '../support/tools';
import { until } from '../support/wait';

// What the PostgreSQL story test leaves out, on the same kind of private
// password-checking cluster: a rollback after the role was made, approval and denial, the
// one-time credential page, the armed expiry, drift repaired by the reconciler,
// adoption of roles made by hand, the CLI and the worker's counters. ADMIN on the `pg`
// database needs approval.

describe('end to end: the rest of the lifecycle on PostgreSQL', function () {
  this.timeout(180_000);
  let cluster: PgCluster;
  let db: PgServiceDatabase;
  let stack: TestStack;
  let pgStack: PgServiceStack | undefined;

  before(async () => {
    // A reminder 12 s before each expiry: only the 20-second grant below lives to see one.
    pgStack = await startPgServiceStack(`lc${randomName(4)}`, { requireApproval: ['ADMIN'], reminders: ['12s'] });
    ({ cluster, db, stack } = pgStack);
  });
  after(async () => {
    await pgStack?.stop();
  });

  const days = (n: number) => new Date(Date.now() + n * 24 * 3600_000).toISOString();
  const as = (role: keyof typeof ROLE_CLIENTS) => ({ key: stack.keys[role] });

  const login = (user: string, password: string): Promise<pg.Client> => pgStack!.login(user, password);

  async function role(name: string): Promise<{ comment: string | null } | undefined> {
    const { rows } = await cluster.root().query<{ comment: string | null }>("SELECT shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1", [name]);
    return rows[0];
  }

  /** The role's privileges on the schema's table `t` and on the schema, as `has_*_privilege` sees them. */
  async function can(name: string): Promise<string[]> {
    const { rows } = await cluster.root(db.database).query<{ p: string }>(
      `SELECT p FROM unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE']) p WHERE has_table_privilege($1, '${db.schema}.t', p)
       UNION ALL SELECT 'CREATE' WHERE has_schema_privilege($1, '${db.schema}', 'CREATE') ORDER BY 1`,
      [name],
    );
    return rows.map((r) => r.p);
  }

  async function request(accessLevel: string, expiresAt: string, key: keyof typeof ROLE_CLIENTS = 'admin') {
    const email = stack.newEmail();
    const res = await stack.call('POST', '/grants', { email, name: 'Paula Postgres', project: stack.project, database: 'pg', accessLevel, expiresAt, reason: 'e2e' }, as(key));
    return { email, res, account: deriveAccountName(email, stack.project, 'pg') };
  }

  async function grant(accessLevel: string, expiresAt: string) {
    const { email, res } = await request(accessLevel, expiresAt);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const body = res.body as { grantId: string; account: string; secretName: string };
    const secret = (await stack.components.readGrantSecret(body.secretName))!;
    return { ...body, email, password: secret.password };
  }

  async function status(grantId: string, wanted: string[], timeoutMs = 15_000): Promise<any> {
    return until(`${grantId} ${wanted.join('/')}`, async () => {
      const res = await stack.call('GET', stack.grantPath(grantId));
      return wanted.includes(res.body.status) && res.body;
    }, timeoutMs);
  }

  async function reconcile(): Promise<ReconcileSummary> {
    return (await stack.client.workflow.execute('reconcileAccess', {
      taskQueue: stack.taskQueue,
      workflowId: `reconcile-pglc-${RUN_PREFIX}-${randomName(4)}`,
      args: [{ mode: 'revoke' }],
    })) as ReconcileSummary;
  }

  // First, so that no other test's e-mail takes the refusal.
  it('When provisioning fails after the role was created (the GRANTED e-mail is refused), then it is rolled back: no role and no secret are left', async () => {
    stack.components.smtp.rejectNext(1, 550, 'rcpt');
    const { email, res, account } = await request('READ', days(3));
    assert.equal(res.status, 502, JSON.stringify(res.body));
    assert.equal(res.body.error, 'grant_failed');
    const grantId = grantIdFor(stack.project, 'pg', email);
    const final = await until('the rollback to finish', async () => {
      const got = await stack.call('GET', stack.grantPath(grantId));
      return got.body.workflow?.status !== 'RUNNING' && got.body;
    }, 30_000);
    assert.equal(final.status, 'FAILED');
    const events = final.history.map((h: { event: string }) => h.event);
    assert.ok(events.includes('GRANTED') && events.includes('ROLLED_BACK'), JSON.stringify(events));
    assert.equal(await role(account), undefined, 'the role is dropped');
    assert.equal(await stack.components.secretExists(`${stack.components.secretPrefix}/${stack.project}/pg/${account}`), false);
  });

  it('When an ADMIN request needs approval, then nothing exists until it is approved, and approval makes a working role', async () => {
    const { res, account } = await request('ADMIN', days(2), 'requester');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.status, 'PENDING_APPROVAL');
    assert.equal(await role(account), undefined, 'no role before approval');
    const approved = await stack.call('POST', stack.grantPath(res.body.grantId, '/approve'), { reason: 'ok' }, as('approver'));
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal(approved.body.status, 'ACTIVE');
    const secret = (await stack.components.readGrantSecret(approved.body.secretName))!;
    const session = await login(account, secret.password);
    await session.query(`CREATE TABLE ${db.schema}.approved_${randomName(4)} (id int)`);
    assert.equal((await role(account))?.comment, `dbaccess grant ${res.body.grantId}`);
  });

  it('When an approver denies an ADMIN request, then it ends DENIED and no role or secret was ever made', async () => {
    const { res, account } = await request('ADMIN', days(2), 'requester');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const denied = await stack.call('POST', stack.grantPath(res.body.grantId, '/deny'), { reason: 'not now' }, as('approver'));
    assert.equal(denied.status, 200, JSON.stringify(denied.body));
    const final = await status(res.body.grantId, ['DENIED']);
    assert.ok(!final.history.some((h: { event: string }) => h.event === 'GRANTED'));
    assert.equal(await role(account), undefined);
    assert.equal(await stack.components.secretExists(`${stack.components.secretPrefix}/${stack.project}/pg/${account}`), false);
  });

  it('When the one-time credential link is redeemed, then the page gives a password that logs in and the psql command that opens the database', async () => {
    const g = await grant('READ_WRITE', days(3));
    const mail = await stack.components.smtp.waitFor((m) => m.to.includes(g.email) && /granted/i.test(m.subject), 15_000);
    const token = /\/credentials\/([A-Za-z0-9_-]{43})\b/.exec(mail.text)?.[1];
    assert.ok(token, 'the e-mail has a one-time link');
    const page = await stack.call('POST', `/credentials/${token}`, '', {
      key: null,
      headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(page.status, 200, JSON.stringify(page.body));
    const html = String(page.body);
    const cell = (label: string) => new RegExp(`<td>${label}</td><td class="v">([^<]*)</td>`).exec(html)?.[1];
    const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
    const password = unescape(cell('Password') ?? '');
    assert.equal(password, g.password, 'the page shows the stored password');
    assert.equal(cell('Database'), db.database);
    assert.match(unescape(html), new RegExp(`psql '[^']*port=${cluster.port} user=${g.account} dbname=${db.database}'`));
    const session = await login(g.account, password);
    await session.query(`INSERT INTO ${db.schema}.t (v) VALUES ('from the link')`);
    const again = await stack.call('POST', `/credentials/${token}`, '', { key: null, headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(again.status, 410, 'the link works once');
  });

  it('When a grant expires (revocation armed ahead), then the grantee is reminded before, and the role and its open session end at the expiry', async () => {
    const expiresAt = new Date(Date.now() + 20_000).toISOString();
    const g = await grant('READ', expiresAt);
    const session = await login(g.account, g.password);
    await session.query(`SELECT count(*) FROM ${db.schema}.t`);
    const final = await status(g.grantId, ['EXPIRED'], 60_000);
    assert.ok(Date.now() >= Date.parse(expiresAt));
    assert.equal(final.history.at(-1).event, 'EXPIRED');
    assert.equal(await role(g.account), undefined, 'the role is dropped');
    await assert.rejects(session.query('SELECT 1'), 'the open session was ended');
    await assert.rejects(loginAs(cluster, g.account, g.password, db.database));
    // The reminder: audited, and e-mailed to the grantee (never with the password) 12 s before.
    const events = final.history.map((h: { event: string }) => h.event);
    assert.deepEqual(events.filter((e: string) => e === 'REMINDER_SENT'), ['REMINDER_SENT'], JSON.stringify(events));
    const reminder = stack.components.smtp.messages.filter((m) => m.to.includes(g.email) && m.subject.startsWith('[dbaccess] reminder:'));
    assert.equal(reminder.length, 1);
    assert.ok(reminder[0]!.text.replace(/\s+/g, ' ').includes(`the account ${g.account} is locked`), reminder[0]!.text);
    assert.ok(!reminder[0]!.text.includes(g.password) && !reminder[0]!.html.includes(g.password));
  });

  it('When a privilege is added by hand to a role, then the reconciler repairs the drift and the grant audits DRIFT_REPAIRED', async () => {
    const g = await grant('READ', days(3));
    assert.deepEqual(await can(g.account), ['SELECT']);
    await cluster.root(db.database).query(`GRANT INSERT ON ${db.schema}.t TO "${g.account}"`);
    assert.deepEqual(await can(g.account), ['INSERT', 'SELECT']);
    const summary = await reconcile();
    assert.ok(summary.servers.every((s) => !s.error), JSON.stringify(summary.servers));
    const drift = summary.drift.filter((d) => d.grantId === g.grantId);
    assert.equal(drift.length, 1, JSON.stringify(summary.drift));
    assert.equal(drift[0]!.outcome, 'repaired', JSON.stringify(drift[0]));
    assert.deepEqual(await can(g.account), ['SELECT'], 'INSERT is gone');
    await until('DRIFT_REPAIRED', async () => (await stack.components.deps.audit.forGrant(g.grantId)).some((e) => e.event === 'DRIFT_REPAIRED'));
    const again = await reconcile();
    assert.equal(again.drift.filter((d) => d.grantId === g.grantId).length, 0, 'repaired for good');
  });

  it('When grants of one level share a level group and a privilege is added to the group by hand, then the reconciler finds the drift on each member and takes it back from the group', async () => {
    const [a, b] = [await grant('READ', days(3)), await grant('READ', days(3))];
    const groups = async (account: string) =>
      (
        await cluster.root().query<{ g: string }>('SELECT g.rolname AS g FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1', [account])
      ).rows.map((r) => r.g);
    const [group] = await groups(a.account);
    assert.match(group ?? '', /^dbaccess-lvl-[0-9a-f]{16}$/);
    assert.deepEqual(await groups(b.account), [group], 'one group for the level');
    await cluster.root(db.database).query(`GRANT INSERT ON ${db.schema}.t TO "${group}"`);
    assert.deepEqual(await can(b.account), ['INSERT', 'SELECT']);
    const summary = await reconcile();
    // Every member of the group shows the drift; the first repair takes it back from the group, so the others are clean by their turn.
    const members = summary.drift.filter((d) => d.actual.includes('INSERT'));
    assert.ok([a, b].every((g) => members.some((d) => d.grantId === g.grantId)), JSON.stringify(summary.drift));
    assert.equal(members.filter((d) => d.outcome === 'repaired').length, 1, JSON.stringify(members));
    assert.ok(members.every((d) => d.outcome === 'repaired' || d.outcome === 'clean'), JSON.stringify(members));
    for (const g of [a, b]) assert.deepEqual(await can(g.account), ['SELECT'], `${g.account}: INSERT is gone`);
    const again = await reconcile();
    assert.equal(again.drift.filter((d) => d.grantId === a.grantId || d.grantId === b.grantId).length, 0, 'repaired for good');
    for (const g of [a, b]) assert.equal((await stack.call('POST', stack.grantPath(g.grantId, '/revoke'), { reason: 'done' })).status, 202);
  });

  describe('adoption of roles made by hand', () => {
    async function handMade(extra = ''): Promise<{ account: string; password: string }> {
      const account = `${RUN_PREFIX}_old${randomName(4)}`;
      const password = `Old${randomName(12)}`;
      const root = cluster.root(db.database);
      await root.query(`CREATE ROLE "${account}" LOGIN PASSWORD '${password}' ${extra}`);
      await root.query(`COMMENT ON ROLE "${account}" IS 'made by the old script'`);
      await root.query(`GRANT USAGE ON SCHEMA ${db.schema} TO "${account}"`);
      await root.query(`GRANT SELECT ON ${db.schema}.t TO "${account}"`);
      return { account, password };
    }

    const adopt = (account: string, email = stack.newEmail()) =>
      stack.call('POST', '/grants/adopt', { rows: [{ email, name: 'Olga Old', project: stack.project, database: 'pg', accessLevel: 'READ', account, expiresAt: days(5).slice(0, 10) }] });

    it('When a role holding exactly READ is adopted, then it is tagged as the grant’s, keeps its password, and can be changed, extended and revoked', async () => {
      const old = await handMade();
      const res = await adopt(old.account);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const [row] = res.body.results;
      assert.equal(row.status, 'ADOPTED', JSON.stringify(row));
      assert.equal((await role(old.account))?.comment, `dbaccess grant ${row.grantId}`);
      const adopted = await cluster.root().query<{ until: Date | null }>('SELECT rolvaliduntil AS until FROM pg_roles WHERE rolname = $1', [old.account]);
      assert.equal(adopted.rows[0]?.until?.toISOString(), row.expiresAt, 'adoption bounds the role by the grant expiry on the server');
      const session = await login(old.account, old.password);
      await session.query(`SELECT count(*) FROM ${db.schema}.t`);

      const raised = await stack.call('PATCH', stack.grantPath(row.grantId), { accessLevel: 'READ_WRITE' });
      assert.equal(raised.status, 200, JSON.stringify(raised.body));
      assert.deepEqual(await can(old.account), ['DELETE', 'INSERT', 'SELECT', 'UPDATE']);
      const later = days(9);
      const extended = await stack.call('POST', stack.grantPath(row.grantId, '/extend'), { expiresAt: later });
      assert.equal(extended.status, 200, JSON.stringify(extended.body));
      const { rows } = await cluster.root().query<{ until: Date | null }>('SELECT rolvaliduntil AS until FROM pg_roles WHERE rolname = $1', [old.account]);
      assert.equal(rows[0]?.until?.toISOString(), later, 'the extension sets VALID UNTIL');

      assert.equal((await stack.call('POST', stack.grantPath(row.grantId, '/revoke'), { reason: 'done' })).status, 202);
      const final = await status(row.grantId, ['REVOKED']);
      assert.deepEqual(final.history.map((h: { event: string }) => h.event), ['REQUESTED', 'ADOPTED', 'LEVEL_CHANGED', 'EXTENDED', 'REVOKE_REQUESTED', 'REVOKED']);
      assert.equal(await role(old.account), undefined, 'the adopted role is dropped');
      await assert.rejects(session.query('SELECT 1'), 'its session was ended');
    });

    it('When a role holds more than the level (CREATEDB), then adoption is refused and the role is left as it was', async () => {
      const old = await handMade('CREATEDB');
      const res = await adopt(old.account);
      const [row] = res.body.results;
      assert.equal(row.status, 'REFUSED', JSON.stringify(row));
      assert.match(row.message, /holds more than .*global privileges CREATEDB/);
      assert.equal((await role(old.account))?.comment, 'made by the old script', 'not tagged');
      assert.deepEqual(await can(old.account), ['SELECT']);
    });

    it('When a role is marked as another grant’s, then adoption is refused and the mark is kept', async () => {
      const old = await handMade();
      await cluster.root().query(`COMMENT ON ROLE "${old.account}" IS 'dbaccess grant grant/other/pg/someone@example.com'`);
      const [row] = (await adopt(old.account)).body.results;
      assert.equal(row.status, 'REFUSED', JSON.stringify(row));
      assert.match(row.message, /another grant/);
      assert.equal((await role(old.account))?.comment, 'dbaccess grant grant/other/pg/someone@example.com');
    });
  });

  it('When the CLI grants, shows and revokes on PostgreSQL, then each command works and the role follows', async () => {
    const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve, reject) => {
        const env = { PATH: process.env.PATH ?? '', DBACCESS_URL: stack.url, DBACCESS_API_KEY: stack.keys.admin };
        const child = spawn(process.execPath, ['-r', 'tsx/cjs', 'src/cli/index.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      });
    const ok = (r: { code: number; stdout: string; stderr: string }) => assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    const email = stack.newEmail();
    const id = grantIdFor(stack.project, 'pg', email);
    const account = deriveAccountName(email, stack.project, 'pg');
    ok(await cli(['grant', '--email', email, '--name', 'Carl Cli', '--project', stack.project, '--database', 'pg', '--level', 'READ', '--expires', days(4).slice(0, 10), '--reason', 'cli']));
    assert.ok(await role(account), 'the role exists');
    const shown = await cli(['show', id]);
    ok(shown);
    assert.match(shown.stdout, /\nstatus: +ACTIVE\n/);
    assert.ok(shown.stdout.includes(account), shown.stdout);
    const revoked = await cli(['revoke', id, '--reason', 'done', '--json']);
    ok(revoked);
    assert.deepEqual(JSON.parse(revoked.stdout), { grantId: id, status: 'REVOKING' });
    await status(id, ['REVOKED']);
    assert.equal(await role(account), undefined, 'the role is dropped');
  });

  // Nested, so it runs after every test above (mocha runs a suite's own tests before its nested suites).
  describe('metrics', () => {
    it('When the tests above ran, then the worker counted the PostgreSQL database\'s grants under its own labels', async () => {
      const text = await stack.worker.metrics.metrics();
      const value = (name: string) => Number(new RegExp(`^${name}\\{project="${stack.project}",database="pg"\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
      assert.equal(value('dbaccess_grants_rolled_back_total'), 1, text);
      assert.equal(value('dbaccess_grants_expired_total'), 1);
      assert.ok(value('dbaccess_grants_provisioned_total') >= 5, text);
      assert.ok(value('dbaccess_grants_revoked_total') >= 2, text);
    });
  });
});
