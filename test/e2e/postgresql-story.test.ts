import assert from 'node:assert/strict';
import type pg from 'pg';
import type { ReconcileSummary } from '../../src/domain';
import { loginAs, startPgServiceStack, type PgCluster, type PgServiceDatabase, type PgServiceStack } from '../support/pg-cluster';
import { RUN_PREFIX, randomName } from '../support/mariadb';
import type { TestStack } from '../support/stack';
import { until } from '../support/wait';

// A PostgreSQL database through the whole service: the real worker and API on the
// Temporal dev server, moto and SMTP, and a PostgreSQL 15 cluster of the test's own
// with password authentication (the shared server trusts local logins, so it would
// check neither a password nor VALID UNTIL). The database is configured with
// `engine: postgresql`, which each grant's target carries to the worker.

describe('end to end: a PostgreSQL grant over HTTP, and the reconciler on PostgreSQL', function () {
  this.timeout(180_000);
  let cluster: PgCluster;
  let db: PgServiceDatabase;
  let stack: TestStack;
  let pgStack: PgServiceStack | undefined;

  before(async () => {
    pgStack = await startPgServiceStack(`e2e${randomName(4)}`);
    ({ cluster, db, stack } = pgStack);
  });
  after(async () => {
    await pgStack?.stop();
  });

  const login = (user: string, password: string): Promise<pg.Client> => pgStack!.login(user, password);

  async function loginRefused(user: string, password: string): Promise<boolean> {
    try {
      await (await loginAs(cluster, user, password, db.database)).end();
      return false;
    } catch {
      return true;
    }
  }

  async function role(name: string): Promise<{ validUntil: string | undefined; comment: string | null } | undefined> {
    const { rows } = await cluster.root().query<{ rolvaliduntil: Date | null; comment: string | null }>(
      "SELECT rolvaliduntil, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1",
      [name],
    );
    return rows[0] ? { validUntil: rows[0].rolvaliduntil?.toISOString(), comment: rows[0].comment } : undefined;
  }

  async function grant(accessLevel: string, expiresAt: string): Promise<{ grantId: string; account: string; secretName: string; email: string; password: string }> {
    const email = stack.newEmail();
    const created = await stack.call('POST', '/grants', { email, name: 'Paula Postgres', project: stack.project, database: 'pg', accessLevel, expiresAt, reason: 'e2e' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'ACTIVE');
    const secret = await stack.components.readGrantSecret(created.body.secretName);
    assert.ok(secret, 'the per-grant secret exists');
    assert.equal(secret.engine, 'postgresql');
    assert.equal(secret.port, cluster.port);
    // The RDS secret shape: dbname is the database a session opens; the schema is named apart.
    assert.equal(secret.dbname, db.database);
    assert.equal(secret.schema, db.schema);
    // The GRANTED message's psql hint opens that database, as that role.
    const granted = await stack.components.smtp.waitFor((m) => m.to.includes(email) && /granted/i.test(m.subject), 15_000);
    assert.match(granted.text, new RegExp(`psql '[^']*user=${created.body.account} dbname=${db.database}'`));
    return { ...(created.body as { grantId: string; account: string; secretName: string }), email, password: secret.password };
  }

  it('When a READ_WRITE grant is used, lowered, extended and revoked, then PostgreSQL holds each step at once, the role expires on the server with the grant, and the trail has every event', async () => {
    const expiresAt = new Date(Date.now() + 10 * 24 * 3600_000).toISOString();
    const g = await grant('READ_WRITE', expiresAt);

    // Logs in with the secret's password (the cluster checks it) and writes.
    assert.ok(await loginRefused(g.account, 'not-the-password'), 'a wrong password is refused');
    const session = await login(g.account, g.password);
    await session.query(`INSERT INTO ${db.schema}.t (v) VALUES ('one')`);
    assert.equal((await session.query(`SELECT count(*)::int AS n FROM ${db.schema}.t`)).rows[0].n, 1);
    const made = await role(g.account);
    assert.equal(made?.validUntil, expiresAt, 'VALID UNTIL is the grant expiry');
    assert.equal(made?.comment, `dbaccess grant ${g.grantId}`);

    // Lowered to READ: the open session's next INSERT fails at once, and the session is not killed.
    const lowered = await stack.call('PATCH', stack.grantPath(g.grantId), { accessLevel: 'READ' });
    assert.equal(lowered.status, 200, JSON.stringify(lowered.body));
    await assert.rejects(session.query(`INSERT INTO ${db.schema}.t (v) VALUES ('two')`), (err: { code?: string }) => err.code === '42501');
    assert.equal((await session.query(`SELECT count(*)::int AS n FROM ${db.schema}.t`)).rows[0].n, 1, 'the same session still reads');

    // Extended: VALID UNTIL follows.
    const later = new Date(Date.now() + 20 * 24 * 3600_000).toISOString();
    const extended = await stack.call('POST', stack.grantPath(g.grantId, '/extend'), { expiresAt: later });
    assert.equal(extended.status, 200, JSON.stringify(extended.body));
    assert.equal((await role(g.account))?.validUntil, later, 'VALID UNTIL moved with the extension');

    // Revoked: the session is gone, the role is gone, the password no longer logs in.
    const revoked = await stack.call('POST', stack.grantPath(g.grantId, '/revoke'), { reason: 'done' });
    assert.equal(revoked.status, 202);
    const final = await until('REVOKED', async () => {
      const res = await stack.call('GET', stack.grantPath(g.grantId));
      return res.body.status === 'REVOKED' && res.body;
    });
    assert.deepEqual(final.history.map((h: { event: string }) => h.event), ['REQUESTED', 'GRANTED', 'LEVEL_CHANGED', 'EXTENDED', 'REVOKE_REQUESTED', 'REVOKED']);
    await assert.rejects(session.query('SELECT 1'), 'the open session was ended');
    assert.equal(await role(g.account), undefined, 'the role is dropped');
    assert.ok(await loginRefused(g.account, g.password));
    assert.equal(await stack.components.secretExists(g.secretName), false);
    const trail = await stack.components.deps.audit.forGrant(g.grantId);
    assert.deepEqual(trail.map((e) => e.event), ['REQUESTED', 'GRANTED', 'LEVEL_CHANGED', 'EXTENDED', 'REVOKE_REQUESTED', 'REVOKED']);
  });

  it('When an ADMIN grantee creates a table and is revoked, then the table is kept, owned by the owner role, and the REVOKED event names it', async () => {
    const g = await grant('ADMIN', new Date(Date.now() + 24 * 3600_000).toISOString());
    const session = await login(g.account, g.password);
    await session.query(`CREATE TABLE ${db.schema}.made_by_grantee (id int)`);
    await session.query(`INSERT INTO ${db.schema}.made_by_grantee VALUES (7)`);
    await session.query(`INSERT INTO ${db.schema}.t (v) VALUES ('admin')`);

    assert.equal((await stack.call('POST', stack.grantPath(g.grantId, '/revoke'), {})).status, 202);
    await until('REVOKED', async () => (await stack.call('GET', stack.grantPath(g.grantId))).body.status === 'REVOKED');
    const { rows } = await cluster.root(db.database).query(
      `SELECT pg_get_userbyid(relowner) AS owner, (SELECT count(*)::int FROM ${db.schema}.made_by_grantee) AS n FROM pg_class WHERE oid = '${db.schema}.made_by_grantee'::regclass`,
    );
    assert.deepEqual(rows[0], { owner: db.owner, n: 1 }, 'the table and its row are kept, now the owner role’s');
    assert.equal(await role(g.account), undefined);
    const event = (await stack.components.deps.audit.forGrant(g.grantId)).find((e) => e.event === 'REVOKED');
    assert.match(event?.detail ?? '', /made_by_grantee/, JSON.stringify(event));
  });

  it('When a PostgreSQL grant workflow is terminated after ACTIVE, then the reconciler proves its role is the service’s and revokes it', async () => {
    const g = await grant('READ', new Date(Date.now() + 24 * 3600_000).toISOString());
    await stack.env.client.workflow.getHandle(g.grantId).terminate('test: leave the role behind');
    assert.ok(await role(g.account), 'terminate leaves the role');
    const summary = (await stack.client.workflow.execute('reconcileAccess', {
      taskQueue: stack.taskQueue,
      workflowId: `reconcile-pg-${RUN_PREFIX}-${randomName(4)}`,
      args: [{ mode: 'revoke' }],
    })) as ReconcileSummary;
    assert.ok(summary.servers.every((s) => !s.error), JSON.stringify(summary.servers));
    const found = summary.orphans.filter((o) => o.account === g.account);
    assert.equal(found.length, 1, JSON.stringify(summary));
    assert.equal(found[0]!.outcome, 'revoked', JSON.stringify(found[0]));
    assert.equal(await role(g.account), undefined, 'the orphan role is dropped');
    assert.ok(await loginRefused(g.account, g.password));
    assert.equal(await stack.components.secretExists(g.secretName), false);
    const revoked = (await stack.components.deps.audit.forGrant(g.grantId)).filter((e) => e.event === 'ORPHAN_REVOKED');
    assert.equal(revoked.length, 1);
  });
});
