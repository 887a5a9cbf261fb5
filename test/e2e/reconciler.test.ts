import assert from 'node:assert/strict';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import type { RowDataPacket } from 'mysql2/promise';
import { GRANT_ID_TAG } from '../../src/activities';
import { messageIdFor } from '../../src/adapters/notify';
import { grantIdFor, grantSecretName, type GrantRequest, type ReconcileSummary } from '../../src/domain';
import { deriveAccountName, deriveAccountNames } from '../../src/domain/naming';
import { accountExists, RUN_PREFIX, randomName, rootPool } from '../support/mariadb';
import { startTestStack, type TestStack } from '../support/stack';
import { localTemporal } from '../support/temporal';
import { until } from '../support/wait';
import { ensureReconcilerSchedule } from '../../src/worker/reconciler-schedule';

// The reconciler on the real stack: the real worker (with its schedule), the
// Temporal dev server, MariaDB through the least-privileged admin, moto, SMTP.

describe('reconciler: orphans, look-alikes and drift on the real stack', function () {
  this.timeout(180_000);
  let stack: TestStack;
  const scheduleId = `reconciler-test-${RUN_PREFIX}-${randomName(4)}`;
  let runs = 0;

  before(async () => {
    stack = await startTestStack({ reconciler: { interval: '2h', mode: 'revoke', scheduleId } });
  });
  after(async () => {
    await stack?.env.client.schedule.getHandle(scheduleId).delete().catch(() => undefined);
    await stack?.stop();
  });

  async function reconcile(mode?: 'revoke' | 'report'): Promise<ReconcileSummary> {
    runs += 1;
    return stack.client.workflow.execute('reconcileAccess', {
      taskQueue: stack.taskQueue,
      workflowId: `reconcile-test-${RUN_PREFIX}-${runs}-${randomName(4)}`,
      args: [mode ? { mode } : {}],
    }) as Promise<ReconcileSummary>;
  }

  async function grant(accessLevel = 'READ_WRITE', database = 'main'): Promise<{ grantId: string; account: string; secretName: string; email: string }> {
    const email = stack.newEmail();
    const res = await stack.call('POST', '/grants', { email, name: 'Rita Reconcile', project: stack.project, database, accessLevel, duration: '1d' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return { ...(res.body as { grantId: string; account: string; secretName: string }), email };
  }

  async function dbPrivileges(account: string, schema: string): Promise<string[]> {
    const [rows] = await rootPool().query<RowDataPacket[]>('SELECT * FROM mysql.db WHERE User = ? AND Db = ?', [account, schema.replace(/_/g, '\\_')]);
    const out: string[] = [];
    for (const row of rows) for (const [k, v] of Object.entries(row)) if (k.endsWith('_priv') && v === 'Y') out.push(k);
    return out.sort();
  }

  const summaryMails = (runId: string) => stack.components.smtp.messages.filter((m) => m.messageId === messageIdFor('reconcile', runId));
  const admin = () => stack.components.administrators[0]!.email;

  it('When everything is as the grants say, then a run finds nothing and sends no e-mail', async () => {
    const g = await grant();
    const summary = await reconcile();
    assert.equal(summary.orphanCount, 0, JSON.stringify(summary.orphans));
    assert.equal(summary.lookAlikeCount, 0, JSON.stringify(summary.lookAlikes));
    assert.equal(summary.driftCount, 0, JSON.stringify(summary.drift));
    assert.ok(summary.servers.every((s) => !s.error), JSON.stringify(summary.servers));
    assert.ok(summary.servers.some((s) => s.openGrants >= 1));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(summaryMails(summary.runId).length, 0, 'no e-mail for a clean run');
    assert.ok(await accountExists(g.account, '%'));
  });

  it('When a grant workflow is terminated after ACTIVE, then report mode only reports its account and revoke mode drops it, deletes its secret, audits ORPHAN_REVOKED and e-mails once', async () => {
    const g = await grant();
    await stack.env.client.workflow.getHandle(g.grantId).terminate('test: leave the account behind');
    assert.ok(await accountExists(g.account, '%'), 'terminate leaves the account');
    assert.ok(await stack.components.secretExists(g.secretName), 'and its secret');

    const reported = await reconcile('report');
    const seen = reported.orphans.filter((o) => o.account === g.account);
    assert.equal(seen.length, 1, JSON.stringify(reported));
    assert.equal(seen[0]!.outcome, 'reported');
    assert.equal(seen[0]!.grantId, g.grantId);
    assert.ok(await accountExists(g.account, '%'), 'report mode drops nothing');
    assert.ok(await stack.components.secretExists(g.secretName));
    const reportMail = await stack.components.smtp.waitFor((m) => m.messageId === messageIdFor('reconcile', reported.runId));
    assert.match(reportMail.subject, /1 orphan\(s\) found/);

    const summary = await reconcile();
    const done = summary.orphans.filter((o) => o.account === g.account);
    assert.equal(done.length, 1, JSON.stringify(summary));
    assert.equal(done[0]!.outcome, 'revoked', JSON.stringify(done[0]));
    assert.equal(await accountExists(g.account, '%'), false, 'the orphan is dropped');
    assert.equal(await stack.components.secretExists(g.secretName), false, 'its secret is deleted');

    const trail = await stack.components.deps.audit.forGrant(g.grantId);
    const revoked = trail.filter((r) => r.event === 'ORPHAN_REVOKED');
    assert.equal(revoked.length, 1);
    assert.equal(revoked[0]!.account, g.account);
    assert.equal(revoked[0]!.accessLevel, 'READ_WRITE');
    assert.match(revoked[0]!.detail ?? '', /dropped/);

    const mail = await stack.components.smtp.waitFor((m) => m.messageId === messageIdFor('reconcile', summary.runId));
    assert.deepEqual(mail.to, [admin()]);
    assert.match(mail.subject, /1 orphan\(s\) revoked/);
    assert.ok(mail.text.includes(g.account));
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(summaryMails(summary.runId).length, 1, 'one summary e-mail per run');

    // Idempotent: the next run finds nothing left of it.
    const again = await reconcile();
    assert.equal(again.orphans.filter((o) => o.account === g.account).length, 0);
  });

  it('When an account of the same shape was made by hand, with no secret and no audit event, then it is reported and never dropped', async () => {
    const account = `${RUN_PREFIX}_look_${randomName(6).replace(/[0189]/g, 'a')}`;
    const pool = rootPool();
    await pool.query("CREATE USER ?@'%' IDENTIFIED BY 'Hand-made-123'", [account]);
    try {
      await pool.query(`GRANT SELECT ON \`${stack.components.schema.replace(/_/g, '\\_')}\`.* TO ?@'%'`, [account]);
      const summary = await reconcile();
      const found = summary.lookAlikes.filter((l) => l.account === account);
      assert.equal(found.length, 1, JSON.stringify(summary));
      assert.equal(summary.orphans.filter((o) => o.account === account).length, 0);
      assert.ok(await accountExists(account, '%'), 'never dropped');
      const mail = await stack.components.smtp.waitFor((m) => m.messageId === messageIdFor('reconcile', summary.runId));
      assert.match(mail.subject, /look-alike/);
      assert.ok(mail.text.includes(account));
    } finally {
      await pool.query("DROP USER IF EXISTS ?@'%'", [account]);
    }
  });

  it('When an account named by the legacy rule (6 hash characters) is left behind by its grant, then it is still proven the service\'s and revoked; a legacy-shaped and a current-shaped account made by hand are reported and left alone', async () => {
    const schema = stack.components.schema;
    const on = `\`${schema.replace(/_/g, '\\_')}\`.*`;
    const pool = rootPool();
    // What a grant made before the current rule left: its account under the legacy
    // name, its tagged secret and its GRANTED event, and no running workflow.
    const email = stack.newEmail();
    const grantId = grantIdFor(stack.project, 'main', email);
    const names = deriveAccountNames(email, stack.project, 'main');
    assert.match(names.legacy, /_[a-z2-7]{6}$/);
    assert.notEqual(names.legacy, names.current);
    const secretName = grantSecretName(stack.components.secretPrefix, stack.project, 'main', names.legacy);
    await pool.query("CREATE USER ?@'%' IDENTIFIED BY 'Legacy-grant-123'", [names.legacy]);
    await pool.query(`GRANT SELECT ON ${on} TO ?@'%'`, [names.legacy]);
    await stack.components.deps.secrets.put(
      secretName,
      { engine: 'mariadb', host: '127.0.0.1', port: 3306, username: names.legacy, password: 'Legacy-grant-123', dbname: schema, database: schema },
      { [GRANT_ID_TAG]: grantId },
    );
    const at = new Date(Date.now() - 3600_000).toISOString();
    await stack.components.deps.audit.append({
      grantId, eventId: `legacy-test:${names.legacy}`, at, event: 'GRANTED', actor: 'test-admin', email, project: stack.project, database: 'main',
      accessLevel: 'READ', expiresAt: new Date(Date.now() + 86_400_000).toISOString(), account: names.legacy, workflowId: grantId, runId: 'legacy-run',
    });
    // Accounts of both shapes that nothing proves: a person made them.
    const lookAlikes = [deriveAccountNames(stack.newEmail(), stack.project, 'main').legacy, deriveAccountNames(stack.newEmail(), stack.project, 'main').current];
    for (const account of lookAlikes) {
      await pool.query("CREATE USER ?@'%' IDENTIFIED BY 'Hand-made-123'", [account]);
      await pool.query(`GRANT SELECT ON ${on} TO ?@'%'`, [account]);
    }
    try {
      const summary = await reconcile();
      const orphan = summary.orphans.filter((o) => o.account === names.legacy);
      assert.equal(orphan.length, 1, JSON.stringify(summary));
      assert.equal(orphan[0]!.grantId, grantId);
      assert.equal(orphan[0]!.outcome, 'revoked', JSON.stringify(orphan[0]));
      assert.equal(await accountExists(names.legacy, '%'), false, 'the legacy-named orphan is dropped');
      assert.equal(await stack.components.secretExists(secretName), false, 'its secret is deleted');
      const events = (await stack.components.deps.audit.forGrant(grantId)).filter((r) => r.event === 'ORPHAN_REVOKED');
      assert.equal(events.length, 1);
      assert.equal(events[0]!.account, names.legacy);
      for (const account of lookAlikes) {
        assert.equal(summary.lookAlikes.filter((l) => l.account === account).length, 1, `${account} is reported: ${JSON.stringify(summary.lookAlikes)}`);
        assert.equal(summary.orphans.filter((o) => o.account === account).length, 0);
        assert.ok(await accountExists(account, '%'), `${account} is never dropped`);
      }
    } finally {
      for (const account of [names.legacy, ...lookAlikes]) await pool.query("DROP USER IF EXISTS ?@'%'", [account]);
    }
  });

  it('When an open grant\'s account carries the legacy name, then it is matched to its grant: neither orphan nor look-alike, and its drift is repaired', async () => {
    // A grant begun before the current rule: its input holds the legacy name (started
    // here as the API started it then), and every step uses that name.
    const email = stack.newEmail();
    const grantId = grantIdFor(stack.project, 'main', email);
    const { legacy } = deriveAccountNames(email, stack.project, 'main');
    const main = stack.config.projects[stack.project]!.databases['main']!;
    const request: GrantRequest = {
      grantId, email, name: 'Lena Legacy', project: stack.project, database: 'main', accessLevel: 'READ_WRITE',
      privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], expiresAt: new Date(Date.now() + 86_400_000).toISOString(), requestedBy: 'test-admin',
      account: legacy, secretName: grantSecretName(stack.config.secretPrefix, stack.project, 'main', legacy),
      target: { schema: main.schema, adminSecretId: main.adminSecretId, hostPattern: main.hostPattern, maxUserConnections: main.maxUserConnections },
      owner: stack.components.owner, maxDurationMs: main.maxDurationMs,
    };
    await stack.client.workflow.start('grantAccess', { taskQueue: stack.taskQueue, workflowId: grantId, args: [request] });
    try {
      await until('the legacy grant is ACTIVE', async () => (await stack.call('GET', stack.grantPath(grantId))).body.status === 'ACTIVE', 30_000);
      assert.ok(await accountExists(legacy, '%'));
      const on = `\`${main.schema.replace(/_/g, '\\_')}\`.*`;
      await rootPool().query(`REVOKE DELETE ON ${on} FROM ?@'%'`, [legacy]);
      const summary = await reconcile();
      assert.equal(summary.lookAlikes.filter((l) => l.account === legacy).length, 0, JSON.stringify(summary.lookAlikes));
      assert.equal(summary.orphans.filter((o) => o.account === legacy).length, 0, JSON.stringify(summary.orphans));
      const drift = summary.drift.filter((d) => d.grantId === grantId);
      assert.equal(drift.length, 1, JSON.stringify(summary.drift));
      assert.equal(drift[0]!.account, legacy);
      assert.equal(drift[0]!.outcome, 'repaired', JSON.stringify(drift[0]));
      assert.deepEqual(await dbPrivileges(legacy, main.schema), ['Delete_priv', 'Insert_priv', 'Select_priv', 'Update_priv'], 'DELETE is back');
    } finally {
      await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'test done' });
      await until('the legacy account is dropped', async () => !(await accountExists(legacy, '%')), 30_000);
    }
  });

  it('When a privilege is revoked by hand, or an extra one granted, then the grant puts its level back and audits DRIFT_REPAIRED', async () => {
    const g = await grant('READ_WRITE');
    const schema = stack.components.schema;
    const on = `\`${schema.replace(/_/g, '\\_')}\`.*`;
    const expected = await dbPrivileges(g.account, schema);
    assert.deepEqual(expected, ['Delete_priv', 'Insert_priv', 'Select_priv', 'Update_priv']);

    await rootPool().query(`REVOKE DELETE ON ${on} FROM ?@'%'`, [g.account]);
    const first = await reconcile();
    const d1 = first.drift.filter((d) => d.grantId === g.grantId);
    assert.equal(d1.length, 1, JSON.stringify(first));
    assert.equal(d1[0]!.outcome, 'repaired', JSON.stringify(d1[0]));
    assert.deepEqual(await dbPrivileges(g.account, schema), expected, 'DELETE is back');

    await rootPool().query(`GRANT DROP ON ${on} TO ?@'%'`, [g.account]);
    const second = await reconcile();
    const d2 = second.drift.filter((d) => d.grantId === g.grantId);
    assert.equal(d2.length, 1, JSON.stringify(second));
    assert.equal(d2[0]!.outcome, 'repaired');
    assert.match(d2[0]!.detail ?? '', /removed DROP/);
    assert.deepEqual(await dbPrivileges(g.account, schema), expected, 'DROP is gone');

    const events = await until('both DRIFT_REPAIRED events', async () => {
      const list = (await stack.components.deps.audit.forGrant(g.grantId)).filter((r) => r.event === 'DRIFT_REPAIRED');
      return list.length === 2 && list;
    });
    assert.match(events[0]!.detail ?? '', /restored DELETE/);
    assert.match(events[1]!.detail ?? '', /removed DROP/);
    const state = await stack.call('GET', stack.grantPath(g.grantId));
    assert.equal(state.body.status, 'ACTIVE');
    assert.equal(state.body.history.filter((h: { event: string }) => h.event === 'DRIFT_REPAIRED').length, 2);
    await reconcile().then((s) => assert.equal(s.drift.filter((d) => d.grantId === g.grantId).length, 0, 'repaired for good'));
  });

  it('When an ACTIVE grant\'s account was dropped by hand, then it is not re-created: the grant is revoked', async () => {
    const g = await grant('READ');
    await rootPool().query("DROP USER ?@'%'", [g.account]);
    const summary = await reconcile();
    const d = summary.drift.filter((x) => x.grantId === g.grantId);
    assert.equal(d.length, 1, JSON.stringify(summary));
    assert.equal(d[0]!.missing, true);
    assert.equal(d[0]!.outcome, 'revoking');
    await until('the grant is REVOKED', async () => (await stack.call('GET', stack.grantPath(g.grantId))).body.status === 'REVOKED', 30_000);
    assert.equal(await accountExists(g.account, '%'), false, 'not re-created');
    assert.equal(await stack.components.secretExists(g.secretName), false);
  });

  it('When a grant is still being provisioned (its workflow running, its account and secret already there), then its account is not touched', async () => {
    const email = stack.newEmail();
    const res = await stack.call('POST', '/grants', { email, name: 'Paula Pending', project: stack.project, database: 'gated', accessLevel: 'READ', duration: '1d' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const grantId = grantIdFor(stack.project, 'gated', email);
    // What createAccount does first, as if this grant were between its steps: the tagged secret, then the account.
    const account = deriveAccountName(email, stack.project, 'gated');
    const secretName = grantSecretName(stack.components.secretPrefix, stack.project, 'gated', account);
    await stack.components.deps.secrets.put(
      secretName,
      { engine: 'mariadb', host: '127.0.0.1', port: 3306, username: account, password: 'Provisioning-123', dbname: stack.components.schemas[1]!, database: stack.components.schemas[1]! },
      { [GRANT_ID_TAG]: grantId },
    );
    await rootPool().query("CREATE USER ?@'%' IDENTIFIED BY 'Provisioning-123'", [account]);
    try {
      const summary = await reconcile();
      assert.equal(summary.orphans.filter((o) => o.account === account).length, 0, JSON.stringify(summary.orphans));
      assert.equal(summary.lookAlikes.filter((o) => o.account === account).length, 0);
      // Seen as an open grant (listed by visibility) or re-checked by its id (in progress): either way not an orphan.
      assert.equal(summary.driftCount, 0, JSON.stringify(summary.drift));
      assert.ok(await accountExists(account, '%'), 'left alone');
      assert.ok(await stack.components.secretExists(secretName));
    } finally {
      await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'test done' });
      await rootPool().query("DROP USER IF EXISTS ?@'%'", [account]);
    }
  });

  it('When the worker has started, then the schedule exists with the configured interval and overlap SKIP, and a manual trigger runs a reconcile', async () => {
    const handle = stack.client.schedule.getHandle(scheduleId);
    const description = await handle.describe();
    assert.equal(description.spec.intervals?.[0]?.every, 2 * 3600_000);
    assert.equal(description.policies.overlap, ScheduleOverlapPolicy.SKIP);
    assert.equal(description.action.type, 'startWorkflow');
    assert.equal(description.action.workflowType, 'reconcileAccess');
    assert.equal(description.action.taskQueue, stack.taskQueue);

    await handle.trigger();
    const started = await until('the triggered run', async () => (await handle.describe()).info.recentActions[0]?.action.workflow, 20_000);
    const summary = (await stack.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId).result()) as ReconcileSummary;
    assert.equal(summary.mode, 'revoke');
    assert.ok(summary.servers.length >= 1);
  });
});

describe('reconciler: the schedule is created and updated idempotently', function () {
  this.timeout(60_000);
  it('When it is ensured again, then it is unchanged; with another interval, then it is updated and an operator\'s pause is kept', async () => {
    const env = await localTemporal();
    const scheduleId = `reconciler-idem-${RUN_PREFIX}-${randomName(4)}`;
    const handle = env.client.schedule.getHandle(scheduleId);
    try {
      assert.equal(await ensureReconcilerSchedule(env.client, { scheduleId, taskQueue: 'q1', intervalMs: 3600_000 }), 'created');
      assert.equal(await ensureReconcilerSchedule(env.client, { scheduleId, taskQueue: 'q1', intervalMs: 3600_000 }), 'unchanged');
      await handle.pause('maintenance');
      assert.equal(await ensureReconcilerSchedule(env.client, { scheduleId, taskQueue: 'q1', intervalMs: 15 * 60_000 }), 'updated');
      const d = await handle.describe();
      assert.equal(d.spec.intervals?.[0]?.every, 15 * 60_000);
      assert.equal(d.state.paused, true, 'the pause is kept');
    } finally {
      await handle.delete().catch(() => undefined);
    }
  });
});
