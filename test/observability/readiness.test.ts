import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { parseApiKeys } from '../../src/api/plugins/auth';
import { API_CHANNEL_ARGS } from '../../src/api/server';
import { minimalConfig } from '../support/minimal-config';
import { freePort } from '../support/ports';
import { toolPath } from '../support/tools';
import { until } from '../support/wait';

// GET /readyz follows Temporal: a dev server of this test's own (not the run's
// shared one) is started, stopped and started again on the same port, and the
// API's answer follows it. GET /healthz never does.


describe('HTTP API: /readyz follows Temporal, /healthz does not', function () {
  this.timeout(120_000);
  let port: number;
  let server: ChildProcess | undefined;
  let app: FastifyInstance;
  let url: string;
  let connection: Connection;
  let output = '';

  async function startTemporal(): Promise<void> {
    const [http, metrics] = [await freePort(), await freePort()];
    server = spawn(
      toolPath.temporal(),
      ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--headless', '--http-port', String(http), '--metrics-port', String(metrics), '--log-level', 'error'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    output = '';
    server.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    server.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  }
  /** Polls /readyz until it answers `status`; fails at once, with its output, if the dev server exited. */
  async function readyzUntil(status: number, timeoutMs: number) {
    return until(`readyz ${status}`, async () => {
      if (status === 200 && server && server.exitCode !== null) throw new Error(`the Temporal dev server exited (${server.exitCode}):\n${output.slice(-2000)}`);
      const r = await readyz();
      return r.status === status ? r : undefined;
    }, timeoutMs);
  }
  async function stopTemporal(): Promise<void> {
    const s = server;
    server = undefined;
    if (!s || s.exitCode !== null) return;
    const exited = new Promise((ok) => s.once('exit', ok));
    s.kill('SIGKILL');
    await exited;
  }
  const readyz = async () => {
    const res = await fetch(`${url}/readyz`);
    return { status: res.status, body: (await res.json()) as any };
  };

  before(async () => {
    port = await freePort();
    // Lazy: the API starts whether or not Temporal is up (the connection is made on first use).
    // With the API's channel settings: reconnecting after an outage is part of what is tested.
    connection = Connection.lazy({ address: `127.0.0.1:${port}`, channelArgs: API_CHANNEL_ARGS });
    app = await buildApp({
      client: new Client({ connection }),
      config: minimalConfig(),
      apiKeys: parseApiKeys(`ops:${randomBytes(24).toString('hex')}`),
      taskQueue: 'readiness-test',
      grantWaitMs: 0,
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app?.close();
    // The connection is not closed: a connection attempt started by a timed-out
    // readiness call may still be retrying on a timer, and a closed channel would
    // make that timer throw in whichever test runs next. The run ends with `exit`.
    await stopTemporal();
  });

  it('When Temporal has not started, then /readyz is 503 with the check, and /healthz is 200', async () => {
    const r = await readyz();
    assert.equal(r.status, 503);
    assert.equal(r.body.status, 'unavailable');
    assert.equal(r.body.checks.temporal.ok, false);
    assert.equal(typeof r.body.checks.temporal.latencyMs, 'number');
    assert.ok(r.body.checks.temporal.latencyMs <= 5000);
    assert.ok(!JSON.stringify(r.body).includes(String(port)), 'the answer does not name the address');
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  });

  it('When Temporal is up, then /readyz is 200; when it stops, 503; when it is back, 200 again', async () => {
    await startTemporal();
    const up = await readyzUntil(200, 60_000);
    assert.deepEqual(Object.keys(up.body), ['status', 'checks']);
    assert.equal(up.body.status, 'ready');
    assert.equal(up.body.checks.temporal.ok, true);

    await stopTemporal();
    const down = await readyzUntil(503, 20_000);
    assert.equal(down.body.checks.temporal.ok, false);
    assert.equal((await fetch(`${url}/healthz`)).status, 200, 'liveness does not follow Temporal');
    // Down long enough for gRPC's reconnect backoff to have grown past 15 s (uncapped it
    // reaches 120 s), probed every second like a load balancer would.
    const stopped = Date.now();
    while (Date.now() - stopped < 40_000) {
      assert.equal((await readyz()).status, 503);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await startTemporal();
    // Back within seconds: the backoff is capped at 5 s (API_CHANNEL_ARGS).
    const t0 = Date.now();
    await readyzUntil(200, 8_000);
    process.stdout.write(`      (ready again ${Date.now() - t0} ms after the server was started again)\n`);
  });
});
