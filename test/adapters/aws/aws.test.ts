import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';

import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { ApplicationFailure } from '@temporalio/common';

import {
  AUDIT_TABLE_DEFINITION,
  createAwsClients,
  DynamoAuditStore,
  ensureAuditTable,
  readJsonSecret,
  SecretInvalidError,
  SecretsManagerAdminCredentials,
  SecretsManagerGrantSecretStore,
  type AwsClients,
} from '../../../src/adapters/aws';
import { ActivityErrorType } from '../../../src/adapters/errors';
import { GRANT_ID_TAG, GRANT_RUN_TAG } from '../../../src/activities';
import type { AuditRecord, GrantCredential } from '../../../src/adapters/ports';
import { recordCalls } from '../../support/aws-calls';
import { getMoto, motoAwsSettings } from '../../support/moto';
import { ROOT } from '../../support/tools';
import { mysqlEngine } from '../../../src/adapters/engines/mysql';

/** Admin secrets in MySQL's format. */
const MYSQL_SECRET = { parse: mysqlEngine.parseAdminSecret };

const PASSWORD = 'pw-Sup3rS3cret-7781';

function uniq(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Counts the Secrets Manager calls of one operation made through a client. */
function countCalls(client: SecretsManagerClient, commandName: string): { count: number } {
  const { names } = recordCalls(client);
  return {
    get count() {
      return names.filter((n) => n === commandName).length;
    },
  };
}

async function createSecret(client: SecretsManagerClient, value: string): Promise<string> {
  const id = uniq('dbaccess-test/admin');
  await client.send(new CreateSecretCommand({ Name: id, SecretString: value }));
  return id;
}

async function secretValue(client: SecretsManagerClient, id: string): Promise<string | undefined> {
  return (await client.send(new GetSecretValueCommand({ SecretId: id }))).SecretString;
}

async function expectAdminSecretInvalid(promise: Promise<unknown>, ...mustContain: string[]): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, ActivityErrorType.AdminSecretInvalid);
    for (const text of mustContain) assert.ok(err.message.includes(text), `"${err.message}" should mention ${text}`);
    const everything = `${err.message} ${JSON.stringify(err.details)} ${err.stack ?? ''}`;
    assert.ok(!everything.includes(PASSWORD), 'the error must not contain the password');
    return err;
  }
  assert.fail('expected AdminSecretInvalid');
}

