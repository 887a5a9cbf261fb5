import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';

import { createSmtpMailer, messageIdFor, type Mailer, type MailMessage } from '../../../src/adapters/notify';
import type { AdminAlertKind as AdminMailKind, GrantNoticeKind as GrantMailKind } from '../../../src/contract/activities';
import type { SmtpSettings } from '../../../src/config';
import { definerObjectsQuery } from '../../../src/adapters/engines/mysql/guide';
import { adminMail, approvalMail, grantMail, grantOwnerNotice, noticeMail } from '../../support/messages';
import type { GrantState, LeftBehindObject, Person } from '../../../src/domain';
import { createSchema, randomName, randomPassword, rootPool, RUN_PREFIX } from '../../support/mariadb';
import { getSharedSmtp, startSmtpCapture, type SmtpCapture } from '../../support/smtp';

const OWNER: Person = { name: 'Olga Owner', email: 'olga.owner@example.com' };
const ADMINS: Person[] = [
  { name: 'DBA One', email: 'dba1@example.com' },
  { name: 'DBA Two', email: 'DBA1@example.com' },
  { name: 'DBA Three', email: 'dba3@example.com' },
];
const SECRET = 'dbaccess/shop/dev_project/alice_k3j9qa';
const CLI = `aws secretsmanager get-secret-value --secret-id ${SECRET} --region eu-west-1 --query SecretString --output text`;

let eventSeq = 0;
/** Event ids unique per test, so tests sharing one capture server find their own mail. */
function nextEventId(): string {
  eventSeq += 1;
  return `${Date.now().toString(36)}-run:${String(eventSeq).padStart(6, '0')}`;
}

function grantFixture(overrides: Partial<GrantState> = {}): GrantState {
  return {
    grantId: 'grant/shop/dev_project/alice@example.com',
    status: 'ACTIVE',
    email: 'alice@example.com',
    name: 'Alice Example',
    project: 'shop',
    database: 'dev_project',
    schema: 'dev_project',
    account: 'alice_k3j9qa',
    accessLevel: 'READ_WRITE',
    privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    expiresAt: '2026-12-31T23:59:59.000Z',
    requestedAt: '2026-12-01T23:59:50.000Z',
    requestedBy: 'ops-portal',
    reason: 'Investigate order sync',
    grantedAt: '2026-12-01T23:59:59.000Z',
    secretName: SECRET,
    connection: { host: 'db.dev.internal', port: 3306, engine: 'mysql' },
    history: [
      { event: 'REQUESTED', at: '2026-12-01T23:59:50.000Z', actor: 'ops-portal', accessLevel: 'READ_WRITE', expiresAt: '2026-12-31T23:59:59.000Z' },
      { event: 'GRANTED', at: '2026-12-01T23:59:59.000Z', actor: 'dbaccess', accessLevel: 'READ_WRITE', expiresAt: '2026-12-31T23:59:59.000Z' },
    ],
    ...overrides,
  };
}

function settingsFor(port: number, extra: Partial<SmtpSettings> = {}): SmtpSettings {
  return { host: '127.0.0.1', port, secure: false, requireTls: false, from: 'dbaccess <dbaccess@example.com>', ...extra };
}

async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function sendError(mailer: Mailer, message = grantMail({ kind: 'GRANTED', grant: grantFixture(), owner: OWNER, eventId: nextEventId(), awsRegion: 'eu-west-1' })): Promise<Error> {
  try {
    await mailer.send(message);
  } catch (err) {
    return err as Error;
  }
  assert.fail('send should have failed');
}

/** Text with line wrapping undone, for asserting on sentences. */
function flat(text: string): string {
  return text.replace(/\s+/g, ' ');
}

/** The header section of a raw message, unfolded. */
function headerLines(raw: string): string[] {
  const head = raw.split(/\r?\n\r?\n/)[0] ?? '';
  return head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
}

