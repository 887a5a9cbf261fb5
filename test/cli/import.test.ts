import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoAuditStore } from '../../src/activities/aws';
import { importCommand } from '../../src/cli/import';
import { grantIdFor } from '../../src/domain';
import { accountExists, canLogin, randomName, randomPassword, rootPool, RUN_PREFIX } from '../support/mariadb';
import { getMoto } from '../support/moto';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';

// `dbaccess import` against the old scripts' table in the AWS emulator, filled the
// way the old tool wrote it, with live MariaDB accounts it created (by hand, with
// root, as its f-string SQL did), through the real API, worker and Temporal.

describe('dbaccess import: adopting the old scripts\' accesses', function () {
  this.timeout(180_000);
  let stack: TestStack;
  let dynamo: DynamoDBClient;
  const table = `${RUN_PREFIX}-user-management-audit`;
  const day = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString().slice(0, 10);
  const saved: Record<string, string | undefined> = {};

  /** An old account, created as the old tool did: `{user}_mysql`@'%', privileges on the unescaped schema. */
  async function oldAccount(username: string, privileges: string, schema: string): Promise<{ account: string; password: string }> {
    const account = `${username.replace(/\./g, '_')}_mysql`;
    const password = randomPassword();
    await rootPool().query('CREATE USER ?@? IDENTIFIED BY ? WITH MAX_USER_CONNECTIONS 5', [account, '%', password]);
    await rootPool().query(`GRANT ${privileges} ON \`${schema}\`.* TO ?@?`, [account, '%']);
    return { account, password };
  }

  async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (c) => (out += String(c)));
    stderr.on('data', (c) => (err += String(c)));
    const { endpoint, region } = await getMoto();
    const code = await importCommand(['--table', table, '--region', region, '--endpoint-url', endpoint, ...args], {
      stdout,
      stderr,
      env: { DBACCESS_URL: stack.url, DBACCESS_API_KEY: stack.keys.admin },
    });
    return { code, out, err };
  }

  const rows: { email: string; username: string; database: string; expiry: string; level: string }[] = [];
  let live: { account: string; password: string };
  let forever: { account: string; password: string };

  before(async () => {
    stack = await startTestStack();
    // The CLI uses the SDK's default credential chain; the emulator takes any.
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      saved[k] = process.env[k];
      process.env[k] ??= 'old-scripts-test';
    }
    const { endpoint, region } = await getMoto();
    dynamo = new DynamoDBClient({ region, endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    await dynamo.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [
          { AttributeName: 'newer_email', AttributeType: 'S' },
          { AttributeName: 'database_name', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'newer_email', KeyType: 'HASH' },
          { AttributeName: 'database_name', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const [main, other] = stack.components.schemas as [string, string];
    const u1 = `${RUN_PREFIX}.${randomName(4)}`;
    const u2 = `${RUN_PREFIX}.${randomName(4)}`;
    const u3 = `${RUN_PREFIX}.${randomName(4)}`;
    const u4 = `${RUN_PREFIX}.${randomName(4)}`;
    live = await oldAccount(u1, 'SELECT, INSERT, UPDATE, DELETE', main);
    forever = await oldAccount(u4, 'SELECT', other);
    rows.push(
      { email: `${u1}@example.com`, username: u1, database: 'main', expiry: day(10), level: 'READ_WRITE' },
      { email: `${u2}@example.com`, username: u2, database: 'main', expiry: day(10), level: 'READ' }, // no account on the server
      { email: `${u3}@example.com`, username: u3, database: 'legacy_db', expiry: day(10), level: 'READ' }, // not configured
      { email: `${u4}@example.com`, username: u4, database: 'other', expiry: 'NA', level: 'READ' }, // never expires
    );
    const doc = DynamoDBDocumentClient.from(dynamo);
    for (const r of rows) {
      await doc.send(
        new PutCommand({
          TableName: table,
          Item: {
            newer_email: r.email,
            database_name: r.database,
            database_expiry: r.expiry,
            newer_name: 'Old Timer',
            newer_username: r.username,
            project: stack.project,
            access_level: r.level,
            created_at: '2024-01-15 10:00:00',
          },
        }),
      );
    }
  });
  after(async () => {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    await dynamo?.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
    dynamo?.destroy();
    await stack?.stop();
  });

  const grantOf = (i: number) => grantIdFor(stack.project, rows[i]!.database, rows[i]!.email);
  const exists = (grantId: string) =>
    stack.client.workflow
      .getHandle(grantId)
      .describe()
      .then(
        () => true,
        () => false,
      );

  it('When run with --dry-run, then every row is reported (an unknown database refused, NA capped) and nothing is started', async () => {
    const { code, out } = await run(['--dry-run']);
    assert.equal(code, 3, out);
    assert.match(out, /4 row\(s\)/);
    assert.match(out, new RegExp(`WOULD ADOPT .*${live.account}`));
    assert.match(out, new RegExp(`REFUSED .*legacy_db.*unknown_database`));
    assert.match(out, new RegExp(`WOULD ADOPT .*${forever.account}.*never expired \\(NA\\)`));
    for (let i = 0; i < rows.length; i++) assert.equal(await exists(grantOf(i)), false, `dry run started ${grantOf(i)}`);
  });

  it('When run, then the live accounts are adopted untouched and audited ADOPTED, and a missing account and an unknown database are reported', async () => {
    const { code, out, err } = await run([]);
    assert.equal(code, 3, `${out}\n${err}`);
    assert.match(out, new RegExp(`ADOPTED .*${live.account}`));
    assert.match(out, new RegExp(`ADOPTED .*${forever.account}`));
    assert.match(out, new RegExp(`REFUSED .*${rows[1]!.email}.*does not exist`));
    assert.match(out, /REFUSED .*legacy_db/);

    const adopted = await stack.call('GET', stack.grantPath(grantOf(0)));
    assert.equal(adopted.body.status, 'ACTIVE');
    assert.equal(adopted.body.account, live.account);
    assert.equal(adopted.body.secretName, undefined, 'no secret: the old password was never stored');
    assert.equal(adopted.body.expiresAt, `${rows[0]!.expiry}T23:59:59.000Z`);
    assert.ok(await canLogin(live.account, live.password, stack.components.schemas[0]), 'the same password still logs in');

    const na = await stack.call('GET', stack.grantPath(grantOf(3)));
    assert.equal(na.body.status, 'ACTIVE');
    assert.ok(Date.parse(na.body.expiresAt) - Date.now() <= 2 * 86_400_000 + 60_000, 'NA: the database maximum (2d) from now');

    const missing = await stack.call('GET', stack.grantPath(grantOf(1)));
    assert.equal(missing.body.status, 'FAILED');

    const trail = new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable);
    const events = (await trail.forGrant(grantOf(0))).map((e) => e.event);
    assert.deepEqual(events, ['REQUESTED', 'ADOPTED']);
    const adoptedEvent = (await trail.forGrant(grantOf(0))).find((e) => e.event === 'ADOPTED')!;
    assert.match(adoptedEvent.detail!, /old record: .*database_expiry=/);
    assert.ok(!adoptedEvent.detail!.includes('created_at'), 'only the known attributes are recorded');
    assert.deepEqual(
      (await trail.forGrant(grantOf(1))).map((e) => e.event),
      ['REQUESTED', 'ADOPTION_REFUSED'],
    );

    // The grantee is told, with the owner in copy.
    const mail = await stack.components.smtp.waitFor((m) => m.to.includes(rows[0]!.email) && /now managed by dbaccess/.test(m.subject));
    assert.ok(mail.cc.includes(stack.components.owner.email));

    // Run again: nothing is adopted twice.
    const again = await run([]);
    assert.match(again.out, new RegExp(`EXISTS .*${live.account}`));
  });

  it('When an adopted grant is revoked, then its account is dropped like any other', async () => {
    const revoked = await stack.call('POST', stack.grantPath(grantOf(0), '/revoke'), { reason: 'migrated' });
    assert.equal(revoked.status, 202);
    await until('the account is dropped', async () => !(await accountExists(live.account, '%')), 30_000);
    await until('REVOKED', async () => (await stack.call('GET', stack.grantPath(grantOf(0)))).body.status === 'REVOKED', 30_000);
  });
});
