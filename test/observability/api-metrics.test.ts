import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { parseApiKeys } from '../../src/api/plugins/auth';
import { startWorkerMetricsServer, type WorkerMetricsServer } from '../../src/worker/metrics-server';
import { Client, Connection } from '@temporalio/client';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricsAccess } from '../../src/api/plugins/observability';
import { freePort } from '../support/ports';
import { spawnGroup } from '../support/processes';
import { isExposition, sampleValue } from '../support/prometheus';
import { ROOT } from '../support/tools';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';
import { MINIMAL_CONFIG_FILE } from '../support/minimal-config';

// Observability over the real stack (API, worker, Temporal, MariaDB, moto, SMTP):
// the API's /metrics counts requests by route pattern, grants started and
// messages sent; the worker counts grants provisioned, revoked and rolled back
// from the audit events it writes, and serves them with the SDK's metrics; grant
// routes' log lines carry the grant id.

const DAY = 24 * 60 * 60 * 1000;

describe('observability: metrics and logs over the stack', function () {
  this.timeout(120_000);
  let stack: TestStack;
  const closers: (() => Promise<unknown>)[] = [];

  before(async () => {
    stack = await startTestStack();
  });
  after(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await stack?.stop();
  });

  const body = (overrides: Record<string, unknown> = {}) => ({
    email: stack.newEmail(),
    name: 'Ada Lovelace',
    project: stack.project,
    database: stack.databases.main,
    accessLevel: 'READ',
    expiresAt: new Date(Date.now() + DAY).toISOString(),
    ...overrides,
  });
  const scrape = async (key: string | null = null) => {
    const res = await stack.call('GET', '/metrics', undefined, { key });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return String(res.body);
  };

  describe('API /metrics', () => {
    let grantId: string;
    let email: string;

    before(async () => {
      const b = body();
      email = b.email;
      const created = await stack.call('POST', '/grants', b);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      grantId = created.body.grantId;
      const extended = await stack.call('POST', stack.grantPath(grantId, '/extend'), { expiresAt: new Date(Date.now() + 2 * DAY).toISOString() });
      assert.equal(extended.status, 200, JSON.stringify(extended.body));
      const changed = await stack.call('PATCH', stack.grantPath(grantId), { accessLevel: 'READ_WRITE' });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.equal((await stack.call('GET', stack.grantPath(grantId))).status, 200);
      assert.equal((await stack.call('GET', '/no/such/route/x@example.com')).status, 404);
      const revoked = await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'done' });
      assert.equal(revoked.status, 202);
      await until('the grant to be revoked', async () => (await stack.call('GET', stack.grantPath(grantId))).body?.status === 'REVOKED', 30_000);
    });

    it('When it is scraped without a key (no METRICS_TOKEN), then it answers the Prometheus text format', async () => {
      const text = await scrape();
      assert.ok(isExposition(text), text.split('\n').find((l) => l && !isExposition(l)));
      for (const name of ['http_requests_total', 'http_request_duration_seconds', 'dbaccess_grants_started_total', 'dbaccess_messages_sent_total', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds']) {
        assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
      }
    });

    it('When grants are started and sent messages, then they are counted by project, database and kind', async () => {
      const text = await scrape();
      assert.ok(sampleValue(text, 'dbaccess_grants_started_total', { project: stack.project, database: 'main' })! >= 1);
      for (const kind of ['revoke', 'extend', 'change_level']) assert.ok(sampleValue(text, 'dbaccess_messages_sent_total', { kind })! >= 1, kind);
      // The other kinds exist from the start, at 0 or more.
      for (const kind of ['approve', 'deny']) assert.notEqual(sampleValue(text, 'dbaccess_messages_sent_total', { kind }), undefined, kind);
    });

    it('When requests are counted, then the route label is the pattern, never the URL (no grant id, no e-mail)', async () => {
      const text = await scrape();
      assert.ok(sampleValue(text, 'http_requests_total', { method: 'GET', route: '/grants/:grantId', status: '200' })! >= 1);
      assert.ok(sampleValue(text, 'http_requests_total', { method: 'POST', route: '/grants', status: '201' })! >= 1);
      assert.ok(sampleValue(text, 'http_requests_total', { method: 'POST', route: '/grants/:grantId/revoke', status: '202' })! >= 1);
      assert.ok(sampleValue(text, 'http_requests_total', { route: '(unmatched)', status: '404' })! >= 1, 'an unknown URL is one label value');
      assert.ok(sampleValue(text, 'http_request_duration_seconds_count', { method: 'PATCH', route: '/grants/:grantId', status: '200' })! >= 1);
      assert.ok(!text.includes(email) && !text.includes('@') && !text.includes(encodeURIComponent(grantId)) && !text.includes(grantId), 'a grant id or an e-mail in a label');
      for (const key of Object.values(stack.keys)) assert.ok(!text.includes(key));
    });

    it('When a grant route is called, then its log lines carry the grant id', async () => {
      const lines = stack.logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const completed = lines.filter((l) => l.msg === 'request completed' && l.grantId === grantId);
      assert.ok(completed.length >= 4, `request completed lines with the grant id: ${completed.length}`);
      // And only grant routes: a list has none.
      assert.ok(lines.filter((l) => l.msg === 'request completed' && l.grantId !== undefined).every((l) => typeof l.grantId === 'string' && String(l.grantId).startsWith('grant/')));
    });
  });

  describe('API /metrics with METRICS_TOKEN', () => {
    let app: FastifyInstance;
    let url: string;
    const token = randomBytes(24).toString('hex');

    before(async () => {
      app = await buildApp({
        client: stack.env.client,
        config: stack.config,
        apiKeys: parseApiKeys(`test-admin:${stack.keys.admin}`),
        taskQueue: stack.taskQueue,
        grantWaitMs: 0,
        metricsToken: token,
      });
      closers.push(() => app.close());
      url = await app.listen({ host: '127.0.0.1', port: 0 });
    });

    it('When the token is set, then /metrics answers only to it: not to nothing, another token or an API key', async () => {
      const get = (authorization?: string) => fetch(`${url}/metrics`, authorization ? { headers: { authorization } } : {});
      for (const auth of [undefined, 'Bearer wrong', `Bearer ${stack.keys.admin}`, token, `Basic ${token}`]) {
        const res = await get(auth);
        assert.equal(res.status, 401, String(auth));
        assert.equal(res.headers.get('www-authenticate'), 'Bearer');
        const b = (await res.json()) as Record<string, unknown>;
        assert.equal(b.error, 'unauthorized');
        assert.equal(typeof b.requestId, 'string');
        assert.ok(!JSON.stringify(b).includes(token));
      }
      const ok = await get(`Bearer ${token}`);
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /# TYPE http_requests_total counter/);
      // /healthz and /readyz stay open.
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      assert.equal((await fetch(`${url}/readyz`)).status, 200);
    });
  });

  describe('API /metrics when the API listens beyond loopback', () => {
    const token = randomBytes(24).toString('hex');
    /** An app of the stack's client, listening on every address (as in a container). */
    async function listenEverywhere(metricsToken?: string): Promise<string> {
      const app = await buildApp({
        client: stack.env.client,
        config: stack.config,
        apiKeys: parseApiKeys(`test-admin:${stack.keys.admin}`),
        taskQueue: stack.taskQueue,
        grantWaitMs: 0,
        ...(metricsToken ? { metricsToken } : {}),
      });
      closers.push(() => app.close());
      await app.listen({ host: '0.0.0.0', port: 0 });
      return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    }

    it('When API_HOST is not a loopback address and METRICS_TOKEN is unset, then /metrics is refused (even from this machine) and /healthz still answers', async () => {
      const url = await listenEverywhere();
      for (const headers of [{}, { authorization: `Bearer ${stack.keys.admin}` }] as Record<string, string>[]) {
        const res = await fetch(`${url}/metrics`, { headers });
        assert.equal(res.status, 403);
        const b = (await res.json()) as Record<string, unknown>;
        assert.equal(b.error, 'forbidden');
        assert.match(String(b.message), /METRICS_TOKEN/);
        assert.doesNotMatch(JSON.stringify(b), /http_requests_total/);
      }
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
    });

    it('When API_HOST is not a loopback address and METRICS_TOKEN is set, then /metrics answers to the token only', async () => {
      const url = await listenEverywhere(token);
      assert.equal((await fetch(`${url}/metrics`)).status, 401);
      const ok = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /# TYPE http_requests_total counter/);
    });

    it('When the listening address is judged, then only loopback addresses (and localhost) leave /metrics open without a token', () => {
      for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) assert.equal(metricsAccess(host, undefined), 'open', host);
      for (const host of ['0.0.0.0', '::', '10.1.2.3', '192.168.0.10', 'api.internal', '::ffff:10.0.0.1', '128.0.0.1']) assert.equal(metricsAccess(host, undefined), 'refused', host);
      for (const host of ['0.0.0.0', '127.0.0.1']) assert.equal(metricsAccess(host, token), 'token', host);
    });

    it('When the API process starts on 0.0.0.0 without METRICS_TOKEN, then it says at start-up that /metrics is refused, and refuses it', async function () {
      this.timeout(120_000);
      const dir = mkdtempSync(join(tmpdir(), 'dbaccess-api-metrics-'));
      const configPath = join(dir, 'dbaccess.json');
      writeFileSync(configPath, JSON.stringify(MINIMAL_CONFIG_FILE));
      const port = await freePort();
      const api = spawnGroup('the API', join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'src', 'api', 'server.ts')], {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        DBACCESS_CONFIG: configPath,
        TEMPORAL_ADDRESS: stack.env.address,
        DBACCESS_API_KEYS: `ops:${randomBytes(24).toString('hex')}`,
        API_HOST: '0.0.0.0',
        API_PORT: String(port),
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'x',
      });
      try {
        await api.waitForOutput(/Server listening/, 90_000);
        const warning = api.output().split('\n').find((l) => l.includes('/metrics is refused'));
        assert.ok(warning, api.output());
        assert.equal(JSON.parse(warning).level, 'warn');
        assert.match(warning, /METRICS_TOKEN/);
        assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 403);
        assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      } finally {
        await api.kill('SIGTERM');
      }
    });
  });

  describe('worker counters and its metrics server', () => {
    let server: WorkerMetricsServer;
    let sdk: Server;
    let sdkHits = 0;

    before(async () => {
      // Stands in for the SDK core's exporter (Runtime.install takes it once per process, and the test run's is installed without).
      sdk = createServer((req, res) => {
        sdkHits += 1;
        res.writeHead(200, { 'content-type': 'text/plain' }).end('# HELP temporal_worker_task_slots_available x\n# TYPE temporal_worker_task_slots_available gauge\ntemporal_worker_task_slots_available{worker_type="ActivityWorker"} 50\n');
      });
      await new Promise<void>((ok) => sdk.listen(0, '127.0.0.1', ok));
      closers.push(() => new Promise((ok) => sdk.close(ok)));
      server = await startWorkerMetricsServer({
        host: '127.0.0.1',
        port: 0,
        metrics: stack.worker.metrics,
        state: () => stack.worker.worker.getState(),
        connection: stack.worker.connection,
        sdkMetricsUrl: `http://127.0.0.1:${(sdk.address() as AddressInfo).port}/metrics`,
      });
      closers.push(() => server.close());
    });

    it('When grants are provisioned, revoked and rolled back, then the worker counts each once, by project and database', async () => {
      const before = await stack.worker.metrics.metrics();
      const count = (text: string, name: string, database: string) => sampleValue(text, name, { project: stack.project, database }) ?? 0;
      // Series of configured databases exist from the start.
      assert.notEqual(sampleValue(before, 'dbaccess_revoke_retries_total', { project: stack.project, database: 'main' }), undefined);

      const ok = await stack.call('POST', '/grants', body({ database: 'other' }));
      assert.equal(ok.status, 201);
      assert.equal((await stack.call('POST', stack.grantPath(ok.body.grantId, '/revoke'), {})).status, 202);
      const broken = await stack.call('POST', '/grants', body({ database: stack.databases.broken }));
      assert.equal(broken.status, 502);

      const after = await until('the worker to count the revoke', async () => {
        const text = await stack.worker.metrics.metrics();
        return count(text, 'dbaccess_grants_revoked_total', 'other') > count(before, 'dbaccess_grants_revoked_total', 'other') ? text : undefined;
      }, 30_000);
      assert.equal(count(after, 'dbaccess_grants_provisioned_total', 'other') - count(before, 'dbaccess_grants_provisioned_total', 'other'), 1);
      assert.equal(count(after, 'dbaccess_grants_revoked_total', 'other') - count(before, 'dbaccess_grants_revoked_total', 'other'), 1);
      assert.equal(count(after, 'dbaccess_grants_rolled_back_total', 'broken') - count(before, 'dbaccess_grants_rolled_back_total', 'broken'), 1);
      assert.equal(count(after, 'dbaccess_grants_provisioned_total', 'broken'), count(before, 'dbaccess_grants_provisioned_total', 'broken'));
      assert.ok(!after.includes('@'), 'no e-mail in a label');
    });

    it('When the worker server is scraped, then it serves its counters, the process metrics and the SDK metrics in one exposition', async () => {
      const res = await fetch(`${server.url}/metrics`);
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.ok(isExposition(text));
      assert.match(text, /^# TYPE dbaccess_grants_provisioned_total counter$/m);
      assert.match(text, /^# TYPE process_resident_memory_bytes gauge$/m);
      assert.equal(sampleValue(text, 'temporal_worker_task_slots_available', { worker_type: 'ActivityWorker' }), 50);
      assert.ok(sdkHits >= 1);
      // Each family once: the two expositions do not collide.
      const types = text.split('\n').filter((l) => l.startsWith('# TYPE '));
      assert.equal(new Set(types).size, types.length);
    });

    it('When the worker runs and Temporal answers, then /healthz and /readyz are 200; without Temporal /readyz is 503', async () => {
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 200);
      const ready = await fetch(`${server.url}/readyz`);
      assert.equal(ready.status, 200);
      const r = (await ready.json()) as any;
      assert.equal(r.checks.worker.state, 'RUNNING');
      assert.equal(r.checks.temporal.ok, true);
      assert.equal((await fetch(`${server.url}/nope`)).status, 404);

      const unreachable = await startWorkerMetricsServer({
        host: '127.0.0.1',
        port: 0,
        metrics: stack.worker.metrics,
        state: () => stack.worker.worker.getState(),
        connection: new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) }).connection,
        readinessTimeoutMs: 500,
      });
      try {
        const down = await fetch(`${unreachable.url}/readyz`);
        assert.equal(down.status, 503);
        const d = (await down.json()) as any;
        assert.equal(d.status, 'unavailable');
        assert.equal(d.checks.temporal.ok, false);
        assert.equal((await fetch(`${unreachable.url}/healthz`)).status, 200, 'liveness does not depend on Temporal');
        // Without an SDK exporter, /metrics still serves the worker's own.
        assert.match(await (await fetch(`${unreachable.url}/metrics`)).text(), /dbaccess_grants_provisioned_total/);
      } finally {
        await unreachable.close();
      }
    });
  });
});
