import { parseArgs } from 'node:util';
import { COMMANDS, GLOBAL_OPTIONS } from '../../../src/cli/commands';
import assert from 'node:assert/strict';
import { suggestedExtension } from '../../../src/adapters/notify/templates/notices';
import { noticeMail } from '../../support/messages';
import { initialGrantState } from '../../../src/domain';
import { DAY, grantRequest } from '../../workflows/fixtures';

// The reminder and adoption notices as pure renderings (the import test sends an
// adoption notice through the real worker and SMTP server).

const now = new Date('2026-11-25T10:00:00Z');
const request = grantRequest({ now, ttlMs: 10 * DAY, name: 'John <b>Doe</b>' } as never);
const grant = { ...initialGrantState(request, now.toISOString()), status: 'ACTIVE' as const, grantedAt: now.toISOString(), name: 'John <b>Doe</b>' };
const remindedAt = new Date(Date.parse(grant.expiresAt) - 3 * DAY).toISOString();

describe('notice e-mails', () => {
  it('When a reminder is rendered, then it says when access ends and how to extend it, by CLI and API, to the grantee with the owner in copy', () => {
    const mail = noticeMail({ kind: 'REMINDER', grant, owner: request.owner, eventId: 'run:000003', schema: 'dev_project', maxDurationMs: 90 * DAY, beforeMs: 3 * DAY, remindedAt, apiUrl: 'https://dbaccess.example.com/' });
    assert.deepEqual(mail.to, ['john.doe@example.com']);
    assert.deepEqual(mail.cc, ['owner@example.com']);
    assert.equal(mail.subject, '[dbaccess] reminder: READ_WRITE access to project/dev_project expires 2026-12-05 10:00 UTC');
    const flat = mail.text.replace(/\s+/g, ' ');
    assert.ok(flat.includes('expires in 3 days'));
    assert.ok(flat.includes('ends at 2026-12-05 10:00:00 UTC (in 3 days)'));
    const id = encodeURIComponent(grant.grantId);
    assert.ok(mail.text.includes(`dbaccess extend grant/project/dev_project/john.doe@example.com --expires 2026-12-12`), mail.text);
    // The command in the mail is one the CLI accepts.
    const extend = COMMANDS.find((c) => c.name === 'extend')!;
    const line = /dbaccess extend (\S+) (.+)/.exec(mail.text)![0].split(' ').slice(2);
    const parsed = parseArgs({ args: line, options: { ...GLOBAL_OPTIONS, ...extend.options }, allowPositionals: true, strict: true });
    assert.equal(parsed.values.expires, '2026-12-12');
    assert.ok(mail.text.includes(`curl -X POST https://dbaccess.example.com/grants/${id}/extend -H "Authorization: Bearer $DBACCESS_API_KEY" --json '{"expiresAt":"2026-12-12"}'`), mail.text);
    assert.ok(mail.html.includes('John &lt;b&gt;Doe&lt;/b&gt;'), 'names are escaped in HTML');
    assert.ok(!mail.html.includes('<b>Doe</b>'));
    assert.equal(mail.messageId, '<reminder.run=3A000003@dbaccess>');
    assert.ok(!/password:/i.test(mail.text));
  });

  it('When a standing grant is reminded, then the mail says it is kept in its review by someone else, and suggests no extension (which a standing grant refuses)', () => {
    const standing = { ...grant, standing: { reviewEveryMs: 30 * DAY, reviewBy: grant.expiresAt } };
    const mail = noticeMail({ kind: 'REMINDER', grant: standing, owner: request.owner, eventId: 'run:000005', maxDurationMs: 90 * DAY, beforeMs: 3 * DAY, remindedAt });
    const flat = mail.text.replace(/\s+/g, ' ');
    assert.ok(flat.includes('This is standing access, reviewed every 30d: it is not extended.'), flat);
    assert.ok(flat.includes('ask one of them to keep it. Nobody can keep their own access.'), flat);
    assert.ok(!/dbaccess extend|\/extend/.test(mail.text), mail.text);
  });

  it('When the API URL is unknown, then the curl command uses $DBACCESS_URL', () => {
    const mail = noticeMail({ kind: 'REMINDER', grant, owner: request.owner, eventId: 'run:000004', maxDurationMs: 90 * DAY, beforeMs: DAY, remindedAt });
    assert.ok(mail.text.includes(`curl -X POST "$DBACCESS_URL/grants/${encodeURIComponent(grant.grantId)}/extend"`), mail.text);
  });

  it('When the suggested date would pass the rolling maximum, then it is capped inside it', () => {
    assert.equal(suggestedExtension('2026-12-05T10:00:00.000Z', '2026-12-02T10:00:00.000Z', 7 * DAY), '2026-12-08');
    assert.equal(suggestedExtension('2026-12-05T10:00:00.000Z', '2026-12-02T10:00:00.000Z', 90 * DAY), '2026-12-12');
  });

  it('When an adopted grant is announced, then it says the account and password are unchanged and not stored, and when it ends', () => {
    const adopted = { ...grant, account: 'john_doe_mysql' };
    delete (adopted as { secretName?: string }).secretName;
    const mail = noticeMail({ kind: 'ADOPTED', grant: adopted, owner: request.owner, eventId: 'run:000002', maxDurationMs: 90 * DAY });
    assert.match(mail.subject, /now managed by dbaccess, until 2026-12-05 10:00 UTC$/);
    const flat = mail.text.replace(/\s+/g, ' ');
    assert.ok(flat.includes('the account john_doe_mysql and its password are the same as before'));
    assert.ok(flat.includes('dbaccess did not store it'));
    assert.ok(mail.text.includes('dbaccess extend '));
  });
});
