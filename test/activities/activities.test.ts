import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';

import { CreateSecretCommand, DeleteSecretCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { Connection } from 'mysql2/promise';

import { createActivities, GRANT_ID_TAG, type AccountRef, type GrantActivities } from '../../src/activities';
import { ActivityErrorType } from '../../src/adapters/errors';
import { createMysqlAccountManager } from '../../src/adapters/engines/mysql';
import type { AuditRecord } from '../../src/adapters/ports';
import type { GrantState } from '../../src/domain';
import { recordCalls } from '../support/aws-calls';
import { createTestComponents, type TestComponents, type TestGrant } from '../support/components';
import {
  accountExists,
  canLogin,
  connectAs,
  createAdmin,
  createSchema,
  grantGlobal,
  MARIADB_HOST,
  MARIADB_PORT,
  queryFails,
  randomName,
  randomPassword,
  rootPool,
  RUN_PREFIX,
  schemaGrants,
  sessionsOf,
  showGrants,
  StaticCredentialSource,
} from '../support/mariadb';
import { expectFailure } from '../support/failures';
import type { CapturedMail } from '../support/smtp';

// The activities a grant workflow runs, called through createActivities with
// every real adapter behind them: MariaDB (through a least-privileged admin
// whose credentials come from an admin secret in moto), Secrets Manager and
// DynamoDB in moto, mail through a real SMTP server. Each test asserts what
// the activity left in those systems, not what it returned.

const READ = ['SELECT'];
const READ_WRITE = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

/** Everything an error exposes: message, stack, details, JSON, and a cause if any. */
function everything(err: unknown): string {
  const e = err as { message?: string; stack?: string; cause?: unknown; details?: unknown };
  return [String(err), e?.message, e?.stack, JSON.stringify(err), JSON.stringify(e?.details), e?.cause ? everything(e.cause) : ''].join('\n');
}

function assertNoSecret(text: string, secrets: readonly string[], where: string): void {
  for (const s of secrets) assert.ok(!text.includes(s), `a secret leaked into ${where}: ${text.slice(0, 300)}`);
}

async function querySucceeds(conn: Connection): Promise<boolean> {
  return !(await queryFails(conn));
}

/** The account's SHOW GRANTS, except the global USAGE line; this adapter grants nothing else anywhere. */
async function grantsBeyondUsage(account: string): Promise<string[]> {
  return (await showGrants(account, '%')).filter((line) => !line.startsWith('GRANT USAGE ON *.* TO '));
}

/** `GRANT SELECT, INSERT ON \`schema\`.* TO ...` → ['SELECT', 'INSERT']. */
function privilegesOf(line: string): string[] {
  const m = /^GRANT (.+) ON /.exec(line);
  assert.ok(m, `not a GRANT line: ${line}`);
  return m[1]!.split(', ');
}

describe('Activities through createActivities (MariaDB, moto, SMTP)', function () {
  this.timeout(20_000);

  let c: TestComponents;
  /** `c.call`, with every result and error kept, to prove at the end that none holds a secret. */
  let act: GrantActivities;
  const thrown: unknown[] = [];
  const returned: unknown[] = [];

  before(async function () {
    // The first user of the shared moto server starts it, which can take a while on a busy machine.
    this.timeout(60_000);
    c = await createTestComponents();
    const recorded: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(c.call) as [string, (...args: unknown[]) => Promise<unknown>][]) {
      recorded[name] = async (...args: unknown[]) => {
        try {
          const result = await fn(...args);
          returned.push(result);
          return result;
        } catch (err) {
          thrown.push(err);
          throw err;
        }
      };
    }
    act = recorded as GrantActivities;
  });

  after(async () => {
    await c?.close();
  });


  /** The password createAccount stored: the only place it exists. */
  async function storedPassword(ref: AccountRef): Promise<string> {
    const secret = await c.readGrantSecret(ref.secretName);
    assert.ok(secret, `secret ${ref.secretName} should exist`);
    return secret.password;
  }

  /** A grant provisioned the way the workflow does it: account + secret, then the level's privileges. */
  async function provision(privileges: string[]): Promise<{ grant: TestGrant; password: string }> {
    const grant = c.newGrant();
    await act.createAccount(grant.ref);
    await act.grantPrivileges({ ...grant.ref, privileges });
    return { grant, password: await storedPassword(grant.ref) };
  }

  function grantState(grant: TestGrant, overrides: Partial<GrantState> = {}): GrantState {
    const now = Date.now();
    return {
      grantId: grant.ref.grantId,
      status: 'ACTIVE',
      email: grant.email,
      name: grant.name,
      project: grant.ref.project,
      database: grant.ref.database,
      schema: grant.ref.target.schema,
      account: grant.ref.account,
      accessLevel: 'READ_WRITE',
      privileges: READ_WRITE,
      expiresAt: new Date(now + 86_400_000).toISOString(),
      requestedAt: new Date(now - 5_000).toISOString(),
      requestedBy: 'activities-test',
      grantedAt: new Date(now).toISOString(),
      secretName: grant.ref.secretName,
      connection: { host: MARIADB_HOST, port: MARIADB_PORT, engine: 'mariadb' },
      history: [],
      ...overrides,
    };
  }

  function auditRecord(grant: TestGrant, overrides: Partial<AuditRecord> = {}): AuditRecord {
    const runId = randomUUID();
    return {
      grantId: grant.ref.grantId,
      eventId: `${runId}:000001`,
      at: new Date().toISOString(),
      event: 'REQUESTED',
      actor: 'activities-test',
      email: grant.email,
      project: grant.ref.project,
      database: grant.ref.database,
      accessLevel: 'READ',
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      account: grant.ref.account,
      workflowId: grant.ref.grantId,
      runId,
      reason: 'debug a report',
      ...overrides,
    };
  }

  /** Every spelling of the message a reader or a relay could see. */
  function wholeMessage(mail: CapturedMail): string {
    // Quoted-printable soft line breaks could split a value in the raw text.
    return [mail.raw, mail.raw.replace(/=\r?\n/g, ''), mail.subject, mail.text, mail.html].join('\n');
  }

  describe('createAccount', () => {
    it('When an account is created, then only the secret name and endpoint come back, the secret holds the credential, and that password logs in', async () => {
      const grant = c.newGrant();
      const result = await act.createAccount(grant.ref);

      assert.deepEqual(Object.keys(result).sort(), ['connection', 'secretName']);
      assert.equal(result.secretName, grant.ref.secretName);
      assert.deepEqual(result.connection, { host: MARIADB_HOST, port: MARIADB_PORT, engine: 'mariadb' });

      const secret = await c.readGrantSecret(grant.ref.secretName);
      assert.ok(secret);
      // The RDS secret shape (dbname), plus database for readers of the earlier shape.
      assert.deepEqual(Object.keys(secret), ['engine', 'host', 'port', 'username', 'password', 'dbname', 'database']);
      assert.deepEqual({ ...secret, password: '' }, {
        engine: 'mariadb',
        host: MARIADB_HOST,
        port: MARIADB_PORT,
        username: grant.ref.account,
        password: '',
        dbname: c.schema,
        database: c.schema,
      });
      assert.ok(secret.password.length >= 32, 'a generated password of full length');
      assert.ok(!JSON.stringify(result).includes(secret.password), 'the result must not contain the password');
      assert.equal(c.generatedPasswords.at(-1), secret.password);

      // The secret says which grant it belongs to, for whoever finds it in the console.
      const described = await c.aws.secrets.send(new DescribeSecretCommand({ SecretId: grant.ref.secretName }));
      const tags = Object.fromEntries((described.Tags ?? []).map((t) => [t.Key, t.Value]));
      assert.equal(tags['dbaccess:grant-id'], grant.ref.grantId);
      assert.equal(tags['managed-by'], 'dbaccess');

      const usage = (await showGrants(grant.ref.account, '%')).find((line) => line.startsWith('GRANT USAGE ON *.* TO '));
      assert.ok(usage?.endsWith('WITH MAX_USER_CONNECTIONS 5'), `the target's connection limit applies: ${usage}`);

      assert.equal(await canLogin(grant.ref.account, secret.password), true, 'the stored password logs in');
      assert.equal(await canLogin(grant.ref.account, randomPassword()), false, 'another password does not');

      // With its level granted, that login sees the schema and reads it.
      await act.grantPrivileges({ ...grant.ref, privileges: READ });
      const conn = await connectAs(grant.ref.account, secret.password, c.schema);
      try {
        const [dbs] = await conn.query('SHOW DATABASES');
        assert.ok((dbs as { Database: string }[]).some((r) => r.Database === c.schema));
        const [rows] = await conn.query('SELECT v FROM t WHERE id = 1');
        assert.deepEqual(rows, [{ v: 'one' }]);
      } finally {
        await conn.end();
      }
    });

    it('When createAccount runs twice (a retry), then the secret holds the second password, which works, and the first no longer does', async () => {
      const grant = c.newGrant();
      await act.createAccount(grant.ref);
      const first = await storedPassword(grant.ref);
      await act.grantPrivileges({ ...grant.ref, privileges: READ });

      await act.createAccount(grant.ref);
      const second = await storedPassword(grant.ref);

      assert.notEqual(second, first);
      assert.equal(await canLogin(grant.ref.account, second, c.schema), true);
      assert.equal(await canLogin(grant.ref.account, first), false);
      assert.equal(await accountExists(grant.ref.account, '%'), true);
    });

    it('When the same person is granted again after a revoke, then createAccount recreates the account and the secret with a new password', async () => {
      const { grant, password: old } = await provision(READ);
      await act.revokeAccess(grant.ref);

      await act.createAccount(grant.ref);
      await act.grantPrivileges({ ...grant.ref, privileges: READ });
      const fresh = await storedPassword(grant.ref);

      assert.notEqual(fresh, old);
      assert.equal(await canLogin(grant.ref.account, fresh, c.schema), true);
      assert.equal(await canLogin(grant.ref.account, old), false);
    });

    it('When the admin secret does not exist, then createAccount fails with AdminSecretInvalid naming it, and creates no account and no secret', async () => {
      const missingSecret = `${c.secretPrefix}/admin/missing`;
      const grant = c.newGrant({ target: { adminSecretId: missingSecret } });
      const err = await expectFailure(act.createAccount(grant.ref), ActivityErrorType.AdminSecretInvalid);
      assert.ok(err.message.includes(missingSecret), err.message);
      assert.equal(await accountExists(grant.ref.account, '%'), false);
      assert.equal(await c.secretExists(grant.ref.secretName), false);
    });

    it('When the schema does not exist, then createAccount fails with UnknownDatabase and creates no account and no secret', async () => {
      const missing = `${RUN_PREFIX}_${randomName(5)}_missing`;
      const grant = c.newGrant({ schema: missing });
      const err = await expectFailure(act.createAccount(grant.ref), ActivityErrorType.UnknownDatabase);
      assert.match(err.message, new RegExp(missing));
      assert.equal(await accountExists(grant.ref.account, '%'), false);
      assert.equal(await c.secretExists(grant.ref.secretName), false);
    });
  });

  describe('account ownership', () => {
    /** Tags a secret as another grant's, the way createAccount tags its own. */
    async function secretOfAnotherGrant(name: string): Promise<void> {
      await c.aws.secrets.send(new CreateSecretCommand({ Name: name, SecretString: '{}', Tags: [{ Key: GRANT_ID_TAG, Value: 'grant/other/db/someone@example.com' }] }));
    }

    it('When an account of the derived name exists but was not created by this grant, then createAccount refuses with AccountConflict and leaves it untouched', async () => {
      const grant = c.newGrant();
      const theirs = randomPassword();
      await rootPool().query('CREATE USER ?@? IDENTIFIED BY ?', [grant.ref.account, '%', theirs]);
      await expectFailure(act.createAccount(grant.ref), ActivityErrorType.AccountConflict);
      assert.ok(await canLogin(grant.ref.account, theirs), 'the existing account keeps its password');
      assert.equal(await c.secretExists(grant.ref.secretName), false, 'no secret is written for it');
    });

    it("When the grant's secret belongs to another grant, then createAccount refuses and revokeAccess leaves account and secret alone", async () => {
      const { grant, password } = await provision(['SELECT']);
      await c.aws.secrets.send(new DeleteSecretCommand({ SecretId: grant.ref.secretName, ForceDeleteWithoutRecovery: true }));
      await secretOfAnotherGrant(grant.ref.secretName);
      await expectFailure(act.createAccount(grant.ref), ActivityErrorType.AccountConflict);
      const result = await act.revokeAccess(grant.ref);
      assert.equal(result.accountExisted, false);
      assert.ok(await canLogin(grant.ref.account, password), 'the account was not dropped');
      assert.ok(await c.secretExists(grant.ref.secretName), 'the other grant keeps its secret');
    });

    it('When createAccount is retried after it stored the secret and created the account, then the retry proceeds (both are its own)', async () => {
      const grant = c.newGrant();
      await act.createAccount(grant.ref);
      await act.createAccount(grant.ref);
      assert.ok(await canLogin(grant.ref.account, await storedPassword(grant.ref)));
    });
  });

  describe('grantPrivileges', () => {
    it('When READ_WRITE is granted, then SHOW GRANTS lists exactly SELECT, INSERT, UPDATE, DELETE on that schema and nothing else', async () => {
      const { grant, password } = await provision(READ_WRITE);
      const lines = await grantsBeyondUsage(grant.ref.account);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.deepEqual(await schemaGrants(grant.ref.account, '%', c.schema), lines);
      assert.deepEqual(privilegesOf(lines[0]!).sort(), [...READ_WRITE].sort());
      assert.ok(!lines[0]!.includes('WITH GRANT OPTION'));

      const conn = await connectAs(grant.ref.account, password, c.schema);
      try {
        await conn.query('INSERT INTO t VALUES (?, ?)', [100 + Math.floor(Math.random() * 1e6), 'rw']);
      } finally {
        await conn.end();
      }
    });

    it('When grantPrivileges runs twice (a retry), then the grants are the same as after one run', async () => {
      const { grant } = await provision(READ_WRITE);
      const once = await showGrants(grant.ref.account, '%');
      await act.grantPrivileges({ ...grant.ref, privileges: READ_WRITE });
      assert.deepEqual(await showGrants(grant.ref.account, '%'), once);
    });
  });

  describe('changePrivileges', () => {
    it('When READ_WRITE is downgraded to READ, then only SELECT remains, the account stays, and a session opened before has been killed', async () => {
      const { grant, password } = await provision(READ_WRITE);
      const before = await connectAs(grant.ref.account, password, c.schema);

      const result = await act.changePrivileges({ ...grant.ref, privileges: READ, previous: READ_WRITE });

      assert.ok(result.sessionsKilled >= 1, `sessionsKilled = ${result.sessionsKilled}`);
      assert.equal(await queryFails(before), true, 'the session opened under READ_WRITE must be gone');
      const lines = await grantsBeyondUsage(grant.ref.account);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.deepEqual(privilegesOf(lines[0]!), ['SELECT']);
      assert.equal(await accountExists(grant.ref.account, '%'), true);

      // A new session has exactly READ.
      const after = await connectAs(grant.ref.account, password, c.schema);
      try {
        await after.query('SELECT * FROM t');
        await assert.rejects(after.query('INSERT INTO t VALUES (?, ?)', [200 + Math.floor(Math.random() * 1e6), 'no']), /denied/i);
      } finally {
        await after.end();
      }
    });

    it('When READ is upgraded to READ_WRITE, then nothing is killed and a session opened before survives', async () => {
      const { grant, password } = await provision(READ);
      const before = await connectAs(grant.ref.account, password, c.schema);

      const result = await act.changePrivileges({ ...grant.ref, privileges: READ_WRITE, previous: READ });

      assert.equal(result.sessionsKilled, 0);
      assert.equal(await querySucceeds(before), true, 'the session opened under READ must still work');
      const lines = await grantsBeyondUsage(grant.ref.account);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.deepEqual(privilegesOf(lines[0]!).sort(), [...READ_WRITE].sort());
    });

    it('When a downgrade lowered the privileges but the sessions cannot be ended, then it fails with the non-retryable SessionsNotEnded, the lower level stays, and endSessions ends them once the admin may', async () => {
      const { grant, password } = await provision(READ_WRITE);
      const open = await connectAs(grant.ref.account, password, c.schema);
      // An admin that may lower privileges but not end other accounts' connections (no CONNECTION ADMIN).
      const weak = await createAdmin(c.schemas);
      await grantGlobal(['CONNECTION ADMIN'], weak, true);
      const accounts = createMysqlAccountManager({ credentials: new StaticCredentialSource(weak.credentials) });
      const weakActivities = createActivities({ ...c.deps, accounts });
      const quiet = new DefaultLogger('ERROR', () => undefined);
      const run = <T>(fn: () => Promise<T>) => new MockActivityEnvironment(undefined, { logger: quiet }).run(fn) as Promise<T>;
      try {
        const err = await run(() => weakActivities.changePrivileges({ ...grant.ref, privileges: READ, previous: READ_WRITE })).then(
          () => assert.fail('changePrivileges should have failed'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof ApplicationFailure, String(err));
        assert.equal(err.type, ActivityErrorType.SessionsNotEnded);
        assert.equal(err.nonRetryable, true);
        assert.match(err.message, /lowered to SELECT, but its open sessions could not be ended: .*CONNECTION ADMIN/);
        assertNoSecret(everything(err), [password, weak.password, ...c.knownSecrets()], 'the SessionsNotEnded error');
        // Lowered, and not raised again: only SELECT; the old session is still open.
        const lines = await grantsBeyondUsage(grant.ref.account);
        assert.deepEqual(lines.map(privilegesOf), [['SELECT']]);
        assert.ok((await sessionsOf(grant.ref.account)).includes(open.threadId));

        await grantGlobal(['CONNECTION ADMIN'], weak);
        // A new login sees the new privilege (a session keeps the global privileges it logged in with).
        const freshAccounts = createMysqlAccountManager({ credentials: new StaticCredentialSource(weak.credentials) });
        try {
          const ended = await run(() => createActivities({ ...c.deps, accounts: freshAccounts }).endSessions(grant.ref));
          assert.equal(ended.sessionsKilled, 1);
          assert.equal(await queryFails(open), true);
        } finally {
          await freshAccounts.close();
        }
      } finally {
        open.destroy();
        await accounts.close();
        await rootPool().query('DROP USER IF EXISTS ?@?', [weak.account, weak.host]);
      }
    });
  });

  describe('revokeAccess', () => {
    it('When access is revoked, then the account is gone, login fails, an open connection was killed and the secret is deleted; a second revoke succeeds with accountExisted false', async () => {
      const { grant, password } = await provision(READ_WRITE);
      const open = await connectAs(grant.ref.account, password, c.schema);

      const first = await act.revokeAccess(grant.ref);

      assert.equal(first.accountExisted, true);
      assert.ok(first.sessionsKilled >= 1, `sessionsKilled = ${first.sessionsKilled}`);
      assert.equal(first.secretDeleted, true);
      assert.equal(await accountExists(grant.ref.account, '%'), false);
      assert.equal(await canLogin(grant.ref.account, password), false);
      assert.equal(await queryFails(open), true, 'the connection opened before the revoke must be gone');
      assert.equal(await c.secretExists(grant.ref.secretName), false);

      assert.equal(first.dropped, true);
      assert.ok(first.containedAt && Date.parse(first.containedAt) <= Date.now(), String(first.containedAt));
      assert.deepEqual([first.leftBehind, first.leftBehindCount], [[], 0]);

      const again = await act.revokeAccess(grant.ref);
      assert.deepEqual(again, { accountExisted: false, sessionsKilled: 0, secretDeleted: false, dropped: true, leftBehind: [], leftBehindCount: 0 });
    });

    it('When the workflow knows the account is its own, then revokeAccess asks Secrets Manager one thing, the deletion; a second revoke deletes nothing and is no error', async () => {
      const { grant, password } = await provision(READ);
      const recorded = recordCalls(c.aws.secrets);
      try {
        const ref = { ...grant.ref, owned: true };
        const first = await act.revokeAccess(ref);
        assert.deepEqual([first.accountExisted, first.dropped, first.secretDeleted], [true, true, true]);
        assert.equal(await canLogin(grant.ref.account, password), false);
        assert.equal(await c.secretExists(grant.ref.secretName), false);
        const again = await act.revokeAccess(ref);
        assert.deepEqual([again.accountExisted, again.dropped], [false, true]);
      } finally {
        recorded.stop();
      }
      // secretExists asked one lookup itself, between the two revocations.
      assert.deepEqual(recorded.names, ['DeleteSecretCommand', 'DescribeSecretCommand', 'DeleteSecretCommand']);
    });

    it('When the admin secret holds a password the server refuses, then revokeAccess fails with AdminAccessDenied and leaves the grant secret for the retry', async () => {
      const { grant } = await provision(READ);
      const wrongPassword = randomPassword();
      const badSecretId = `${c.secretPrefix}/admin/wrong-password`;
      await c.aws.secrets.send(
        new CreateSecretCommand({
          Name: badSecretId,
          SecretString: JSON.stringify({ MYSQL_HOST: MARIADB_HOST, MYSQL_PORT: String(MARIADB_PORT), MYSQL_USERNAME: c.admin.account, MYSQL_PASSWORD: wrongPassword }),
        }),
      );
      const ref = { ...grant.ref, target: { ...grant.ref.target, adminSecretId: badSecretId } };

      const err = await expectFailure(act.revokeAccess(ref), ActivityErrorType.AdminAccessDenied);
      assertNoSecret(everything(err), [wrongPassword, ...c.knownSecrets()], 'the AdminAccessDenied error');
      assert.equal(err.nonRetryable, false, 'the workflow keeps retrying a revoke');
      assert.equal(await accountExists(grant.ref.account, '%'), true);
      assert.equal(await c.secretExists(grant.ref.secretName), true);

      // With the right admin secret the same revoke completes.
      const done = await act.revokeAccess(grant.ref);
      assert.equal(done.accountExisted, true);
      assert.equal(done.secretDeleted, true);
    });
  });

  describe('revokePrivileges (compensation of grantPrivileges)', () => {
    it('When privileges are revoked, then the account keeps its login but has nothing on the schema; again on a dropped account is no error', async () => {
      const { grant, password } = await provision(READ_WRITE);
      await act.revokePrivileges(grant.ref);
      assert.deepEqual(await grantsBeyondUsage(grant.ref.account), []);
      assert.equal(await canLogin(grant.ref.account, password), true);
      assert.equal(await canLogin(grant.ref.account, password, c.schema), false);

      await act.revokeAccess(grant.ref);
      await act.revokePrivileges(grant.ref);
    });

    it('When privileges are asked on a schema the admin does not manage, then AdminPrivilegeMissing and nothing is granted there', async () => {
      const other = await createSchema(`${RUN_PREFIX}_${randomName(5)}_other`);
      try {
        const { grant } = await provision(READ);
        await expectFailure(
          act.grantPrivileges({ ...grant.ref, target: { ...grant.ref.target, schema: other }, privileges: READ }),
          ActivityErrorType.AdminPrivilegeMissing,
        );
        assert.deepEqual(await schemaGrants(grant.ref.account, '%', other), []);
      } finally {
        await rootPool().query(`DROP DATABASE IF EXISTS \`${other}\``);
      }
    });
  });

  describe('recordAudit', () => {
    it('When the same record is written twice, then DynamoDB holds one item, the second write says written:false, and the store reads it back by grant, database and grantee', async () => {
      const grant = c.newGrant();
      const record = auditRecord(grant, { email: grant.email.toUpperCase() });

      assert.deepEqual(await act.recordAudit(record), { written: true });
      assert.deepEqual(await act.recordAudit(record), { written: false });

      const raw = await c.aws.doc.send(
        new QueryCommand({ TableName: c.auditTable, KeyConditionExpression: 'grantId = :g', ExpressionAttributeValues: { ':g': grant.ref.grantId }, ConsistentRead: true }),
      );
      assert.equal(raw.Items?.length, 1);

      const stored = { ...record, email: grant.email };
      assert.deepEqual(await c.deps.audit.forGrant(grant.ref.grantId), [stored]);
      // The indexes are eventually consistent in AWS; moto answers at once.
      assert.deepEqual(await c.deps.audit.forDatabase(grant.ref.project, grant.ref.database), [stored]);
      assert.deepEqual(await c.deps.audit.forGrantee(grant.email.toUpperCase()), [stored]);
    });

    it('When a grant has several events, then forGrant returns them oldest first and a retried write adds nothing', async () => {
      const grant = c.newGrant();
      const runId = randomUUID();
      const t0 = Date.now();
      const events = (['REQUESTED', 'GRANTED', 'REVOKED'] as const).map((event, i) =>
        auditRecord(grant, { event, runId, eventId: `${runId}:${String(i + 1).padStart(6, '0')}`, at: new Date(t0 + i * 1000).toISOString() }),
      );
      // Written out of order, one of them twice (a retry after a lost result).
      for (const e of [events[1]!, events[0]!, events[2]!, events[1]!]) await act.recordAudit(e);
      assert.deepEqual(
        (await c.deps.audit.forGrant(grant.ref.grantId)).map((r) => r.event),
        ['REQUESTED', 'GRANTED', 'REVOKED'],
      );
    });
  });

  describe('notifications', () => {
    it('When GRANTED is notified, then grantee and owner each receive their own message over SMTP, the grantee\'s names the secret, and no part of either holds the password', async () => {
      const { grant, password } = await provision(READ_WRITE);
      const eventId = `${randomUUID()}:000002`;

      await act.notifyGrant({ kind: 'GRANTED', grant: grantState(grant), owner: c.owner, eventId, schema: c.schema });

      const mail = await c.smtp.waitFor((m) => m.envelopeTo.includes(grant.email));
      assert.deepEqual(mail.to, [grant.email]);
      assert.deepEqual(mail.envelopeTo, [grant.email]);
      const notice = await c.smtp.waitFor((m) => m.envelopeTo.includes(c.owner.email) && m.text.includes(grant.ref.grantId));
      assert.deepEqual(notice.envelopeTo, [c.owner.email]);
      assertNoSecret(wholeMessage(notice), [password, ...c.knownSecrets()], 'the owner\'s GRANTED notice');
      assert.match(mail.subject, /READ_WRITE access to .* granted/);
      assert.ok(mail.text.replace(/\s+/g, ' ').includes(grant.ref.secretName), 'the text names the secret');
      assert.ok(mail.html.includes(grant.ref.secretName), 'the HTML names the secret');
      assert.ok(mail.text.includes(c.awsSettings.region), 'the text names the region of the secret');
      assertNoSecret(wholeMessage(mail), [password, ...c.knownSecrets()], 'the GRANTED e-mail');
    });

    it('When FAILED is notified, then every administrator receives it', async () => {
      const grant = c.newGrant();
      const eventId = `${randomUUID()}:000003`;
      const state = grantState(grant, { status: 'FAILED', failure: { step: 'grant privileges', message: 'injected by the test' } });

      await act.notifyAdmins({ kind: 'FAILED', grant: state, eventId, detail: 'step "grant privileges" failed: injected by the test' });

      const admins = c.administrators.map((a) => a.email);
      const mail = await c.smtp.waitFor((m) => admins.every((a) => m.envelopeTo.includes(a)) && m.text.includes(grant.ref.grantId));
      assert.match(mail.subject, /FAILED/);
      assert.ok(mail.text.includes('grant privileges'));
      assert.ok(!mail.envelopeTo.includes(grant.email), 'the grantee is not told about the internals');
    });
  });

  describe('no secrets', () => {
    it('When the tests above have run, then no activity error, result or log line holds a generated password or the admin password', function () {
      if (thrown.length === 0 && returned.length === 0) this.skip();
      const secrets = c.knownSecrets();
      assert.ok(secrets.length > 1, 'passwords were generated');
      for (const err of thrown) assertNoSecret(everything(err), secrets, 'an activity error');
      for (const result of returned) assertNoSecret(JSON.stringify(result ?? null), secrets, 'an activity result');
      assert.ok(c.logs.length > 0, 'the activities logged');
      for (const entry of c.logs) assertNoSecret(`${entry.message} ${JSON.stringify(entry.meta ?? {})}`, secrets, 'a log line');
    });
  });
});
