import { strict as assert } from 'node:assert';

import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { RowDataPacket } from 'mysql2/promise';

import { grantIdFor, isSafeText } from '../../src/domain';
import { deriveAccountName } from '../../src/domain/naming';
import { isOtherRunAccount, rootPool, RUN_PREFIX, schemaGrants } from '../support/mariadb';
import { startTestStack, type TestStack } from '../support/stack';

// Hostile requests, table-driven, through the real HTTP API (real worker,
// Temporal, MariaDB, moto). Each refused case must get a 4xx whose message names
// the field; afterwards MariaDB holds no new account, no new grant secret exists
// and no audit event was written. Cases accepted by design (an apostrophe in a
// name, SQL-looking text in a reason, `%` in an e-mail's local part) are in a
// separate table: they must create exactly the expected account and grant.

const DAY = 24 * 60 * 60 * 1000;
const dateIn = (days: number) => new Date(Date.now() + days * DAY).toISOString().slice(0, 10);

interface Case {
  label: string;
  method: 'GET' | 'POST' | 'PATCH';
  /** Path, or a function of the open grant's path. */
  path: string | ((active: string) => string);
  /** A body object, a raw string (sent as is), or a function of the valid body. */
  body?: unknown;
  /** The field the message must name first (`field: ...`), or a pattern for the whole message. */
  field: string | RegExp;
}

