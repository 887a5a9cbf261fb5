import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cloudEvent, parseSigningKey, signatureHeaders, slackMessage } from '../../src/adapters/events/envelope';
import type { AuditRecord } from '../../src/contract/activities';
import { ConfigError, parseFileConfig } from '../../src/config';
import { MINIMAL_CONFIG_FILE } from '../support/minimal-config';

// The event stream's envelopes and its configuration rules (pure).

const record: AuditRecord = {
  grantId: 'grant/p/db/a@example.com',
  eventId: 'run-1:000003',
  at: '2026-12-06T10:00:00.000Z',
  event: 'GRANTED',
  actor: 'ci <@here>',
  email: 'a@example.com',
  project: 'p',
  database: 'db',
  accessLevel: 'READ',
  expiresAt: '2026-12-09T10:00:00.000Z',
  account: 'a_p_db',
  workflowId: 'grant/p/db/a@example.com',
  runId: 'run-1',
  reason: 'incident <!channel> & more',
};


describe('event stream (pure)', () => {
  it('When an event is enveloped, then it is a CloudEvents 1.0 document whose id is the audit event id and whose data is the record', () => {
    assert.deepEqual(cloudEvent(record), {
      specversion: '1.0',
      id: 'run-1:000003',
      source: 'dbaccess/p/db',
      type: 'io.dbaccess.audit.granted',
      subject: record.grantId,
      time: record.at,
      datacontenttype: 'application/json',
      data: record,
    });
  });

  it('When a body is signed, then the headers are Standard Webhooks ones over "id.timestamp.body"; a key is whsec_/base64 of 24 bytes or more', () => {
    const key = randomBytes(32);
    const h = signatureHeaders(key, 'id-1', 1700000000, '{"a":1}');
    assert.equal(h['webhook-id'], 'id-1');
    assert.equal(h['webhook-timestamp'], '1700000000');
    assert.match(h['webhook-signature']!, /^v1,[A-Za-z0-9+/]+=*$/);
    assert.deepEqual(parseSigningKey(`whsec_${key.toString('base64')}`), key);
    assert.deepEqual(parseSigningKey(key.toString('base64')), key);
    assert.equal(parseSigningKey(randomBytes(16).toString('base64')), undefined);
    assert.equal(parseSigningKey('not a key!'), undefined);
  });

  it('When an event goes to Slack, then its text cannot mention anyone or make a link: <, > and & are escaped', () => {
    const { text } = slackMessage(record);
    assert.match(text, /^\*GRANTED\* READ on p\/db for a@example\.com, until 2026-12-09 10:00:00 UTC \(by ci &lt;@here&gt;\)/);
    assert.ok(text.includes('> incident &lt;!channel&gt; &amp; more'));
    assert.ok(!/<[@!]/.test(text));
  });

  it('When an endpoint has no URL, a signed one no key, or a URL in clear to another host, then the configuration is refused naming the key', () => {
    const refused = (endpoints: Record<string, unknown>) => {
      try {
        parseFileConfig({ ...structuredClone(MINIMAL_CONFIG_FILE), eventStream: { endpoints } });
        return [];
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.problems;
      }
    };
    assert.deepEqual(refused({ ok: { url: 'https://siem.example.com/hook', secretId: 'dbaccess/hooks/siem' }, chat: { format: 'slack', urlSecretId: 'dbaccess/hooks/slack' } }), []);
    assert.ok(refused({ a: { secretId: 'k' } }).some((p) => /eventStream\.endpoints\.a\.url: give url or urlSecretId/.test(p)));
    assert.ok(refused({ a: { url: 'https://x.example.com' } }).some((p) => /endpoints\.a\.secretId: a cloudevents endpoint needs/.test(p)));
    assert.ok(refused({ a: { url: 'http://x.example.com', secretId: 'k' } }).some((p) => /endpoints\.a\.url: must use https/.test(p)));
    assert.ok(refused({ a: { url: 'https://u:p@x.example.com', secretId: 'k' } }).some((p) => /must not contain credentials/.test(p)));
    assert.ok(refused({ 'bad name': { url: 'https://x.example.com', secretId: 'k' } }).length > 0);
  });
});
