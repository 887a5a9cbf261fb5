import pg from 'pg';

import { DynamoAuditStore, SecretsManagerGrantSecretStore } from '../src/adapters/aws';
import { followEndings, startingPace, type ExpiryFigures, type ExpiryOptions, type ExpiryStack } from '../test/load/many-expiries';
import { forEachConcurrently, quantile } from '../test/support/stats';
import { until } from '../test/support/wait';
import type { BenchPostgres } from './pg';

// test/load/many-expiries.ts's scenario on a PostgreSQL database of the stack: N
// grants expiring in the same second, a sample of the grantees holding a session
// open across the expiry; the lag from the expiry to each role's end of access
// (NOLOGIN or gone, no session of it left) and to its drop, polled every 50 ms,
// then each grant's EXPIRED audit event. The same figures, read from pg_roles and
// pg_stat_activity instead of MariaDB's catalogue.

const SESSIONS_HELD = 20;

export async function pgExpiries(
  stack: ExpiryStack,
  postgres: BenchPostgres,
  n: number,
  options: { database: string; leadMs: number; leadFlag?: string; log: (line: string) => void; onActive?: ExpiryOptions['onActive'] },
): Promise<ExpiryFigures> {
  const { log } = options;
  const expiresAt = new Date(Math.ceil((Date.now() + options.leadMs) / 1000) * 1000);
  const grants: { grantId: string; account: string }[] = [];
  const started = Date.now();
  const emails = Array.from({ length: n }, () => stack.newEmail());
  const pace = options.leadFlag ? startingPace(n, started, expiresAt, options.leadFlag) : undefined;
  await forEachConcurrently(emails, 16, async (email) => {
    pace?.(grants.length);
    const res = await stack.call('POST', '/grants', { email, name: 'Load Test', project: stack.project, database: options.database, accessLevel: 'READ', expiresAt: expiresAt.toISOString() });
    if (res.status !== 201 && res.status !== 202) throw new Error(`POST /grants: ${res.status} ${JSON.stringify(res.body)}`);
    grants.push({ grantId: res.body.grantId, account: res.body.account });
  });
  const createMs = Date.now() - started;
  log(`started ${n} PostgreSQL grants in ${createMs} ms, all expiring at ${expiresAt.toISOString()}`);

  const accounts = grants.map((g) => g.account);
  await until('every grant to be ACTIVE (its role created)', async () => (await postgres.accountsExisting(accounts)) === n, Math.max(5000, expiresAt.getTime() - Date.now() - 2000));
  const activeMs = Date.now() - started;
  log(`all ${n} roles exist after ${activeMs} ms`);
  options.onActive?.(grants, expiresAt);

  // A sample of the grantees log in with their own credentials and stay connected across the expiry.
  const secrets = new SecretsManagerGrantSecretStore(stack.components.aws.secrets);
  const sessions: pg.Client[] = [];
  await forEachConcurrently(grants.slice(0, SESSIONS_HELD), 4, async ({ grantId }) => {
    // Read from the grant: POST /grants may have answered before the secret existed.
    const secretName = (await stack.call('GET', `/grants/${encodeURIComponent(grantId)}`)).body?.secretName as string;
    const credential = await secrets.read(secretName);
    if (!credential) throw new Error(`the secret ${secretName} does not exist`);
    const client = new pg.Client({ host: credential.host, port: credential.port, user: credential.username, password: credential.password, database: credential.dbname });
    client.on('error', () => undefined); // terminated at the end of access, as it should be
    await client.connect();
    sessions.push(client);
  });

  // Longer than MySQL's 120 s: an ending that collides with another is retried with the activity's back-off.
  const { endedLags, dropLags, endedByAccount, droppedByAccount } = await followEndings(accounts, expiresAt, Math.max(120_000, n * 300), 'roles', async (remaining, open) => {
    const present = await postgres.roles(remaining);
    const connected = open.length > 0 ? await postgres.connected(open) : new Set<string>();
    return { present: new Set(present.keys()), usable: new Set([...present].filter(([, canLogin]) => canLogin).map(([role]) => role)), connected };
  });
  await Promise.all(sessions.map((c) => c.end().catch(() => undefined)));
  log(`access of all ${n} PostgreSQL grants ended (${sessions.length} with a session open): p50 ${quantile(endedLags, 0.5)} ms, p99 ${quantile(endedLags, 0.99)} ms`);
  log(`all ${n} roles dropped: p50 ${quantile(dropLags, 0.5)} ms, p99 ${quantile(dropLags, 0.99)} ms, last ${dropLags.at(-1)} ms after the expiry`);

  // One trail at a time, as in many-expiries.ts: the AWS emulator scans its table per query.
  const audit = new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable);
  const lags: number[] = [];
  const auditDeadline = Date.now() + Math.max(60_000, n * 300);
  let alerted = 0;
  let missing = 0;
  await forEachConcurrently(grants, 1, async ({ grantId }) => {
    let events = await audit.forGrant(grantId);
    while (!events.some((e) => e.event === 'EXPIRED')) {
      if (Date.now() > auditDeadline) {
        missing += 1;
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
      events = await audit.forGrant(grantId);
    }
    if (events.some((e) => e.event === 'REVOKE_RETRYING')) alerted += 1;
    const expired = events.filter((e) => e.event === 'EXPIRED');
    if (expired.length !== 1) throw new Error(`${grantId}: ${expired.length} EXPIRED events`);
    lags.push(Date.parse(expired[0]!.at) - expiresAt.getTime());
  });
  if (missing > 0) throw new Error(`${missing} of ${n} PostgreSQL grants have no EXPIRED event ${Math.round((Date.now() - expiresAt.getTime()) / 1000)} s after the expiry`);
  lags.sort((a, b) => a - b);
  return {
    grants: n,
    expiresAt: expiresAt.toISOString(),
    grantIds: grants.map((g) => g.grantId),
    createMs,
    activeMs,
    accessEndedLagsMs: endedLags,
    sessionsHeld: sessions.length,
    lastDropLagMs: dropLags.at(-1)!,
    dropLagsMs: dropLags,
    lastAuditLagMs: lags.at(-1)!,
    p50AuditLagMs: quantile(lags, 0.5),
    p99AuditLagMs: quantile(lags, 0.99),
    alerted,
    accounts,
    endedLagByAccount: endedByAccount,
    dropLagByAccount: droppedByAccount,
  };
}
