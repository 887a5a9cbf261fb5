import { timingSafeEqual, createHash } from 'node:crypto';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import type { AuditEventType } from '../domain';

// Prometheus metrics shared by the API and the worker, and the worker's own
// counters. Each API app and each worker has its own registry (tests run several
// in one process); the Node.js process metrics (CPU, memory, event loop, GC) are
// collected once per process and appended to every exposition.
//
// Labels are bounded and never secret: route patterns (never a URL: grant ids
// hold e-mail addresses), methods, status codes, and the configuration's project
// and database keys. Never an e-mail, an account name, a key or a grant id.

export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

let processRegistry: Registry | undefined;

/** The process-wide registry of Node.js metrics (`process_*`, `nodejs_*`), created on first use. */
export function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** The Prometheus text of `registries` and of the process metrics, in one exposition. */
export async function exposition(...registries: Registry[]): Promise<string> {
  const parts = await Promise.all([...registries, processMetrics()].map((r) => r.metrics()));
  return parts.map((p) => (p.endsWith('\n') || p === '' ? p : `${p}\n`)).join('');
}

/** Whether an `Authorization` header carries `Bearer <token>`, compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer ([^\s]+)$/.exec(header ?? '');
  if (!m) return false;
  // Hashing first gives equal lengths, so the comparison leaks neither the token nor its length.
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}

/** The audit events the worker counts, and the counter each one increments. */
const COUNTED_EVENTS = {
  GRANTED: 'provisioned',
  REVOKED: 'revoked',
  EXPIRED: 'expired',
  ROLLED_BACK: 'rolledBack',
  REVOKE_RETRYING: 'revokeRetries',
} as const satisfies Partial<Record<AuditEventType, string>>;

type CountedEvent = keyof typeof COUNTED_EVENTS;

/**
 * The worker's grant counters. Counted from the audit events the activities write,
 * once each: an event is counted when the audit store says it was written, so an
 * activity retry (which repeats the same event id) does not count it twice.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly counters: Record<(typeof COUNTED_EVENTS)[CountedEvent], Counter<'project' | 'database'>>;

  /** `databases`: the configured project/database pairs, whose series start at 0 (so that `increase()` sees the first event). */
  constructor(databases: { project: string; database: string }[] = []) {
    const counter = (name: string, help: string) => new Counter({ name, help, labelNames: ['project', 'database'] as const, registers: [this.registry] });
    this.counters = {
      provisioned: counter('dbaccess_grants_provisioned_total', 'Grants whose access was given (audit GRANTED).'),
      revoked: counter('dbaccess_grants_revoked_total', 'Grants ended early: revoked, or withdrawn before approval (audit REVOKED).'),
      expired: counter('dbaccess_grants_expired_total', 'Grants ended at their expiry (audit EXPIRED).'),
      rolledBack: counter('dbaccess_grants_rolled_back_total', 'Grants whose provisioning failed and was undone (audit ROLLED_BACK).'),
      revokeRetries: counter(
        'dbaccess_revoke_retries_total',
        'Revocations that failed their first attempts and keep retrying; administrators were alerted (audit REVOKE_RETRYING). Any increase needs a look.',
      ),
    };
    for (const c of Object.values(this.counters)) for (const d of databases) c.labels(d.project, d.database).inc(0);
  }

  /** Counts one audit event that was just written (not a repeat). */
  auditWritten(record: { event: string; project: string; database: string }): void {
    const which = (COUNTED_EVENTS as Record<string, (typeof COUNTED_EVENTS)[CountedEvent] | undefined>)[record.event];
    if (which) this.counters[which].inc({ project: record.project, database: record.database });
  }

  /** The Prometheus text of these counters and of the process. */
  metrics(): Promise<string> {
    return exposition(this.registry);
  }
}

/**
 * The worker's activities, with `recordAudit` counting what it writes. Only
 * `written: true` counts: a retried write of the same event is not counted again.
 */
export function countAuditEvents<A extends { recordAudit(record: { event: string; project: string; database: string }): Promise<{ written: boolean }> }>(activities: A, metrics: WorkerMetrics): A {
  const recordAudit = activities.recordAudit.bind(activities);
  return {
    ...activities,
    async recordAudit(record: Parameters<A['recordAudit']>[0]) {
      const result = await recordAudit(record);
      if (result.written) metrics.auditWritten(record);
      return result;
    },
  } as A;
}

/** The project/database pairs of a configuration, for {@link WorkerMetrics}. */
export function configuredDatabases(config: { projects: Record<string, { databases: Record<string, unknown> }> }): { project: string; database: string }[] {
  return Object.entries(config.projects).flatMap(([project, p]) => Object.keys(p.databases).map((database) => ({ project, database })));
}
