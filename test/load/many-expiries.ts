import assert from 'node:assert/strict';
import type { Connection } from 'mysql2/promise';
import { DynamoAuditStore, SecretsManagerGrantSecretStore } from '../../src/adapters/aws';
import { connectAs, rootPool } from '../support/mariadb';
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
  /**
   * From the common expiry to the moment each grant's access ended: its account locked
   * (or gone), so no login works, and none of its sessions left (sorted; 50 ms resolution).
   * A sample of the grantees hold a session open across the expiry.
   */
  accessEndedLagsMs: number[];
  /** Grantees that held a session open across the expiry. */
  sessionsHeld: number;
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
  /** Each grant's account, in the order of grantIds. */
  accounts: string[];
  /** Per account: from the common expiry to its end of access, as in accessEndedLagsMs. */
  endedLagByAccount: Map<string, number>;
  /** Per account: from the common expiry to its drop, as in dropLagsMs. */
  dropLagByAccount: Map<string, number>;
}

export interface ExpiryOptions {
  leadMs?: number;
  /**
   * Stop early, with a message naming this flag (e.g. `--lead`) and a lead that would do,
   * once the grants are starting too slowly for all of them to start before the expiry.
   */
  leadFlag?: string;
  log?: (line: string) => void;
  /** Called once every grant is ACTIVE, before the expiry (e.g. to disturb the stack meanwhile). */
  onActive?: (grants: readonly { grantId: string; account: string }[], expiresAt: Date) => void;
}


/** How many grantees of a burst hold a session open across the expiry (the rest never log in). */
const SESSIONS_HELD = 20;

