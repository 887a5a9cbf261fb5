import assert from 'node:assert/strict';
import { listWorkflows } from '../../src/adapters/temporal/visibility';
import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import { DynamoAuditStore } from '../../src/adapters/aws';
import { connectAs } from '../support/mariadb';
import { addHistories, addLogLines, addMails, LeakScanner } from '../support/leaks';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';

// The leak check. A full story runs through the real stack (a grant that is used,
// extended, downgraded and revoked; one that fails on the `broken` database and
// rolls back; one that expires by itself). Then every workflow history of the
// stack's task queue, every log line of the worker and the API, every captured
// e-mail, every audit item and every API answer of the story are searched for
// the generated passwords, the admin password and the API key, in plain and
// encoded forms. Any hit fails, naming the secret and the place (never the value).
//
// A planted marker proves the search works: it is sent as a grant's reason (so
// it is in that workflow's history), written URL-encoded into a log line through
// the API's logger, and mailed base64-encoded through the SMTP server. The scan
// must find it in all three, or the test fails.
//
// To extend: add secrets with `scan.secret(name, value)` (e.g. one-time link
// tokens) in `collectSecrets`, and places with `scan.source(...)` or a helper of
// support/leaks.ts in `collectSources`.

describe('leak check: no secret in histories, logs, e-mails, audit items or answers', function () {
  this.timeout(180_000);
  let stack: TestStack;
  // Characters that URL-encoding and JSON escaping change, so each form is really searched.
  const MARKER = `leak check/${randomBytes(8).toString('hex')}+"marker"`;
  /** Secrets seen during the story, by a printable name. */
  const secrets = new Map<string, string>();
  /** One-time link tokens: secrets except in the e-mail that carries them. */
  const linkTokens = new Map<string, string>();
  const grantIds: string[] = [];
  /** Every API answer of the story. */
  const answers: { label: string; text: string }[] = [];

  before(async () => {
    stack = await startTestStack();
  });
  after(async () => {
    await stack?.stop();
  });

  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await stack.call(method, path, body);
    answers.push({ label: `the answer to ${method} ${path}`, text: `${JSON.stringify(res.body)}\n${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}` });
    return res;
  }

  async function rememberPassword(label: string, secretName: string): Promise<string> {
    const secret = await stack.components.readGrantSecret(secretName);
    assert.ok(secret, `${label}: the per-grant secret exists`);
    secrets.set(`the generated password of ${label}`, secret.password);
    return secret.password;
  }

  const waitForStatus = (grantId: string, status: string, timeoutMs = 30_000) =>
    until(`${grantId} to be ${status}`, async () => (await api('GET', stack.grantPath(grantId))).body.status === status, timeoutMs);

  it('When the story has run, then the scan finds the planted marker everywhere it was put, and no secret anywhere', async () => {
    const { components } = stack;
    const day = 24 * 3600_000;

    // 1. A grant that is used, extended, downgraded and revoked.
    const a = await api('POST', '/grants', {
      email: stack.newEmail(),
      name: 'Leak Check',
      project: stack.project,
      database: stack.databases.main,
      accessLevel: 'READ_WRITE',
      expiresAt: new Date(Date.now() + 5 * day).toISOString(),
    });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    grantIds.push(a.body.grantId);
    const password = await rememberPassword('the revoked grant', a.body.secretName);
    // The one-time link of the GRANTED e-mail, redeemed as the grantee would: its answer is the one
    // place the password may appear. The token is a secret everywhere but in that e-mail.
    const granted = await components.smtp.waitFor((m) => m.to.some((t) => a.body.grantId.endsWith(t)) && /granted/i.test(m.subject), 15_000);
    const token = /\/credentials\/([A-Za-z0-9_-]{20,})/.exec(granted.text)?.[1];
    assert.ok(token, 'the GRANTED e-mail carries a one-time link');
    linkTokens.set('the one-time link token', token);
    const viewed = await stack.call('GET', `/credentials/${token}`, undefined, { key: null, headers: { accept: 'application/json' } });
    assert.equal(viewed.status, 200, JSON.stringify(viewed.body));
    assert.equal(viewed.body.password, password, 'the link reveals the grant\'s password');
    const session = await connectAs(a.body.account, password, components.schema);
    await session.query('SELECT * FROM t');
    await session.end().catch(() => undefined);
    assert.equal((await api('POST', stack.grantPath(a.body.grantId, '/extend'), { expiresAt: new Date(Date.now() + 9 * day).toISOString() })).status, 200);
    assert.equal((await api('PATCH', stack.grantPath(a.body.grantId), { accessLevel: 'READ' })).status, 200);
    assert.equal((await api('POST', stack.grantPath(a.body.grantId, '/revoke'), { reason: 'leak check' })).status, 202);
    await waitForStatus(a.body.grantId, 'REVOKED');

    // 2. A grant that fails on a schema that does not exist and rolls back. Its reason is the marker.
    const b = await api('POST', '/grants', {
      email: stack.newEmail(),
      name: 'Leak Check',
      project: stack.project,
      database: stack.databases.broken,
      accessLevel: 'READ',
      expiresAt: new Date(Date.now() + day).toISOString(),
      reason: MARKER,
    });
    assert.equal(b.status, 502, JSON.stringify(b.body));
    grantIds.push(b.body.grantId);

    // 3. A grant that expires by itself.
    const c = await api('POST', '/grants', {
      email: stack.newEmail(),
      name: 'Leak Check',
      project: stack.project,
      database: stack.databases.other,
      accessLevel: 'READ',
      expiresAt: new Date(Date.now() + 5000).toISOString(),
    });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    grantIds.push(c.body.grantId);
    await rememberPassword('the expired grant', c.body.secretName);
    await waitForStatus(c.body.grantId, 'EXPIRED');

    // Every grant has ended, so every history is complete; wait for the closing mails too.
    for (const id of grantIds) {
      await until(`${id} to close`, async () => (await stack.client.workflow.getHandle(id).describe()).status.name !== 'RUNNING');
    }
    await components.smtp.waitFor((m) => m.to.some((t) => a.body.grantId.endsWith(t)) && /revoked/i.test(m.subject), 15_000);
    await components.smtp.waitFor((m) => m.to.some((t) => c.body.grantId.endsWith(t)) && /expired/i.test(m.subject), 15_000);

    // 4. Plant the marker in a log line (URL-encoded) and in an e-mail (base64, wrapped by MIME).
    stack.app.log.info({ url: `/somewhere?q=${encodeURIComponent(MARKER)}` }, 'leak check: planted marker');
    const subject = `leak check ${randomBytes(4).toString('hex')}`;
    const transport = nodemailer.createTransport({ host: components.smtp.host, port: components.smtp.port, secure: false, ignoreTLS: true });
    await transport.sendMail({
      from: 'leak-check@example.com',
      to: 'leak-check@example.com',
      subject,
      text: 'see attachment',
      attachments: [{ filename: 'x.bin', content: Buffer.from(`${'x'.repeat(50)}${MARKER}${'y'.repeat(50)}`), contentTransferEncoding: 'base64' }],
    });
    transport.close();
    await components.smtp.waitFor((m) => m.subject === subject);

    // 5. Scan.
    const scan = new LeakScanner();
    collectSecrets(scan);
    const histories = await collectSources(scan);
    assert.ok(histories >= grantIds.length, `only ${histories} histories found`);

    const tokenScan = new LeakScanner();
    for (const [name, value] of linkTokens) tokenScan.secret(name, value);
    await collectSources(tokenScan, { mails: false });
    // The token may be in one e-mail only: the grantee's own. Every message that reaches
    // anyone else (the owner's notice, copies, the administrators' alerts) is searched.
    const grantee = a.body.grantId.split('/').pop()!;
    const toOthers = components.smtp.messages.filter((m) => m.envelopeTo.some((r) => r !== grantee));
    assert.ok(toOthers.some((m) => m.envelopeTo.includes(components.owner.email) && /granted/i.test(m.subject)), 'the owner was told of the grant');
    addMails(tokenScan, toOthers);
    assert.deepEqual(tokenScan.findings().map((f) => `${f.secret} (${f.encoding}) in ${f.source}`), [], 'a link token leaked');
    const carriers = components.smtp.messages.filter((m) => linkTokens.get('the one-time link token') && m.text.includes(linkTokens.get('the one-time link token')!));
    assert.deepEqual(carriers.map((m) => m.envelopeTo), [[grantee]], 'the link went to the grantee alone');

    const findings = scan.findings();
    const leaks = findings.filter((f) => f.secret !== 'the planted marker');
    assert.deepEqual(leaks.map((f) => `${f.secret} (${f.encoding}) in ${f.source}`), [], 'secrets leaked');

    const planted = findings.filter((f) => f.secret === 'the planted marker');
    const where = planted.map((f) => `${f.encoding} in ${f.source}`).join('\n');
    assert.ok(planted.some((f) => f.source.startsWith(`the history of ${b.body.grantId}`)), `the marker is found in the failed grant's history:\n${where}`);
    assert.ok(planted.some((f) => f.source.startsWith('log line') && f.source.includes('planted marker') && f.encoding === 'url-encoded'), `the marker is found URL-encoded in the log:\n${where}`);
    assert.ok(planted.some((f) => f.source.includes(subject) && f.encoding.startsWith('base64')), `the marker is found base64-encoded in the e-mail:\n${where}`);
  });

  /** Every secret of the run. Add new kinds of secret here. */
  function collectSecrets(scan: LeakScanner): void {
    scan.secret('the planted marker', MARKER);
    assert.equal(secrets.size, 2, 'both generated passwords were read while their secrets existed');
    for (const [name, value] of secrets) scan.secret(name, value);
    scan.secret('the admin password', stack.components.admin.password);
    scan.secret('the API key', stack.apiKey);
  }

  /** Every place a secret could end up. Add new places here. Returns how many histories were scanned. */
  async function collectSources(scan: LeakScanner, options: { mails?: boolean } = {}): Promise<number> {
    const { components } = stack;
    // Visibility lags a little behind: wait until every grant of the story is listed.
    const query = `TaskQueue = '${stack.taskQueue}'`;
    await until('every grant in visibility', async () => {
      const ids = new Set<string>();
      for await (const wf of listWorkflows(stack.client, query)) ids.add(wf.workflowId);
      return grantIds.every((id) => ids.has(id));
    });
    const histories = await addHistories(scan, stack.client, query, stack.codec || undefined);
    addLogLines(scan, stack.logLines);
    if (options.mails !== false) addMails(scan, components.smtp.messages);
    const audit = new DynamoAuditStore(components.aws.doc, components.auditTable);
    for (const id of grantIds) scan.source(`the audit items of ${id}`, JSON.stringify(await audit.forGrant(id)));
    for (const a of answers) scan.source(a.label, a.text);
    return histories;
  }
});
