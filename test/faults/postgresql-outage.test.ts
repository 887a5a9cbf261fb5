import assert from 'node:assert/strict';

import type pg from 'pg';

import { createPostgresAccountManager } from '../../src/adapters/engines/postgresql';
import { ActivityErrorType } from '../../src/adapters/errors';
import { createFixture, randomName, randomPassword, RUN_PREFIX, StaticCredentialSource } from '../adapters/engines/postgresql/pg';
import { startFaultStack, type FaultStack } from '../support/fault-stack';
import { expectFailure } from '../support/failures';
import { addHistories, addLogLines, LeakScanner } from '../support/leaks';
import { loginAs, roleOf, sessionsOf } from '../support/pg-cluster';
import { caught, startTcpProxy } from '../support/proxy';
import { until } from '../support/wait';

// PostgreSQL outages on the real stack: the worker (a child process) reaches a
// password-checking PostgreSQL cluster through one proxy per database key; the
// test cuts and restores those proxies. Grantees log in to the cluster directly,
// so their sessions outlive the cut, and the test reads the cluster's catalogs as
// the superuser: what it sees is the truth whatever the proxies do.
//
// The four cases run at once, each on its own database key (its own proxy and
// admin secret), from `before`; each test awaits its own.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Every secret the cases saw: none may reach the worker's output or a workflow history. */
interface Secrets {
  passwords: string[];
  verifiers: string[];
}

describe('faults: the PostgreSQL account manager loses its connection mid-statement', function () {
  this.timeout(30_000);

  it('When the connection of a checked-out client is reset during a statement, then the call fails as DatabaseUnavailable (the process survives), and the next call after the restore succeeds', async () => {
    const fx = await createFixture('cut');
    const proxy = await startTcpProxy({ host: fx.credentials.host, port: fx.credentials.port });
    const manager = createPostgresAccountManager({ credentials: new StaticCredentialSource({ ...fx.credentials, host: proxy.host, port: proxy.port }) });
    try {
      const account = `${RUN_PREFIX}_cut${randomName(3)}`;
      const create = proxy.hold('CREATE ROLE', { until: 'request' });
      const ensuring = manager.ensureAccount(fx.target(), account, randomPassword(), { grantId: 'grant/p/d/cut@example.com' });
      await caught(create, 'CREATE ROLE');
      // The client is out of the pool, its statement in flight: its socket errors now.
      proxy.cut();
      create.release();
      await expectFailure(ensuring, ActivityErrorType.DatabaseUnavailable);
      proxy.restore();
      await manager.ensureAccount(fx.target(), account, randomPassword(), { grantId: 'grant/p/d/cut@example.com' });
      assert.equal((await fx.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [account])).length, 1);
    } finally {
      await manager.close();
      await proxy.close();
    }
  });
});

