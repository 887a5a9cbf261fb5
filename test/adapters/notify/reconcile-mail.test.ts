import assert from 'node:assert/strict';
import { createSmtpMailer, messageIdFor } from '../../../src/adapters/notify';
import { reconcileMail } from '../../support/messages';
import type { ReconcileSummary } from '../../../src/domain';
import { getSharedSmtp } from '../../support/smtp';
import { randomName } from '../../support/mariadb';

// The reconciler's summary e-mail: rendered from the run's summary (text and
// HTML say the same, hostile text is neutralised), and sent through real SMTP.

function summary(overrides: Partial<ReconcileSummary> = {}): ReconcileSummary {
  return {
    runId: `run-${randomName(6)}`,
    mode: 'revoke',
    startedAt: '2026-05-01T10:00:00.000Z',
    servers: [{ adminSecretId: 'prod/mysql-admin', accountsSeen: 12, openGrants: 9, inProgress: 1 }],
    orphans: [
      {
        adminSecretId: 'prod/mysql-admin',
        project: 'demo',
        database: 'dev_project',
        schema: 'demo_dev',
        account: 'john_doe_k3x9qa',
        host: '%',
        grantId: 'grant/demo/dev_project/john.doe@example.com',
        proof: 'secret',
        privileges: ['SELECT'],
        outcome: 'revoked',
        detail: 'dropped; secret deleted',
      },
    ],
    orphanCount: 1,
    lookAlikes: [{ adminSecretId: 'prod/mysql-admin', account: 'ann_abcdef', host: '%', privileges: ['demo_dev: SELECT <script>'] }],
    lookAlikeCount: 1,
    drift: [
      {
        grantId: 'grant/demo/dev_project/ann@example.com',
        project: 'demo',
        database: 'dev_project',
        account: 'ann_q2w3e4',
        schema: 'demo_dev',
        expected: ['SELECT'],
        actual: ['DROP', 'SELECT'],
        missing: false,
        repairable: true,
        elsewhere: [],
        outcome: 'repaired',
        detail: 'removed DROP',
      },
    ],
    driftCount: 1,
    ...overrides,
  };
}

describe('reconciler: summary e-mail', () => {
  it('When a run found orphans, drift and a look-alike, then the mail lists each with what was done, to the administrators, with a per-run Message-ID', () => {
    const s = summary();
    const mail = reconcileMail({ summary: s, administrators: [{ name: 'DBA', email: 'dba@example.com' }, { name: 'DBA again', email: 'DBA@example.com' }] });
    assert.deepEqual(mail.to, ['dba@example.com']);
    assert.equal(mail.subject, '[dbaccess] Reconciler: 1 orphan(s) revoked, 1 grant(s) changed by hand, 1 look-alike account(s)');
    assert.equal(mail.messageId, messageIdFor('reconcile', s.runId));
    for (const part of [mail.text, mail.html]) {
      assert.ok(part.includes('john_doe_k3x9qa'));
      assert.ok(part.includes('ann_q2w3e4'));
      assert.ok(part.includes('ann_abcdef'));
      assert.ok(part.includes('dbaccess-reconciler'));
    }
    assert.ok(!mail.html.includes('<script>'), 'hostile text is escaped');
    assert.ok(mail.html.includes('&lt;script&gt;'));
  });

  it('When a repair recurred, then the mail says it was not repaired again and why; a plain repair says nothing of it', () => {
    const base = summary();
    const recurring = reconcileMail({ summary: summary({ drift: [{ ...base.drift[0]!, outcome: 'recurring', detail: 'same difference as the last repair' }] }), administrators: [{ name: 'DBA', email: 'dba@example.com' }] });
    const flat = recurring.text.replace(/\s+/g, ' ');
    assert.ok(flat.includes('ann_q2w3e4 (grant grant/demo/dev_project/ann@example.com)') && flat.includes(': recurring - same difference as the last repair'), flat);
    assert.ok(flat.includes('It was not repaired again, so that a repair that cannot hold does not end the grantee\'s sessions every run'), flat);
    assert.ok(!reconcileMail({ summary: base, administrators: [] }).text.includes('not repaired again'), 'only when one recurred');
  });

  it('When the run was in report mode, then the mail says nothing was changed and how to revoke', () => {
    const s = summary({ mode: 'report', orphans: summary().orphans.map((o) => ({ ...o, outcome: 'reported' as const })), drift: [], driftCount: 0, lookAlikes: [], lookAlikeCount: 0 });
    const mail = reconcileMail({ summary: s, administrators: [{ name: 'DBA', email: 'dba@example.com' }] });
    assert.match(mail.subject, /1 orphan\(s\) found/);
    assert.match(mail.text, /changed nothing/);
    assert.match(mail.text, /reconciler\.mode to revoke/);
  });

  it('When it is sent through the real SMTP path, then it arrives once, as rendered', async () => {
    const smtp = await getSharedSmtp();
    const to = `dba-${randomName(6)}@example.com`;
    const mailer = createSmtpMailer({ host: smtp.host, port: smtp.port, secure: false, requireTls: false, from: 'dbaccess <dbaccess@example.com>' });
    try {
      const s = summary();
      const message = reconcileMail({ summary: s, administrators: [{ name: 'DBA', email: to }] });
      await mailer.send(message);
      const got = await smtp.waitFor((m) => m.envelopeTo.includes(to));
      assert.equal(got.subject, message.subject);
      assert.equal(got.messageId, message.messageId);
      assert.ok(got.text.includes('john_doe_k3x9qa'));
      assert.equal(smtp.messages.filter((m) => m.envelopeTo.includes(to)).length, 1);
    } finally {
      mailer.close();
    }
  });
});
