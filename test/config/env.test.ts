import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { checkTimeouts } from '../../src/api/plugins/hardening';
import { awsSettings, ConfigError, Env, ENV_VARS, smtpSettings, temporalSettings } from '../../src/config';

// Addresses, ports and keys come from the environment. A wrong value must stop
// the process at start-up with a message naming the variable, never half-work.

function configError(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    for (const f of fragments) assert.ok(err.message.includes(f), `"${f}" not in: ${err.message}`);
    return true;
  });
}

describe('config: environment', () => {
  describe('Env', () => {
    it('When a variable is unset or empty, then its documented default is used', () => {
      const env = new Env({ TEMPORAL_NAMESPACE: '' });
      assert.equal(env.get('TEMPORAL_ADDRESS'), 'localhost:7233');
      assert.equal(env.get('TEMPORAL_NAMESPACE'), 'default');
      assert.equal(env.get('DBACCESS_CONFIG'), 'dbaccess.yaml');
      assert.equal(env.get('API_HOST'), '127.0.0.1');
      assert.equal(env.get('SMTP_USER'), undefined);
    });

    it('When a variable is set, then its value wins over the default', () => {
      assert.equal(new Env({ TEMPORAL_ADDRESS: 'temporal:7233' }).get('TEMPORAL_ADDRESS'), 'temporal:7233');
    });

    it('When a required variable without a default is missing, then the error names it', () => {
      configError(() => new Env({}).require('TEMPORAL_API_KEY'), 'TEMPORAL_API_KEY must be set');
      assert.equal(new Env({}).require('AWS_REGION'), 'us-east-1');
    });

    it('When a boolean is written as true/yes/1/on or false/no/0/off in any case, then it is read as such', () => {
      for (const v of ['true', 'TRUE', 'yes', '1', 'on', 'On']) assert.equal(new Env({ SMTP_SECURE: v }).bool('SMTP_SECURE'), true, v);
      for (const v of ['false', 'False', 'no', '0', 'off']) assert.equal(new Env({ SMTP_SECURE: v }).bool('SMTP_SECURE'), false, v);
      assert.equal(new Env({}).bool('SMTP_SECURE'), false, 'default');
    });

    it('When a boolean is anything else, then the error names the variable and the value', () => {
      for (const v of ['maybe', 'y', '2', 'enabled']) configError(() => new Env({ SMTP_SECURE: v }).bool('SMTP_SECURE'), 'SMTP_SECURE must be true or false', v);
    });

    it('When an integer is in range, then it is read', () => {
      assert.equal(new Env({ SMTP_PORT: '25' }).int('SMTP_PORT', 1, 65535), 25);
      assert.equal(new Env({ SMTP_PORT: '1' }).int('SMTP_PORT', 1, 65535), 1);
      assert.equal(new Env({ SMTP_PORT: '65535' }).int('SMTP_PORT', 1, 65535), 65535);
      assert.equal(new Env({}).int('SMTP_PORT', 1, 65535), 587, 'default');
    });

    it('When an integer is out of range, fractional or not a number, then the error names the variable, the range and the value', () => {
      for (const v of ['0', '65536', '-1', '1.5', 'abc', '25x', 'NaN', 'Infinity']) {
        configError(() => new Env({ SMTP_PORT: v }).int('SMTP_PORT', 1, 65535), 'SMTP_PORT must be an integer from 1 to 65535', `"${v}"`);
      }
      configError(() => new Env({}).int('TEMPORAL_TLS_CERT', 1, 2), 'TEMPORAL_TLS_CERT must be an integer from 1 to 2, not ""');
    });

    it('When the API timeouts are left at their defaults, then they hold for every grant wait API_GRANT_WAIT_MS accepts', () => {
      const env = new Env({});
      const timeouts = { requestTimeoutMs: env.int('API_REQUEST_TIMEOUT_MS', 1000, 600_000), connectionTimeoutMs: env.int('API_CONNECTION_TIMEOUT_MS', 1000, 3_600_000) };
      assert.deepEqual(timeouts, { requestTimeoutMs: 30_000, connectionTimeoutMs: 150_000 });
      for (const grantWaitMs of [0, 10_000, 120_000]) checkTimeouts({ ...timeouts, grantWaitMs });
    });

    it('When the table of variables is read, then names are unique and secrets have no default', () => {
      const names = ENV_VARS.map((v) => v.name);
      assert.equal(new Set(names).size, names.length);
      for (const v of ENV_VARS) if ('secret' in v && v.secret) assert.ok(!('default' in v), `${v.name} is secret and has a default`);
    });
  });

  describe('temporalSettings', () => {
    let dir: string;
    let cert: string;
    let key: string;
    let ca: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'dbaccess-env-'));
      cert = join(dir, 'client.pem');
      key = join(dir, 'client.key');
      ca = join(dir, 'ca.pem');
      writeFileSync(cert, 'CERT');
      writeFileSync(key, 'KEY');
      writeFileSync(ca, 'CA');
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('When nothing is set, then it is the local dev server without TLS', () => {
      assert.deepEqual(temporalSettings(new Env({})), { address: 'localhost:7233', namespace: 'default', taskQueue: 'dbaccess' });
    });

    it('When TEMPORAL_TLS is true, then TLS is on with the system roots', () => {
      assert.deepEqual(temporalSettings(new Env({ TEMPORAL_TLS: 'true' })).tls, {});
      configError(() => temporalSettings(new Env({ TEMPORAL_TLS: 'sure' })), 'TEMPORAL_TLS');
    });

    it('When a client certificate and key are given, then mTLS uses them (TLS implied)', () => {
      const s = temporalSettings(new Env({ TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_TLS_SERVER_NAME: 'ns.tmprl.cloud' }));
      assert.ok(s.tls && typeof s.tls === 'object');
      assert.equal(s.tls.clientCertPair?.crt.toString(), 'CERT');
      assert.equal(s.tls.clientCertPair?.key.toString(), 'KEY');
      assert.equal(s.tls.serverNameOverride, 'ns.tmprl.cloud');
    });

    it('When only the certificate or only the key is given, then it is refused', () => {
      configError(() => temporalSettings(new Env({ TEMPORAL_TLS_CERT: cert })), 'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together');
      configError(() => temporalSettings(new Env({ TEMPORAL_TLS_KEY: key })), 'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together');
    });

    it('When a CA bundle is given, then TLS is on and trusts it', () => {
      const s = temporalSettings(new Env({ TEMPORAL_TLS_CA: ca }));
      assert.ok(s.tls && typeof s.tls === 'object');
      assert.equal(s.tls.serverRootCACertificate?.toString(), 'CA');
    });

    it('When an API key is given, then TLS is implied and the key is passed on', () => {
      const s = temporalSettings(new Env({ TEMPORAL_API_KEY: 'tc-api-key', TEMPORAL_ADDRESS: 'eu-west-1.aws.api.temporal.io:7233', TEMPORAL_NAMESPACE: 'ns.acct' }));
      assert.deepEqual(s, { address: 'eu-west-1.aws.api.temporal.io:7233', namespace: 'ns.acct', taskQueue: 'dbaccess', tls: {}, apiKey: 'tc-api-key' });
    });

    it('When a PEM file cannot be read, then the error names the variable and the path', () => {
      const missing = join(dir, 'missing.pem');
      configError(() => temporalSettings(new Env({ TEMPORAL_TLS_CERT: missing, TEMPORAL_TLS_KEY: key })), 'TEMPORAL_TLS_CERT', missing, 'ENOENT');
      configError(() => temporalSettings(new Env({ TEMPORAL_TLS_CA: missing })), 'TEMPORAL_TLS_CA', missing);
    });
  });

  describe('awsSettings and smtpSettings', () => {
    it('When nothing is set, then AWS uses us-east-1, the default table and no endpoint override', () => {
      assert.deepEqual(awsSettings(new Env({})), { region: 'us-east-1', auditTable: 'dbaccess-audit' });
    });

    it('When an endpoint override is set, then it is passed on', () => {
      assert.deepEqual(awsSettings(new Env({ AWS_REGION: 'eu-west-1', AUDIT_TABLE: 'audit', AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' })), {
        region: 'eu-west-1',
        auditTable: 'audit',
        endpoint: 'http://127.0.0.1:5000',
      });
    });

    it('When nothing is set, then SMTP goes to localhost:587 without credentials', () => {
      assert.deepEqual(smtpSettings(new Env({})), { host: 'localhost', port: 587, secure: false, requireTls: false, from: 'dbaccess <dbaccess@localhost>' });
    });

    it('When SMTP settings are given, then each is read', () => {
      assert.deepEqual(
        smtpSettings(new Env({ SMTP_HOST: 'email-smtp.eu-west-1.amazonaws.com', SMTP_PORT: '465', SMTP_SECURE: 'true', SMTP_REQUIRE_TLS: 'yes', SMTP_USER: 'u', SMTP_PASSWORD: 'p', SMTP_SECRET_ID: 'ses-smtp-user/NW-Projects', MAIL_FROM: 'DB Access <dba@example.com>' })),
        { host: 'email-smtp.eu-west-1.amazonaws.com', port: 465, secure: true, requireTls: true, user: 'u', password: 'p', secretId: 'ses-smtp-user/NW-Projects', from: 'DB Access <dba@example.com>' },
      );
    });

    it('When an SMTP port or flag is invalid, then the error names the variable', () => {
      configError(() => smtpSettings(new Env({ SMTP_PORT: '70000' })), 'SMTP_PORT');
      configError(() => smtpSettings(new Env({ SMTP_REQUIRE_TLS: 'perhaps' })), 'SMTP_REQUIRE_TLS');
    });
  });
});
