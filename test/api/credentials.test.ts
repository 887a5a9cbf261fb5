import assert from 'node:assert/strict';
import { guideFor } from '../../src/adapters/engines/guides';
import { escapeHtml } from '../../src/adapters/notify/format';
import { PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import Fastify from 'fastify';
import { DynamoAuditStore, SecretsManagerGrantSecretStore } from '../../src/adapters/aws';
import { hashCredentialToken, newCredentialToken } from '../../src/adapters/credential-links';
import { credentialRoutes, USER_AGENT_MAX } from '../../src/api/routes/credentials';
import { serverOptions } from '../../src/api/plugins/hardening';
import { canLogin } from '../support/mariadb';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';

// The one-time credential link, on the real stack: the worker writes the link
// and e-mails it; the API redeems it against moto (links table, audit table,
// per-grant secret); the credentials log in to MariaDB.

const LINK = /\/credentials\/([A-Za-z0-9_-]{43})\b/;
const JSON_ACCEPT = { accept: 'application/json' };
const BROWSER_ACCEPT = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

describe('API: one-time credential links', function () {
  this.timeout(120_000);
  let stack: TestStack;
  const tokens: string[] = [];
  const passwords: string[] = [];
  /** GRANTED e-mails already taken by a test (a second grant to one address must find its own). */
  const granted: { messageId: string }[] = [];

  before(async () => {
    stack = await startTestStack();
  });
  after(async () => {
    await stack?.stop();
  });

  /** Grants READ on `main` to a fresh address (or `email`); returns the grant and the token from its GRANTED e-mail. */
  async function grant(email = stack.newEmail()): Promise<{ grantId: string; account: string; secretName: string; token: string; mail: { text: string; html: string; raw: string; messageId: string } }> {
    const created = await stack.call('POST', '/grants', {
      email,
      name: 'Link User',
      project: stack.project,
      database: 'main',
      accessLevel: 'READ',
      expiresAt: new Date(Date.now() + 3 * 24 * 3600_000).toISOString().slice(0, 10),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const seen = new Set(granted.map((m) => m.messageId));
    const mail = await stack.components.smtp.waitFor((m) => m.to.includes(email) && /granted/i.test(m.subject) && !seen.has(m.messageId), 15_000);
    granted.push(mail);
    const m = LINK.exec(mail.text);
    assert.ok(m, 'the GRANTED e-mail has a credential link');
    tokens.push(m[1]!);
    return { ...(created.body as { grantId: string; account: string; secretName: string }), token: m[1]!, mail };
  }

  const redeem = (token: string, headers: Record<string, string> = JSON_ACCEPT) => stack.call('GET', `/credentials/${token}`, undefined, { key: null, headers });

  async function viewedEvents(grantId: string) {
    return (await stack.components.deps.audit.forGrant(grantId)).filter((e) => e.event === 'CREDENTIALS_VIEWED');
  }

  it('When the GRANTED e-mail is read, then it has a link to the API and no password; the link gives the credentials once, and they log in', async () => {
    const g = await grant();
    const secret = (await stack.components.readGrantSecret(g.secretName))!;
    passwords.push(secret.password);
    assert.ok(!g.mail.raw.includes(secret.password), 'no password in the e-mail');
    assert.ok(g.mail.text.includes(`${stack.url}/credentials/${g.token}`), 'the link points at the API');
    assert.ok(g.mail.text.includes(g.secretName), 'the e-mail still names the secret');
    assert.match(g.mail.text.replace(/\s+/g, ' '), /works once, until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);

    const first = await redeem(g.token);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(Object.keys(first.body).sort(), ['database', 'engine', 'expiresAt', 'host', 'password', 'port', 'username']);
    assert.equal(first.body.username, g.account);
    assert.equal(first.body.password, secret.password);
    assert.equal(first.body.database, stack.components.schema);
    assert.equal(first.headers.get('cache-control'), 'no-store');
    assert.equal(first.headers.get('pragma'), 'no-cache');
    assert.equal(first.headers.get('referrer-policy'), 'no-referrer');
    assert.ok(await canLogin(first.body.username, first.body.password, first.body.database), 'the credentials log in');

    const second = await redeem(g.token);
    assert.equal(second.status, 410);
    assert.equal(second.body.error, 'link_gone');
    assert.match(second.body.message, /already been used or has expired/);
    assert.ok(!JSON.stringify(second.body).includes(g.account), 'a refusal names nothing of the grant');

    const viewed = await viewedEvents(g.grantId);
    assert.equal(viewed.length, 1);
    assert.equal(viewed[0]!.actor, 'credential-link');
    assert.equal(viewed[0]!.account, g.account);
    assert.ok(!JSON.stringify(viewed).includes(g.token), 'the audit event does not hold the token');
  });

  it('When a token is unknown or malformed, then the answer is 404 "this link is not valid", with or without a key', async () => {
    for (const token of [newCredentialToken(), 'short', `${newCredentialToken().slice(0, 42)}.`, 'x'.repeat(44)]) {
      const res = await redeem(token);
      assert.equal(res.status, 404, `${token}: ${JSON.stringify(res.body)}`);
      assert.deepEqual({ error: res.body.error, message: res.body.message }, { error: 'not_found', message: 'this link is not valid' });
      assert.deepEqual(Object.keys(res.body).sort(), ['error', 'message', 'requestId'], 'nothing else about the link');
    }
    const withKey = await stack.call('GET', `/credentials/${newCredentialToken()}`, undefined, { headers: JSON_ACCEPT });
    assert.equal(withKey.status, 404);
  });

  it('When a link has expired, then it gets 410 and the credentials are not shown', async () => {
    const g = await grant();
    // The same link as the e-mail's, but with a token the test knows and an expiry in the past.
    const link = (await stack.components.links.findByTokenHash(hashCredentialToken(g.token)))!;
    const token = newCredentialToken();
    tokens.push(token);
    // Written over the mailed link directly: the store leaves a mailed link alone.
    await stack.components.aws.doc.send(
      new PutCommand({ TableName: stack.components.linksTable, Item: { ...link, tokenHash: hashCredentialToken(token), linkExpiresAt: Math.floor(Date.now() / 1000) - 1 } }),
    );
    const res = await redeem(token);
    assert.equal(res.status, 410);
    assert.match(res.body.message, /used or has expired/);
    assert.equal((await redeem(g.token)).status, 404, 'the replaced token is dead');
    assert.equal((await viewedEvents(g.grantId)).length, 0);
  });

  it('When the grant has been revoked, then its link gets 410 "access has ended"', async () => {
    const g = await grant();
    assert.equal((await stack.call('POST', stack.grantPath(g.grantId, '/revoke'), { reason: 'test' })).status, 202);
    await until('the secret to be deleted', async () => !(await stack.components.secretExists(g.secretName)), 30_000);
    const res = await redeem(g.token);
    assert.equal(res.status, 410);
    assert.equal(res.body.error, 'access_ended');
    assert.match(res.body.message, /access has ended/);
    assert.equal((await viewedEvents(g.grantId)).length, 0, 'nothing was viewed');
  });

  it('When a grant ends and the same person gets the same database again, then the first grant\'s unused link answers 410, reveals nothing and uses up nothing of the new grant', async () => {
    const email = stack.newEmail();
    const first = await grant(email);
    assert.equal((await stack.call('POST', stack.grantPath(first.grantId, '/revoke'), { reason: 'test' })).status, 202);
    await until('the first grant to close', async () => (await stack.client.workflow.getHandle(first.grantId).describe()).status.name !== 'RUNNING', 30_000);

    const second = await grant(email);
    assert.equal(second.grantId, first.grantId, 'the same grant id');
    assert.equal(second.secretName, first.secretName, 'the same secret name');
    assert.notEqual(second.token, first.token);
    const secret = (await stack.components.readGrantSecret(second.secretName))!;
    passwords.push(secret.password);

    for (const attempt of [
      () => redeem(first.token),
      () => stack.call('POST', `/credentials/${first.token}`, '', { key: null, headers: { ...BROWSER_ACCEPT, 'content-type': 'application/x-www-form-urlencoded' } }),
    ]) {
      const res = await attempt();
      assert.equal(res.status, 410, JSON.stringify(res.body));
      const text = typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
      assert.ok(!text.includes(secret.password), 'no password of the new grant');
      assert.ok(!text.includes(second.account), 'nothing of the grant');
    }
    assert.equal((await viewedEvents(first.grantId)).length, 0, 'nothing was viewed');

    const own = await redeem(second.token);
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.equal(own.body.password, secret.password);
    assert.equal((await viewedEvents(second.grantId)).length, 1);
  });

  it('When two requests redeem one link at once, then exactly one gets the credentials and exactly one CREDENTIALS_VIEWED is audited', async () => {
    const g = await grant();
    passwords.push((await stack.components.readGrantSecret(g.secretName))!.password);
    const results = await Promise.all([redeem(g.token), redeem(g.token), redeem(g.token)]);
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 410, 410], JSON.stringify(results.map((r) => r.body)));
    assert.equal((await viewedEvents(g.grantId)).length, 1);
  });

  it('When a browser (or a mail scanner) opens the link, then it gets a page with a button and nothing is used up; the button shows the credentials once', async () => {
    const g = await grant();
    const secret = (await stack.components.readGrantSecret(g.secretName))!;
    passwords.push(secret.password);

    for (const headers of [BROWSER_ACCEPT, { accept: '*/*' }, {}]) {
      const page = await redeem(g.token, headers);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(page.body, /<form method="post">/);
      assert.doesNotMatch(page.body, /<script/i);
      assert.ok(!page.body.includes(secret.password), 'the page holds no password');
      assert.equal(page.headers.get('cache-control'), 'no-store');
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    }
    assert.equal((await viewedEvents(g.grantId)).length, 0, 'opening the page views nothing');

    const posted = await stack.call('POST', `/credentials/${g.token}`, '', {
      key: null,
      headers: { ...BROWSER_ACCEPT, 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(posted.status, 200, String(posted.body));
    assert.match(posted.headers.get('content-type') ?? '', /^text\/html/);
    assert.ok(posted.body.includes(secret.password), 'the page shows the password');
    assert.ok(posted.body.includes(g.account));
    // The engine's own connect command (shell-quoted), HTML-escaped on the page.
    const command = guideFor(secret.engine).connectCommand({ host: secret.host, port: secret.port, username: secret.username, database: secret.database });
    assert.match(command, /^mysql --host=/);
    assert.ok(posted.body.includes(`<code>${escapeHtml(command)}</code>`), 'the page shows how to connect');
    assert.equal(posted.headers.get('cache-control'), 'no-store');
    assert.equal(posted.headers.get('referrer-policy'), 'no-referrer');

    const again = await redeem(g.token, BROWSER_ACCEPT);
    assert.equal(again.status, 410);
    assert.match(again.body, /already been used or has expired/);
    assert.equal((await redeem(g.token)).status, 410);
    assert.equal((await viewedEvents(g.grantId)).length, 1);
  });

  it('When a link is redeemed, then CREDENTIALS_VIEWED records the client address and its user agent, bounded and without control characters; a forged X-Forwarded-For is ignored', async () => {
    const g = await grant();
    passwords.push((await stack.components.readGrantSecret(g.secretName))!.password);
    const agent = `curl/8.5.0\t\u007f\u0085\u009b[31m${'x'.repeat(400)}`;
    // In process: HTTP clients refuse to send such a header, a hand-made request need not.
    const res = await stack.app.inject({ method: 'GET', url: `/credentials/${g.token}`, remoteAddress: '127.0.0.1', headers: { ...JSON_ACCEPT, 'user-agent': agent, 'x-forwarded-for': '198.51.100.23' } });
    assert.equal(res.statusCode, 200, res.body);
    const [viewed] = await viewedEvents(g.grantId);
    // The stack's API trusts no proxy: the address is the peer's, not the header's.
    assert.equal(viewed!.clientAddress, '127.0.0.1');
    assert.ok(viewed!.userAgent!.startsWith('curl/8.5.0 [31mxxx'), viewed!.userAgent);
    assert.ok(viewed!.userAgent!.length <= USER_AGENT_MAX);
    assert.doesNotMatch(viewed!.userAgent!, /[\u0000-\u001f\u007f-\u009f]/);
    assert.match(viewed!.detail ?? '', /from 127\.0\.0\.1 by "curl\/8\.5\.0/);
  });

  it('When the API sits behind a trusted proxy (API_TRUST_PROXY), then CREDENTIALS_VIEWED records the client address the proxy forwarded', async () => {
    const g = await grant();
    passwords.push((await stack.components.readGrantSecret(g.secretName))!.password);
    const { components } = stack;
    const app = Fastify({ ...serverOptions({ trustProxy: '127.0.0.1' }) });
    await app.register(
      credentialRoutes({
        links: components.links,
        audit: new DynamoAuditStore(components.aws.doc, components.auditTable),
        readCredential: (name) => new SecretsManagerGrantSecretStore(components.aws.secrets).readBound(name),
      }),
    );
    try {
      const res = await app.inject({ method: 'GET', url: `/credentials/${g.token}`, remoteAddress: '127.0.0.1', headers: { ...JSON_ACCEPT, 'x-forwarded-for': '203.0.113.9', 'user-agent': 'Mozilla/5.0 (test)' } });
      assert.equal(res.statusCode, 200, res.body);
    } finally {
      await app.close();
    }
    const [viewed] = await viewedEvents(g.grantId);
    assert.equal(viewed!.clientAddress, '203.0.113.9');
    assert.equal(viewed!.userAgent, 'Mozilla/5.0 (test)');
  });

  it('When the audit store, the secret or the links table fails during a redemption, then the answer is 503 with Retry-After, nothing is shown or audited, and the link still works afterwards', async () => {
    const g = await grant();
    const secret = (await stack.components.readGrantSecret(g.secretName))!;
    passwords.push(secret.password);
    const { components } = stack;
    const realAudit = new DynamoAuditStore(components.aws.doc, components.auditTable);
    const realSecrets = new SecretsManagerGrantSecretStore(components.aws.secrets);
    const failing = {
      // A table that does not exist: the emulator refuses the write, as AWS would.
      audit: { links: components.links, audit: new DynamoAuditStore(components.aws.doc, `${components.auditTable}-missing`), readCredential: (name: string) => realSecrets.readBound(name) },
      secret: {
        links: components.links,
        audit: realAudit,
        readCredential: async () => {
          throw new Error('secrets unreachable');
        },
      },
      lookup: {
        links: Object.assign(Object.create(components.links) as typeof components.links, { findByTokenHash: async () => Promise.reject(new Error('links table unreachable')) }),
        audit: realAudit,
        readCredential: (name: string) => realSecrets.readBound(name),
      },
    };
    for (const [what, deps] of Object.entries(failing)) {
      const app = Fastify({ ...serverOptions({}) });
      await app.register(credentialRoutes(deps));
      try {
        for (const headers of [JSON_ACCEPT, BROWSER_ACCEPT]) {
          const res = await app.inject({ method: 'POST', url: `/credentials/${g.token}`, headers });
          assert.equal(res.statusCode, 503, `${what}: ${res.body}`);
          assert.equal(res.headers['retry-after'], '10', what);
          assert.ok(!res.body.includes(secret.password) && !res.body.includes(g.account), `${what}: nothing of the credentials`);
          assert.ok(!/unreachable|missing|ResourceNotFound/.test(res.body), `${what}: nothing of the failure: ${res.body}`);
        }
      } finally {
        await app.close();
      }
      assert.equal((await viewedEvents(g.grantId)).length, 0, `${what}: no view audited`);
    }
    // Not used up by any of the failures: the link still gives the credentials, once.
    const res = await redeem(g.token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.password, secret.password);
    assert.equal((await viewedEvents(g.grantId)).length, 1);
  });

  it('When a curl user POSTs, then the answer is JSON', async () => {
    const g = await grant();
    const res = await stack.call('POST', `/credentials/${g.token}`, undefined, { key: null });
    assert.equal(res.status, 200);
    assert.equal(res.body.username, g.account);
    passwords.push(res.body.password);
  });

  it('When the links table is scanned, then it holds hashes of the tokens, never a token', async () => {
    const items = (await stack.components.aws.doc.send(new ScanCommand({ TableName: stack.components.linksTable }))).Items ?? [];
    assert.ok(items.length >= 5);
    const dump = JSON.stringify(items);
    assert.ok(tokens.length >= 5);
    for (const token of tokens) assert.ok(!dump.includes(token), 'a token is stored in clear');
    for (const p of passwords) assert.ok(!dump.includes(p), 'a password is stored in the links table');
    for (const item of items) assert.match(String(item['tokenHash']), /^[0-9a-f]{64}$/);
    assert.ok(items.some((i) => i['tokenHash'] === hashCredentialToken(tokens[0]!)));
  });

  it('When the tests above have run, then no log line holds a token or a password', () => {
    const logs = stack.logLines.join('\n');
    assert.ok(stack.logLines.length > 0);
    assert.ok(passwords.length >= 3 && tokens.length >= 5);
    for (const t of tokens) assert.ok(!logs.includes(t), 'a token is in the logs');
    for (const p of passwords) assert.ok(!logs.includes(p), 'a password is in the logs');
  });
});
