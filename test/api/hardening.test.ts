import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { Client, Connection } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { parseApiKeys } from '../../src/api/plugins/auth';
import { errorHandler } from '../../src/api/errors';
import { checkTimeouts, serverOptions, type HardeningOptions } from '../../src/api/plugins/hardening';
import { ConfigError } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import { onTestRunEnd } from '../support/hooks';
import { startTestStack, type TestStack } from '../support/stack';

// API hardening over real HTTP, on apps built by buildApp with the real Temporal
// client of the test stack (its worker answers): rate limits per key and per
// address, security headers, body/content-type/JSON errors in the API's shape,
// request ids, and 500s that carry nothing from inside.

interface TestApp {
  url: string;
  /** Every log line of this app, parsed. */
  logs: Record<string, unknown>[];
  raw: string[];
  keys: { alpha: string; beta: string };
  call(method: string, path: string, options?: { key?: string | null; headers?: Record<string, string>; body?: string }): Promise<{ status: number; text: string; body: any; headers: Headers }>;
}

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('HTTP API: hardening', function () {
  this.timeout(60_000);
  let stack: TestStack;
  const apps: FastifyInstance[] = [];

  before(async () => {
    stack = await startTestStack();
  });
  after(async () => {
    for (const app of apps.splice(0)) await app.close();
    await stack?.stop();
  });

  async function startApp(hardening: HardeningOptions, client: Client = stack.client): Promise<TestApp> {
    const raw: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        raw.push(String(chunk));
        done();
      },
    });
    const keys = { alpha: randomBytes(24).toString('hex'), beta: randomBytes(24).toString('hex') };
    const app = await buildApp({
      client,
      config: { ...stack.config, apiClients: { ...stack.config.apiClients, alpha: { name: 'alpha', role: 'admin', projects: '*' }, beta: { name: 'beta', role: 'auditor', projects: '*' } } },
      apiKeys: parseApiKeys(`alpha:${keys.alpha},beta:${keys.beta}`),
      taskQueue: stack.taskQueue,
      grantWaitMs: 1000,
      logger: createLogger('hardening-test', 'info', sink),
      hardening,
    });
    apps.push(app);
    onTestRunEnd(() => app.close());
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    return {
      url,
      raw,
      get logs() {
        return raw.map((l) => JSON.parse(l) as Record<string, unknown>);
      },
      keys,
      async call(method, path, options = {}) {
        const key = options.key === undefined ? keys.alpha : options.key;
        const res = await fetch(`${url}${path}`, {
          method,
          headers: { ...(key !== null ? { authorization: `Bearer ${key}` } : {}), ...options.headers },
          ...(options.body !== undefined ? { body: options.body } : {}),
        });
        const text = await res.text();
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        return { status: res.status, text, body, headers: res.headers };
      },
    };
  }

  /** An error body in the API's shape, naming its request id, with nothing from inside. */
  function assertErrorShape(res: { status: number; text: string; body: any; headers: Headers }, status: number, code: string): void {
    assert.equal(res.status, status, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), ['error', 'message', 'requestId'], res.text);
    assert.equal(res.body.error, code);
    assert.equal(res.body.requestId, res.headers.get('x-request-id'));
    assert.doesNotMatch(res.text, /\bat\s+\S+\s+\(|\.ts:\d+|\.js:\d+|node_modules|FST_|SyntaxError|Unexpected token|JSON\.parse|position \d+/, res.text);
  }

  describe('rate limits', () => {
    it('When one key goes over its per-key limit, then it gets 429 rate_limited with retry-after, another key does not, and the log names the key, never the key itself', async () => {
      const app = await startApp({ rateLimitPerKey: 3, rateLimitPerAddress: 1000 });
      for (let i = 0; i < 3; i++) assert.equal((await app.call('GET', '/grants?limit=1')).status, 200);
      const limited = await app.call('GET', '/grants?limit=1');
      assertErrorShape(limited, 429, 'rate_limited');
      assert.match(limited.body.message, /API key/);
      const retryAfter = Number(limited.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `retry-after ${limited.headers.get('retry-after')}`);
      assert.equal((await app.call('GET', '/grants?limit=1', { key: app.keys.beta })).status, 200, 'the other key has its own budget');
      assert.equal((await app.call('GET', '/healthz', { key: null })).status, 200, '/healthz is not limited');

      const warn = app.logs.find((l) => l.msg === 'rate limit exceeded');
      assert.ok(warn, 'the refusal is logged');
      assert.equal(warn.level, 'warn');
      assert.equal(warn.keyName, 'alpha');
      assert.equal(warn.limit, 'per-key');
      assert.equal(warn.address, '127.0.0.1');
      assert.equal(warn.reqId, limited.body.requestId);
      const all = app.raw.join('');
      for (const key of Object.values(app.keys)) assert.ok(!all.includes(key), 'an API key is in the logs');
    });

    it('When one address sends too many requests, with or without a valid key, then it gets 429 before authentication, and a valid key does not lift it', async () => {
      let now = 1_000_000;
      const app = await startApp({ rateLimitPerKey: 1000, rateLimitPerAddress: 3, now: () => now });
      for (let i = 0; i < 3; i++) assert.equal((await app.call('GET', '/grants', { key: 'guessed-key-guessed-key-guessed' })).status, 401);
      const limited = await app.call('GET', '/grants?limit=1');
      assertErrorShape(limited, 429, 'rate_limited');
      assert.match(limited.body.message, /address/);
      // 3 a minute: one token back every 20 s.
      assert.equal(limited.headers.get('retry-after'), '20');
      assert.equal((await app.call('GET', '/healthz', { key: null })).status, 200, '/healthz is not limited');
      // Without trustProxy, X-Forwarded-For is not believed: a forged one does not escape the limit.
      assert.equal((await app.call('GET', '/grants?limit=1', { headers: { 'x-forwarded-for': '198.51.100.9' } })).status, 429);

      now += 20_000;
      assert.equal((await app.call('GET', '/grants?limit=1')).status, 200, 'the bucket refills with time');
      assert.equal((await app.call('GET', '/grants?limit=1')).status, 429);

      const warn = app.logs.find((l) => l.msg === 'rate limit exceeded');
      assert.ok(warn);
      assert.equal(warn.limit, 'per-address');
      assert.equal(warn.address, '127.0.0.1');
      assert.ok(!app.raw.join('').includes(app.keys.alpha));
    });

    it('When trustProxy is on, then the per-address limit counts the client address from X-Forwarded-For', async () => {
      const app = await startApp({ rateLimitPerKey: 1000, rateLimitPerAddress: 2, trustProxy: true });
      const from = (ip: string) => app.call('GET', '/grants?limit=1', { headers: { 'x-forwarded-for': ip } });
      assert.equal((await from('203.0.113.7')).status, 200);
      assert.equal((await from('203.0.113.7')).status, 200);
      assert.equal((await from('203.0.113.7')).status, 429);
      assert.equal((await from('203.0.113.8')).status, 200, 'another client behind the same proxy has its own budget');
      const warn = app.logs.find((l) => l.msg === 'rate limit exceeded');
      assert.equal(warn?.address, '203.0.113.7');
    });

    // Behind a load balancer the TCP peer is the balancer: every client would share one
    // budget. The balancer appends the peer it saw to X-Forwarded-For; a client may have
    // written anything before that.
    for (const [label, trustProxy] of [['the list of proxy addresses', '127.0.0.1'], ['a hop count', 1]] as const) {
      it(`When API_TRUST_PROXY is ${label} and requests come from that proxy, then each client behind it has its own budget, and an X-Forwarded-For the client wrote itself does not change whose budget it is`, async () => {
        const app = await startApp({ rateLimitPerKey: 1000, rateLimitPerAddress: 2, trustProxy });
        // `forged` is what the client sent; the proxy appended the address it saw.
        const from = (client: string, forged?: string) => app.call('GET', '/grants?limit=1', { headers: { 'x-forwarded-for': forged ? `${forged}, ${client}` : client } });
        assert.equal((await from('203.0.113.7')).status, 200);
        assert.equal((await from('203.0.113.7', '198.51.100.1')).status, 200);
        assert.equal((await from('203.0.113.7', '198.51.100.2')).status, 429, 'a forged entry does not give a fresh budget');
        assert.equal((await from('203.0.113.8')).status, 200, 'another client behind the same proxy has its own budget');
        assert.equal((await from('203.0.113.8', '203.0.113.9')).status, 200);
        assert.equal((await from('203.0.113.9')).status, 200, 'naming another client in a forged entry took none of its budget');
        const warn = app.logs.find((l) => l.msg === 'rate limit exceeded');
        assert.equal(warn?.address, '203.0.113.7');
      });
    }

    it('When API_TRUST_PROXY names proxies and the request comes from another peer, then its X-Forwarded-For is not believed: the peer\'s address is counted', async () => {
      const app = await startApp({ rateLimitPerKey: 1000, rateLimitPerAddress: 2, trustProxy: '10.0.0.0/8,192.0.2.1' });
      const from = (ip: string) => app.call('GET', '/grants?limit=1', { headers: { 'x-forwarded-for': ip } });
      assert.equal((await from('203.0.113.7')).status, 200);
      assert.equal((await from('203.0.113.8')).status, 200);
      assert.equal((await from('203.0.113.9')).status, 429, 'a new X-Forwarded-For on each request does not escape the limit');
      const warn = app.logs.find((l) => l.msg === 'rate limit exceeded');
      assert.equal(warn?.address, '127.0.0.1');
    });
  });

  describe('timeouts', () => {
    /** Opens a raw connection, writes `head`, then `trickle` one byte every 200 ms; resolves with what the server sent once it closes. */
    function slowClient(url: string, head: string, trickle: boolean): Promise<string> {
      const { hostname, port } = new URL(url);
      return new Promise((resolve, reject) => {
        const socket = connect({ host: hostname, port: Number(port) });
        let received = '';
        let timer: NodeJS.Timeout | undefined;
        socket.on('connect', () => {
          if (head) socket.write(head);
          if (trickle) timer = setInterval(() => socket.write('x'), 200);
        });
        socket.on('data', (d) => (received += String(d)));
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearInterval(timer);
          resolve(received);
        });
        // Far beyond the configured timeouts: reached only when the server never closes.
        setTimeout(() => {
          clearInterval(timer);
          socket.destroy();
          reject(new Error(`the server kept the connection open; it sent ${JSON.stringify(received)}`));
        }, 20_000).unref();
      });
    }

    it('When a client sends its request more slowly than the request timeout allows, then it gets 408 and its connection is closed, however steadily it trickles', async () => {
      const app = await startApp({ requestTimeoutMs: 1000, connectionTimeoutMs: 30_000 });
      const head = `POST /grants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${app.keys.alpha}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{`;
      const answer = await slowClient(app.url, head, true);
      assert.match(answer, /^HTTP\/1\.1 408 /, answer);
    });

    it('When a connection stays silent longer than the connection timeout, then the server closes it', async () => {
      const app = await startApp({ requestTimeoutMs: 30_000, connectionTimeoutMs: 1000 });
      assert.equal(await slowClient(app.url, '', false), '');
      // The API still answers everyone else.
      assert.equal((await app.call('GET', '/healthz', { key: null })).status, 200);
    });

    it('When the connection timeout would cut POST /grants while it waits for its grant, then the configuration is refused at start-up, naming both variables', () => {
      checkTimeouts({ requestTimeoutMs: 30_000, connectionTimeoutMs: 150_000, grantWaitMs: 120_000 });
      assert.throws(() => checkTimeouts({ requestTimeoutMs: 30_000, connectionTimeoutMs: 60_000, grantWaitMs: 60_000 }), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /API_CONNECTION_TIMEOUT_MS.*API_GRANT_WAIT_MS/);
        return true;
      });
      assert.throws(() => checkTimeouts({ requestTimeoutMs: 90_000, connectionTimeoutMs: 60_000, grantWaitMs: 0 }), /API_REQUEST_TIMEOUT_MS/);
    });
  });

  describe('headers', () => {
    it('When any answer leaves the API, success or error, then it carries the security headers and no server banner', async () => {
      const app = await startApp({ rateLimitPerKey: 1000, rateLimitPerAddress: 1000 });
      const answers = {
        healthz: await app.call('GET', '/healthz', { key: null }),
        list: await app.call('GET', '/grants?limit=1'),
        unauthorized: await app.call('GET', '/grants', { key: null }),
        notFound: await app.call('GET', '/nope'),
        invalid: await app.call('GET', '/grants?status=NOPE'),
        unknownGrant: await app.call('GET', stack.grantPath(`grant/${stack.project}/main/nobody@example.com`)),
        badUrl: await app.call('GET', '/grants/%E0%A4%A'),
        tooLarge: await app.call('POST', '/grants', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'x'.repeat(20_000) }) }),
      };
      assert.equal(answers.healthz.status, 200);
      assert.equal(answers.list.status, 200);
      assert.equal(answers.unknownGrant.status, 404);
      for (const [label, res] of Object.entries(answers)) {
        for (const [name, value] of Object.entries(SECURITY_HEADERS)) assert.equal(res.headers.get(name), value, `${label}: ${name}`);
        assert.ok(res.headers.get('x-request-id'), `${label}: x-request-id`);
        assert.equal(res.headers.get('x-powered-by'), null, label);
        assert.equal(res.headers.get('server'), null, label);
        assert.equal(res.headers.get('strict-transport-security'), null, `${label}: no HSTS unless configured`);
        if (res.status >= 400) assert.equal(res.body.requestId, res.headers.get('x-request-id'), `${label}: the error body names its request id`);
      }
    });

    it('When HSTS is configured, then every answer carries Strict-Transport-Security', async () => {
      const app = await startApp({ hstsMaxAge: 31_536_000 });
      for (const res of [await app.call('GET', '/healthz', { key: null }), await app.call('GET', '/grants', { key: null })]) {
        assert.equal(res.headers.get('strict-transport-security'), 'max-age=31536000; includeSubDomains');
      }
    });
  });

  describe('bodies', () => {
    const grantBody = () => JSON.stringify({ email: stack.newEmail(), name: 'A B', project: stack.project, database: 'main', accessLevel: 'READ', expiresAt: new Date(Date.now() + 3600_000).toISOString() });

    it('When a body is over 16 KiB, then 413 body_too_large in the API shape', async () => {
      const app = await startApp({});
      const res = await app.call('POST', '/grants', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x'.repeat(17 * 1024) }) });
      assertErrorShape(res, 413, 'body_too_large');
      assert.match(res.body.message, /^body: /);
    });

    it('When the content type is not JSON, then 415 unsupported_media_type naming content-type, without echoing it', async () => {
      const app = await startApp({});
      const res = await app.call('POST', '/grants', { headers: { 'content-type': 'text/x-marker-4711' }, body: grantBody() });
      assertErrorShape(res, 415, 'unsupported_media_type');
      assert.equal(res.body.message, 'content-type: must be application/json');
      assert.ok(!res.text.includes('marker-4711'));
    });

    it('When the JSON is malformed, then 400 invalid_json without parser internals', async () => {
      const app = await startApp({});
      for (const body of ['{"email":', '{"email": "a@example.com",}', '\u0000']) {
        const res = await app.call('POST', '/grants', { headers: { 'content-type': 'application/json' }, body });
        assertErrorShape(res, 400, 'invalid_json');
        assert.equal(res.body.message, 'body: is not valid JSON');
      }
    });
  });

  describe('request ids', () => {
    it('When a caller sends a safe x-request-id, then it is echoed in the header, the error body and every log line of the request', async () => {
      const app = await startApp({});
      const id = `trace-${randomBytes(6).toString('hex')}.A_1`;
      const res = await app.call('GET', '/grants', { key: 'wrong-key-wrong-key-wrong-key', headers: { 'x-request-id': id } });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('x-request-id'), id);
      assert.equal(res.body.requestId, id);
      const lines = app.logs.filter((l) => l.reqId === id);
      const messages = lines.map((l) => l.msg);
      for (const m of ['incoming request', 'request without a valid API key', 'request completed']) assert.ok(messages.includes(m), `"${m}" carries reqId (got ${messages.join(', ')})`);
      // No request log line goes without its id.
      for (const l of app.logs) if (l.req || l.res) assert.ok(typeof l.reqId === 'string' && l.reqId.length > 0, JSON.stringify(l));
    });

    it('When a caller sends a hostile x-request-id, then it is replaced by a fresh UUID and reaches neither the answer nor the logs', async () => {
      const app = await startApp({});
      const hostile = ['a b', '<script>alert(1)</script>', 'x'.repeat(65), '../../etc/passwd', 'id"}{"level":"fatal', 'ok,ok', '%0d%0aSet-Cookie:x=1'];
      for (const id of hostile) {
        const res = await app.call('GET', '/grants/nope', { key: null, headers: { 'x-request-id': id } });
        assert.equal(res.status, 401);
        const echoed = res.headers.get('x-request-id')!;
        assert.match(echoed, UUID, `${id} was replaced`);
        assert.equal(res.body.requestId, echoed);
        assert.ok(!res.text.includes(id), `${id} is not in the answer`);
        assert.ok(app.logs.some((l) => l.reqId === echoed), 'the logs use the fresh id');
      }
      const logs = app.raw.join('');
      for (const id of hostile) assert.ok(!logs.includes(JSON.stringify(id).slice(1, -1)), `${id} reached the logs`);
      // Two requests without an id get different ones.
      const [a, b] = [await app.call('GET', '/healthz', { key: null }), await app.call('GET', '/healthz', { key: null })];
      assert.match(a.headers.get('x-request-id')!, UUID);
      assert.notEqual(a.headers.get('x-request-id'), b.headers.get('x-request-id'));
    });
  });

  describe('unexpected errors', () => {
    it('When a call fails with an error carrying a stack and a password, then the caller gets 500 internal with the request id only, and the log has the stack but not the password', async () => {
      const fakePassword = `Hunter2-${randomBytes(8).toString('hex')}`;
      const boom = new Error(`connect to admin failed with password=${fakePassword} (ER_ACCESS_DENIED_ERROR)`);
      boom.stack = `Error: ${boom.message}\n    at secretInternalFunction (/srv/dbaccess/src/internal/thing.ts:42:7)`;
      const real = stack.client;
      // The real client, except that listing workflows throws.
      const workflowService = new Proxy(real.workflowService, {
        get: (target, prop, receiver) =>
          prop === 'listWorkflowExecutions'
            ? () => {
                throw boom;
              }
            : Reflect.get(target, prop, receiver),
      });
      const connection = new Proxy(real.connection, { get: (target, prop, receiver) => (prop === 'workflowService' ? workflowService : Reflect.get(target, prop, receiver)) });
      const client = new Proxy(real, { get: (target, prop, receiver) => (prop === 'workflowService' ? workflowService : prop === 'connection' ? connection : Reflect.get(target, prop, receiver)) });
      const app = await startApp({}, client);

      const res = await app.call('GET', '/grants');
      assertErrorShape(res, 500, 'internal');
      const id = res.headers.get('x-request-id')!;
      assert.equal(res.body.message, `the request could not be completed; quote request id ${id} to an administrator`);
      for (const leak of [fakePassword, 'secretInternalFunction', '/srv/dbaccess', 'ER_ACCESS_DENIED', 'password']) assert.ok(!res.text.includes(leak), `${leak} reached the caller`);

      const logged = app.logs.find((l) => l.msg === 'request failed');
      assert.ok(logged, 'the failure is logged');
      assert.equal(logged.reqId, id);
      const err = logged.err as { stack: string; message: string };
      assert.match(err.stack, /secretInternalFunction/, 'the stack is kept for operators');
      assert.ok(!app.raw.join('').includes(fakePassword), 'the password is scrubbed from the log');
    });

    it('When the Temporal connection is closed, then the caller gets a 5xx in the API shape with no driver message', async () => {
      const connection = await Connection.connect({ address: stack.env.address });
      const client = new Client({ connection, namespace: stack.env.namespace ?? 'default' });
      const app = await startApp({}, client);
      await connection.close();
      for (const path of ['/grants', stack.grantPath(`grant/${stack.project}/main/nobody@example.com`)]) {
        const res = await app.call('GET', path);
        assert.ok(res.status >= 500, `${path}: ${res.status} ${res.text}`);
        assert.deepEqual(Object.keys(res.body).sort(), ['error', 'message', 'requestId']);
        assert.match(res.body.message, new RegExp(`quote request id ${res.headers.get('x-request-id')}|did not answer in time`));
        assert.doesNotMatch(res.text, /closed|grpc|GRPC|Error:|\bat\s/i, res.text);
      }
    });

    it('When a handler fails with an error that says 503 (a dependency not answering), then the caller gets 503 unavailable with the request id and Retry-After, and nothing of the error', async () => {
      const app = Fastify({ ...serverOptions({}) });
      app.setErrorHandler(errorHandler);
      app.get('/busy', async () => {
        throw Object.assign(new Error('upstream pool exhausted at 10.0.0.7:5432'), { statusCode: 503 });
      });
      try {
        const res = await app.inject({ method: 'GET', url: '/busy' });
        assert.equal(res.statusCode, 503, res.body);
        assert.equal(res.headers['retry-after'], '10');
        assert.equal(res.json().error, 'unavailable');
        assert.match(res.json().message, /^the request could not be completed; quote request id \S+ to an administrator$/);
        assert.ok(!res.body.includes('10.0.0.7') && !res.body.includes('exhausted'), res.body);
      } finally {
        await app.close();
      }
    });
  });
});