describe('AWS adapters (moto)', function () {
  let clients: AwsClients;

  before(async () => {
    clients = createAwsClients(await motoAwsSettings(uniq('audit')));
  });
  after(() => clients?.destroy());

  describe('createAwsClients', () => {
    it('When an endpoint is set and no credentials are in the environment, then calls to the emulator are signed with dummy credentials', async () => {
      const saved = { id: process.env.AWS_ACCESS_KEY_ID, key: process.env.AWS_SECRET_ACCESS_KEY };
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
      const local = createAwsClients(await motoAwsSettings('unused'));
      try {
        const creds = await local.secrets.config.credentials();
        assert.ok(creds.accessKeyId.length > 0);
        const id = await createSecret(local.secrets, '{}');
        assert.equal(await secretValue(local.secrets, id), '{}');
      } finally {
        local.destroy();
        if (saved.id !== undefined) process.env.AWS_ACCESS_KEY_ID = saved.id;
        if (saved.key !== undefined) process.env.AWS_SECRET_ACCESS_KEY = saved.key;
      }
    });

    it('When credentials are in the environment, then they are used for the emulator too', async () => {
      const saved = { id: process.env.AWS_ACCESS_KEY_ID, key: process.env.AWS_SECRET_ACCESS_KEY };
      process.env.AWS_ACCESS_KEY_ID = 'AKIDFROMENV';
      process.env.AWS_SECRET_ACCESS_KEY = 'from-env';
      const local = createAwsClients(await motoAwsSettings('unused'));
      try {
        assert.equal((await local.dynamo.config.credentials()).accessKeyId, 'AKIDFROMENV');
      } finally {
        local.destroy();
        if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
        else process.env.AWS_ACCESS_KEY_ID = saved.id;
        if (saved.key === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
        else process.env.AWS_SECRET_ACCESS_KEY = saved.key;
      }
    });
  });

  describe('SecretsManagerAdminCredentials', () => {
    it('When the secret is in the seed format with a string port, then it parses', async () => {
      const id = await createSecret(
        clients.secrets,
        JSON.stringify({ MYSQL_HOST: 'db.internal', MYSQL_PORT: '3307', MYSQL_USERNAME: 'admin', MYSQL_PASSWORD: PASSWORD }),
      );
      const creds = await new SecretsManagerAdminCredentials(clients.secrets, MYSQL_SECRET).get(id);
      assert.deepEqual(creds, { host: 'db.internal', port: 3307, username: 'admin', password: PASSWORD });
    });

    it('When the port is a number or absent, then it parses (absent means 3306)', async () => {
      const source = new SecretsManagerAdminCredentials(clients.secrets, MYSQL_SECRET);
      const numeric = await createSecret(
        clients.secrets,
        JSON.stringify({ MYSQL_HOST: 'h1', MYSQL_PORT: 3308, MYSQL_USERNAME: 'admin', MYSQL_PASSWORD: PASSWORD }),
      );
      const absent = await createSecret(clients.secrets, JSON.stringify({ MYSQL_HOST: 'h2', MYSQL_USERNAME: 'admin', MYSQL_PASSWORD: PASSWORD }));
      assert.equal((await source.get(numeric)).port, 3308);
      assert.equal((await source.get(absent)).port, 3306);
    });

    it('When the secret does not exist, then AdminSecretInvalid names the secret id', async () => {
      const id = uniq('dbaccess-test/missing');
      await expectAdminSecretInvalid(new SecretsManagerAdminCredentials(clients.secrets, MYSQL_SECRET).get(id), id, 'does not exist');
    });

    it('When the secret is not valid JSON, then AdminSecretInvalid does not quote the value', async () => {
      const id = await createSecret(clients.secrets, `{"MYSQL_HOST":"h","MYSQL_PASSWORD":"${PASSWORD}",`);
      await expectAdminSecretInvalid(new SecretsManagerAdminCredentials(clients.secrets, MYSQL_SECRET).get(id), id, 'not valid JSON');
    });

    it('When a key is missing or the port is not a number, then AdminSecretInvalid names the keys but no value', async () => {
      const source = new SecretsManagerAdminCredentials(clients.secrets, MYSQL_SECRET);
      const noUser = await createSecret(clients.secrets, JSON.stringify({ MYSQL_HOST: 'h', MYSQL_PORT: 3306, MYSQL_PASSWORD: PASSWORD }));
      await expectAdminSecretInvalid(source.get(noUser), noUser, 'MYSQL_USERNAME is missing');
      const badPort = await createSecret(
        clients.secrets,
        JSON.stringify({ MYSQL_HOST: 'h', MYSQL_PORT: PASSWORD, MYSQL_USERNAME: 'u', MYSQL_PASSWORD: PASSWORD }),
      );
      await expectAdminSecretInvalid(source.get(badPort), badPort, 'MYSQL_PORT');
      const notObject = await createSecret(clients.secrets, JSON.stringify([PASSWORD]));
      await expectAdminSecretInvalid(source.get(notObject), notObject, 'JSON object');
    });

    it('When the same secret is read again within the TTL, then the cache serves it without another call', async () => {
      const id = await createSecret(clients.secrets, JSON.stringify({ MYSQL_HOST: 'h', MYSQL_USERNAME: 'u', MYSQL_PASSWORD: PASSWORD }));
      const calls = countCalls(clients.secrets, 'GetSecretValueCommand');
      const source = new SecretsManagerAdminCredentials(clients.secrets, MYSQL_SECRET);
      const first = await source.get(id);
      first.password = 'mutated by a caller';
      const second = await source.get(id);
      assert.equal(second.password, PASSWORD, 'callers get copies, not the cached object');
      assert.equal(calls.count, 1);
    });

    it('When several gets of one id run at once, then they share one request', async () => {
      const id = await createSecret(clients.secrets, JSON.stringify({ MYSQL_HOST: 'h', MYSQL_USERNAME: 'u', MYSQL_PASSWORD: PASSWORD }));
      const calls = countCalls(clients.secrets, 'GetSecretValueCommand');
      const source = new SecretsManagerAdminCredentials(clients.secrets, MYSQL_SECRET);
      const all = await Promise.all([source.get(id), source.get(id), source.get(id, { refresh: true }), source.get(id)]);
      assert.ok(all.every((c) => c.password === PASSWORD));
      assert.equal(calls.count, 1);
    });

    it('When the secret is rotated, then refresh re-reads it and the TTL expiry does too', async () => {
      const secret = (password: string): string => JSON.stringify({ MYSQL_HOST: 'h', MYSQL_USERNAME: 'u', MYSQL_PASSWORD: password });
      const id = await createSecret(clients.secrets, secret(PASSWORD));
      let now = 1_000_000;
      const source = new SecretsManagerAdminCredentials(clients.secrets, { ...MYSQL_SECRET, ttlMs: 60_000, now: () => now });
      assert.equal((await source.get(id)).password, PASSWORD);

      await clients.secrets.send(new PutSecretValueCommand({ SecretId: id, SecretString: secret('rotated-1') }));
      assert.equal((await source.get(id)).password, PASSWORD, 'still cached');
      assert.equal((await source.get(id, { refresh: true })).password, 'rotated-1');

      await clients.secrets.send(new PutSecretValueCommand({ SecretId: id, SecretString: secret('rotated-2') }));
      now += 59_000;
      assert.equal((await source.get(id)).password, 'rotated-1', 'within the TTL');
      now += 2_000;
      assert.equal((await source.get(id)).password, 'rotated-2', 'after the TTL');
    });

    it('When a cached secret is deleted, then a refresh fails with AdminSecretInvalid and the stale value is no longer served', async () => {
      const id = await createSecret(clients.secrets, JSON.stringify({ MYSQL_HOST: 'h', MYSQL_USERNAME: 'u', MYSQL_PASSWORD: PASSWORD }));
      const source = new SecretsManagerAdminCredentials(clients.secrets, MYSQL_SECRET);
      await source.get(id);
      await clients.secrets.send(new DeleteSecretCommand({ SecretId: id, ForceDeleteWithoutRecovery: true }));
      await expectAdminSecretInvalid(source.get(id, { refresh: true }), id);
      await expectAdminSecretInvalid(source.get(id), id);
    });

    it('When Secrets Manager cannot be reached, then the error is a plain retryable one naming the secret', async () => {
      const { region } = await getMoto();
      const dead = createAwsClients({ region, endpoint: 'http://127.0.0.1:1', auditTable: 'unused' });
      try {
        await assert.rejects(new SecretsManagerAdminCredentials(dead.secrets, MYSQL_SECRET).get('some/admin'), (err: Error) => {
          assert.ok(!(err instanceof ApplicationFailure), 'a transient failure must stay retryable');
          assert.match(err.message, /could not read secret "some\/admin"/);
          return true;
        });
      } finally {
        dead.destroy();
      }
    });
  });

  describe('timeouts', () => {
    it('When the endpoint accepts connections but never answers, then the call fails after the request timeout', async () => {
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const { port } = silent.address() as AddressInfo;
      const { region } = await getMoto();
      const slow = createAwsClients({ region, endpoint: `http://127.0.0.1:${port}`, auditTable: 'unused' }, { requestTimeoutMs: 300, maxAttempts: 2 });
      const started = Date.now();
      try {
        await assert.rejects(new SecretsManagerAdminCredentials(slow.secrets, MYSQL_SECRET).get('some/admin'), (err: Error) => {
          assert.ok(!(err instanceof ApplicationFailure));
          assert.match(err.message, /could not read secret "some\/admin"/);
          return true;
        });
        assert.ok(Date.now() - started < 5000, `gave up after ${Date.now() - started} ms`);
      } finally {
        slow.destroy();
        for (const s of sockets) s.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });
  });

  describe('readJsonSecret', () => {
    it('When the secret is a flat JSON object, then its values come back as strings', async () => {
      const id = await createSecret(clients.secrets, JSON.stringify({ SMTP_USER: 'mailer', SMTP_PASSWORD: PASSWORD, SMTP_PORT: 587 }));
      assert.deepEqual(await readJsonSecret(clients.secrets, id), { SMTP_USER: 'mailer', SMTP_PASSWORD: PASSWORD, SMTP_PORT: '587' });
    });

    it('When the secret is missing or malformed, then SecretInvalidError names it without its value', async () => {
      const missing = uniq('dbaccess-test/smtp');
      await assert.rejects(readJsonSecret(clients.secrets, missing), (err: Error) => err instanceof SecretInvalidError && err.message.includes(missing));
      const bad = await createSecret(clients.secrets, `not json ${PASSWORD}`);
      await assert.rejects(
        readJsonSecret(clients.secrets, bad),
        (err: Error) => err instanceof SecretInvalidError && err.message.includes(bad) && !err.message.includes(PASSWORD),
      );
    });
  });

  describe('SecretsManagerGrantSecretStore', () => {
    const credential = (password: string): GrantCredential => ({
      engine: 'mysql',
      host: 'db.internal',
      port: 3306,
      username: 'john_doe_abc123',
      password,
      dbname: 'dev_project',
      database: 'dev_project',
    });
    const name = (): string => uniq('dbaccess-test/grants/proj/dev_project/john_doe_abc123');

    it('When a secret is put twice, then its value is the latest and the tags from the creation stay', async () => {
      const store = new SecretsManagerGrantSecretStore(clients.secrets);
      const id = name();
      await store.put(id, credential('first'), { grantId: 'grant/proj/dev_project/john@example.com', project: 'proj' });
      await store.put(id, credential('second'));
      assert.deepEqual(JSON.parse((await secretValue(clients.secrets, id))!), credential('second'));
      const described = await clients.secrets.send(new DescribeSecretCommand({ SecretId: id }));
      assert.deepEqual(
        Object.fromEntries((described.Tags ?? []).map((t) => [t.Key, t.Value])),
        { grantId: 'grant/proj/dev_project/john@example.com', project: 'proj' },
      );
    });

    it('When a PostgreSQL grant secret is stored and read back, then it keeps its engine, the RDS dbname and its schema; a secret of the earlier shape reads as MySQL with dbname from database', async () => {
      const store = new SecretsManagerGrantSecretStore(clients.secrets);
      const pg = { engine: 'postgresql', host: 'pg.internal', port: 5432, username: 'paula_abc', password: 'Pg-secret-123', dbname: 'orders', database: 'orders', schema: 'app' };
      const id = name();
      await store.put(id, pg);
      assert.deepEqual(JSON.parse((await secretValue(clients.secrets, id))!), pg);
      assert.deepEqual(await store.read(id), pg);
      const legacy = name();
      await clients.secrets.send(
        new CreateSecretCommand({ Name: legacy, SecretString: JSON.stringify({ engine: 'mariadb', host: 'h', port: 3306, username: 'u', password: 'Legacy-123', database: 'dev_project' }) }),
      );
      assert.deepEqual(await store.read(legacy), { engine: 'mariadb', host: 'h', port: 3306, username: 'u', password: 'Legacy-123', dbname: 'dev_project', database: 'dev_project' });
    });

    it('When a secret that exists is put again with tags (a new grant run of the same id), then its tags name the new run, and readBound reads the value with that run', async () => {
      const store = new SecretsManagerGrantSecretStore(clients.secrets);
      const id = name();
      const grantId = 'grant/proj/dev_project/john@example.com';
      await store.put(id, credential('first'), { [GRANT_ID_TAG]: grantId, [GRANT_RUN_TAG]: 'run-one' });
      assert.deepEqual(await store.readBound(id), { credential: credential('first'), grantRun: 'run-one' });
      // Not deleted in between (a revocation whose deletion failed): the name is taken over.
      await store.put(id, credential('second'), { [GRANT_ID_TAG]: grantId, [GRANT_RUN_TAG]: 'run-two' });
      assert.deepEqual(await store.readBound(id), { credential: credential('second'), grantRun: 'run-two' });
      assert.deepEqual((await store.describe(id))?.tags, { [GRANT_ID_TAG]: grantId, [GRANT_RUN_TAG]: 'run-two' });
      await store.delete(id);
      assert.equal(await store.readBound(id), undefined);
    });

    it('When a secret is put, deleted and put again under the same name, then the new value is stored', async () => {
      const store = new SecretsManagerGrantSecretStore(clients.secrets);
      const id = name();
      await store.put(id, credential('one'));
      await store.delete(id);
      await store.put(id, credential('two'));
      assert.equal(JSON.parse((await secretValue(clients.secrets, id))!).password, 'two');
    });

    it('When a secret is deleted twice, then each deletion is one call, the second is no error, and the secret is gone', async () => {
      const store = new SecretsManagerGrantSecretStore(clients.secrets);
      const id = name();
      await store.put(id, credential('x'));
      const deletes = countCalls(clients.secrets, 'DeleteSecretCommand');
      const lookups = countCalls(clients.secrets, 'DescribeSecretCommand');
      await store.delete(id);
      await store.delete(id);
      assert.deepEqual([deletes.count, lookups.count], [2, 0]);
      await assert.rejects(secretValue(clients.secrets, id), (err: Error) => err.name === 'ResourceNotFoundException');
    });

    it('When the secret was scheduled for deletion by hand, then put restores it and stores the new value', async () => {
      const store = new SecretsManagerGrantSecretStore(clients.secrets);
      const id = name();
      await store.put(id, credential('old'));
      await clients.secrets.send(new DeleteSecretCommand({ SecretId: id, RecoveryWindowInDays: 7 }));
      await store.put(id, credential('new'));
      const described = await clients.secrets.send(new DescribeSecretCommand({ SecretId: id }));
      assert.equal(described.DeletedDate, undefined);
      assert.equal(JSON.parse((await secretValue(clients.secrets, id))!).password, 'new');
    });

    it('When the secret was scheduled for deletion by hand, then delete removes it at once', async () => {
      const store = new SecretsManagerGrantSecretStore(clients.secrets);
      const id = name();
      await store.put(id, credential('old'));
      await clients.secrets.send(new DeleteSecretCommand({ SecretId: id, RecoveryWindowInDays: 7 }));
      await store.delete(id);
      await assert.rejects(clients.secrets.send(new DescribeSecretCommand({ SecretId: id })), (err: Error) => err.name === 'ResourceNotFoundException');
      await store.delete(id);
    });
  });

  describe('DynamoAuditStore', () => {
    let table: string;
    let store: DynamoAuditStore;
    const project = uniq('proj');
    let seq = 0;

    function record(over: Partial<AuditRecord> & Pick<AuditRecord, 'at'>): AuditRecord {
      const email = over.email ?? 'john.doe@example.com';
      const database = over.database ?? 'dev_db';
      const runId = over.runId ?? 'run-1';
      return {
        grantId: `grant/${project}/${database}/${email.toLowerCase()}`,
        eventId: `${runId}:${++seq}`,
        event: 'GRANTED',
        actor: 'api-key:ops',
        email,
        project,
        database,
        accessLevel: 'READ',
        expiresAt: '2030-01-01T00:00:00.000Z',
        account: 'john_doe_abc123',
        workflowId: `grant/${project}/${database}/${email.toLowerCase()}`,
        runId,
        ...over,
      };
    }

    before(async () => {
      table = uniq('audit');
      await ensureAuditTable(clients.dynamo, table);
      store = new DynamoAuditStore(clients.doc, table, { pageSize: 2 });
    });

    it('When the table is ensured, then it has the key schema, both GSIs (projection ALL) and on-demand billing; ensuring again is a no-op', async () => {
      await ensureAuditTable(clients.dynamo, table);
      const t = (await clients.dynamo.send(new DescribeTableCommand({ TableName: table }))).Table!;
      assert.equal(t.TableStatus, 'ACTIVE');
      assert.deepEqual(t.KeySchema, AUDIT_TABLE_DEFINITION.KeySchema);
      assert.equal(t.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
      assert.equal(t.DeletionProtectionEnabled, true);
      const indexes = Object.fromEntries((t.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName ?? '', i] as const));
      assert.deepEqual(Object.keys(indexes).sort(), ['byDatabase', 'byGrantee']);
      assert.deepEqual(indexes['byDatabase']!.KeySchema, [
        { AttributeName: 'target', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      assert.deepEqual(indexes['byGrantee']!.KeySchema, [
        { AttributeName: 'email', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      for (const i of Object.values(indexes)) assert.equal(i.Projection?.ProjectionType, 'ALL');
    });

    it('When the same event is appended twice, then one item exists and the second write says written:false', async () => {
      const r = record({ at: '2026-03-01T10:00:00.000Z', database: uniq('db'), reason: 'incident 42' });
      assert.deepEqual(await store.append(r), { written: true });
      assert.deepEqual(await store.append(r), { written: false });
      const events = await store.forGrant(r.grantId);
      assert.equal(events.length, 1);
      assert.deepEqual(events[0], r);
    });

    it('When a grant id has events from two lifecycles written out of order, then forGrant returns them in time order', async () => {
      const database = uniq('db');
      const appended = [
        record({ database, at: '2026-05-01T09:00:00.000Z', event: 'GRANTED', runId: 'run-B' }),
        record({ database, at: '2026-01-01T09:00:00.000Z', event: 'GRANTED', runId: 'run-A' }),
        record({ database, at: '2026-01-31T23:59:59.000Z', event: 'EXPIRED', runId: 'run-A' }),
        record({ database, at: '2026-01-01T08:59:59.000Z', event: 'REQUESTED', runId: 'run-A' }),
        record({ database, at: '2026-05-01T08:59:00.000Z', event: 'REQUESTED', runId: 'run-B' }),
      ];
      for (const r of appended) await store.append(r);
      let queries = 0;
      clients.doc.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'QueryCommand') queries++;
          return next(args);
        },
        { step: 'initialize', name: 'count-queries' },
      );
      const events = await store.forGrant(appended[0]!.grantId);
      clients.doc.middlewareStack.remove('count-queries');
      assert.ok(queries >= 3, `five events in pages of two take three queries (took ${queries})`);
      assert.deepEqual(
        events.map((e) => `${e.runId} ${e.event}`),
        ['run-A REQUESTED', 'run-A GRANTED', 'run-A EXPIRED', 'run-B REQUESTED', 'run-B GRANTED'],
      );
    });

    it('When events share a time, then their sequence numbers order them (10 after 9)', async () => {
      const database = uniq('db');
      const at = '2026-02-02T02:02:02.000Z';
      await store.append(record({ database, at, eventId: 'run-1:10', event: 'REVOKED' }));
      await store.append(record({ database, at, eventId: 'run-1:9', event: 'REVOKE_REQUESTED' }));
      const events = await store.forGrant(`grant/${project}/${database}/john.doe@example.com`);
      assert.deepEqual(
        events.map((e) => e.eventId),
        ['run-1:9', 'run-1:10'],
      );
    });

    it('When asked who had access to a database, then forDatabase returns that database\'s events within inclusive time bounds', async () => {
      const database = uniq('db');
      const other = uniq('db');
      await store.append(record({ database, email: 'alice@example.com', at: '2026-04-01T00:00:00.000Z' }));
      await store.append(record({ database, email: 'bob@example.com', at: '2026-04-10T12:00:00.000Z' }));
      await store.append(record({ database, email: 'carol@example.com', at: '2026-04-20T00:00:00.000Z' }));
      await store.append(record({ database: other, email: 'dave@example.com', at: '2026-04-10T12:00:00.000Z' }));

      const all = await store.forDatabase(project, database);
      assert.deepEqual(
        all.map((e) => e.email),
        ['alice@example.com', 'bob@example.com', 'carol@example.com'],
      );
      const bounded = await store.forDatabase(project, database, '2026-04-01T00:00:00.000Z', '2026-04-10T12:00:00Z');
      assert.deepEqual(
        bounded.map((e) => e.email),
        ['alice@example.com', 'bob@example.com'],
      );
      assert.deepEqual(
        (await store.forDatabase(project, database, '2026-04-01T00:00:00.001Z')).map((e) => e.email),
        ['bob@example.com', 'carol@example.com'],
      );
      assert.deepEqual(
        (await store.forDatabase(project, database, undefined, '2026-04-09T00:00:00.000Z')).map((e) => e.email),
        ['alice@example.com'],
      );
      assert.deepEqual(await store.forDatabase(project, uniq('db')), []);
    });

    it('When asked what access a person had, then forGrantee returns that person\'s events across databases within time bounds, whatever the case of the address', async () => {
      const email = `${uniq('erin')}@example.com`;
      const [db1, db2] = [uniq('db'), uniq('db')];
      await store.append(record({ database: db1, email, at: '2026-06-01T00:00:00.000Z', event: 'GRANTED' }));
      await store.append(record({ database: db2, email, at: '2026-06-02T00:00:00.000Z', event: 'GRANTED' }));
      await store.append(record({ database: db1, email, at: '2026-06-03T00:00:00.000Z', event: 'REVOKED' }));
      await store.append(record({ database: db1, email: `x${email}`, at: '2026-06-02T00:00:00.000Z' }));

      const all = await store.forGrantee(email.toUpperCase());
      assert.deepEqual(
        all.map((e) => `${e.database} ${e.event}`),
        [`${db1} GRANTED`, `${db2} GRANTED`, `${db1} REVOKED`],
      );
      const bounded = await store.forGrantee(email, '2026-06-02T00:00:00.000Z', '2026-06-02T23:59:59.999Z');
      assert.deepEqual(
        bounded.map((e) => e.database),
        [db2],
      );
    });

    it('When an event time or bound is not a time, then the store refuses it', async () => {
      await assert.rejects(store.append(record({ at: 'yesterday' })), /ISO-8601/);
      await assert.rejects(store.forGrantee('a@example.com', 'soon'), /ISO-8601/);
    });
  });

  describe('source rules', () => {
    it('When the service code is searched, then nothing in it can update or delete an audit item', () => {
      // The one-time credential links live in their own table and are marked used by a
      // conditional update; that file must never name the audit table.
      const allowed = new Set([join(ROOT, 'src', 'adapters', 'aws', 'credential-links.ts')]);
      for (const path of allowed) assert.doesNotMatch(readFileSync(path, 'utf8'), /auditTable|AUDIT_TABLE|AuditStore/, `${path} touches the audit table`);
      const offenders: string[] = [];
      const walk = (dir: string): void => {
        for (const entry of readdirSync(dir)) {
          const path = join(dir, entry);
          if (statSync(path).isDirectory()) walk(path);
          else if (path.endsWith('.ts') && !allowed.has(path) && /\b(UpdateItem\w*|DeleteItem\w*|UpdateCommand|DeleteCommand|BatchWrite\w*|TransactWrite\w*)\b/.test(readFileSync(path, 'utf8'))) {
            offenders.push(path);
          }
        }
      };
      walk(join(ROOT, 'src'));
      assert.deepEqual(offenders, []);
    });
  });
});
