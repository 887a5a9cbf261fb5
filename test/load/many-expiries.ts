import assert from 'node:assert/strict';
import { DynamoAuditStore } from '../../src/activities/aws';
import { rootPool } from '../support/mariadb';
import { forEachConcurrently, quantile } from '../support/stats';
import type { TestComponents } from '../support/components';
import type { TestStack } from '../support/stack';
import { until } from '../support/wait';

// N grants that all expire in the same second, on the real stack: every
// account must be gone afterwards, each grant with its EXPIRED event. The lag
// from the expiry to the last drop is printed, never asserted (the benchmark
// tracks it). Used by test/load/many-expiries.test.ts (200, part of npm test),
// by `npm run test:load` (1,000 by default) and by `npm run bench`.

/** What the scenario needs of a stack: the test stack, or the benchmark's. */
export interface ExpiryStack {
  project: string;
  components: Pick<TestComponents, 'aws' | 'auditTable'>;
  newEmail(): string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

export interface ExpiryFigures {
  grants: number;
  /** The common expiry. */
  expiresAt: string;
  grantIds: string[];
  createMs: number;
  activeMs: number;
  /** From the common expiry to the last account's drop, as seen by polling every 50 ms. */
  lastDropLagMs: number;
  /** From the common expiry to each account's drop (sorted; 50 ms resolution). */
  dropLagsMs: number[];
  /** From the common expiry to the last EXPIRED audit event. */
  lastAuditLagMs: number;
  p50AuditLagMs: number;
  p99AuditLagMs: number;
  /** Grants whose trail says REVOKE_RETRYING (the administrators were alerted). */
  alerted: number;
}


export async function manyExpiries(stack: ExpiryStack | TestStack, n: number, options: { leadMs?: number; log?: (line: string) => void } = {}): Promise<ExpiryFigures> {
  const log = options.log ?? (() => undefined);
  // All grants expire at the same whole second, far enough ahead to create them all first.
  const leadMs = options.leadMs ?? Math.max(25_000, n * 100);
  const expiresAt = new Date(Math.ceil((Date.now() + leadMs) / 1000) * 1000);
  const grants: { grantId: string; account: string }[] = [];
  const started = Date.now();
  const emails = Array.from({ length: n }, () => stack.newEmail());
  await forEachConcurrently(emails, 16, async (email) => {
    const res = await stack.call('POST', '/grants', { email, name: 'Load Test', project: stack.project, database: 'main', accessLevel: 'READ', expiresAt: expiresAt.toISOString() });
    assert.ok(res.status === 201 || res.status === 202, `POST /grants: ${res.status} ${JSON.stringify(res.body)}`);
    grants.push({ grantId: res.body.grantId, account: res.body.account });
  });
  const createMs = Date.now() - started;
  log(`started ${n} grants in ${createMs} ms, all expiring at ${expiresAt.toISOString()}`);

  const accounts = new Set(grants.map((g) => g.account));
  const existing = async () => {
    const [rows] = await rootPool().query('SELECT User AS user FROM mysql.user WHERE User IN (?)', [[...accounts]]);
    return (rows as { user: string }[]).length;
  };
  await until('every grant to be ACTIVE (its account created)', async () => (await existing()) === n, Math.max(5000, expiresAt.getTime() - Date.now() - 2000));
  const activeMs = Date.now() - started;
  log(`all ${n} accounts exist after ${activeMs} ms`);

  // Each account's drop, as the first poll that no longer finds it.
  const remaining = new Set(accounts);
  const dropLags: number[] = [];
  const dropDeadline = expiresAt.getTime() + 120_000;
  while (remaining.size > 0) {
    if (Date.now() > dropDeadline) throw new Error(`${remaining.size} of ${n} accounts still exist 120 s after their expiry`);
    const [rows] = await rootPool().query('SELECT User AS user FROM mysql.user WHERE User IN (?)', [[...remaining]]);
    const present = new Set((rows as { user: string }[]).map((r) => r.user));
    const now = Date.now();
    for (const account of [...remaining]) {
      if (present.has(account)) continue;
      remaining.delete(account);
      if (now >= expiresAt.getTime()) dropLags.push(now - expiresAt.getTime());
      else throw new Error(`${account} was dropped ${expiresAt.getTime() - now} ms before its expiry`);
    }
    if (remaining.size > 0) await new Promise((r) => setTimeout(r, 50));
  }
  dropLags.sort((a, b) => a - b);
  const lastDropLagMs = dropLags.at(-1)!;
  log(`all ${n} accounts dropped: p50 ${quantile(dropLags, 0.5)} ms, p99 ${quantile(dropLags, 0.99)} ms, last ${lastDropLagMs} ms after the expiry`);

  const audit = new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable);
  const lags: number[] = [];
  // The audit events and e-mails follow the drops; a thousand of them take a while to
  // drain. One trail is read at a time, and an unfinished one once a second: the AWS
  // emulator answers a query by scanning the whole table, so reading the trails of a
  // thousand grants in parallel, over and over, took its CPU from the very audit writes
  // (and secret deletions) that were being waited for.
  const auditDeadline = Date.now() + Math.max(60_000, n * 300);
  const missing: string[] = [];
  let alerted = 0;
  await forEachConcurrently(grants, 1, async ({ grantId }) => {
    let events = await audit.forGrant(grantId);
    while (!events.some((e) => e.event === 'EXPIRED')) {
      if (Date.now() > auditDeadline) {
        missing.push(grantId);
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
      events = await audit.forGrant(grantId);
    }
    if (events.some((e) => e.event === 'REVOKE_RETRYING')) alerted += 1;
    const expired = events.filter((e) => e.event === 'EXPIRED');
    assert.equal(expired.length, 1, `${grantId}: one EXPIRED event`);
    assert.ok(events.some((e) => e.event === 'GRANTED'), `${grantId}: GRANTED before`);
    const lag = Date.parse(expired[0]!.at) - expiresAt.getTime();
    assert.ok(lag >= 0, `${grantId} expired before its time`);
    lags.push(lag);
  });
  if (missing.length > 0) {
    // Say where they are stuck: their status and what their workflow is doing.
    const states = await Promise.all(missing.slice(0, 3).map(async (id) => `${id}: ${JSON.stringify((await stack.call('GET', `/grants/${encodeURIComponent(id)}`)).body?.status)}`));
    throw new Error(`${missing.length} of ${n} grants have no EXPIRED event ${Math.round((Date.now() - expiresAt.getTime()) / 1000)} s after the expiry (their accounts are gone); ${states.join('; ')}`);
  }
  lags.sort((a, b) => a - b);
  return { grants: n, expiresAt: expiresAt.toISOString(), grantIds: grants.map((g) => g.grantId), createMs, activeMs, lastDropLagMs, dropLagsMs: dropLags, lastAuditLagMs: lags.at(-1)!, p50AuditLagMs: quantile(lags, 0.5), p99AuditLagMs: quantile(lags, 0.99), alerted };
}

export function printFigures(f: ExpiryFigures, write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): void {
  write(`      ${f.grants} simultaneous expiries: accounts dropped p50 ${quantile(f.dropLagsMs, 0.5)} ms, p99 ${quantile(f.dropLagsMs, 0.99)} ms, last ${f.lastDropLagMs} ms after the expiry;`);
  write(`      EXPIRED audited p50 ${f.p50AuditLagMs} ms, p99 ${f.p99AuditLagMs} ms, last ${f.lastAuditLagMs} ms after it`);
  write(`      (grants started in ${f.createMs} ms, all ACTIVE after ${f.activeMs} ms)`);
}
