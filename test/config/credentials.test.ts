import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ConfigError, credentialSettings, decisionLinkKey, Env, parsePublicUrl } from '../../src/config';

describe('credential settings', () => {
  it('When PUBLIC_URL is https or loopback http, then it is accepted without its trailing slash', () => {
    assert.equal(parsePublicUrl('https://dbaccess.example.com/'), 'https://dbaccess.example.com');
    assert.equal(parsePublicUrl('https://example.com/dbaccess/'), 'https://example.com/dbaccess');
    assert.equal(parsePublicUrl('http://127.0.0.1:3000'), 'http://127.0.0.1:3000');
    assert.equal(parsePublicUrl('http://localhost:3000/'), 'http://localhost:3000');
  });

  it('When PUBLIC_URL is not a safe base URL, then the configuration is refused with the reason', () => {
    for (const [value, reason] of [
      ['dbaccess.example.com', /absolute URL/],
      ['http://dbaccess.example.com', /https/],
      ['ftp://dbaccess.example.com', /https/],
      ['https://user:pw@dbaccess.example.com', /credentials/],
      ['https://dbaccess.example.com/?a=1', /query/],
      ['https://dbaccess.example.com/#x', /fragment/],
    ] as const) {
      assert.throws(() => parsePublicUrl(value), (err: unknown) => err instanceof ConfigError && reason.test(err.message), value);
    }
  });

  it('When the worker reads its settings, then the defaults are a 24 h link, no password in the mail, and PUBLIC_URL is required', () => {
    assert.deepEqual(credentialSettings(new Env({ PUBLIC_URL: 'https://d.example.com' }), 'worker'), {
      linksTable: 'dbaccess-credential-links',
      inEmail: false,
      linkTtlMs: 24 * 3600_000,
      publicUrl: 'https://d.example.com',
    });
    assert.throws(() => credentialSettings(new Env({}), 'worker'), /PUBLIC_URL must be set/);
    assert.equal(credentialSettings(new Env({ CREDENTIALS_IN_EMAIL: 'true' }), 'worker').inEmail, true);
    assert.throws(() => credentialSettings(new Env({ PUBLIC_URL: 'https://d.example.com', CREDENTIAL_LINK_TTL: '10s' }), 'worker'), /CREDENTIAL_LINK_TTL/);
    assert.equal(credentialSettings(new Env({ PUBLIC_URL: 'https://d.example.com', CREDENTIAL_LINK_TTL: '2d' }), 'worker').linkTtlMs, 2 * 24 * 3600_000);
    assert.equal(credentialSettings(new Env({}), 'api').linksTable, 'dbaccess-credential-links');
  });

  it('When DECISION_LINK_KEY is set, then it must be 32 or more base64 bytes (the message says how to make one, never the value); unset, there are no links', () => {
    assert.equal(decisionLinkKey(new Env({})), undefined);
    const key = randomBytes(32);
    assert.deepEqual(decisionLinkKey(new Env({ DECISION_LINK_KEY: key.toString('base64') })), key);
    for (const bad of [randomBytes(16).toString('base64'), 'not base64 at all!', 'secret-value']) {
      assert.throws(
        () => decisionLinkKey(new Env({ DECISION_LINK_KEY: bad })),
        (err: unknown) => err instanceof ConfigError && /openssl rand -base64 32/.test(err.message) && !err.message.includes(bad),
        bad,
      );
    }
  });
});
