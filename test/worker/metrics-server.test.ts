import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type ActivityDeps, type AccountRef, type AuditRecord } from '../../src/activities';
import { AUDIT_EVENTS } from '../../src/domain';
import { createLogger, temporalLogger } from '../../src/observability/logger';
import { bearerMatches, countAuditEvents, WorkerMetrics } from '../../src/observability/metrics';
import { sdkMetricsUrl, workerRuntimeOptions } from '../../src/worker/metrics-server';
import { sampleValue } from '../support/prometheus';

// The worker's counters without Temporal: which audit events count, that a
// repeated write (an activity retry) does not count twice, and that the
// activities' log lines reach the service's JSON logs with the workflow id.

function record(event: string, overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    grantId: 'grant/p/d/a@example.com',
    eventId: `run:${Math.random()}`,
    at: new Date().toISOString(),
    event: event as AuditRecord['event'],
    actor: 'dbaccess',
    email: 'a@example.com',
    project: 'p',
    database: 'd',
    accessLevel: 'READ',
    expiresAt: new Date().toISOString(),
    account: 'acct',
    workflowId: 'grant/p/d/a@example.com',
    runId: 'run',
    ...overrides,
  };
}

describe('worker metrics: counters from the audit events written', () => {
  const COUNTERS = {
    GRANTED: 'dbaccess_grants_provisioned_total',
    REVOKED: 'dbaccess_grants_revoked_total',
    EXPIRED: 'dbaccess_grants_expired_total',
    ROLLED_BACK: 'dbaccess_grants_rolled_back_total',
    REVOKE_RETRYING: 'dbaccess_revoke_retries_total',
  } as const;

  it('When an audit event is written, then its counter goes up by one for its project and database, and other events count nothing', async () => {
    const metrics = new WorkerMetrics([{ project: 'p', database: 'd' }]);
    const written = new Set<string>();
    const activities = countAuditEvents({ recordAudit: async (r: AuditRecord) => ({ written: !written.has(r.eventId) && !!written.add(r.eventId) }) }, metrics);
    for (const event of AUDIT_EVENTS) await activities.recordAudit(record(event));
    const text = await metrics.metrics();
    for (const name of Object.values(COUNTERS)) assert.equal(sampleValue(text, name, { project: 'p', database: 'd' }), 1, name);
    const total = Object.values(COUNTERS).reduce((n, name) => n + (sampleValue(text, name) ?? 0), 0);
    assert.equal(total, 5, 'only the five counted events');
  });

  it('When the same event is written again (an activity retry), then it is not counted twice', async () => {
    const metrics = new WorkerMetrics();
    const written = new Set<string>();
    const activities = countAuditEvents({ recordAudit: async (r: AuditRecord) => ({ written: !written.has(r.eventId) && !!written.add(r.eventId) }) }, metrics);
    const r = record('REVOKE_RETRYING', { project: 'q', database: 'e' });
    assert.deepEqual(await activities.recordAudit(r), { written: true });
    assert.deepEqual(await activities.recordAudit(r), { written: false });
    assert.equal(sampleValue(await metrics.metrics(), COUNTERS.REVOKE_RETRYING, { project: 'q', database: 'e' }), 1);
  });

  it('When the audit write fails, then nothing is counted and the error reaches the workflow', async () => {
    const metrics = new WorkerMetrics();
    const activities = countAuditEvents({ recordAudit: async (_r: AuditRecord): Promise<{ written: boolean }> => Promise.reject(new Error('throttled')) }, metrics);
    await assert.rejects(activities.recordAudit(record('GRANTED')), /throttled/);
    assert.equal(sampleValue(await metrics.metrics(), COUNTERS.GRANTED), undefined);
  });

  it('When the worker starts, then the configured databases have their series at 0 (so increase() sees the first event)', async () => {
    const text = await new WorkerMetrics([{ project: 'p', database: 'd' }]).metrics();
    for (const name of Object.values(COUNTERS)) assert.equal(sampleValue(text, name, { project: 'p', database: 'd' }), 0, name);
  });

  it('When an activity logs, then the JSON line carries the workflow id (the grant id) through the service logger', async () => {
    const lines: string[] = [];
    const logger = createLogger('dbaccess-worker', 'info', new Writable({ write: (c, _e, done) => (lines.push(String(c)), done()) }));
    const grantId = 'grant/p/d/a@example.com';
    const deps = {
      accounts: { endAccess: async () => ({ existed: true, sessionsKilled: 0, dropped: true, leftBehind: [], leftBehindCount: 0 }) },
      secrets: { describe: async () => ({ tags: { 'dbaccess:grant-id': grantId } }), delete: async () => ({ existed: true }) },
    } as unknown as ActivityDeps;
    const ref = { grantId, project: 'p', database: 'd', account: 'acct', secretName: 'dbaccess/p/d/acct', target: { schema: 's', adminSecretId: 'admin', hostPattern: '%', maxUserConnections: 5 } } as AccountRef;
    const env = new MockActivityEnvironment({ activityType: 'revokeAccess', workflowExecution: { workflowId: grantId, runId: 'r1' }, workflowType: 'grantAccess' }, { logger: temporalLogger(logger) });
    await env.run(createActivities(deps).revokeAccess, ref);
    const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'access revoked');
    assert.ok(line, lines.join(''));
    assert.equal(line.workflowId, grantId);
    assert.equal(line.grantId, grantId);
    assert.equal(line.activityType, 'revokeAccess');
    assert.equal(line.level, 'info');
  });
});

describe('worker metrics: runtime options and tokens', () => {
  it('When SDK metrics are on, then the core exports Prometheus on loopback only, with seconds and _total names; 0 turns them off', () => {
    const logger = createLogger('t', 'info', new Writable({ write: (_c, _e, done) => done() }));
    const on = workerRuntimeOptions(logger, 9465);
    assert.deepEqual((on.telemetryOptions?.metrics as { prometheus: unknown }).prometheus, {
      bindAddress: '127.0.0.1:9465',
      countersTotalSuffix: true,
      useSecondsForDurations: true,
      unitSuffix: true,
    });
    assert.equal(sdkMetricsUrl(9465), 'http://127.0.0.1:9465/metrics');
    assert.equal(workerRuntimeOptions(logger, 0).telemetryOptions?.metrics, undefined);
    assert.equal(sdkMetricsUrl(0), undefined);
  });

  it('When a bearer token is compared, then only the exact token in the Bearer scheme matches', () => {
    assert.equal(bearerMatches('Bearer abc123', 'abc123'), true);
    for (const h of [undefined, '', 'abc123', 'Bearer abc1234', 'Bearer abc12', 'bearer abc123', 'Basic abc123', 'Bearer abc123 ', 'Bearer  abc123']) assert.equal(bearerMatches(h, 'abc123'), false, String(h));
  });
});