export async function manyExpiries(stack: ExpiryStack | TestStack, n: number, options: ExpiryOptions = {}): Promise<ExpiryFigures> {
  const log = options.log ?? (() => undefined);
  // All grants expire at the same whole second, far enough ahead to create them all first.
  const leadMs = options.leadMs ?? Math.max(25_000, n * 200);
  const expiresAt = new Date(Math.ceil((Date.now() + leadMs) / 1000) * 1000);
  const grants: { grantId: string; account: string }[] = [];
  const started = Date.now();
  const emails = Array.from({ length: n }, () => stack.newEmail());
  const pace = options.leadFlag ? startingPace(n, started, expiresAt, options.leadFlag) : undefined;
  await forEachConcurrently(emails, 16, async (email) => {
    pace?.(grants.length);
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
  options.onActive?.(grants, expiresAt);

  // A sample of the grantees log in with their own credentials and stay connected across the expiry.
  const secrets = new SecretsManagerGrantSecretStore(stack.components.aws.secrets);
  const sessions: Connection[] = [];
  await forEachConcurrently(grants.slice(0, SESSIONS_HELD), 4, async ({ grantId }) => {
    // Read from the grant: POST /grants may have answered before the secret existed.
    const secretName = (await stack.call('GET', `/grants/${encodeURIComponent(grantId)}`)).body?.secretName as string;
    const credential = await secrets.read(secretName);
    assert.ok(credential, `the secret ${secretName} exists`);
    const conn = await connectAs(credential.username, credential.password);
    conn.on('error', () => undefined); // killed at the end of access, as it should be
    sessions.push(conn);
  });

  // Each account's end of access (locked or gone, and no session of it left) and its
  // drop, as the first poll that sees them. MariaDB keeps the lock in mysql.global_priv.
  const { endedLags, dropLags, endedByAccount, droppedByAccount } = await followEndings([...accounts], expiresAt, 120_000, 'accounts', async (remaining, open) => {
    const [rows] = await rootPool().query(
      "SELECT User AS user, JSON_VALUE(Priv, '$.account_locked') AS locked FROM mysql.global_priv WHERE User IN (?)",
      [[...remaining]],
    );
    const [running] = open.length > 0 ? await rootPool().query('SELECT DISTINCT USER AS user FROM information_schema.PROCESSLIST WHERE USER IN (?)', [[...open]]) : [[]];
    const found = rows as { user: string; locked: string | null }[];
    return {
      present: new Set(found.map((r) => r.user)),
      usable: new Set(found.filter((r) => !(r.locked === '1' || r.locked === 'true')).map((r) => r.user)),
      connected: new Set((running as { user: string }[]).map((r) => r.user)),
    };
  });
  await Promise.all(sessions.map((c) => c.end().catch(() => undefined)));
  const lastDropLagMs = dropLags.at(-1)!;
  log(`access of all ${n} grants ended (${sessions.length} with a session open): p50 ${quantile(endedLags, 0.5)} ms, p99 ${quantile(endedLags, 0.99)} ms, last ${endedLags.at(-1)} ms after the expiry`);
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
  return {
    grants: n,
    expiresAt: expiresAt.toISOString(),
    grantIds: grants.map((g) => g.grantId),
    createMs,
    activeMs,
    accessEndedLagsMs: endedLags,
    sessionsHeld: sessions.length,
    lastDropLagMs,
    dropLagsMs: dropLags,
    lastAuditLagMs: lags.at(-1)!,
    p50AuditLagMs: quantile(lags, 0.5),
    p99AuditLagMs: quantile(lags, 0.99),
    alerted,
    accounts: grants.map((g) => g.account),
    endedLagByAccount: endedByAccount,
    dropLagByAccount: droppedByAccount,
  };
}

export function printFigures(f: ExpiryFigures, write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): void {
  write(`      ${f.grants} simultaneous expiries: access ended p50 ${quantile(f.accessEndedLagsMs, 0.5)} ms, p99 ${quantile(f.accessEndedLagsMs, 0.99)} ms after the expiry (${f.sessionsHeld} with a session open);`);
  write(`      ${f.grants} simultaneous expiries: accounts dropped p50 ${quantile(f.dropLagsMs, 0.5)} ms, p99 ${quantile(f.dropLagsMs, 0.99)} ms, last ${f.lastDropLagMs} ms after the expiry;`);
  write(`      EXPIRED audited p50 ${f.p50AuditLagMs} ms, p99 ${f.p99AuditLagMs} ms, last ${f.lastAuditLagMs} ms after it`);
  write(`      (grants started in ${f.createMs} ms, all ACTIVE after ${f.activeMs} ms)`);
}

/** What a poll of the server sees of the accounts still followed. */
export interface EndingSample {
  /** Accounts that exist. */
  present: Set<string>;
  /** Accounts that exist and could still log in (not locked, LOGIN). */
  usable: Set<string>;
  /** Accounts with a session open. */
  connected: Set<string>;
}

/**
 * Each account's end of access (no longer usable, and no session of it left) and
 * its drop, as the first poll (every 50 ms) that sees them, in ms after the
 * expiry: sorted, and per account. Fails when one ends before its expiry, or is
 * still there `waitMs` after it.
 */
/**
 * A check to call before each grant of a burst is started: once 50 have started, it throws
 * when, at the pace so far, the last one would start less than 20 s before the common
 * expiry, and names a lead that would leave room (the pace with a quarter to spare, plus a minute).
 */
export function startingPace(n: number, started: number, expiresAt: Date, flag: string, clock: () => number = Date.now): (done: number) => void {
  return (done) => {
    if (done < 50) return;
    const elapsedMs = clock() - started;
    const lastStartsAt = started + (elapsedMs / done) * n;
    if (lastStartsAt <= expiresAt.getTime() - 20_000) return;
    const perSecond = (done * 1000) / elapsedMs;
    const enough = Math.ceil((n / perSecond) * 1.25 + 60);
    throw new Error(
      `${flag} ${Math.round((expiresAt.getTime() - started) / 1000)} is too short: ${done} of ${n} grants started in ${(elapsedMs / 1000).toFixed(1)} s (${perSecond.toFixed(1)} a second), so the last would start ${lastStartsAt >= expiresAt.getTime() ? `${((lastStartsAt - expiresAt.getTime()) / 1000).toFixed(0)} s after the expiry` : `only ${((expiresAt.getTime() - lastStartsAt) / 1000).toFixed(0)} s before it`}; try ${flag} ${enough}`,
    );
  };
}

export async function followEndings(
  accounts: readonly string[],
  expiresAt: Date,
  waitMs: number,
  noun: string,
  sample: (remaining: string[], open: string[]) => Promise<EndingSample>,
): Promise<{ endedLags: number[]; dropLags: number[]; endedByAccount: Map<string, number>; droppedByAccount: Map<string, number> }> {
  const open = new Set(accounts);
  const remaining = new Set(accounts);
  const endedByAccount = new Map<string, number>();
  const droppedByAccount = new Map<string, number>();
  const deadline = expiresAt.getTime() + waitMs;
  while (remaining.size > 0) {
    if (Date.now() > deadline) throw new Error(`${remaining.size} of ${accounts.length} ${noun} still exist ${waitMs / 1000} s after their expiry; the access of ${open.size} of them has not ended`);
    const seen = await sample([...remaining], [...open]);
    const lag = Date.now() - expiresAt.getTime();
    for (const account of [...open]) {
      if (seen.usable.has(account) || seen.connected.has(account)) continue;
      open.delete(account);
      if (lag >= 0) endedByAccount.set(account, lag);
      else throw new Error(`the access of ${account} ended ${-lag} ms before its expiry`);
    }
    for (const account of [...remaining]) {
      if (seen.present.has(account)) continue;
      remaining.delete(account);
      if (lag >= 0) droppedByAccount.set(account, lag);
      else throw new Error(`${account} was dropped ${-lag} ms before its expiry`);
    }
    if (remaining.size > 0) await new Promise((r) => setTimeout(r, 50));
  }
  const sorted = (lags: Map<string, number>) => [...lags.values()].sort((a, b) => a - b);
  return { endedLags: sorted(endedByAccount), dropLags: sorted(droppedByAccount), endedByAccount, droppedByAccount };
}
