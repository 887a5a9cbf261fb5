import assert from 'node:assert/strict';
import { adminMail, approvalMail } from '../../support/messages';
import { initialGrantState } from '../../../src/domain';
import { DAY, grantRequest } from '../../workflows/fixtures';

// The approval gate's e-mails as pure renderings (the roles test sends them
// through the real worker and SMTP server).

const now = new Date('2026-11-25T10:00:00Z');
const request = { ...grantRequest({ now, ttlMs: 3 * DAY, accessLevel: 'ADMIN', privileges: ['ALL PRIVILEGES'], reason: '<b>incident</b> 42' }) };
const grant = initialGrantState(request, now.toISOString());
const approvers = [
  { name: 'Ann', email: 'ann@example.com' },
  { name: 'Bob', email: 'ANN@example.com' },
];

describe('approval e-mails', () => {
  it('When approval is requested, then every approver is asked once, with the reasons, the deadline and ready commands', () => {
    const mail = approvalMail({ kind: 'APPROVAL_REQUESTED', grant, owner: request.owner, approvers, reasons: ['every ADMIN grant needs approval'], decideBy: '2026-11-26T10:00:00Z', eventId: 'run:000002', apiUrl: 'https://dbaccess.example.com/' });
    assert.deepEqual(mail.to, ['ann@example.com']);
    assert.match(mail.subject, /^\[dbaccess\] approval needed: ADMIN on project\/dev_project for john\.doe@example\.com$/);
    assert.ok(mail.text.includes('every ADMIN grant needs approval'));
    assert.ok(mail.text.includes('2026-11-26 10:00:00 UTC'));
    assert.ok(mail.text.includes(`curl -X POST https://dbaccess.example.com/grants/${encodeURIComponent(grant.grantId)}/approve `));
    assert.ok(mail.text.includes('/deny'));
    assert.ok(!mail.html.includes('<b>incident</b>'), 'what the requester wrote is escaped in HTML');
    assert.ok(mail.html.includes('&lt;b&gt;incident&lt;/b&gt;'));
    assert.match(mail.messageId!, /approval_requested/);
  });

  it('When a standing grant needs approval, then the approvers read that it has no end date and how often it is reviewed, not a date it ends', () => {
    const standing = { ...grant, standing: { reviewEveryMs: 30 * DAY, reviewBy: grant.expiresAt } };
    const mail = approvalMail({ kind: 'APPROVAL_REQUESTED', grant: standing, owner: request.owner, approvers, reasons: ['x'], eventId: 'run:000009' });
    const flat = mail.text.replace(/\s+/g, ' ');
    assert.ok(flat.includes('standing: no end date, reviewed every 30d from approval'), flat);
    assert.ok(!/Until:/.test(mail.text), mail.text);
  });

  it('When the API URL is unknown, then the commands use a placeholder rather than a wrong address', () => {
    const mail = approvalMail({ kind: 'APPROVAL_REQUESTED', grant, owner: request.owner, approvers, reasons: ['x'], eventId: 'run:000002' });
    assert.ok(mail.text.includes(`curl -X POST "$DBACCESS_URL/grants/${encodeURIComponent(grant.grantId)}/approve" `), 'the placeholder expands in the shell');
  });

  it('When a request is denied, then the grantee is told who denied it and why, with the owner in copy; a timeout says so', () => {
    const denied = approvalMail({ kind: 'DENIED', grant, owner: request.owner, approvers, reasons: ['x'], actor: 'ann', reason: 'use READ', eventId: 'run:000003' });
    assert.deepEqual(denied.to, ['john.doe@example.com']);
    assert.deepEqual(denied.cc, ['owner@example.com']);
    assert.ok(denied.text.includes('was denied by ann'));
    assert.ok(denied.text.includes('use READ'));
    const timedOut = approvalMail({ kind: 'DENIED', grant, owner: request.owner, approvers, reasons: ['x'], actor: 'dbaccess', reason: 'no decision by 2026-11-26T10:00:00Z', eventId: 'run:000003' });
    assert.ok(timedOut.text.includes('was not decided in time'));
    assert.ok(!timedOut.text.includes('password'));
  });

  const extension = { from: '2026-11-28T10:00:00.000Z', to: '2026-12-20T23:59:59.000Z', requestedBy: 'john.doe@example.com' };

  it('When an extension beyond what was approved is asked for, then the approvers get the grant, its current and requested expiry, who asked, and the same approve and deny commands as for a request', () => {
    const active = { ...grant, status: 'ACTIVE' as const, expiresAt: extension.from };
    const mail = approvalMail({ kind: 'EXTENSION_REQUESTED', grant: active, owner: request.owner, approvers, reasons: ['every ADMIN grant needs approval'], decideBy: '2026-11-26T10:00:00Z', eventId: 'run:000009', extension, reason: 'release slipped', apiUrl: 'https://dbaccess.example.com' });
    assert.deepEqual(mail.to, ['ann@example.com']);
    assert.equal(mail.cc, undefined);
    assert.equal(mail.subject, '[dbaccess] approval needed: extend ADMIN on project/dev_project for john.doe@example.com until 2026-12-20 23:59 UTC');
    assert.match(mail.text, /Current expiry:\s+2026-11-28 10:00:00 UTC/);
    assert.match(mail.text, /Requested expiry:\s+2026-12-20 23:59:59 UTC/);
    assert.match(mail.text, /Asked by:\s+john\.doe@example\.com/);
    assert.match(mail.text, /Reason:\s+release slipped/);
    const flat = mail.text.replace(/\s+/g, ' ');
    assert.ok(flat.includes('Meanwhile the grant keeps its current expiry, 2026-11-28 10:00:00 UTC'), flat);
    assert.ok(flat.includes('every ADMIN grant needs approval'), flat);
    const id = encodeURIComponent(grant.grantId);
    assert.ok(mail.text.includes(`curl -X POST https://dbaccess.example.com/grants/${id}/approve `), 'the approve route of a request');
    assert.ok(mail.text.includes(`curl -X POST https://dbaccess.example.com/grants/${id}/deny `), 'the deny route of a request');
    assert.ok(mail.text.includes(`dbaccess approve ${grant.grantId}\n`), 'the CLI');
    assert.ok(flat.includes('Without a decision by 2026-11-26 10:00:00 UTC (or by the current expiry, if that comes first) the extension is denied'), flat);
    assert.equal(mail.messageId, '<extension_requested.run=3A000009@dbaccess>');
  });

  it('When an extension is denied, then the grantee (owner in copy) learns who denied it and that the grant keeps its expiry; a timeout says so', () => {
    const active = { ...grant, status: 'ACTIVE' as const, expiresAt: extension.from };
    const denied = approvalMail({ kind: 'EXTENSION_DENIED', grant: active, owner: request.owner, approvers, reasons: [], actor: 'ann', reason: 'ask for READ instead', eventId: 'run:000010', extension });
    assert.deepEqual(denied.to, ['john.doe@example.com']);
    assert.deepEqual(denied.cc, ['owner@example.com']);
    assert.equal(denied.subject, '[dbaccess] extension of ADMIN on project/dev_project denied; access still ends 2026-11-28 10:00 UTC');
    const flat = denied.text.replace(/\s+/g, ' ');
    assert.ok(flat.includes('until 2026-12-20 23:59:59 UTC was denied by ann'), flat);
    assert.ok(flat.includes('Your access is unchanged and still ends at 2026-11-28 10:00:00 UTC'), flat);
    assert.ok(flat.includes('ask for READ instead'), flat);
    const timedOut = approvalMail({ kind: 'EXTENSION_DENIED', grant: active, owner: request.owner, approvers, reasons: [], actor: 'dbaccess', eventId: 'run:000010', extension });
    assert.ok(timedOut.text.replace(/\s+/g, ' ').includes('was not decided in time and has been denied'), timedOut.text);
  });

  describe('break-glass', () => {
    const broken = { ...grant, status: 'ACTIVE' as const, breakGlass: { review: 'pending' as const, requestedAt: '2026-11-25T10:00:05.000Z', reviewBy: '2026-12-02T10:00:05.000Z' } };
    const admins = [{ name: 'DBA', email: 'dba@example.com' }];

    it('When the glass is broken, then the administrators are alerted with the owner in copy, the reason and the review deadline; no secret', () => {
      const mail = adminMail({ kind: 'BREAK_GLASS', grant: broken, eventId: 'g/break-glass/alert', detail: 'broken', owner: request.owner, administrators: admins });
      assert.deepEqual(mail.to, ['dba@example.com']);
      assert.deepEqual(mail.cc, ['owner@example.com']);
      assert.match(mail.subject, /^\[dbaccess\] BREAK-GLASS: john\.doe@example\.com has ADMIN on project\/dev_project without approval$/);
      assert.ok(mail.text.includes('<b>incident</b> 42'), 'the reason, as text');
      assert.ok(mail.text.includes('2026-12-02T10:00:05.000Z'));
      assert.ok(!/password/i.test(mail.text.replace(/password replaced/g, '')));
    });

    it('When a flag or no review is reported, then the administrators get their own subject', () => {
      const flagged = adminMail({ kind: 'BREAK_GLASS_FLAGGED', grant: { ...broken, breakGlass: { ...broken.breakGlass, review: 'flagged' as const, reviewedBy: 'ann', reason: 'no incident' } }, eventId: 'e1', detail: 'flagged', owner: request.owner, administrators: admins });
      assert.match(flagged.subject, /was flagged$/);
      assert.ok(flagged.text.includes('no incident'));
      const unreviewed = adminMail({ kind: 'BREAK_GLASS_UNREVIEWED', grant: broken, eventId: 'e2', detail: 'none', owner: request.owner, administrators: admins });
      assert.match(unreviewed.subject, /was never reviewed$/);
    });

    it('When the review is asked, then each approver gets Acknowledge and Flag links of their own and the commands', () => {
      const decision = { approver: approvers[0]!, approve: 'https://dbaccess.example.com/decisions/ack', deny: 'https://dbaccess.example.com/decisions/flag' };
      const mail = approvalMail({ kind: 'BREAK_GLASS_REVIEW', grant: broken, owner: request.owner, approvers, reasons: ['break-glass'], decideBy: broken.breakGlass.reviewBy, eventId: 'g/break-glass/review', apiUrl: 'https://dbaccess.example.com', decision });
      assert.deepEqual(mail.to, ['ann@example.com']);
      assert.match(mail.subject, /^\[dbaccess\] review break-glass ADMIN on project\/dev_project for john\.doe@example\.com by 2026-12-02 10:00 UTC$/);
      assert.ok(mail.text.includes('https://dbaccess.example.com/decisions/ack'));
      assert.ok(mail.text.includes('https://dbaccess.example.com/decisions/flag'));
      assert.ok(mail.text.includes('--acknowledge'));
      assert.ok(mail.text.includes('"decision":"flag"'));
    });
  });
});