describe('faults: PostgreSQL is cut by the fault proxy', function () {
  this.timeout(180_000);
  let stack: FaultStack;
  const secrets: Secrets = { passwords: [], verifiers: [] };
  const sessions: pg.Client[] = [];
  const cases: Record<string, Promise<{ ok: string } | { err: unknown }>> = {};

  before(async () => {
    stack = await startFaultStack({ databases: [], postgres: ['expiry', 'create', 'rollback', 'revoke'] });
    const run = (name: string, fn: () => Promise<string>) => {
      cases[name] = fn().then(
        (ok) => ({ ok }),
        (err: unknown) => ({ err }),
      );
    };
    run('expiry', () => cutAtExpiry(stack, secrets, sessions));
    run('create', () => cutWhileCreating(stack, secrets, 'create', 5_000));
    run('rollback', () => cutWhileCreating(stack, secrets, 'rollback', 0));
    run('revoke', () => cutDuringRevoke(stack, secrets, sessions));
  });
  after(async () => {
    await Promise.all(Object.values(cases));
    await Promise.all(sessions.map((s) => s.end().catch(() => undefined)));
    await stack?.stop();
  });

  const outcome = async (name: string) => {
    const result = await cases[name]!;
    if ('err' in result) throw result.err;
    // eslint-disable-next-line no-console
    console.log(`      (${result.ok})`);
  };

  it('When PostgreSQL is cut just before an expiry (revocation armed) and restored seconds later, then the revoke retries, the role is dropped once it is back, the held session is ended, and the grant ends EXPIRED with nothing lost', () =>
    outcome('expiry'));

  it('When PostgreSQL is cut as the role is committed (the worker never hears back) and restored within the step\'s retries, then a retry finds the role its own and the grant becomes ACTIVE with a password that works', () =>
    outcome('create'));

  it('When PostgreSQL stays cut through every attempt to create the role, then the grant is rolled back once it is back: FAILED, no role, no secret, administrators told', () =>
    outcome('rollback'));

  it('When a grant is revoked while PostgreSQL is cut, then the grantee\'s open session lives through the outage and is terminated once the revoke completes', () => outcome('revoke'));

  it('When the outages are over, then no password, admin password or SCRAM verifier is in the worker\'s output or a workflow history', async () => {
    await Promise.all(Object.values(cases));
    const scan = new LeakScanner();
    scan.secret('the PostgreSQL admin password', stack.postgres!.database.adminPassword);
    secrets.passwords.forEach((p, i) => scan.secret(`grant password ${i + 1}`, p));
    secrets.verifiers.forEach((v, i) => {
      scan.secret(`SCRAM verifier ${i + 1}`, v);
      // Its stored key and server key alone (after the salt) identify the password too.
      scan.secret(`SCRAM verifier ${i + 1} (keys)`, v.split('$')[2]!);
    });
    assert.ok(secrets.passwords.length >= 3 && secrets.verifiers.length >= 4, `the cases saw their secrets (${secrets.passwords.length} passwords, ${secrets.verifiers.length} verifiers)`);
    const output = stack.worker.output();
    // The outages really reached the worker's log: the scan reads the retries' failures.
    assert.match(output, /unavailable|connection lost|login failed/i, 'the worker logged the outages');
    addLogLines(scan, output.split('\n'), 'worker output line');
    const histories = await addHistories(scan, stack.client, `TaskQueue = '${stack.taskQueue}'`);
    assert.ok(histories >= 4, `histories scanned: ${histories}`);
    assert.deepEqual(scan.findings(), [], scan.report());
  });
});

/** The grant's password from its secret, remembered for the leak check. */
async function passwordOf(stack: FaultStack, secrets: Secrets, secretName: string): Promise<string> {
  const secret = await stack.components.readGrantSecret(secretName);
  assert.ok(secret, `the secret ${secretName} exists`);
  secrets.passwords.push(secret.password);
  return secret.password;
}

async function verifierOf(stack: FaultStack, secrets: Secrets, account: string): Promise<void> {
  const verifier = (await roleOf(stack.postgres!.cluster, account))?.verifier;
  assert.match(verifier ?? '', /^SCRAM-SHA-256\$/, 'the role has a SCRAM verifier');
  secrets.verifiers.push(verifier!);
}

async function openSession(stack: FaultStack, sessions: pg.Client[], account: string, password: string): Promise<pg.Client> {
  const { cluster, database, table } = stack.postgres!;
  const session = await loginAs(cluster, account, password, database.database);
  sessions.push(session);
  await session.query(`SELECT count(*) FROM ${table}`);
  return session;
}

/** The session was ended by the server: its next query fails, and the cluster lists no backend of the role. */
async function assertEnded(stack: FaultStack, session: pg.Client, account: string): Promise<void> {
  await assert.rejects(session.query('SELECT 1'), 'the held session was terminated');
  assert.deepEqual(await sessionsOf(stack.postgres!.cluster, account), [], 'no session of the role is left');
}

