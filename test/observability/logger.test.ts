import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, scrubText } from '../../src/observability/logger';

// The logger's redaction, through the real pino logger writing to a stream.

function capture(): { lines: () => Record<string, any>[]; text: () => string; logger: ReturnType<typeof createLogger> } {
  const raw: string[] = [];
  const logger = createLogger('test', 'info', new Writable({ write: (c, _e, done) => (raw.push(String(c)), done()) }));
  return { logger, text: () => raw.join(''), lines: () => raw.map((l) => JSON.parse(l) as Record<string, any>) };
}

describe('logger redaction', () => {
  it('When request or response headers carry credentials, then authorization, cookies and x-api-key are redacted', () => {
    const c = capture();
    c.logger.info({
      req: { headers: { authorization: 'Bearer s3cr3t-key-1', cookie: 'sid=s3cr3t-cookie', 'x-api-key': 's3cr3t-key-2', 'user-agent': 'curl' } },
      res: { headers: { 'set-cookie': 'sid=s3cr3t-cookie-2' } },
      headers: { authorization: 'Basic s3cr3t-basic', 'proxy-authorization': 'Basic s3cr3t-proxy' },
    });
    assert.doesNotMatch(c.text(), /s3cr3t/);
    assert.equal(c.lines()[0]!.headers.authorization, '[redacted]');
  });

  it('When a secret-named field is logged at the top level or nested, then its value is redacted and its neighbours are kept', () => {
    const c = capture();
    c.logger.info({
      password: 's3cr3t-1',
      MYSQL_PASSWORD: 's3cr3t-2',
      grant: { token: 's3cr3t-3', apiKey: 's3cr3t-4', secretName: 'dbaccess/p/d/acct', account: 'acct' },
      outer: { inner: { password: 's3cr3t-5', secret: 's3cr3t-6', SMTP_PASSWORD: 's3cr3t-7' } },
    });
    assert.doesNotMatch(c.text(), /s3cr3t/);
    const line = c.lines()[0]!;
    assert.equal(line.grant.secretName, 'dbaccess/p/d/acct', 'a secret name is not a secret');
    assert.equal(line.grant.account, 'acct');
    assert.equal(line.outer.inner.password, '[redacted]');
  });

  it('When an error is logged, then its message, stack and properties are scrubbed at any depth, and the stack is kept', () => {
    const c = capture();
    const cause = Object.assign(new Error('inner: token=s3cr3t-9'), { config: { deep: { deeper: { password: 's3cr3t-10' } } } });
    const err = Object.assign(new Error("ALTER USER 'a'@'%' IDENTIFIED BY 's3cr3t-8' failed; header Authorization: Bearer s3cr3t-11"), {
      cause,
      request: { headers: { authorization: 'Bearer s3cr3t-12' } },
      credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 's3cr3t-13' },
    });
    c.logger.error({ err }, 'failed');
    c.logger.error({ error: new Error('api_key: s3cr3t-14') }, 'failed too');
    assert.doesNotMatch(c.text(), /s3cr3t/);
    const line = c.lines()[0]!;
    assert.match(line.err.stack, /logger\.test\.ts/, 'the stack is kept');
    assert.match(line.err.message, /IDENTIFIED BY '\[redacted\]'/);
    assert.equal(line.err.credentials.accessKeyId, 'AKIAEXAMPLE');
  });

  it('When a request URL holds a one-time credential token, then the log shows /credentials/[redacted]', () => {
    const c = capture();
    c.logger.info({ req: { method: 'GET', url: '/credentials/Zm9vYmFyLXMzY3IzdA?x=1', ip: '10.0.0.1', socket: { remotePort: 5 } } }, 'incoming request');
    const line = c.lines()[0]!;
    assert.equal(line.req.url, '/credentials/[redacted]?x=1');
    assert.equal(line.req.remoteAddress, '10.0.0.1');
    assert.doesNotMatch(c.text(), /Zm9vYmFy/);
  });

  it('When free text holds secrets in common forms, then scrubText removes them and leaves the rest', () => {
    assert.equal(scrubText('GET /credentials/abc123/view'), 'GET /credentials/[redacted]/view');
    assert.equal(scrubText('password=hunter2&user=bob'), 'password=[redacted]&user=bob');
    assert.equal(scrubText('{"apiKey":"k-123","name":"n"}'), '{"apiKey":"[redacted]","name":"n"}');
    assert.equal(scrubText("SET PASSWORD FOR 'a'@'%' = PASSWORD('x1')"), "SET PASSWORD FOR 'a'@'%' = PASSWORD('[redacted]')");
    assert.equal(scrubText('secretName: dbaccess/p/d/a'), 'secretName: dbaccess/p/d/a');
  });
});