describe('mail', () => {
  let smtp: SmtpCapture;
  let mailer: Mailer;

  before(async () => {
    smtp = await getSharedSmtp();
    mailer = createSmtpMailer(settingsFor(smtp.port));
  });
  after(() => mailer.close());

  describe('delivery', () => {
    it('When a grant is granted, then the grantee alone gets text and HTML that name the secret and the CLI command, and no password', async () => {
      const eventId = nextEventId();
      // A password smuggled onto the state (the type has no field for one) must not reach the mail either.
      const grant = { ...grantFixture(), password: 'Sm4ggled-Pa55word!' } as GrantState;
      const message = grantMail({ kind: 'GRANTED', grant, owner: OWNER, eventId, awsRegion: 'eu-west-1', schema: 'dev_project' });
      await mailer.send(message);
      const got = await smtp.waitFor((m) => m.messageId === messageIdFor('GRANTED', eventId));

      assert.deepEqual(got.to, ['alice@example.com']);
      assert.deepEqual(got.cc, []);
      assert.deepEqual(got.envelopeTo, ['alice@example.com'], 'no copy of the message that carries the credentials');
      assert.match(flat(got.text), /Olga Owner <olga\.owner@example\.com>, owner of project shop, is told separately, without your credentials/);
      assert.equal(got.subject, '[dbaccess] READ_WRITE access to shop/dev_project granted until 2026-12-31 23:59 UTC');
      for (const part of [got.text, got.html]) {
        assert.ok(part.includes(SECRET), 'names the secret');
        assert.ok(part.includes(CLI), 'has the ready-to-paste command');
        assert.ok(part.includes('SELECT, INSERT, UPDATE, DELETE'));
        assert.ok(part.includes('db.dev.internal'));
        assert.ok(part.includes('alice_k3j9qa'));
        assert.ok(part.includes('2026-12-31 23:59:59 UTC'));
        assert.ok(part.includes('in 30 days'));
        assert.ok(part.includes('Investigate order sync'));
        assert.ok(part.includes('grant/shop/dev_project/alice@example.com'));
        assert.doesNotMatch(part, /password\s*[:=]/i, 'no password field');
        assert.doesNotMatch(part, /"password"/i);
        assert.ok(!part.includes('Sm4ggled-Pa55word!'));
      }
      assert.ok(!got.raw.includes('Sm4ggled-Pa55word!'));
      assert.match(got.html, /^<!DOCTYPE html>/);
      assert.match(got.html, /<table/);
      assert.doesNotMatch(got.html, /<(script|img|link)\b|src=|url\(/i, 'no external assets');
      assert.ok(headerLines(got.raw).some((l) => /^Auto-Submitted: auto-generated$/i.test(l)));
    });

    it('When a grant is granted with a one-time link, then both parts carry the link, when it stops working and the secret, and no password', async () => {
      const eventId = nextEventId();
      const url = 'https://dbaccess.example.com/credentials/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE';
      const message = grantMail({
        kind: 'GRANTED',
        grant: grantFixture(),
        owner: OWNER,
        eventId,
        awsRegion: 'eu-west-1',
        credentials: { kind: 'link', url, linkExpiresAt: '2026-12-02T23:59:59.000Z' },
      });
      await mailer.send(message);
      const got = await smtp.waitFor((m) => m.messageId === messageIdFor('GRANTED', eventId));
      for (const part of [got.text, got.html]) {
        assert.ok(part.includes(url), 'the link');
        assert.match(flat(part), /works once, until 2026-12-02 23:59:59 UTC/);
        assert.ok(part.includes(SECRET), 'the secret is still named');
        assert.ok(part.includes(CLI));
        assert.doesNotMatch(part, /password\s*[:=]/i, 'no password field');
      }
    });

    it('When a grant is granted with CREDENTIALS_IN_EMAIL, then both parts carry the password and advise deleting the mail', async () => {
      const eventId = nextEventId();
      const message = grantMail({ kind: 'GRANTED', grant: grantFixture(), owner: OWNER, eventId, awsRegion: 'eu-west-1', credentials: { kind: 'password', password: 'Pa55wordInTheMail0123' } });
      await mailer.send(message);
      const got = await smtp.waitFor((m) => m.messageId === messageIdFor('GRANTED', eventId));
      for (const part of [got.text, got.html]) {
        assert.ok(part.includes('Pa55wordInTheMail0123'));
        assert.match(flat(part), /delete this e-mail/);
        assert.doesNotMatch(part, /\/credentials\//);
      }
    });

    it('When a grant is granted, then the owner gets a notice of their own: who has what until when, and no link, no password, no secret and no way to read it', async () => {
      const eventId = nextEventId();
      const url = 'https://dbaccess.example.com/credentials/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE';
      const base = { kind: 'GRANTED' as const, grant: grantFixture(), owner: OWNER, eventId, awsRegion: 'eu-west-1', schema: 'dev_project' };
      const notices = [
        grantOwnerNotice(base)!,
        grantOwnerNotice({ ...base, credentials: { kind: 'link', url, linkExpiresAt: '2026-12-02T23:59:59.000Z' } })!,
        grantOwnerNotice({ ...base, credentials: { kind: 'password', password: 'Pa55wordInTheMail0123' } })!,
      ];
      assert.equal(new Set(notices.map((n) => n.text)).size, 1, 'the credentials given to the grantee change nothing in the notice');
      assert.equal(notices[0]!.messageId, messageIdFor('GRANTED_OWNER', eventId));
      assert.notEqual(notices[0]!.messageId, grantMail(base).messageId);
      await mailer.send(notices[2]!);
      const got = await smtp.waitFor((m) => m.messageId === messageIdFor('GRANTED_OWNER', eventId));
      assert.deepEqual(got.to, ['olga.owner@example.com']);
      assert.deepEqual(got.envelopeTo, ['olga.owner@example.com']);
      assert.equal(got.subject, '[dbaccess] READ_WRITE access to shop/dev_project granted to alice@example.com until 2026-12-31 23:59 UTC');
      for (const part of [got.text, got.html]) {
        assert.ok(part.includes('Alice Example'));
        assert.ok(part.includes('SELECT, INSERT, UPDATE, DELETE'));
        assert.ok(part.includes('alice_k3j9qa'));
        assert.ok(part.includes('2026-12-31 23:59:59 UTC'));
        assert.ok(part.includes('Investigate order sync'));
        assert.ok(part.includes('grant/shop/dev_project/alice@example.com'));
        assert.ok(!part.includes('Pa55wordInTheMail0123'), 'no password');
        assert.doesNotMatch(part, /\/credentials\//, 'no link');
        assert.ok(!part.includes(SECRET), 'no secret name');
        assert.doesNotMatch(part, /secretsmanager/, 'no command to read the secret');
      }
      assert.match(flat(got.text), /The credentials went to alice@example\.com alone/);
      for (const kind of ['LEVEL_CHANGED', 'EXTENDED', 'REVOKED', 'EXPIRED'] as const) assert.equal(grantOwnerNotice({ ...base, kind }), undefined, `${kind}: the owner is in copy of the grantee's message`);
    });

    it('When the grantee owns the project, then the mail goes to them once, without a copy or a notice', async () => {
      const eventId = nextEventId();
      const owner = { name: 'Alice', email: 'ALICE@example.com' };
      const message = grantMail({ kind: 'GRANTED', grant: grantFixture(), owner, eventId, awsRegion: 'eu-west-1' });
      assert.equal(message.cc, undefined);
      assert.equal(grantOwnerNotice({ kind: 'GRANTED', grant: grantFixture(), owner, eventId, awsRegion: 'eu-west-1' }), undefined);
      await mailer.send(message);
      const got = await smtp.waitFor((m) => m.messageId === messageIdFor('GRANTED', eventId));
      assert.deepEqual(got.envelopeTo, ['alice@example.com']);
    });

    it('When every kind of mail is sent, then each arrives with its own subject, text and HTML', async () => {
      const grantKinds: GrantMailKind[] = ['GRANTED', 'LEVEL_CHANGED', 'EXTENDED', 'REVOKED', 'EXPIRED'];
      const adminKinds: AdminMailKind[] = ['FAILED', 'REVOKE_RETRYING', 'ACCOUNT_RETAINED', 'LEVEL_CHANGE_INCOMPLETE'];
      const eventId = nextEventId();
      const failed = grantFixture({ status: 'FAILED', failure: { step: 'grantPrivileges', message: 'Access denied for user admin@% to database dev_project' } });
      const messages = [
        ...grantKinds.map((kind) =>
          grantMail({ kind, grant: grantFixture(), owner: OWNER, eventId, awsRegion: 'eu-west-1', previous: { accessLevel: 'READ', expiresAt: '2026-12-15T23:59:59Z' } }),
        ),
        grantOwnerNotice({ kind: 'GRANTED', grant: grantFixture(), owner: OWNER, eventId, awsRegion: 'eu-west-1' })!,
        ...adminKinds.map((kind) => adminMail({ kind, grant: failed, administrators: ADMINS, eventId, detail: 'attempt 5: connect ETIMEDOUT' })),
      ];
      assert.equal(new Set(messages.map((m) => m.subject)).size, messages.length, 'subjects differ');
      assert.equal(new Set(messages.map((m) => m.messageId)).size, messages.length, 'message ids differ');
      for (const m of messages) await mailer.send(m);
      for (const m of messages) {
        const got = await smtp.waitFor((c) => c.messageId === m.messageId);
        assert.match(got.subject, /^\[dbaccess\] /);
        assert.ok(got.subject.length <= 120, `short subject: ${got.subject}`);
        assert.ok(got.text.includes('grant/shop/dev_project/alice@example.com'));
        assert.match(got.html, /^<!DOCTYPE html>/);
      }
      for (const m of messages.slice(grantKinds.length + 1)) assert.deepEqual(m.to, ['dba1@example.com', 'dba3@example.com'], 'admins, deduplicated');
    });
  });

  describe('content', () => {
    const base = { owner: OWNER, awsRegion: 'eu-west-1', eventId: 'run-1:000007' };

    it('When the level is lowered, then the mail names old and new level and says open sessions were ended', () => {
      const grant = grantFixture({ accessLevel: 'READ', privileges: ['SELECT'] });
      const m = grantMail({ ...base, kind: 'LEVEL_CHANGED', grant, previous: { accessLevel: 'READ_WRITE', privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] }, actor: 'ops-portal' });
      assert.equal(m.subject, '[dbaccess] Access to shop/dev_project changed from READ_WRITE to READ');
      assert.match(m.text, /Previous level:\s+READ_WRITE \(SELECT, INSERT, UPDATE, DELETE\)/);
      assert.match(m.text, /New privileges:\s+SELECT\n/);
      assert.match(flat(m.text), /open sessions were ended/);
      const up = grantMail({ ...base, kind: 'LEVEL_CHANGED', grant: grantFixture(), previous: { accessLevel: 'READ', privileges: ['SELECT'] } });
      assert.doesNotMatch(flat(up.text), /sessions were ended/);
    });

    it('When a grant is extended, then the mail gives the old and the new expiry', () => {
      const grant = grantFixture({
        expiresAt: '2027-01-31T23:59:59.000Z',
        history: [...grantFixture().history, { event: 'EXTENDED', at: '2027-01-01T23:59:59.000Z', actor: 'ops-portal', accessLevel: 'READ_WRITE', expiresAt: '2027-01-31T23:59:59.000Z' }],
      });
      const m = grantMail({ ...base, kind: 'EXTENDED', grant, previous: { expiresAt: '2026-12-31T23:59:59.000Z' }, reason: 'release slipped' });
      assert.equal(m.subject, '[dbaccess] Access to shop/dev_project extended until 2027-01-31 23:59 UTC');
      assert.match(m.text, /New expiry:\s+2027-01-31 23:59:59 UTC \(in 30 days\)/);
      assert.match(m.text, /Previous expiry:\s+2026-12-31 23:59:59 UTC/);
      assert.match(m.text, /Extended by:\s+ops-portal/);
      assert.match(m.text, /Reason:\s+release slipped/);
    });

    it('When a grant is revoked, then the mail says by whom and why; when it expires, that it ended as planned', () => {
      const grant = grantFixture({
        status: 'REVOKED',
        endedAt: '2026-12-10T08:00:00.000Z',
        history: [...grantFixture().history, { event: 'REVOKE_REQUESTED', at: '2026-12-10T07:59:00.000Z', actor: 'security-team', accessLevel: 'READ_WRITE', expiresAt: '2026-12-31T23:59:59.000Z' }],
      });
      const revoked = grantMail({ ...base, kind: 'REVOKED', grant, reason: 'laptop lost' });
      assert.equal(revoked.subject, '[dbaccess] Access to shop/dev_project revoked');
      assert.match(flat(revoked.text), /revoked by security-team \(reason: laptop lost\)/);
      assert.match(revoked.text, /Revoked at:\s+2026-12-10 08:00:00 UTC/);
      const expired = grantMail({ ...base, kind: 'EXPIRED', grant: grantFixture({ status: 'EXPIRED' }) });
      assert.equal(expired.subject, '[dbaccess] Access to shop/dev_project expired');
      assert.match(flat(expired.text), /expired at 2026-12-31 23:59:59 UTC, as planned/);
    });

    it('When a grant fails, then the administrators learn the step, the error, that it was rolled back and what to check', () => {
      const grant = grantFixture({ status: 'FAILED', failure: { step: 'createAccount', message: 'connect ECONNREFUSED 10.0.0.5:3306' } });
      const m = adminMail({ kind: 'FAILED', grant, administrators: ADMINS, eventId: 'run-1:000004', detail: 'after 5 attempts' });
      assert.match(m.subject, /^\[dbaccess\] Grant FAILED and rolled back: alice@example.com READ_WRITE on shop\/dev_project$/);
      assert.match(m.text, /Failed step:\s+createAccount/);
      assert.match(m.text, /Error:\s+connect ECONNREFUSED 10\.0\.0\.5:3306/);
      assert.match(flat(m.text), /was rolled back/);
      assert.match(m.text, /admin secret/);
    });

    it('When revocation keeps failing, then the alert says it retries until it succeeds and what to check', () => {
      const m = adminMail({ kind: 'REVOKE_RETRYING', grant: grantFixture({ status: 'REVOKING' }), administrators: ADMINS, eventId: 'run-1:000009', detail: '10 attempts, last: connect ETIMEDOUT' });
      assert.match(m.subject, /^\[dbaccess\] ACTION NEEDED: /);
      assert.match(flat(m.text), /until the revocation succeeds/);
      assert.match(m.text, /reachable/);
      assert.match(flat(m.text), /admin secret/);
      assert.match(m.text, /10 attempts, last: connect ETIMEDOUT/);
      assert.match(m.text, /ALTER USER 'alice_k3j9qa'@/);
      assert.ok(m.text.includes('grant/shop/dev_project/alice@example.com'));
    });
  });

  describe('who gets the credentials', () => {
    it('When every kind of e-mail is rendered for a grant whose credentials are at hand, then only the grantee\'s own GRANTED message carries the link, the password or the command that reads the secret', () => {
      const url = 'https://dbaccess.example.com/credentials/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE';
      const password = 'Pa55wordInTheMail0123';
      const grant = grantFixture({ retained: { since: '2026-12-10T08:00:01.000Z', reason: 'refused', objects: [{ kind: 'VIEW', schema: 's', name: 'v' }], objectCount: 1 } });
      const base = { grant, owner: OWNER, eventId: 'run-1:000020', awsRegion: 'eu-west-1', schema: 'dev_project' };
      const messages: MailMessage[] = [];
      for (const credentials of [{ kind: 'link' as const, url, linkExpiresAt: '2026-12-02T23:59:59.000Z' }, { kind: 'password' as const, password }]) {
        for (const kind of ['GRANTED', 'LEVEL_CHANGED', 'EXTENDED', 'REVOKED', 'EXPIRED'] as const) {
          messages.push(grantMail({ ...base, kind, credentials }));
          const notice = grantOwnerNotice({ ...base, kind, credentials });
          if (notice) messages.push(notice);
        }
      }
      for (const kind of ['FAILED', 'REVOKE_RETRYING', 'ACCOUNT_RETAINED', 'LEVEL_CHANGE_INCOMPLETE'] as const) messages.push(adminMail({ kind, grant, administrators: ADMINS, owner: OWNER, eventId: 'e', detail: 'd' }));
      for (const kind of ['APPROVAL_REQUESTED', 'DENIED', 'EXTENSION_REQUESTED', 'EXTENSION_DENIED'] as const) {
        messages.push(approvalMail({ kind, grant, owner: OWNER, approvers: ADMINS, reasons: ['r'], eventId: 'e', extension: { from: grant.expiresAt, to: '2027-01-31T23:59:59.000Z', requestedBy: 'x' } }));
      }
      for (const kind of ['REMINDER', 'ADOPTED'] as const) messages.push(noticeMail({ kind, grant, owner: OWNER, eventId: 'e', maxDurationMs: 90 * 86_400_000 }));

      const carriers = messages.filter((m) => [m.text, m.html].some((part) => part.includes(url) || part.includes(password) || part.includes('secretsmanager get-secret-value')));
      assert.equal(carriers.length, 2, 'the GRANTED message with a link, and the one with the password');
      for (const m of carriers) {
        assert.deepEqual([...m.to, ...(m.cc ?? [])], ['alice@example.com'], `${m.subject}: to the grantee alone`);
        assert.equal(m.messageId?.startsWith('<granted.'), true);
      }
    });
  });

  describe('access ended, account left behind or kept', () => {
    const base = { owner: OWNER, awsRegion: 'eu-west-1', eventId: 'run-1:000011' };
    const objects: LeftBehindObject[] = [
      { kind: 'VIEW', schema: 'dev_project', name: 'v_orders' },
      { kind: 'PROCEDURE', schema: 'dev_project', name: 'p_fix' },
      { kind: 'TRIGGER', schema: 'dev_project', name: 't_audit', note: 'on table orders' },
      { kind: 'EVENT', schema: 'dev_project', name: 'e_nightly', note: 'disabled' },
    ];
    const retained = grantFixture({
      status: 'REVOKED',
      endedAt: '2026-12-10T08:00:05.000Z',
      accessEndedAt: '2026-12-10T08:00:01.000Z',
      retained: { since: '2026-12-10T08:00:01.000Z', reason: 'the account is the definer of stored objects (MySQL error 4006)', objects, objectCount: 4 },
      leftBehind: { objects, count: 4 },
    });

    it('When the account is retained, then the REVOKED mail says access ended at the containment time and why the account is kept, names every object, and never says it was removed', () => {
      const m = grantMail({ ...base, kind: 'REVOKED', grant: retained, actor: 'security-team' });
      assert.deepEqual(m.to, ['alice@example.com']);
      assert.deepEqual(m.cc, ['olga.owner@example.com'], 'the owner reads the objects too');
      const text = flat(m.text);
      assert.match(m.text, /Access ended at:\s+2026-12-10 08:00:01 UTC/);
      assert.match(text, /Access ended at 2026-12-10 08:00:01 UTC: the account alice_k3j9qa was locked, its password replaced with one nobody knows, its privileges revoked and its open sessions ended/);
      assert.match(text, /The account itself is kept, locked, because the database server refused to drop it: the account is the definer of stored objects \(MySQL error 4006\)\./);
      assert.doesNotMatch(text, /removed|has been dropped/i, text);
      for (const line of ['VIEW dev_project.v_orders', 'PROCEDURE dev_project.p_fix', 'TRIGGER dev_project.t_audit (on table orders)', 'EVENT dev_project.e_nightly (disabled)']) {
        assert.ok(m.text.includes(line), line);
        assert.ok(m.html.includes(line), line);
      }
      assert.match(text, /Olga Owner <olga\.owner@example\.com>, its owner, decides/);
      assert.match(m.subject, /kept for its stored objects/);
      const expired = grantMail({ ...base, kind: 'EXPIRED', grant: { ...retained, status: 'EXPIRED' } });
      assert.doesNotMatch(flat(expired.text), /removed/i);
      assert.match(flat(expired.text), /Access ended at 2026-12-10 08:00:01 UTC/);
    });

    it('When the account was dropped but left objects behind (MariaDB), then the mail says it was removed and names the objects and what their missing definer breaks', () => {
      const grant = grantFixture({ status: 'EXPIRED', accessEndedAt: '2026-12-31T23:59:59.400Z', leftBehind: { objects: objects.slice(0, 2), count: 2 } });
      const m = grantMail({ ...base, kind: 'EXPIRED', grant });
      const text = flat(m.text);
      assert.match(text, /has been removed/);
      assert.match(text, /these stored objects it defined were kept: they belong to the project/);
      assert.ok(m.text.includes('VIEW dev_project.v_orders') && m.text.includes('PROCEDURE dev_project.p_fix'), 'the objects');
      assert.match(m.text, /Objects left behind:\s+2/);
      assert.match(text, /MySQL and MariaDB do not record who created a table/);
      const plain = grantMail({ ...base, kind: 'EXPIRED', grant: grantFixture({ status: 'EXPIRED' }) });
      assert.doesNotMatch(plain.text, /left behind/);
    });

    it('When more objects exist than are listed, then the mail says how many more', () => {
      const grant = grantFixture({ status: 'REVOKED', leftBehind: { objects: objects.slice(0, 1), count: 120 } });
      assert.match(flat(grantMail({ ...base, kind: 'REVOKED', grant }).text), /\.\.\. and 119 more/);
    });

    it('When the account is retained, then the administrators (owner in copy) learn the grant, why the drop was refused, the objects, what to do and the SQL to list them', () => {
      const m = adminMail({ kind: 'ACCOUNT_RETAINED', grant: retained, administrators: ADMINS, owner: OWNER, eventId: 'run-1:000012', detail: 'DROP USER refused: 4006' });
      assert.deepEqual(m.to, ['dba1@example.com', 'dba3@example.com']);
      assert.deepEqual(m.cc, ['olga.owner@example.com']);
      assert.match(m.subject, /^\[dbaccess\] ACTION NEEDED: account alice_k3j9qa on shop\/dev_project kept after access ended/);
      const text = flat(m.text);
      assert.ok(text.includes('grant/shop/dev_project/alice@example.com'), 'the grant');
      assert.match(text, /MySQL error 4006/);
      assert.match(text, /It cannot log in/);
      for (const line of ['VIEW dev_project.v_orders', 'EVENT dev_project.e_nightly (disabled)']) assert.ok(m.text.includes(line), line);
      assert.match(text, /they belong to the project, the owner decides/);
      assert.match(text, /another definer/);
      assert.match(text, /Drop the objects nobody needs/);
      assert.match(text, /the reconciler's next run \(in revoke mode\), the grant's own daily retry/);
      assert.ok(m.text.includes('    dbaccess retry-drop grant/shop/dev_project/alice@example.com\n'), 'the command, on a line of its own');
      assert.ok(m.text.includes(definerObjectsQuery('alice_k3j9qa')!.split('\n')[1]!), 'the listing SQL');
      assert.ok(m.text.includes('SHOW CREATE VIEW `dev_project`.`v_orders`;'), 'SHOW CREATE VIEW');
      assert.ok(m.text.includes('SHOW CREATE EVENT `dev_project`.`e_nightly`;'), 'SHOW CREATE EVENT');
      assert.match(m.text, /with a copy to Olga Owner/);
      const withoutOwner = adminMail({ kind: 'ACCOUNT_RETAINED', grant: retained, administrators: ADMINS, eventId: 'run-1:000012', detail: 'x' });
      assert.equal(withoutOwner.cc, undefined);
    });

    it('When object names are hostile, then they are cleaned in the text, escaped in the HTML, quoted in SQL, and left out of SQL when they cannot be pasted back', () => {
      const hostile: LeftBehindObject[] = [
        { kind: 'VIEW', schema: 'dev_project', name: 'v`; DROP DATABASE x; --' },
        { kind: 'PROCEDURE', schema: 'dev_project', name: 'p\r\nBcc: evil@example.com' },
        { kind: 'TRIGGER', schema: 'dev_project', name: '<script>x</script>' },
      ];
      const grant = { ...retained, retained: { ...retained.retained!, objects: hostile, objectCount: 3 } };
      const m = adminMail({ kind: 'ACCOUNT_RETAINED', grant, administrators: ADMINS, owner: OWNER, eventId: 'e', detail: 'x' });
      assert.ok(m.text.includes('SHOW CREATE VIEW `dev_project`.`v``; DROP DATABASE x; --`;'), 'backticks doubled');
      assert.ok(!m.text.includes('SHOW CREATE PROCEDURE'), 'a name with control characters is not offered as SQL');
      assert.ok(!m.text.split('\n').some((l) => /^Bcc:/.test(l)), 'no forged line');
      assert.doesNotMatch(m.html, /<script/);
      assert.ok(m.html.includes('&lt;script&gt;x&lt;/script&gt;'), 'escaped');
      assert.equal(definerObjectsQuery("x' OR 1=1 -- "), undefined, 'only names of the service\'s own shape go into SQL');
    });

    it('When the listing SQL of the alert is run on the database, then it finds every object the account defines and nothing else', async () => {
      const pool = rootPool();
      const schema = await createSchema(`${RUN_PREFIX}_${randomName(4)}_mail`);
      const account = `${RUN_PREFIX}_${randomName(4)}_definer`.slice(0, 32);
      const other = `${account.slice(0, 28)}_oth`;
      try {
        for (const a of [account, other]) await pool.query('CREATE USER ?@? IDENTIFIED BY ?', [a, '%', randomPassword()]);
        const q = `\`${schema}\``;
        await pool.query(`CREATE TABLE ${q}.orders (id INT)`);
        await pool.query(`CREATE DEFINER = '${account}'@'%' VIEW ${q}.v_orders AS SELECT id FROM ${q}.orders`);
        await pool.query(`CREATE DEFINER = '${account}'@'%' PROCEDURE ${q}.p_fix() SELECT 1`);
        await pool.query(`CREATE DEFINER = '${account}'@'%' FUNCTION ${q}.f_one() RETURNS INT DETERMINISTIC RETURN 1`);
        await pool.query(`CREATE DEFINER = '${account}'@'%' TRIGGER ${q}.t_audit BEFORE INSERT ON ${q}.orders FOR EACH ROW SET NEW.id = NEW.id`);
        await pool.query(`CREATE DEFINER = '${account}'@'%' EVENT ${q}.e_nightly ON SCHEDULE EVERY 1 DAY DISABLE DO SELECT 1`);
        await pool.query(`CREATE DEFINER = '${other}'@'%' VIEW ${q}.v_other AS SELECT 1 AS one`);
        const [rows] = await pool.query(definerObjectsQuery(account)!);
        const found = (rows as { kind: string; schema_name: string; object_name: string }[]).filter((r) => r.schema_name === schema).map((r) => `${r.kind} ${r.object_name}`).sort();
        assert.deepEqual(found, ['EVENT e_nightly', 'FUNCTION f_one', 'PROCEDURE p_fix', 'TRIGGER t_audit', 'VIEW v_orders']);
      } finally {
        await pool.query(`DROP DATABASE IF EXISTS \`${schema}\``);
        for (const a of [account, other]) await pool.query('DROP USER IF EXISTS ?@?', [a, '%']);
      }
    });

    it('When a lowering could not end the sessions, then the administrators (owner in copy) learn that the lower level stays, that it is retried, and what to check', () => {
      const grant = grantFixture({ accessLevel: 'READ', privileges: ['SELECT'] });
      const m = adminMail({ kind: 'LEVEL_CHANGE_INCOMPLETE', grant, administrators: ADMINS, owner: OWNER, eventId: 'run-1:000013', detail: 'KILL refused: You are not owner of thread 42 (1095)' });
      assert.deepEqual(m.to, ['dba1@example.com', 'dba3@example.com']);
      assert.deepEqual(m.cc, ['olga.owner@example.com']);
      assert.match(m.subject, /^\[dbaccess\] ACTION NEEDED: lowering alice@example\.com to READ on shop\/dev_project did not finish$/);
      const text = flat(m.text);
      assert.match(text, /The lower level stays: it is never raised back/);
      assert.match(text, /keeps trying to end those sessions/);
      assert.match(text, /CONNECTION_ADMIN \(or SUPER\)/);
      assert.match(text, /PROCESS/);
      assert.ok(text.includes('KILL refused: You are not owner of thread 42 (1095)'));
      assert.ok(m.text.includes("WHERE user = 'alice_k3j9qa'"));
    });
  });

  describe('hostile values', () => {
    const hostileName = `Eve <script>alert("x")</script> O'Neil\r\nBcc: victim@evil.example`;
    const hostileReason = `fix it\r\nSubject: hijacked\r\n\r\n<img src=x onerror=alert(1)> & "more"`;

    it('When a name or reason holds markup, quotes or CR/LF, then the HTML escapes it and no header is injected', async () => {
      const eventId = nextEventId();
      const grant = grantFixture({ name: hostileName, reason: hostileReason });
      const message = grantMail({ kind: 'GRANTED', grant, owner: { name: hostileName, email: OWNER.email }, eventId, awsRegion: 'eu-west-1' });
      await mailer.send(message);
      const got = await smtp.waitFor((m) => m.messageId === messageIdFor('GRANTED', eventId));

      assert.doesNotMatch(got.html, /<script|<img/i);
      assert.ok(got.html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'));
      assert.ok(got.html.includes('O&#39;Neil'));
      assert.ok(got.html.includes('&lt;img src=x onerror=alert(1)&gt; &amp; &quot;more&quot;'));
      assert.deepEqual(got.envelopeTo, ['alice@example.com']);
      const headers = headerLines(got.raw);
      assert.ok(!headers.some((l) => /^(bcc|subject: hijacked)/i.test(l)), headers.join('\n'));
      // In the text part the values stay on their line: no forged paragraphs or headers.
      assert.ok(!got.text.split('\n').some((l) => /^(Bcc|Subject):/.test(l)));
    });

    it('When an admin alert carries a hostile e-mail and failure message, then the subject stays one line and the HTML escaped', async () => {
      const eventId = nextEventId();
      const grant = grantFixture({
        email: 'eve@example.com\r\nBcc: victim@evil.example',
        failure: { step: 'grantPrivileges', message: '<script>steal()</script>\nX-Injected: yes' },
      });
      const message = adminMail({ kind: 'FAILED', grant, administrators: ADMINS, eventId, detail: '\u202Eevil\u0000' });
      assert.doesNotMatch(message.subject, /[\r\n\u0000-\u001f\u202e]/);
      await mailer.send(message);
      const got = await smtp.waitFor((m) => m.messageId === messageIdFor('FAILED', eventId));
      assert.deepEqual(got.envelopeTo.sort(), ['dba1@example.com', 'dba3@example.com']);
      const headers = headerLines(got.raw);
      assert.ok(!headers.some((l) => /^(bcc|x-injected):/i.test(l)), headers.join('\n'));
      assert.doesNotMatch(got.html, /<script/i);
      assert.ok(got.html.includes('&lt;script&gt;steal()&lt;/script&gt;'));
    });

    it('When an address holds CR/LF or a comma, then it cannot turn into extra recipients', () => {
      const m = grantMail({
        kind: 'GRANTED',
        grant: grantFixture({ email: 'alice@example.com,\r\nmallory@evil.example' }),
        owner: OWNER,
        eventId: 'e',
        awsRegion: 'eu-west-1',
      });
      assert.equal(m.to.length, 1);
      assert.doesNotMatch(m.to[0]!, /[\s,<>]/);
    });
  });

  describe('failures', () => {
    let own: SmtpCapture;
    let ownMailer: Mailer;
    before(async () => {
      own = await startSmtpCapture();
      ownMailer = createSmtpMailer(settingsFor(own.port));
    });
    after(async () => {
      ownMailer.close();
      await own.stop();
    });

    it('When the server refuses every recipient with 550, then send fails with MailRejected, and the next mail goes through', async () => {
      own.rejectNext(1, 550, 'rcpt');
      const err = await sendError(ownMailer);
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, 'MailRejected');
      assert.match(err.message, /rejected the message \(550/);
      await ownMailer.send(grantMail({ kind: 'EXPIRED', grant: grantFixture(), owner: OWNER, eventId: nextEventId(), awsRegion: 'eu-west-1' }));
      assert.equal(own.messages.length, 1);
    });

    it('When the server refuses the message data with 554, then send fails with MailRejected', async () => {
      own.rejectNext(1, 554, 'data');
      const err = await sendError(ownMailer);
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'MailRejected');
    });

    it('When the server defers with 451, then send fails with a plain retryable error', async () => {
      own.rejectNext(1, 451, 'rcpt');
      const err = await sendError(ownMailer);
      assert.ok(!(err instanceof ApplicationFailure), 'retryable: a plain Error');
      assert.match(err.message, /deferred the message \(451/);
    });

    it('When the message has no recipients, then send fails with MailRejected', async () => {
      const err = await sendError(ownMailer, { to: [], subject: 's', text: 't', html: '<p>t</p>' });
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'MailRejected');
    });

    it('When the SMTP port is dead, then send fails with a short retryable error without credentials', async () => {
      const port = await deadPort();
      const dead = createSmtpMailer(settingsFor(port, { user: 'mailer-user', password: 'Sup3r-Secret-Pa55' }), { connectionTimeoutMs: 2000 });
      try {
        const err = await sendError(dead);
        assert.ok(!(err instanceof ApplicationFailure), 'retryable: a plain Error');
        assert.match(err.message, /cannot reach SMTP server 127\.0\.0\.1:\d+ \(ESOCKET\/ECONNREFUSED\)/);
        assert.ok(err.message.length < 120);
        assert.equal(err.cause, undefined);
        const everything = `${err.message}\n${err.stack}\n${JSON.stringify(err)}`;
        assert.ok(!everything.includes('Sup3r-Secret-Pa55'));
        assert.ok(!everything.includes(Buffer.from('Sup3r-Secret-Pa55').toString('base64')));
        assert.ok(!everything.includes('mailer-user'));
      } finally {
        dead.close();
      }
    });

    it('When the SMTP credentials are wrong, then the error says so without naming them, and the right ones deliver', async () => {
      const authed = await startSmtpCapture({ auth: { user: 'mailer-user', password: 'Right-Pa55word' } });
      const wrong = createSmtpMailer(settingsFor(authed.port, { user: 'mailer-user', password: 'Wr0ng-Pa55word' }));
      const right = createSmtpMailer(settingsFor(authed.port, { user: 'mailer-user', password: 'Right-Pa55word' }));
      try {
        const err = await sendError(wrong);
        assert.ok(!(err instanceof ApplicationFailure));
        assert.match(err.message, /SMTP authentication at 127\.0\.0\.1:\d+ failed/);
        assert.ok(!`${err.message}${err.stack}`.includes('Wr0ng-Pa55word'));
        assert.ok(!`${err.message}${err.stack}`.includes('mailer-user'));
        await right.send(grantMail({ kind: 'EXPIRED', grant: grantFixture(), owner: OWNER, eventId: nextEventId(), awsRegion: 'eu-west-1' }));
        assert.equal(authed.messages.length, 1);
      } finally {
        wrong.close();
        right.close();
        await authed.stop();
      }
    });
  });

  describe('Message-ID', () => {
    it('When the same event is mailed twice, then both copies carry the same Message-ID', async () => {
      const eventId = nextEventId();
      const build = () => grantMail({ kind: 'GRANTED', grant: grantFixture(), owner: OWNER, eventId, awsRegion: 'eu-west-1' });
      const first = build();
      assert.equal(first.messageId, build().messageId);
      await mailer.send(first);
      await mailer.send(build());
      const id = messageIdFor('GRANTED', eventId);
      await smtp.waitFor((m) => m.messageId === id);
      const deadline = Date.now() + 5000;
      while (smtp.messages.filter((m) => m.messageId === id).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(smtp.messages.filter((m) => m.messageId === id).length, 2);
    });

    it('When ids are derived, then they are safe, and distinct for distinct kinds and events', () => {
      const ids = [
        messageIdFor('GRANTED', 'abc:000001'),
        messageIdFor('GRANTED', 'abc=3A000001'),
        messageIdFor('GRANTED', 'abc:000002'),
        messageIdFor('EXPIRED', 'abc:000001'),
        messageIdFor('FAILED', 'x>\r\nBcc: y@z'),
        messageIdFor('GRANTED', 'x'.repeat(500)),
      ];
      assert.equal(new Set(ids).size, ids.length);
      for (const id of ids) assert.match(id, /^<[a-z_]+\.[A-Za-z0-9_=-]+@dbaccess>$/);
      assert.ok(ids[5]!.length < 200);
      assert.equal(ids[0], '<granted.abc=3A000001@dbaccess>');
    });
  });
});