/** The worker's JSON log lines. */
function workerLines(stack: FaultStack): Record<string, unknown>[] {
  return stack.worker
    .output()
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

/** Highest attempt of a pending activity of that type (0 when none is pending). */
async function attemptOf(stack: FaultStack, grantId: string, type: string): Promise<number> {
  return Math.max(0, ...(await stack.pendingActivities(grantId)).filter((a) => a.type === type).map((a) => a.attempt));
}

/**
 * (a) A READ grant expiring in 10 s, its revocation armed and waiting, a grantee
 * session open; the proxy is cut 2 s or more before the expiry and restored once
 * the grant has shown REVOKING for a while (about 11 s after the expiry): the
 * armed attempts fail (1, 2, 4 s apart), the next one after the restore drops the role.
 */
async function cutAtExpiry(stack: FaultStack, secrets: Secrets, sessions: pg.Client[]): Promise<string> {
  const proxy = stack.pg.expiry!;
  const { cluster } = stack.postgres!;
  const expiresAt = Date.now() + 10_000;
  const created = await stack.requestGrant({ email: stack.newEmail(), database: 'expiry', accessLevel: 'READ', expiresAt: new Date(expiresAt).toISOString() });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const { grantId, account, secretName } = created.body as { grantId: string; account: string; secretName: string };
  const password = await passwordOf(stack, secrets, secretName);
  await verifierOf(stack, secrets, account);
  const session = await openSession(stack, sessions, account, password);
  await stack.waitForPending(grantId, 'revokeAccess', 5000, { started: true });

  // The worker's pooled connections are reset, and every new one too.
  proxy.cut();
  const triesBefore = proxy.accepted;
  assert.ok(Date.now() < expiresAt - 2000, 'cut before the expiry');
  try {
    await until('the grant to show REVOKING', async () => (await stack.state(grantId)).status === 'REVOKING', 30_000);
    await sleep(expiresAt + 11_000 - Date.now());
    assert.ok(await roleOf(cluster, account), 'the server really was out of reach: the role is still there');
    assert.equal((await sessionsOf(cluster, account)).length, 1, 'the grantee\'s session is still open');
    assert.ok((await attemptOf(stack, grantId, 'revokeAccess')) > 1, 'the revoke is being retried');
    assert.ok(proxy.accepted - triesBefore >= 3, `the worker kept trying (${proxy.accepted - triesBefore} connections)`);
  } finally {
    proxy.restore();
  }
  const restoredAt = Date.now();
  await until('the role to be dropped', async () => !(await roleOf(cluster, account)), 20_000);
  const goneAfterMs = Date.now() - restoredAt;
  await assertEnded(stack, session, account);

  const final = await stack.waitClosed(grantId, 30_000);
  assert.equal(final.status, 'EXPIRED');
  const o = await stack.assertConsistent(grantId);
  // Short of six failed attempts: no REVOKE_RETRYING, no alert.
  assert.deepEqual(o.audit.map((e) => e.event), ['REQUESTED', 'GRANTED', 'EXPIRED']);
  assert.ok(o.audit.at(-1)!.accessEndedAt, 'EXPIRED records when access ended');
  assert.ok(Date.parse(o.audit.at(-1)!.accessEndedAt!) >= restoredAt, 'access ended after the restore, not before');
  assert.ok(!o.adminMails.some((m) => /ACTION NEEDED/.test(m.subject)), 'no alert for a short outage');
  return `expiry: role dropped ${goneAfterMs} ms after the restore, ${proxy.accepted - triesBefore} connection attempts during the outage`;
}

/**
 * (b) The proxy lets the COMMIT that creates the grant's role reach the server and
 * holds its reply, then cuts: the role exists, the worker never heard. Restored
 * after `outageMs` (within the step's attempts, 1, 2, 4, 8 s apart), the grant must
 * become ACTIVE; with `0` the proxy stays cut until the step has given up, and
 * the grant must be rolled back once it is restored.
 */
async function cutWhileCreating(stack: FaultStack, secrets: Secrets, database: 'create' | 'rollback', outageMs: number): Promise<string> {
  const proxy = stack.pg[database]!;
  const { cluster } = stack.postgres!;
  const email = stack.newEmail();
  const grantId = `grant/${stack.project}/${database}/${email}`;
  let creating = false;
  const commit = proxy.hold(
    (text) => {
      if (text.includes('CREATE ROLE')) creating = true;
      return creating && text.includes('COMMIT');
    },
    { until: 'reply' },
  );
  const answer = stack.requestGrant({ email, database, accessLevel: 'READ_WRITE' });
  await caught(commit, 'the COMMIT of CREATE ROLE');
  const { account } = await stack.state(grantId);
  await until('the role to be committed', async () => (await roleOf(cluster, account)) !== undefined, 5000);
  await verifierOf(stack, secrets, account);
  proxy.cut();
  commit.release();
  const cutAt = Date.now();
  try {
    await until('createAccount to be retried', async () => (await attemptOf(stack, grantId, 'createAccount')) > 1, 10_000);
    if (outageMs > 0) {
      await sleep(cutAt + outageMs - Date.now());
    } else {
      await until('the grant to give up and roll back', async () => (await stack.state(grantId)).status === 'ROLLING_BACK', 60_000);
      assert.ok(await roleOf(cluster, account), 'the role of the failed step is still there while the server is out of reach');
    }
  } finally {
    proxy.restore();
  }
  const restoredAt = Date.now();
  const res = await answer;

  if (outageMs > 0) {
    const state = await until('ACTIVE', async () => {
      const s = await stack.state(grantId);
      return s.status !== 'PROVISIONING' && s;
    }, 30_000);
    assert.equal(state.status, 'ACTIVE', JSON.stringify(state.failure));
    assert.ok([201, 202].includes(res.status), `POST /grants answered ${res.status}`);
    const o = await stack.assertConsistent(grantId);
    assert.deepEqual(o.audit.map((e) => e.event), ['REQUESTED', 'GRANTED']);
    await passwordOf(stack, secrets, o.state.secretName!);
    await verifierOf(stack, secrets, account);
    // The role the lost COMMIT created was found, the grant's own, and given the stored password.
    const ensured = workerLines(stack).filter((l) => l.msg === 'account ensured' && l.account === account);
    assert.deepEqual(ensured.map((l) => l.created), [false], 'one ensureAccount completed, on the role that was already there');
    return `create: ACTIVE ${Date.now() - restoredAt} ms after a ${Math.round((restoredAt - cutAt) / 1000)} s outage`;
  }
  const final = await stack.waitClosed(grantId, 60_000);
  assert.equal(final.status, 'FAILED');
  assert.equal(final.failure?.step, 'create account');
  assert.match(final.failure?.message ?? '', /unavailable/i, 'the failure says the server was out of reach');
  assert.ok([202, 502].includes(res.status), `POST /grants answered ${res.status}`);
  const o = await stack.assertConsistent(grantId);
  assert.deepEqual(o.audit.map((e) => e.event), ['REQUESTED', 'ROLLED_BACK']);
  assert.equal(await roleOf(cluster, account), undefined, 'no role left behind');
  assert.ok(!o.granteeMails.some((m) => /granted/i.test(m.subject)), 'the grantee was not told of access they never had');
  return `rollback: rolled back, role gone ${Date.now() - restoredAt} ms after the restore`;
}

/**
 * (c) A READ_WRITE grant with a session open that has written; the proxy is cut,
 * the grant revoked; the session lives on through the outage (the worker cannot
 * reach the server) and is terminated once the revoke gets through.
 */
async function cutDuringRevoke(stack: FaultStack, secrets: Secrets, sessions: pg.Client[]): Promise<string> {
  const proxy = stack.pg.revoke!;
  const { cluster, table } = stack.postgres!;
  const created = await stack.requestGrant({ email: stack.newEmail(), database: 'revoke' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const { grantId, account, secretName } = created.body as { grantId: string; account: string; secretName: string };
  const password = await passwordOf(stack, secrets, secretName);
  await verifierOf(stack, secrets, account);
  const session = await openSession(stack, sessions, account, password);
  await session.query(`INSERT INTO ${table} (v) VALUES ('before the outage')`);

  proxy.cut();
  try {
    const revoked = await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'fault test' });
    assert.equal(revoked.status, 202, JSON.stringify(revoked.body));
    await until('the revoke to be retried', async () => (await attemptOf(stack, grantId, 'revokeAccess')) > 2, 20_000);
    assert.ok(await roleOf(cluster, account), 'the role is still there');
    await session.query(`INSERT INTO ${table} (v) VALUES ('during the outage')`);
  } finally {
    proxy.restore();
  }
  const restoredAt = Date.now();
  await until('the role to be dropped', async () => !(await roleOf(cluster, account)), 20_000);
  const goneAfterMs = Date.now() - restoredAt;
  await assertEnded(stack, session, account);
  const final = await stack.waitClosed(grantId, 30_000);
  assert.equal(final.status, 'REVOKED');
  const o = await stack.assertConsistent(grantId);
  assert.deepEqual(o.audit.map((e) => e.event), ['REQUESTED', 'GRANTED', 'REVOKE_REQUESTED', 'REVOKED']);
  const { rows } = await cluster.root(stack.postgres!.database.database).query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE v LIKE '%the outage'`);
  assert.equal(rows[0]!.n, 2, 'what the grantee wrote is kept');
  return `revoke: session ended and role dropped ${goneAfterMs} ms after the restore`;
}
