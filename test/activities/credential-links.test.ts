import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';

import { createActivities, type GrantActivities } from '../../src/activities';
import { SecretsManagerGrantSecretStore } from '../../src/adapters/aws';
import { hashCredentialToken } from '../../src/adapters/credential-links';
import { activityError, ActivityErrorType } from '../../src/adapters/errors';
import { messageIdFor, renderText } from '../../src/adapters/notify';
import type { Notifier } from '../../src/adapters/ports';
import type { GrantState } from '../../src/domain';
import { createTestComponents, type TestComponents, type TestGrant } from '../support/components';
import { MARIADB_HOST, MARIADB_PORT } from '../support/mariadb';
import type { CapturedMail } from '../support/smtp';
import { until } from '../support/wait';

// notifyGrant(GRANTED) with credential delivery, on the real adapters (moto's
// links table and secrets, the SMTP capture, MariaDB for the account).

const LINK = /\/credentials\/([A-Za-z0-9_-]{43})\b/;
const PUBLIC_URL = 'https://dbaccess.example.com';
const logged: string[] = [];
const quiet: Logger = {
  log: (_level, message, meta) => void logged.push(`${message} ${JSON.stringify(meta ?? {})}`),
  trace: (m, meta) => quiet.log('TRACE', m, meta),
  debug: (m, meta) => quiet.log('DEBUG', m, meta),
  info: (m, meta) => quiet.log('INFO', m, meta),
  warn: (m, meta) => quiet.log('WARN', m, meta),
  error: (m, meta) => quiet.log('ERROR', m, meta),
};

