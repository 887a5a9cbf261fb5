import assert from 'node:assert/strict';
import { DynamoAuditStore } from '../../src/adapters/aws';
import { SA } from '../../src/contract/search-attributes';
import { decodeAll, rawText } from '../support/codec';
import { accountExists, canLogin, connectAs, queryFails, schemaGrants } from '../support/mariadb';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';

// The user's story from end to end, through HTTP only, on the real stack:
// grant READ_WRITE → log in with the password from the per-grant secret →
// downgrade to READ → extend → revoke; and a grant that expires by itself
// seconds after it was given.

describe('end to end: the grant lifecycle over HTTP', function () {
  this.timeout(120_000);
  let stack: TestStack;
  const passwords: string[] = [];

  before(async () => {
    stack = await startTestStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('When a READ_WRITE grant is asked for, used, downgraded, extended and revoked, then each step holds in MariaDB, the trail and the mail', async () => {
    const { components } = stack;
    const email = stack.newEmail();
    const expiresAt = new Date(Date.now() + 10 * 24 * 3600_000).toISOString().slice(0, 10);

    // 1. Grant.
    const created = await stack.call('POST', '/grants', {
      email,
      name: 'John Doe',
      project: stack.project,
      database: 'main',
      accessLevel: 'READ_WRITE',
      expiresAt,
      reason: 'incident 4711',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'ACTIVE');
    assert.equal(created.body.expiresAt, `${expiresAt}T23:59:59.000Z`);
    const { grantId, account, secretName } = created.body as { grantId: string; account: string; secretName: string };
    assert.match(account, /^[a-z0-9_]{1,32}$/);

    // 2. The grantee's e-mail says where the password is; the secret holds it; it works.
    const granted = await components.smtp.waitFor((m) => m.to.includes(email) && /granted/i.test(m.subject));
    await components.smtp.waitFor((m) => m.to.includes(components.owner.email) && m.text.includes(grantId) && /granted/i.test(m.subject), 15_000); // the project owner is told, apart
    assert.ok(granted.text.includes(secretName), 'the e-mail names the secret');
    const secret = await components.readGrantSecret(secretName);
    assert.ok(secret, 'the per-grant secret exists');
    passwords.push(secret.password);
    assert.equal(secret.username, account);
    assert.equal(secret.database, components.schema);
    assert.ok(!granted.raw.includes(secret.password), 'no password in the e-mail');
    // The e-mail's one-time link gives the same credentials, once.
    const token = /\/credentials\/([A-Za-z0-9_-]{43})\b/.exec(granted.text)?.[1];
    assert.ok(token, 'the e-mail has a one-time credential link');
    const viewed = await stack.call('GET', `/credentials/${token}`, undefined, { key: null, headers: { accept: 'application/json' } });
    assert.equal(viewed.status, 200, JSON.stringify(viewed.body));
    assert.equal(viewed.body.password, secret.password);
    assert.equal(viewed.body.username, account);
    assert.equal((await stack.call('GET', `/credentials/${token}`, undefined, { key: null, headers: { accept: 'application/json' } })).status, 410);
    const trail = await components.deps.audit.forGrant(grantId);
    assert.deepEqual(trail.filter((e) => e.event === 'CREDENTIALS_VIEWED').map((e) => e.actor), ['credential-link'], 'the view is audited once');

    const session = await connectAs(account, secret.password, components.schema);
    await session.query('INSERT INTO t VALUES (2, ?)', ['two']);
    const [rows] = await session.query('SELECT COUNT(*) AS n FROM t');
    assert.equal((rows as { n: number }[])[0]!.n, 2);
    const grants = await schemaGrants(account, '%', components.schema);
    assert.equal(grants.length, 1);
    assert.match(grants[0]!, /^GRANT SELECT, INSERT, UPDATE, DELETE ON /);
    await assert.rejects(session.query('CREATE TABLE nope (id INT)'), /denied/i, 'nothing beyond the level');

    // 3. Downgrade to READ: the account stays, only SELECT remains, the open session is ended.
    const downgraded = await stack.call('PATCH', stack.grantPath(grantId), { accessLevel: 'READ' });
    assert.equal(downgraded.status, 200, JSON.stringify(downgraded.body));
    assert.equal(downgraded.body.accessLevel, 'READ');
    assert.ok(await queryFails(session), 'the session opened under READ_WRITE was ended');
    assert.ok(await accountExists(account, '%'));
    const readGrants = await schemaGrants(account, '%', components.schema);
    assert.deepEqual(readGrants.map((g) => g.split(' ON ')[0]), ['GRANT SELECT']);
    const reader = await connectAs(account, secret.password, components.schema);
    await reader.query('SELECT * FROM t');
    await assert.rejects(reader.query('INSERT INTO t VALUES (3, ?)', ['three']), /denied/i);

    // 4. Extend: later is accepted, not-later and too-far are refused.
    const later = new Date(Date.now() + 20 * 24 * 3600_000).toISOString();
    const extended = await stack.call('POST', stack.grantPath(grantId, '/extend'), { expiresAt: later });
    assert.equal(extended.status, 200, JSON.stringify(extended.body));
    assert.equal(extended.body.expiresAt, later);
    const notLater = await stack.call('POST', stack.grantPath(grantId, '/extend'), { expiresAt });
    assert.equal(notLater.status, 400);
    assert.match(notLater.body.message, /^expiresAt: must be later/);
    const tooFar = await stack.call('POST', stack.grantPath(grantId, '/extend'), { expiresAt: new Date(Date.now() + 40 * 24 * 3600_000).toISOString() });
    assert.equal(tooFar.status, 400);
    assert.match(tooFar.body.message, /maximum duration/);

    // 5. Revoke: the account is gone, the open session killed, the grant REVOKED with its whole history.
    const revoked = await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'done' });
    assert.equal(revoked.status, 202);
    const final = await until('REVOKED', async () => {
      const res = await stack.call('GET', stack.grantPath(grantId));
      return res.body.status === 'REVOKED' && res.body;
    });
    assert.deepEqual(
      final.history.map((h: { event: string }) => h.event),
      ['REQUESTED', 'GRANTED', 'LEVEL_CHANGED', 'EXTENDED', 'REVOKE_REQUESTED', 'REVOKED'],
    );
    assert.ok(await queryFails(reader), 'the session open at revocation was killed');
    // Access ended when the account was contained: the grant and its REVOKED event say when.
    assert.ok(Date.parse(final.accessEndedAt) <= Date.parse(final.endedAt), `access ended at ${final.accessEndedAt}`);
    const revokedEvent = (await new DynamoAuditStore(components.aws.doc, components.auditTable).forGrant(grantId)).find((e) => e.event === 'REVOKED')!;
    assert.equal(revokedEvent.accessEndedAt, final.accessEndedAt);
    assert.equal(await accountExists(account, '%'), false);
    assert.equal(await canLogin(account, secret.password), false);
    assert.equal(await components.secretExists(secretName), false, 'the per-grant secret is deleted');
    await components.smtp.waitFor((m) => m.to.includes(email) && /revoked/i.test(m.subject));
  });

  it('When a grant expires a few seconds after it was given, then it is revoked within seconds, audited and e-mailed', async () => {
    const { components } = stack;
    const email = stack.newEmail();
    const expiresAt = new Date(Date.now() + 4000);
    const created = await stack.call('POST', '/grants', {
      email,
      name: 'Short Lived',
      project: stack.project,
      database: 'main',
      accessLevel: 'READ',
      expiresAt: expiresAt.toISOString(),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { grantId, account, secretName } = created.body as { grantId: string; account: string; secretName: string };
    const secret = (await components.readGrantSecret(secretName))!;
    passwords.push(secret.password);
    assert.ok(await canLogin(account, secret.password, components.schema));

    const goneAt = await until('the account to be dropped', async () => !(await accountExists(account, '%')) && Date.now(), 15_000);
    const lagMs = goneAt - expiresAt.getTime();
    assert.ok(lagMs >= 0, 'not revoked before the expiry');
    assert.ok(lagMs < 2500, `revoked ${lagMs} ms after the expiry`);
    assert.equal(await canLogin(account, secret.password), false);

    const audit = new DynamoAuditStore(components.aws.doc, components.auditTable);
    const events = await until('the EXPIRED audit event', async () => {
      const list = await audit.forGrant(grantId);
      return list.some((e) => e.event === 'EXPIRED') && list;
    });
    assert.deepEqual(events.map((e) => e.event), ['REQUESTED', 'GRANTED', 'EXPIRED']);
    const accessEndedAt = Date.parse(events[2]!.accessEndedAt ?? '');
    assert.ok(accessEndedAt >= expiresAt.getTime() && accessEndedAt <= goneAt, 'the EXPIRED event says when access ended: at the expiry, before the account was gone');

    for (const recipient of [email, components.owner.email]) {
      for (const kind of [/granted/i, /expired/i]) {
        // GRANTED: the owner's notice is a message of its own (the grantee's carries the credentials).
        await components.smtp.waitFor((m) => [...m.to, ...m.cc].includes(recipient) && (m.to.includes(email) || m.text.includes(grantId)) && kind.test(m.subject));
      }
    }
  });

  it('When an operator looks in Temporal, then the grant is found by its grantee, its history reads as the lifecycle, and holds no password', async () => {
    const { env, components } = stack;
    const email = stack.newEmail();
    const created = await stack.call('POST', '/grants', {
      email,
      name: 'Visible Person',
      project: stack.project,
      database: 'other',
      accessLevel: 'READ_WRITE',
      expiresAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    assert.equal(created.status, 201);
    passwords.push((await components.readGrantSecret(created.body.secretName))!.password);
    await stack.call('POST', stack.grantPath(created.body.grantId, '/revoke'), {});

    const found = await until('the grant in visibility', async () => {
      const ids: string[] = [];
      for await (const wf of stack.client.workflow.list({ query: `${SA.grantee.name} = '${email}'` })) ids.push(wf.workflowId);
      return ids.length > 0 && ids;
    });
    assert.deepEqual(found, [created.body.grantId]);
    const listed = await stack.call('GET', `/grants?email=${encodeURIComponent(email)}`);
    assert.equal(listed.status, 200);
    assert.equal(listed.body.grants[0].grantId, created.body.grantId);

    const handle = stack.client.workflow.getHandle(created.body.grantId);
    await until('the grant to end', async () => (await handle.describe()).status.name === 'COMPLETED');
    // The stack encrypts payloads, activity summaries included: read them as the UI does, through the codec.
    const history = await decodeAll(await handle.fetchHistory(), stack.codec!);
    const summaries = (history.events ?? [])
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => e.userMetadata?.summary?.data)
      .filter((d): d is Uint8Array => d instanceof Uint8Array)
      .map((d) => JSON.parse(Buffer.from(d).toString('utf8')) as string);
    assert.ok(summaries.some((s) => s.startsWith('create account')), `summaries: ${summaries.join(' | ')}`);
    assert.ok(summaries.some((s) => s.startsWith('revoke: contain')), 'the revocation reads as containment, then the drop');
    assert.ok(summaries.some((s) => s.startsWith('audit GRANTED')));

    // Nowhere in any history of this run, nor in the logs, is a generated or admin password.
    const secrets = [...passwords, components.admin.password];
    for await (const wf of stack.client.workflow.list({ query: `${SA.project.name} = '${stack.project}'` })) {
      // Decrypted first (a password inside an encrypted payload would still be a leak), and with the
      // bytes read as text (JSON.stringify alone would print protobuf bytes as base64).
      const text = rawText(await decodeAll(await env.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory(), stack.codec!));
      for (const s of secrets) assert.ok(!text.includes(s), `a password appears in the history of ${wf.workflowId}`);
    }
    const logs = stack.logLines.join('\n');
    for (const s of [...secrets, stack.apiKey]) assert.ok(!logs.includes(s), 'a secret appears in the logs');
  });
});
