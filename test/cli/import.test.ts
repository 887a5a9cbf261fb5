import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import { DynamoAuditStore } from '../../src/adapters/aws';
import { buildApp } from '../../src/api/app';
import { parseApiKeys } from '../../src/api/plugins/auth';
import { granteeHasher } from '../../src/adapters/temporal/codec/keys';
import { SA } from '../../src/contract/search-attributes';
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
  let standingOld: { account: string; password: string };

  before(async () => {
    stack = await startTestStack({ standing: { review: '30d' } });
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
    const u5 = `${RUN_PREFIX}.${randomName(4)}`;
    live = await oldAccount(u1, 'SELECT, INSERT, UPDATE, DELETE', main);
    forever = await oldAccount(u4, 'SELECT', other);
    standingOld = await oldAccount(u5, 'SELECT', main);
    rows.push(
      { email: `${u1}@example.com`, username: u1, database: 'main', expiry: day(10), level: 'READ_WRITE' },
      { email: `${u2}@example.com`, username: u2, database: 'main', expiry: day(10), level: 'READ' }, // no account on the server
      { email: `${u3}@example.com`, username: u3, database: 'legacy_db', expiry: day(10), level: 'READ' }, // not configured
      { email: `${u4}@example.com`, username: u4, database: 'other', expiry: 'NA', level: 'READ' }, // never expires
      { email: `${u5}@example.com`, username: u5, database: 'standing', expiry: 'NA', level: 'READ' }, // never expires, where standing grants are allowed
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

  it('When run with --dry-run, then every row is reported (an unknown database refused, NA capped, or standing where allowed) and nothing is started', async () => {
    const { code, out } = await run(['--dry-run']);
    assert.equal(code, 3, out);
    assert.match(out, /5 row\(s\)/);
    assert.match(out, new RegExp(`WOULD ADOPT .*${live.account}`));
    assert.match(out, new RegExp(`REFUSED .*legacy_db.*unknown_database`));
    assert.match(out, new RegExp(`WOULD ADOPT .*${forever.account}.*never expired \\(NA\\)`));
    assert.match(out, new RegExp(`WOULD ADOPT .*${standingOld.account}.*never expired \\(NA\\): it is now a standing grant, reviewed every 30d`));
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

    // NA where the database allows standing grants: a standing grant, reviewed every 30 days.
    const standing = await stack.call('GET', stack.grantPath(grantOf(4)));
    assert.equal(standing.body.status, 'ACTIVE', JSON.stringify(standing.body));
    assert.equal(standing.body.account, standingOld.account);
    assert.equal(standing.body.standing?.reviewEveryMs, 30 * 86_400_000);
    assert.equal(standing.body.standing?.reviewBy, standing.body.expiresAt);
    assert.ok(Math.abs(Date.parse(standing.body.expiresAt) - (Date.now() + 30 * 86_400_000)) < 5 * 60_000, 'NA: the first review 30 days from now');

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

  describe('what is refused', () => {
    type Result = { row: number; status: string; error?: string; message?: string; grantId?: string };
    const adopt = async (rows: Record<string, unknown>[]): Promise<Result[]> => {
      const res = await stack.call('POST', '/grants/adopt', { rows });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return (res.body as { results: Result[] }).results;
    };
    /** An old account with SELECT on the main schema (the READ level), and a row adopting it. */
    async function readAccount(): Promise<{ account: string; row: Record<string, unknown>; email: string }> {
      const username = `${RUN_PREFIX}.${randomName(4)}`;
      const { account } = await oldAccount(username, 'SELECT', stack.components.schemas[0]!);
      const email = `${username}@example.com`;
      return { account, email, row: { email, name: 'Old Timer', project: stack.project, database: 'main', accessLevel: 'READ', account, expiresAt: day(10) } };
    }

    it('When an account holds anything besides the level on its schema (global, other schema, table, column, routine, role, proxy), then it is refused, named, audited and left untouched', async () => {
      const pool = rootPool();
      const other = stack.components.schemas[1]!;
      const procedure = `${RUN_PREFIX}_p_${randomName(4)}`;
      const role = `${RUN_PREFIX}_role_${randomName(4)}`;
      const proxied = `${RUN_PREFIX}_px_${randomName(4)}`;
      await pool.query(`CREATE PROCEDURE \`${other}\`.\`${procedure}\`() SELECT 1`);
      await pool.query(`CREATE ROLE \`${role}\``);
      const cases: { grant: (account: string) => string; expect: RegExp }[] = [
        { grant: (a) => `GRANT PROCESS ON *.* TO '${a}'@'%'`, expect: /global privileges PROCESS/ },
        { grant: (a) => `GRANT SELECT, INSERT ON \`${other}\`.* TO '${a}'@'%'`, expect: new RegExp(`privileges on other schemas ${other}: INSERT, SELECT`) },
        { grant: (a) => `GRANT SELECT ON \`${other}\`.t TO '${a}'@'%'`, expect: new RegExp(`table privileges ${other}\\.t: SELECT`) },
        { grant: (a) => `GRANT UPDATE (v) ON \`${other}\`.t TO '${a}'@'%'`, expect: new RegExp(`column privileges ${other}\\.t\\.v: UPDATE`) },
        { grant: (a) => `GRANT EXECUTE ON PROCEDURE \`${other}\`.\`${procedure}\` TO '${a}'@'%'`, expect: new RegExp(`routine privileges procedure ${other}\\.${procedure}: EXECUTE`) },
        { grant: (a) => `GRANT \`${role}\` TO '${a}'@'%'`, expect: new RegExp(`roles ${role}`) },
        // root here (root@127.0.0.1) holds no PROXY grant option: the row GRANT PROXY would write.
        {
          grant: (a) => `INSERT INTO mysql.proxies_priv (Host, User, Proxied_host, Proxied_user, With_grant, Grantor) VALUES ('%', '${a}', '%', '${proxied}', 0, 'root@localhost')`,
          expect: new RegExp(`proxy grants for ${proxied}@%`),
        },
      ];
      try {
        const accounts = [];
        for (const c of cases) {
          const a = await readAccount();
          await pool.query(c.grant(a.account));
          accounts.push(a);
        }
        await pool.query('FLUSH PRIVILEGES');
        const results = await adopt(accounts.map((a) => a.row));
        const trail = new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable);
        for (const [i, c] of cases.entries()) {
          const result = results[i]!;
          assert.equal(result.status, 'REFUSED', JSON.stringify(result));
          assert.match(result.message ?? '', c.expect, JSON.stringify(result));
          assert.match(result.message ?? '', /nothing else is adopted/);
          const events = (await trail.forGrant(result.grantId!)).map((e) => e.event);
          assert.deepEqual(events, ['REQUESTED', 'ADOPTION_REFUSED'], result.grantId);
          assert.ok(await accountExists(accounts[i]!.account, '%'), `${accounts[i]!.account} is untouched`);
        }
      } finally {
        await pool.query(`DROP PROCEDURE IF EXISTS \`${other}\`.\`${procedure}\``);
        await pool.query(`DROP ROLE IF EXISTS \`${role}\``);
        await pool.query('DELETE FROM mysql.proxies_priv WHERE Proxied_user = ?', [proxied]);
        await pool.query('FLUSH PRIVILEGES');
      }
    });

    it('When an account is adopted by a running grant, named twice in one request, or retained by an ended grant, then another adoption of it is refused before anything starts', async () => {
      const first = await readAccount();
      const [adopted] = await adopt([first.row]);
      assert.equal(adopted!.status, 'ADOPTED', JSON.stringify(adopted));

      // Another grantee's row for the same account: refused, nothing started.
      const second = { ...first.row, email: `${RUN_PREFIX}.${randomName(5)}@example.com` };
      const [taken] = await adopt([second]);
      assert.equal(taken!.status, 'REFUSED', JSON.stringify(taken));
      assert.equal(taken!.error, 'account_taken');
      assert.ok(taken!.message!.includes(adopted!.grantId!), taken!.message);
      assert.equal(await exists(taken!.grantId!), false, 'no workflow was started');
      // The same row again is still EXISTS (its own grant), not refused.
      assert.equal((await adopt([first.row]))[0]!.status, 'EXISTS');

      // Two rows of one request naming one account: the first is adopted, the second refused.
      const shared = await readAccount();
      const twice = await adopt([shared.row, { ...shared.row, email: `${RUN_PREFIX}.${randomName(5)}@example.com` }]);
      assert.equal(twice[0]!.status, 'ADOPTED', JSON.stringify(twice));
      assert.equal(twice[1]!.status, 'REFUSED', JSON.stringify(twice));
      assert.match(twice[1]!.message!, /also adopted by row 0/);

      // An account whose grant ended with it retained (the server refused the drop).
      const kept = await readAccount();
      const endedGrant = grantIdFor(stack.project, 'main', `${RUN_PREFIX}.${randomName(5)}@example.com`);
      await stack.components.deps.audit.append({
        grantId: endedGrant, eventId: `retained-test:${kept.account}`, at: new Date().toISOString(), event: 'ACCOUNT_RETAINED', actor: 'test', email: 'x@example.com',
        project: stack.project, database: 'main', accessLevel: 'READ', expiresAt: new Date().toISOString(), account: kept.account, workflowId: endedGrant, runId: 'ended-run',
      });
      const [retained] = await adopt([kept.row]);
      assert.equal(retained!.status, 'REFUSED', JSON.stringify(retained));
      assert.match(retained!.message!, new RegExp(`${endedGrant.replace(/[.]/g, '\\.')} ended with it retained`));
      // A dry run says so too.
      const dry = await stack.call('POST', '/grants/adopt', { dryRun: true, rows: [kept.row] });
      assert.equal(dry.body.results[0].status, 'REFUSED');
    });

    it('When GRANTEE_SEARCH_HASH_KEY is set, then an adopted grant\'s DbAccessGrantee holds the keyed hash, not the e-mail, and the grant is found by its e-mail', async () => {
      const hash = granteeHasher(randomBytes(32).toString('hex'));
      const key = randomBytes(24).toString('hex');
      const app = await buildApp({
        client: stack.client,
        config: stack.config,
        apiKeys: parseApiKeys(`test-admin:${key}`),
        taskQueue: stack.taskQueue,
        grantWaitMs: 15_000,
        granteeSearchValue: hash,
      });
      try {
        const a = await readAccount();
        const res = await app.inject({ method: 'POST', url: '/grants/adopt', headers: { authorization: `Bearer ${key}` }, payload: { rows: [a.row] } });
        const result = res.json().results[0];
        assert.equal(result.status, 'ADOPTED', res.body);
        const sa = (await stack.client.workflow.getHandle(result.grantId).describe()).typedSearchAttributes.get(SA.grantee);
        assert.equal(sa, hash(a.email));
        assert.notEqual(sa, a.email);
        await until('the grant is listed by its e-mail', async () => {
          const list = await app.inject({ method: 'GET', url: `/grants?email=${encodeURIComponent(a.email)}`, headers: { authorization: `Bearer ${key}` } });
          return list.json().grants.some((g: { grantId: string }) => g.grantId === result.grantId);
        }, 20_000);
      } finally {
        await app.close();
      }
    });
  });

  it('When an adopted grant is revoked, then its account is dropped like any other', async () => {
    const revoked = await stack.call('POST', stack.grantPath(grantOf(0), '/revoke'), { reason: 'migrated' });
    assert.equal(revoked.status, 202);
    await until('the account is dropped', async () => !(await accountExists(live.account, '%')), 30_000);
    await until('REVOKED', async () => (await stack.call('GET', stack.grantPath(grantOf(0)))).body.status === 'REVOKED', 30_000);
  });
});
