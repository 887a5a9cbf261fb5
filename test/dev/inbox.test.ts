import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSmtpMailer } from '../../src/adapters/notify';
import type { SmtpSettings } from '../../src/config';
import { freePort } from '../support/ports';
import { spawnGroup, type GroupProcess } from '../support/processes';
import { ROOT } from '../support/tools';
import { until } from '../support/wait';

// The dev stack's inbox is MailDev, started by scripts/dev.mjs with these flags.
// What the stack relies on: the worker's mailer delivers to it with or without
// SMTP credentials, and its JSON lists each message with its recipients, subject
// and text.

interface InboxMail {
  id: string;
  to: { address: string }[];
  subject: string;
  text: string;
  html: string;
}

describe('dev stack: the mail inbox (MailDev)', function () {
  this.timeout(60_000);
  let inbox: GroupProcess;
  let dir: string;
  let smtpPort: number;
  let web: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dbaccess-inbox-'));
    smtpPort = await freePort();
    const webPort = await freePort();
    web = `http://127.0.0.1:${webPort}`;
    inbox = spawnGroup('maildev', join(ROOT, 'node_modules', '.bin', 'maildev'), [
      '--ip', '127.0.0.1',
      '--smtp', String(smtpPort),
      '--web-ip', '127.0.0.1',
      '--web', String(webPort),
      '--mail-directory', dir,
      '--max-emails', '500',
    ], process.env);
    await until('the inbox to answer', async () => (await fetch(`${web}/api/healthz`).catch(() => undefined))?.ok, 20_000);
  });

  after(async () => {
    await inbox?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const settings = (extra: Partial<SmtpSettings> = {}): SmtpSettings => ({ host: '127.0.0.1', port: smtpPort, secure: false, requireTls: false, from: 'dbaccess <dbaccess@example.com>', ...extra });

  it('When the worker mails it with and without SMTP credentials, then both messages are listed with recipients, subject and text, and their HTML is served without scripts', async () => {
    for (const [who, extra] of [['anonymous', {}], ['authenticated', { user: 'any', password: 'thing' }]] as const) {
      const mailer = createSmtpMailer(settings(extra));
      try {
        await mailer.send({ to: [`${who}@example.com`], subject: `[dbaccess] hello ${who}`, text: `text for ${who}`, html: `<p>html for ${who}</p><script>alert(1)</script>` });
      } finally {
        mailer.close();
      }
    }
    const listed = await until('both messages in the inbox', async () => {
      const all = (await (await fetch(`${web}/api/email`)).json()) as InboxMail[];
      return all.length === 2 && all;
    });
    const mail = listed.find((m) => m.to.some((t) => t.address === 'authenticated@example.com'));
    assert.ok(mail);
    assert.equal(mail.subject, '[dbaccess] hello authenticated');
    assert.equal(mail.text.trim(), 'text for authenticated');
    const html = await (await fetch(`${web}/api/email/${mail.id}/html`)).text();
    assert.match(html, /html for authenticated/);
    assert.doesNotMatch(html, /<script/);
    assert.equal((await fetch(web, { headers: { accept: 'text/html' } })).status, 200, 'the web inbox');
  });
});