describe('Hostile requests through the HTTP API', function () {
  this.timeout(120_000);

  let stack: TestStack;
  let active: string;
  let activeEmail: string;

  const valid = (): Record<string, unknown> => ({
    email: stack.newEmail(),
    name: 'Ada Lovelace',
    project: stack.project,
    database: stack.databases.main,
    accessLevel: 'READ',
    expiresAt: dateIn(3),
    reason: 'ticket OPS-1',
  });
  const post = (label: string, overrides: Record<string, unknown>, field: string | RegExp, drop: string[] = []): Case => ({
    label,
    method: 'POST',
    path: '/grants',
    body: () => {
      const b = { ...valid(), ...overrides };
      for (const k of drop) delete b[k];
      return b;
    },
    field,
  });
  const local = (text: string) => `${text}@example.com`;

  // --- POST /grants, field by field ---------------------------------------------
  const grantCases: Case[] = [
    // email
    post('email with a quote', { email: local("o'brien") }, 'email'),
    post('email with a backtick', { email: local('a`b') }, 'email'),
    post('email with a semicolon', { email: local('a;b') }, 'email'),
    post('email with a comment', { email: local('a/*x*/') }, 'email'),
    post('email with a hash comment', { email: local('a#b') }, 'email'),
    post('email with two @', { email: 'a@b@example.com' }, 'email'),
    post('email with NUL', { email: local('a\u0000b') }, 'email'),
    post('email with a control character', { email: local('a\u001bb') }, 'email'),
    post('email with U+202E', { email: local('a\u202eb') }, 'email'),
    post('email with a zero-width space', { email: local('a\u200bb') }, 'email'),
    post('email with a backslash', { email: local('a\\b') }, 'email'),
    post('email with spaces', { email: ' john@example.com ' }, 'email'),
    post('email, Cyrillic е in example.com', { email: 'john@\u0435xample.com' }, 'email'),
    post('email, punycode look-alike domain', { email: 'john@xn--xample-2of.com' }, 'email'),
    post('email, look-alike sub-domain', { email: 'john@example.com.evil.test' }, 'email'),
    post('email, sub-domain of an allowed one', { email: 'john@mail.example.com' }, 'email'),
    post('email, Kelvin sign in the local part', { email: local('\u212aarl') }, 'email'),
    post('email of 300 characters', { email: local('a'.repeat(288)) }, 'email'),
    post('email with a 65-character local part', { email: local('a'.repeat(65)) }, 'email'),
    post('email as a number', { email: 42 }, 'email'),
    post('email as an array', { email: ['a@example.com'] }, 'email'),
    post('email as an object', { email: { $ne: '' } }, 'email'),
    post('email as null', { email: null }, 'email'),
    post('email missing', {}, 'email', ['email']),
    // name
    post('name with a statement', { name: "Robert'); DROP TABLE students;--" }, 'name'),
    post('name with a backtick', { name: 'Ro`bert' }, 'name'),
    post('name with a comment', { name: 'Ro /* x */ bert' }, 'name'),
    post('name with @', { name: 'ada@example.com' }, 'name'),
    post('name with %', { name: '100% Ada' }, 'name'),
    post('name with NUL', { name: 'Ada\u0000' }, 'name'),
    post('name with a newline (header injection)', { name: 'Ada\r\nBcc: x@evil.test' }, 'name'),
    post('name with U+202E', { name: '\u202eecalevoL adA' }, 'name'),
    post('name with an isolate (U+2066)', { name: 'Ada \u2066x\u2069' }, 'name'),
    post('name of spaces only', { name: '   ' }, 'name'),
    post('name empty', { name: '' }, 'name'),
    post('name of 101 characters', { name: 'A'.repeat(101) }, 'name'),
    post('name as a number', { name: 7 }, 'name'),
    post('name as an object', { name: { first: 'Ada' } }, 'name'),
    // project
    post('project with a quote', { project: "demo'" }, 'project'),
    post('project with %', { project: 'p%' }, 'project'),
    post('project with a path', { project: '../etc' }, 'project'),
    post('project __proto__', { project: '__proto__' }, 'project'),
    post('project constructor', { project: 'constructor' }, 'project'),
    post('project upper case', { project: 'DEMO' }, 'project'),
    post('project as an array', { project: ['demo'] }, 'project'),
    // database
    post('database with %', { database: 'ma%' }, 'database'),
    post('database with _ where a letter is (no wildcard match)', { database: 'ma_n' }, 'database'),
    post('database with a backtick', { database: 'main`' }, 'database'),
    post('database with a semicolon', { database: 'main;DROP' }, 'database'),
    post('database hasOwnProperty', { database: 'hasOwnProperty' }, 'database'),
    post('database of 65 characters', { database: 'd'.repeat(65) }, 'database'),
    post('database as null', { database: null }, 'database'),
    // accessLevel
    post('accessLevel SUPER', { accessLevel: 'SUPER' }, 'accessLevel'),
    post('accessLevel ALL PRIVILEGES', { accessLevel: 'ALL PRIVILEGES' }, 'accessLevel'),
    post('accessLevel with a quote', { accessLevel: "READ' OR '1'='1" }, 'accessLevel'),
    post('accessLevel with a statement', { accessLevel: 'READ; GRANT ALL' }, 'accessLevel'),
    post('accessLevel lower case', { accessLevel: 'read' }, 'accessLevel'),
    post('accessLevel toString', { accessLevel: 'toString' }, 'accessLevel'),
    post('accessLevel __proto__', { accessLevel: '__proto__' }, 'accessLevel'),
    post('accessLevel as an array', { accessLevel: ['READ', 'ADMIN'] }, 'accessLevel'),
    // expiresAt
    post('expiresAt 2026-02-30', { expiresAt: '2026-02-30' }, 'expiresAt'),
    post('expiresAt month 13', { expiresAt: '2026-13-01' }, 'expiresAt'),
    post('expiresAt far in the past', { expiresAt: '1970-01-01' }, 'expiresAt'),
    post('expiresAt yesterday', { expiresAt: dateIn(-1) }, 'expiresAt'),
    post('expiresAt far in the future', { expiresAt: '9999-12-31' }, 'expiresAt'),
    post('expiresAt beyond JavaScript dates', { expiresAt: '+275760-09-14' }, 'expiresAt'),
    post('expiresAt without a time zone', { expiresAt: `${dateIn(2)}T09:00:00` }, 'expiresAt'),
    post('expiresAt with SQL', { expiresAt: "2026-12-31'; --" }, 'expiresAt'),
    post('expiresAt with NUL', { expiresAt: `${dateIn(2)}\u0000` }, 'expiresAt'),
    post('expiresAt as a number', { expiresAt: Date.now() + DAY }, 'expiresAt'),
    post('expiresAt too long', { expiresAt: `${dateIn(2)}${' '.repeat(40)}` }, 'expiresAt'),
    // reason
    post('reason with NUL', { reason: 'ok\u0000' }, 'reason'),
    post('reason with U+202E', { reason: 'ok \u202e' }, 'reason'),
    post('reason with a line separator', { reason: 'ok\u2028Bcc: x' }, 'reason'),
    post('reason of 501 characters', { reason: 'r'.repeat(501) }, 'reason'),
    post('reason as a number', { reason: 1 }, 'reason'),
    post('reason as null', { reason: null }, 'reason'),
    // the body itself
    post('extra field', { admin: true }, 'admin'),
    post('extra field privileges', { privileges: ['SUPER'] }, 'privileges'),
    post('extra field hostPattern', { hostPattern: '%' }, 'hostPattern'),
    post('extra field schema', { schema: 'mysql' }, 'schema'),
    { label: 'body with __proto__', method: 'POST', path: '/grants', body: '{"__proto__":{"admin":true},"email":"a@example.com"}', field: 'body' },
    { label: 'body with constructor.prototype', method: 'POST', path: '/grants', body: '{"constructor":{"prototype":{"x":1}}}', field: 'body' },
    { label: 'body as an array', method: 'POST', path: '/grants', body: [], field: 'body' },
    { label: 'body as a string', method: 'POST', path: '/grants', body: '"grant me"', field: 'body' },
    { label: 'body as null', method: 'POST', path: '/grants', body: 'null', field: 'body' },
    { label: 'body not JSON', method: 'POST', path: '/grants', body: '{"email": ', field: 'body' },
    { label: 'body over 16 KiB', method: 'POST', path: '/grants', body: () => ({ ...valid(), reason: 'r'.repeat(20_000) }), field: 'body' },
  ];

  // --- the other routes -------------------------------------------------------
  const onActive = (suffix: string) => (path: string) => `${path}${suffix}`;
  const otherCases: Case[] = [
    { label: 'extend to 2026-02-30', method: 'POST', path: onActive('/extend'), body: { expiresAt: '2026-02-30' }, field: 'expiresAt' },
    { label: 'extend far in the future', method: 'POST', path: onActive('/extend'), body: { expiresAt: '9999-12-31' }, field: 'expiresAt' },
    { label: 'extend into the past', method: 'POST', path: onActive('/extend'), body: { expiresAt: '1970-01-01' }, field: 'expiresAt' },
    { label: 'extend with SQL', method: 'POST', path: onActive('/extend'), body: { expiresAt: "2027-01-01' OR 1=1" }, field: 'expiresAt' },
    { label: 'extend as a number', method: 'POST', path: onActive('/extend'), body: { expiresAt: 1 }, field: 'expiresAt' },
    { label: 'extend missing expiresAt', method: 'POST', path: onActive('/extend'), body: { reason: 'x' }, field: 'expiresAt' },
    { label: 'extend with a bidi reason', method: 'POST', path: onActive('/extend'), body: { expiresAt: dateIn(4), reason: '\u202ex' }, field: 'reason' },
    { label: 'extend with an extra field', method: 'POST', path: onActive('/extend'), body: { expiresAt: dateIn(4), accessLevel: 'ADMIN' }, field: 'accessLevel' },
    { label: 'revoke with a NUL reason', method: 'POST', path: onActive('/revoke'), body: { reason: 'bye\u0000' }, field: 'reason' },
    { label: 'revoke with an object reason', method: 'POST', path: onActive('/revoke'), body: { reason: { $gt: '' } }, field: 'reason' },
    { label: 'revoke with an extra field', method: 'POST', path: onActive('/revoke'), body: { reason: 'x', actor: 'root' }, field: 'actor' },
    { label: 'revoke with an array body', method: 'POST', path: onActive('/revoke'), body: ['x'], field: /^body: must be an object or null$/ },
    { label: 'change level to SUPER', method: 'PATCH', path: onActive(''), body: { accessLevel: 'SUPER' }, field: 'accessLevel' },
    { label: 'change level with a quote', method: 'PATCH', path: onActive(''), body: { accessLevel: "ADMIN'" }, field: 'accessLevel' },
    { label: 'change level to constructor', method: 'PATCH', path: onActive(''), body: { accessLevel: 'constructor' }, field: 'accessLevel' },
    { label: 'change level as a number', method: 'PATCH', path: onActive(''), body: { accessLevel: 3 }, field: 'accessLevel' },
    { label: 'change level with privileges', method: 'PATCH', path: onActive(''), body: { accessLevel: 'READ', privileges: ['SUPER'] }, field: 'privileges' },
    { label: 'change level with a control-character reason', method: 'PATCH', path: onActive(''), body: { accessLevel: 'ADMIN', reason: 'a\u0007' }, field: 'reason' },
  ];

  // --- grant ids in the path --------------------------------------------------
  const hostileIds = [
    'grant/x',
    "grant/p/main/o'brien@example.com",
    'grant/p/main/a`b@example.com',
    'grant/p/main/a;DROP USER root@example.com',
    'grant/p/main/a\u0000b@example.com',
    'grant/p/main/a\u202eb@example.com',
    'grant/p/main/%@example.com',
    'grant/../../etc/passwd',
    `grant/p/main/${'a'.repeat(600)}@example.com`,
  ];
  const idCases: Case[] = hostileIds.flatMap((id): Case[] => {
    const path = `/grants/${encodeURIComponent(id)}`;
    const label = JSON.stringify(id.length > 40 ? `${id.slice(0, 37)}...` : id);
    // Printable ASCII ids are looked up (and not found); anything else is refused before Temporal sees it.
    const field = id.length > 512 ? /^url: / : /^[!-~]+$/.test(id) ? /^no grant / : 'grantId';
    return [
      { label: `GET ${label}`, method: 'GET', path, field },
      { label: `extend ${label}`, method: 'POST', path: `${path}/extend`, body: { expiresAt: dateIn(4) }, field },
      { label: `revoke ${label}`, method: 'POST', path: `${path}/revoke`, body: { reason: 'x' }, field },
      { label: `PATCH ${label}`, method: 'PATCH', path, body: { accessLevel: 'READ' }, field },
    ];
  });

  // --- GET /grants query strings ------------------------------------------------
  const q = (query: string, field: string): Case => ({ label: `GET /grants?${query}`, method: 'GET', path: `/grants?${query}`, field });
  const listCases: Case[] = [
    q(`email=${encodeURIComponent("x' OR WorkflowType != '")}@example.com`, 'email'),
    q(`email=${encodeURIComponent('a@\u0435xample.com')}`, 'email'),
    q(`project=${encodeURIComponent("demo' OR '1'='1")}`, 'project'),
    q(`database=${encodeURIComponent('main%')}`, 'database'),
    q(`database=${encodeURIComponent('main\u0000')}`, 'database'),
    q(`status=${encodeURIComponent("ACTIVE' OR 'a'='a")}`, 'status'),
    q('status=active', 'status'),
    q('limit=0', 'limit'),
    q('limit=-1', 'limit'),
    q('limit=1e3', 'limit'),
    q('limit=99999', 'limit'),
    q('email=a@example.com&email=b@example.com', 'email'),
    q('orderBy=StartTime', 'orderBy'),
    q(`project=${'p'.repeat(64)}`, 'project'),
  ];

  // --- the traces a request could leave ---------------------------------------
  /** Accounts of the whole server, minus those of other concurrent test runs (their own random prefixes). */
  async function accounts(): Promise<Set<string>> {
    const [rows] = await rootPool().query<RowDataPacket[]>('SELECT User AS user, Host AS host FROM mysql.user');
    return new Set(rows.filter((r) => !isOtherRunAccount(String(r.user))).map((r) => `${String(r.user)}@${String(r.host)}`));
  }
  /** Grant secrets under this stack's secret prefix, where the worker writes them. */
  async function secrets(): Promise<Set<string>> {
    const prefix = `${stack.config.secretPrefix}/`;
    const names = new Set<string>();
    let next: string | undefined;
    do {
      const page = await stack.components.aws.secrets.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }], NextToken: next }));
      for (const s of page.SecretList ?? []) if (s.Name?.startsWith(prefix) && !s.DeletedDate) names.add(s.Name);
      next = page.NextToken;
    } while (next);
    return names;
  }
  async function auditCount(): Promise<number> {
    let n = 0;
    let start: Record<string, any> | undefined;
    do {
      const page = await stack.components.aws.dynamo.send(new ScanCommand({ TableName: stack.components.auditTable, Select: 'COUNT', ExclusiveStartKey: start }));
      n += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
    return n;
  }
  async function workflowExists(grantId: string): Promise<boolean> {
    try {
      await stack.env.client.workflow.getHandle(grantId).describe();
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      // An id Temporal itself refuses cannot name a workflow either.
      return false;
    }
  }

  const diff = (before: Set<string>, after: Set<string>) => [...after].filter((x) => !before.has(x));

  before(async () => {
    stack = await startTestStack();
    activeEmail = stack.newEmail();
    const res = await stack.call('POST', '/grants', { ...valid(), email: activeEmail });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    active = stack.grantPath(res.body.grantId);
  });
  after(async () => stack?.stop());

  it("When the stack's worker started, then its admin account passed the start-up privilege check without a warning", () => {
    const lines = stack.logLines.filter((l) => /admin account/.test(l));
    assert.deepEqual(lines.filter((l) => !/"level":"info"/.test(l)), []);
    assert.ok(
      lines.some((l) => /holds exactly what dbaccess needs/.test(l) && l.includes(JSON.stringify(stack.components.adminSecretId))),
      `the check ran for ${stack.components.adminSecretId}: ${lines.join('')}`,
    );
  });

  describe('refused: each answers a 4xx naming the field, and leaves nothing behind', () => {
    let before: { accounts: Set<string>; secrets: Set<string>; audit: number };
    const started: string[] = [];

    it('(snapshot of accounts, secrets and audit items)', async () => {
      before = { accounts: await accounts(), secrets: await secrets(), audit: await auditCount() };
      assert.ok(before.audit > 0, 'the open grant was audited (the count can see items)');
    });

    for (const c of [...grantCases, ...otherCases, ...idCases, ...listCases]) {
      it(`${c.method} ${c.label}`, async () => {
        let body = typeof c.body === 'function' ? (c.body as () => unknown)() : c.body;
        const path = typeof c.path === 'function' ? c.path(active) : c.path;
        const res = await stack.call(c.method, path, body);
        assert.ok(res.status >= 400 && res.status < 500, `expected a 4xx, got ${res.status} ${JSON.stringify(res.body)}`);
        assert.equal(typeof res.body?.message, 'string', JSON.stringify(res.body));
        const message: string = res.body.message;
        if (typeof c.field === 'string') assert.ok(message.startsWith(`${c.field}: `), `message "${message}" should name ${c.field}`);
        else assert.match(message, c.field);
        assert.doesNotMatch(message, /\n/);
        // Nothing hostile is reflected: no control, bidi or invisible character comes back in a message.
        assert.ok(isSafeText(message), `unsafe text reflected in ${JSON.stringify(message)}`);
        if (process.env.HOSTILE_DUMP) console.log(`${res.status} ${c.label} -> ${message.slice(0, 110)}`);
        // A grant request that was refused started no workflow under the id it would have had.
        if (path === '/grants' && body && typeof body === 'object' && !Array.isArray(body)) {
          const b = body as Record<string, unknown>;
          if (typeof b.email === 'string' && typeof b.project === 'string' && typeof b.database === 'string') {
            const id = grantIdFor(b.project, b.database, b.email);
            started.push(id);
            assert.equal(await workflowExists(id), false, `workflow ${JSON.stringify(id)} exists`);
          }
        }
        body = undefined;
      });
    }

    it('afterwards: no new account, no new secret, no new audit event, and the open grant is untouched', async () => {
      assert.deepEqual(diff(before.accounts, await accounts()), [], 'new accounts on the server');
      assert.deepEqual(diff(before.secrets, await secrets()), [], 'new grant secrets');
      assert.equal(await auditCount(), before.audit, 'new audit items');
      const state = await stack.call('GET', active);
      assert.equal(state.status, 200);
      assert.equal(state.body.status, 'ACTIVE');
      assert.equal(state.body.accessLevel, 'READ');
      assert.ok(started.length > 20, 'the per-request workflow check ran');
    });
  });

  describe('accepted by design, and safe', () => {
    const accepted: { label: string; overrides: Record<string, unknown> }[] = [
      { label: "an apostrophe in the name (O'Brien)", overrides: { name: "Siobhán O'Brien-Ní Dhuibhir (SOB), Jr." } },
      { label: 'SQL-looking text in the reason', overrides: { reason: "it's `fine`; -- /* really */ 100% _ @ \\ DROP USER root" } },
      { label: '% and _ in the e-mail local part', overrides: { email: () => `${RUN_PREFIX}%x_y@example.com` } },
      { label: 'an upper-case e-mail', overrides: { email: () => `${RUN_PREFIX}.UPPER@EXAMPLE.COM` } },
      { label: 'a timestamp with an offset', overrides: { expiresAt: () => `${dateIn(2)}T18:00:00+01:00` } },
    ];
    for (const a of accepted) {
      it(`When the request has ${a.label}, then the grant is created with exactly the derived account and the level's grant`, async () => {
        const body = valid();
        for (const [k, v] of Object.entries(a.overrides)) body[k] = typeof v === 'function' ? (v as () => unknown)() : v;
        const res = await stack.call('POST', '/grants', body);
        assert.equal(res.status, 201, JSON.stringify(res.body));
        const email = String(body.email).toLowerCase();
        const account = deriveAccountName(email, stack.project, stack.databases.main);
        assert.equal(res.body.account, account);
        assert.match(account, /^[a-z0-9_]{1,32}$/);
        assert.equal(res.body.email, email);
        assert.equal(res.body.grantId, grantIdFor(stack.project, stack.databases.main, email));
        const [rows] = await rootPool().query<RowDataPacket[]>('SELECT Host AS host FROM mysql.user WHERE User = ?', [account]);
        assert.deepEqual(rows.map((r) => r.host), ['%']);
        const schema = stack.components.schemas[0]!;
        const grants = await schemaGrants(account, '%', schema);
        assert.deepEqual(grants, [`GRANT SELECT ON \`${schema.replace(/_/g, '\\_')}\`.* TO \`${account}\`@\`%\``]);
        if (body.name !== undefined) assert.equal(res.body.name, String(body.name));
        const revoked = await stack.call('POST', stack.grantPath(res.body.grantId, '/revoke'), { reason: 'test done' });
        assert.equal(revoked.status, 202);
      });
    }
  });
});
