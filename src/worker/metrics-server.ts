import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RuntimeOptions, State } from '@temporalio/worker';
import type { Logger } from 'pino';
import { temporalLogger } from '../observability/logger';
import { PROMETHEUS_CONTENT_TYPE, type WorkerMetrics } from '../observability/metrics';
import { checkTemporal, READINESS_TIMEOUT_MS, type TemporalConnectionLike } from '../observability/readiness';

// The worker's small HTTP server (WORKER_METRICS_HOST:WORKER_METRICS_PORT), for
// Prometheus and the orchestrator. It serves no grant data and takes no input:
//   GET /metrics  the worker's grant counters, the Node.js process metrics and the
//                 Temporal SDK's runtime metrics (polls, task latencies, slots...),
//                 read from the SDK's own exporter on loopback: one scrape target.
//   GET /healthz  liveness: 200 unless the worker has failed or stopped
//   GET /readyz   200 while the worker runs and Temporal answers, 503 otherwise

export interface WorkerMetricsServerOptions {
  host: string;
  /** 0: any free port (tests). */
  port: number;
  metrics: WorkerMetrics;
  /** The worker's state (Worker.getState). */
  state: () => State;
  connection: TemporalConnectionLike;
  /** The SDK's Prometheus exporter, whose text is appended to /metrics (see sdkRuntimeOptions). */
  sdkMetricsUrl?: string;
  logger?: Pick<Logger, 'warn'>;
  readinessTimeoutMs?: number;
}

export interface WorkerMetricsServer {
  url: string;
  close(): Promise<void>;
}

const SDK_SCRAPE_TIMEOUT_MS = 2000;

/** The SDK exporter's text, or a comment saying why it is missing (the worker's own metrics are still served). */
async function sdkMetrics(url: string, logger?: Pick<Logger, 'warn'>): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(SDK_SCRAPE_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const text = await res.text();
    return text.endsWith('\n') || text === '' ? text : `${text}\n`;
  } catch (err) {
    logger?.warn({ err }, 'could not read the Temporal SDK metrics');
    return '# the Temporal SDK metrics could not be read\n';
  }
}

export async function startWorkerMetricsServer(options: WorkerMetricsServerOptions): Promise<WorkerMetricsServer> {
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method_not_allowed', message: 'only GET' });
      if (path === '/metrics') {
        const own = await options.metrics.metrics();
        const sdk = options.sdkMetricsUrl ? await sdkMetrics(options.sdkMetricsUrl, options.logger) : '';
        res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
        return res.end(own + sdk);
      }
      if (path === '/healthz') {
        const state = options.state();
        const alive = state !== 'FAILED' && state !== 'STOPPED';
        return json(res, alive ? 200 : 503, { status: alive ? 'ok' : 'stopped', worker: state });
      }
      if (path === '/readyz') {
        const state = options.state();
        const temporal = await checkTemporal(options.connection, options.readinessTimeoutMs ?? READINESS_TIMEOUT_MS);
        const ready = state === 'RUNNING' && temporal.ok;
        return json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', checks: { worker: { ok: state === 'RUNNING', state }, temporal } });
      }
      return json(res, 404, { error: 'not_found', message: 'the worker serves /metrics, /healthz and /readyz' });
    })().catch((err: unknown) => {
      options.logger?.warn({ err }, 'worker metrics request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal', message: 'the request could not be completed' });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The worker's Runtime options: the SDK's logs through the service's logger, and,
 * with `sdkMetricsPort` > 0, the SDK core's Prometheus exporter on loopback (read by
 * the worker's /metrics, never scraped directly). Runtime.install takes these once
 * per process, before any connection.
 */
export function workerRuntimeOptions(logger: Logger, sdkMetricsPort: number): RuntimeOptions {
  return {
    logger: temporalLogger(logger),
    telemetryOptions: {
      logging: { filter: { core: 'WARN', other: 'WARN' }, forward: {} },
      ...(sdkMetricsPort > 0
        ? { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}`, countersTotalSuffix: true, useSecondsForDurations: true, unitSuffix: true } } }
        : {}),
    },
  };
}

/** Where the SDK exporter of {@link workerRuntimeOptions} serves its metrics. */
export const sdkMetricsUrl = (sdkMetricsPort: number): string | undefined => (sdkMetricsPort > 0 ? `http://127.0.0.1:${sdkMetricsPort}/metrics` : undefined);