describe('notifyGrant GRANTED: one-time link or password (moto, SMTP)', function () {
  this.timeout(60_000);
  let c: TestComponents;

  before(async () => {
    c = await createTestComponents();
  });
  after(async () => {
    await c?.close();
  });

  function activities(inEmail: boolean, notifier: Notifier = c.deps.notifier): GrantActivities {
    const secrets = new SecretsManagerGrantSecretStore(c.aws.secrets);
    const acts = createActivities({
      ...c.deps,
      notifier,
      credentials: { inEmail, links: c.links, publicUrl: PUBLIC_URL, linkTtlMs: 24 * 3600_000, readCredential: (name) => secrets.read(name) },
    });
    const wrapped: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(acts) as [string, (...args: unknown[]) => Promise<unknown>][]) {
      wrapped[name] = (...args: unknown[]) => new MockActivityEnvironment({ activityType: name }, { logger: quiet }).run(fn, ...args);
    }
    return wrapped as GrantActivities;
  }

  async function provisioned(): Promise<{ grant: TestGrant; state: GrantState; password: string }> {
    const grant = c.newGrant();
    await c.call.createAccount(grant.ref);
    const password = (await c.readGrantSecret(grant.ref.secretName))!.password;
    const now = Date.now();
    const state: GrantState = {
      grantId: grant.ref.grantId,
      status: 'ACTIVE',
      email: grant.email,
      name: grant.name,
      project: grant.ref.project,
      database: grant.ref.database,
      schema: grant.ref.target.schema,
      account: grant.ref.account,
      accessLevel: 'READ',
      privileges: ['SELECT'],
      expiresAt: new Date(now + 3 * 86_400_000).toISOString(),
      requestedAt: new Date(now - 5_000).toISOString(),
      requestedBy: 'links-test',
      grantedAt: new Date(now).toISOString(),
      secretName: grant.ref.secretName,
      connection: { host: MARIADB_HOST, port: MARIADB_PORT, engine: 'mariadb' },
      history: [],
    };
    return { grant, state, password };
  }

  async function linkItems(linkId: string): Promise<Record<string, unknown>[]> {
    const items = (await c.aws.doc.send(new ScanCommand({ TableName: c.linksTable }))).Items ?? [];
    return items.filter((i) => i['linkId'] === linkId);
  }

  const mailsTo = (email: string) => (m: CapturedMail) => m.envelopeTo.includes(email);

  it('When GRANTED is notified, then the grantee alone gets the link; the owner gets a notice of their own without the link, the password or the secret', async () => {
    const { grant, state, password } = await provisioned();
    const eventId = `${randomUUID()}:000002`;
    await activities(false).notifyGrant({ kind: 'GRANTED', grant: state, owner: c.owner, eventId, schema: c.schema });

    const mine = await c.smtp.waitFor(mailsTo(grant.email));
    assert.deepEqual(mine.envelopeTo, [grant.email], 'the message with the link goes to the grantee alone');
    assert.deepEqual(mine.cc, []);
    const token = LINK.exec(mine.text)?.[1];
    assert.ok(token, 'the grantee has the link');

    const notice = await c.smtp.waitFor((m) => mailsTo(c.owner.email)(m) && m.messageId === messageIdFor('GRANTED_OWNER', eventId));
    assert.deepEqual(notice.envelopeTo, [c.owner.email]);
    assert.ok(notice.text.includes(grant.email) && notice.text.includes(grant.ref.account), 'the notice says who has which account');
    for (const [what, value] of [['the token', token], ['the password', password], ['the secret name', grant.ref.secretName]] as const) {
      assert.ok(!notice.raw.includes(value), `the owner's notice holds ${what}`);
    }
    assert.doesNotMatch(notice.raw, /\/credentials\/|secretsmanager/);
    const items = await linkItems(eventId);
    assert.equal(items.length, 1);
    assert.equal(items[0]!['tokenHash'], hashCredentialToken(token));
    assert.equal(typeof items[0]!['mailedAt'], 'string', 'the link is marked mailed');
  });

  it('When the notify runs again after both e-mails went out (a lost result), then the grantee gets no second link and the owner\'s notice keeps its Message-ID', async () => {
    const { grant, state } = await provisioned();
    const eventId = `${randomUUID()}:000002`;
    const act = activities(false);
    const request = { kind: 'GRANTED' as const, grant: state, owner: c.owner, eventId, schema: c.schema };
    await act.notifyGrant(request);
    const first = await c.smtp.waitFor(mailsTo(grant.email));
    const token = LINK.exec(first.text)![1]!;
    await act.notifyGrant(request);
    const noticeId = messageIdFor('GRANTED_OWNER', eventId);
    await until('the notice twice', async () => c.smtp.messages.filter((m) => m.messageId === noticeId).length === 2);
    assert.equal(c.smtp.messages.filter(mailsTo(grant.email)).length, 1, 'one message to the grantee');
    assert.equal((await c.links.findByTokenHash(hashCredentialToken(token)))?.linkId, eventId, 'the mailed token still works');
  });

  it('When the grantee\'s e-mail failed, then the retry mails a new link and the first token is dead; the owner is told once', async () => {
    const { grant, state, password } = await provisioned();
    const eventId = `${randomUUID()}:000002`;
    const sentTo: string[][] = [];
    let failGrantee = true;
    // The real SMTP path, except that the first message to the grantee is deferred after it was built.
    const notifier: Notifier = {
      notify: async (m) => {
        if (failGrantee && m.to.includes(grant.email)) {
          failGrantee = false;
          sentTo.push(['(deferred)', LINK.exec(renderText(m.document))?.[1] ?? '']);
          throw new Error('SMTP server deferred the message (451)');
        }
        sentTo.push(m.to);
        await c.deps.notifier.notify(m);
      },
      close: () => undefined,
    };
    const act = activities(false, notifier);
    const request = { kind: 'GRANTED' as const, grant: state, owner: c.owner, eventId, schema: c.schema };
    await assert.rejects(act.notifyGrant(request), /deferred/);
    await act.notifyGrant(request);
    const second = await c.smtp.waitFor(mailsTo(grant.email));
    const t1 = sentTo[0]![1]!;
    const t2 = LINK.exec(second.text)?.[1];
    assert.ok(t1 && t2 && t1 !== t2, 'the retry mails a new token');
    assert.notEqual(second.messageId, messageIdFor('GRANTED', eventId), 'a new link is a new message');
    assert.ok(!second.raw.includes(password));
    assert.equal(await c.links.findByTokenHash(hashCredentialToken(t1)), undefined, 'the first token is dead');
    assert.equal((await c.links.findByTokenHash(hashCredentialToken(t2)))?.linkId, eventId, 'the second token is the link');
    assert.deepEqual(sentTo.filter((to) => to.includes(c.owner.email)).length, 1, 'the owner is told once, after the grantee');
  });

  it('When the owner\'s notice failed after the grantee\'s e-mail went out, then the retry sends only the notice', async () => {
    const { grant, state } = await provisioned();
    const eventId = `${randomUUID()}:000002`;
    let failOwner = true;
    const notifier: Notifier = {
      notify: async (m) => {
        if (failOwner && m.to.includes(c.owner.email)) {
          failOwner = false;
          throw new Error('SMTP server deferred the message (451)');
        }
        await c.deps.notifier.notify(m);
      },
      close: () => undefined,
    };
    const act = activities(false, notifier);
    const request = { kind: 'GRANTED' as const, grant: state, owner: c.owner, eventId, schema: c.schema };
    await assert.rejects(act.notifyGrant(request), /deferred/);
    const first = await c.smtp.waitFor(mailsTo(grant.email));
    await act.notifyGrant(request);
    await c.smtp.waitFor((m) => m.messageId === messageIdFor('GRANTED_OWNER', eventId));
    assert.equal(c.smtp.messages.filter(mailsTo(grant.email)).length, 1, 'no second message to the grantee');
    const token = LINK.exec(first.text)![1]!;
    assert.equal((await c.links.findByTokenHash(hashCredentialToken(token)))?.linkId, eventId, 'the mailed link still works');
  });

  it('When the relay refuses the owner\'s address for good, then the grantee still has their message and the notify succeeds (a wrong owner address does not undo the grant)', async () => {
    const { grant, state } = await provisioned();
    const eventId = `${randomUUID()}:000002`;
    const notifier: Notifier = {
      notify: async (m) => {
        if (m.to.includes(c.owner.email)) throw activityError(ActivityErrorType.MailRejected, 'SMTP server rejected the message (550 at RCPT)');
        await c.deps.notifier.notify(m);
      },
      close: () => undefined,
    };
    await activities(false, notifier).notifyGrant({ kind: 'GRANTED', grant: state, owner: c.owner, eventId, schema: c.schema });
    const mine = await c.smtp.waitFor(mailsTo(grant.email));
    assert.ok(LINK.test(mine.text), 'the grantee has the link');
    assert.ok(logged.some((l) => l.includes('GRANTED notice was refused')), 'the refusal is logged');
  });

  it('When the link was already redeemed and the notify runs again, then no new link and no new e-mail', async () => {
    const { grant, state } = await provisioned();
    const eventId = `${randomUUID()}:000002`;
    const act = activities(false);
    const request = { kind: 'GRANTED' as const, grant: state, owner: c.owner, eventId, schema: c.schema };
    await act.notifyGrant(request);
    const mail = await c.smtp.waitFor(mailsTo(grant.email));
    const hash = hashCredentialToken(LINK.exec(mail.text)![1]!);
    assert.ok(await c.links.markUsed(eventId, hash, new Date().toISOString(), Math.floor(Date.now() / 1000)));

    const before = c.smtp.messages.filter(mailsTo(grant.email)).length;
    await act.notifyGrant(request);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(c.smtp.messages.filter(mailsTo(grant.email)).length, before, 'no second e-mail');
    const items = await linkItems(eventId);
    assert.equal(items.length, 1);
    assert.equal(items[0]!['tokenHash'], hash, 'the used link is left alone');
    assert.ok(items[0]!['usedAt']);
  });

  it('When CREDENTIALS_IN_EMAIL is on, then the grantee\'s GRANTED e-mail holds the password and no link, the owner\'s notice neither, and no link is stored', async () => {
    const { grant, state, password } = await provisioned();
    const eventId = `${randomUUID()}:000002`;
    await activities(true).notifyGrant({ kind: 'GRANTED', grant: state, owner: c.owner, eventId, schema: c.schema });
    const mail = await c.smtp.waitFor(mailsTo(grant.email));
    assert.deepEqual(mail.envelopeTo, [grant.email], 'the message with the password goes to the grantee alone');
    const notice = await c.smtp.waitFor((m) => m.messageId === messageIdFor('GRANTED_OWNER', eventId));
    assert.ok(!notice.raw.includes(password), 'no password in the owner\'s notice');
    assert.ok(mail.text.includes(password), 'the text holds the password');
    assert.ok(mail.html.includes(password), 'the HTML holds the password');
    assert.doesNotMatch(mail.raw, /\/credentials\//, 'no link');
    assert.match(mail.text.replace(/\s+/g, ' '), /delete this e-mail/);
    assert.deepEqual(await linkItems(eventId), []);
  });

  it('When another kind of mail is sent, then it carries neither a link nor a password', async () => {
    const { grant, state, password } = await provisioned();
    const eventId = `${randomUUID()}:000003`;
    for (const inEmail of [false, true]) {
      await activities(inEmail).notifyGrant({ kind: 'EXTENDED', grant: state, owner: c.owner, eventId: `${eventId}${inEmail}`, schema: c.schema });
    }
    await c.smtp.waitFor((m) => mailsTo(grant.email)(m) && m.messageId.includes('true'));
    for (const m of c.smtp.messages.filter(mailsTo(grant.email))) {
      assert.ok(!m.raw.includes(password));
      assert.doesNotMatch(m.raw, /\/credentials\//);
    }
  });

  it('When the tests above have run, then no activity log line holds a token or a password', () => {
    const text = logged.join('\n');
    assert.ok(logged.length > 0);
    for (const m of c.smtp.messages) {
      const token = LINK.exec(m.text)?.[1];
      if (token) assert.ok(!text.includes(token), 'a token is in the logs');
    }
    for (const p of c.knownSecrets()) assert.ok(!text.includes(p), 'a password is in the logs');
  });
});
