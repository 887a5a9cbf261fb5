import assert from 'node:assert/strict';
import { approvalMail } from '../../src/activities/mail';
import { initialGrantState } from '../../src/domain';
import { DAY, grantRequest } from '../workflows/fixtures';

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

  it('When the API URL is unknown, then the commands use a placeholder rather than a wrong address', () => {
    const mail = approvalMail({ kind: 'APPROVAL_REQUESTED', grant, owner: request.owner, approvers, reasons: ['x'], eventId: 'run:000002' });
    assert.ok(mail.text.includes('$DBACCESS_URL/grants/'));
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
});
