import assert from 'node:assert/strict';

import { createEmailNotifier, messageIdFor, type Document, type Mailer, type MailMessage, type Notification } from '../../../src/adapters/notify';

// The e-mail adapter on its own: a notification becomes one mail whose text and
// HTML parts render the same document, with a safe subject and a stable Message-ID.

const document: Document = {
  title: 'Access <granted>',
  tone: 'good',
  blocks: [
    { kind: 'p', text: 'Hello Alice & Bob, this paragraph is long enough that the text part has to wrap it at seventy-eight columns.' },
    { kind: 'h', text: 'Facts' },
    { kind: 'facts', rows: [['Account', 'alice_k3j9qa', 'code'], ['Level', 'READ', 'strong'], ['Reason', '<script>x</script>']] },
    { kind: 'code', text: 'fakesql connect --a-very-long-option-that-must-not-wrap=1 --another-long-option=2 --and-more=3' },
    { kind: 'list', items: ['one', 'two'] },
  ],
  footer: ['Grant g - event e', 'Sent by dbaccess.'],
};

function capture(): { mailer: Mailer; sent: MailMessage[]; closed: () => boolean } {
  const sent: MailMessage[] = [];
  let closed = false;
  return { mailer: { send: async (m) => void sent.push(m), close: () => void (closed = true) }, sent, closed: () => closed };
}

describe('e-mail notifier', () => {
  const notification: Notification = { to: ['alice@example.com'], subject: 'Access\r\nBcc: x@evil.example granted', document, id: { kind: 'GRANTED', key: 'run:000002' } };

  it('When a notification is sent, then one mail carries the document as text and as escaped HTML, a one-line subject and the Message-ID of its id', async () => {
    const c = capture();
    await createEmailNotifier(c.mailer).notify(notification);
    assert.equal(c.sent.length, 1);
    const m = c.sent[0]!;
    assert.deepEqual(m.to, ['alice@example.com']);
    assert.equal('cc' in m, false, 'no copy field when nobody is copied');
    assert.equal(m.subject, 'Access Bcc: x@evil.example granted');
    assert.equal(m.messageId, messageIdFor('GRANTED', 'run:000002'));

    const lines = m.text.split('\n');
    assert.deepEqual(lines.slice(0, 2), ['Access <granted>', '================']);
    assert.ok(lines.every((l) => l.length <= 78 || l.startsWith('    ')), 'prose wraps at 78 columns');
    assert.ok(lines.includes('    fakesql connect --a-very-long-option-that-must-not-wrap=1 --another-long-option=2 --and-more=3'), 'code stays on one indented line');
    assert.ok(lines.includes('Facts') && lines.includes('-----'));
    assert.ok(lines.some((l) => /^ {2}Account: +alice_k3j9qa$/.test(l)));
    assert.ok(lines.includes('- one') && lines.includes('- two'));
    assert.deepEqual(lines.slice(-4), ['--', 'Grant g - event e', 'Sent by dbaccess.', '']);

    assert.match(m.html, /^<!DOCTYPE html>/);
    assert.ok(m.html.includes('<title>Access Bcc: x@evil.example granted</title>'));
    assert.ok(m.html.includes('Access &lt;granted&gt;'));
    assert.ok(m.html.includes('Hello Alice &amp; Bob'));
    assert.ok(m.html.includes('&lt;script&gt;x&lt;/script&gt;'));
    assert.doesNotMatch(m.html, /<script/);
    assert.ok(m.html.includes('<strong>READ</strong>'));
    assert.match(m.html, /<code[^>]*>alice_k3j9qa<\/code>/);
    assert.ok(m.html.includes('<li>one</li><li>two</li>'));
    assert.ok(m.html.includes('#1a7f37'), 'the tone colours the banner');
  });

  it('When a notification has people in copy, then the mail copies them; closing the notifier closes the transport', async () => {
    const c = capture();
    const notifier = createEmailNotifier(c.mailer);
    await notifier.notify({ ...notification, cc: ['olga@example.com'] });
    assert.deepEqual(c.sent[0]!.cc, ['olga@example.com']);
    notifier.close();
    assert.equal(c.closed(), true);
  });
});
