import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { DevStackRunner, listening, type DevStack } from '../support/dev-stack';
import { onTestRunEnd } from '../support/hooks';
import { accountExists, canLogin, RUN_PREFIX, rootPool } from '../support/mariadb';
import { freePort } from '../support/ports';
import { until } from '../support/wait';

// `npm run dev` as a user runs it: one command brings up the whole stack on
// its ports, a grant works through it, Ctrl-C stops everything, and a restart
// on the same state keeps the grant. Runs on free ports, in a state folder and
// with schema names of its own, so it never touches a developer's running stack.
// The first stack is told of no PostgreSQL server; the second one finds the machine's.

const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

describe('npm run dev', function () {
  this.timeout(240_000);
  const dev = new DevStackRunner();
  const ports = dev.ports;
  const savedPostgresUrl = process.env.DEV_POSTGRES_URL;

  before(async () => {
    rootPool(); // registers the end-of-run cleanup of this run's schemas and accounts
    await dev.allocatePorts();
    // A port nobody listens on: the stack must start without PostgreSQL and say so.
    process.env.DEV_POSTGRES_URL = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
  });

  after(async () => {
    if (savedPostgresUrl === undefined) delete process.env.DEV_POSTGRES_URL;
    else process.env.DEV_POSTGRES_URL = savedPostgresUrl;
    await dev.dispose();
  });

  const startDev = () => dev.start();
  const stopDev = () => dev.stop();
  const call = (stack: DevStack, method: string, path: string, body?: unknown, keyFile?: string) => dev.call(stack, method, path, body, keyFile);

  it('When it is started, then every service answers, a grant works, Ctrl-C stops it all, and a restart keeps the grant', async () => {
    const stack = await startDev();
    assert.deepEqual(Object.keys(stack).filter((k) => ['api', 'temporalUi', 'inbox', 'project', 'databases', 'emailDomain'].includes(k)).sort(), [
      'api', 'databases', 'emailDomain', 'inbox', 'project', 'temporalUi',
    ]);
    assert.equal(stack.api, `http://127.0.0.1:${ports.DEV_API_PORT}`);
    assert.deepEqual(stack.databases, ['dev_project', 'prod_project']);
    assert.match(dev.output, /\[dev\] no PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres \(ECONNREFUSED\): pg_project is left out/);
    assert.doesNotMatch(readFileSync(join(dev.stateDir, 'dbaccess.yaml'), 'utf8'), /pg_project/);
    for (const url of [stack.api, stack.temporalUi, stack.inbox]) assert.ok(dev.output.includes(url), `${url} is printed`);
    assert.equal((await fetch(`${stack.api}/healthz`)).status, 200);
    assert.equal((await fetch(stack.temporalUi)).status, 200);
    assert.equal((await fetch(stack.inbox, { headers: { accept: 'text/html' } })).status, 200);
    assert.equal((await fetch(stack.inboxApi)).status, 200);

    const email = `${RUN_PREFIX}.devstack@${stack.emailDomain}`;
    const created = await call(stack, 'POST', '/grants', {
      email,
      name: 'Dev Stack',
      project: stack.project,
      database: stack.databases[0],
      accessLevel: 'READ_WRITE',
      expiresAt: new Date(Date.now() + 7 * 24 * 3600_000).toISOString().slice(0, 10),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'ACTIVE');
    const { account, secretName, grantId } = created.body as { account: string; secretName: string; grantId: string };

    const secrets = new SecretsManagerClient({ endpoint: stack.aws, region: 'us-east-1', credentials: { accessKeyId: 'dev', secretAccessKey: 'dev' } });
    const secret = JSON.parse((await secrets.send(new GetSecretValueCommand({ SecretId: secretName }))).SecretString!) as { password: string; database: string };
    secrets.destroy();
    assert.ok(await canLogin(account, secret.password, secret.database), 'the grantee logs in with the password from the per-grant secret');
    const inbox = (await (await fetch(stack.inboxApi)).json()) as { to: { address: string }[]; subject: string; text?: string }[];
    const mail = inbox.find((m) => m.to.some((to) => to.address === email));
    assert.ok(mail && /granted/i.test(mail.subject), 'the GRANTED e-mail is in the inbox');
    // Its one-time link points at the dev API (PUBLIC_URL) and gives the same password, once.
    assert.ok(!(mail.text ?? '').includes(secret.password), 'no password in the e-mail');
    const link = new RegExp(`${stack.api.replace(/[.]/g, '\\.')}/credentials/[A-Za-z0-9_-]{43}`).exec(mail.text ?? '')?.[0];
    assert.ok(link, 'the GRANTED e-mail has a one-time link to the dev API');
    const viewed = await fetch(link, { headers: { accept: 'application/json' } });
    assert.equal(viewed.status, 200);
    assert.equal(((await viewed.json()) as { password: string }).password, secret.password);
    assert.equal((await fetch(link, { headers: { accept: 'application/json' } })).status, 410);

    // The approval flow from both sides, with the keys the stack generated: the requester
    // asks for ADMIN on prod_project (and may not approve it), the approver approves.
    const requesterKey = join(dev.stateDir, 'requester-key');
    assert.equal(statSync(requesterKey).mode & 0o777, 0o600, 'the requester key is readable by its owner only');
    assert.match(dev.key('requester-key'), /^[0-9a-f]{48}$/);
    assert.ok(dev.output.includes(requesterKey), 'the requester key file is printed');
    const gatedEmail = `${RUN_PREFIX}.devgate@${stack.emailDomain}`;
    const gated = await call(stack, 'POST', '/grants', { email: gatedEmail, name: 'Dev Gate', project: stack.project, database: 'prod_project', accessLevel: 'ADMIN', duration: '1h' }, 'requester-key');
    assert.equal(gated.status, 202, JSON.stringify(gated.body));
    assert.equal(gated.body.status, 'PENDING_APPROVAL');
    const selfApproved = await call(stack, 'POST', `/grants/${encodeURIComponent(gated.body.grantId)}/approve`, undefined, 'requester-key');
    assert.equal(selfApproved.status, 403, JSON.stringify(selfApproved.body));
    // The approver decides in the inbox: the approval e-mail's Approve link opens a page, its button approves.
    const approvalMail = await until('the approval e-mail in the inbox', async () => {
      const mails = (await (await fetch(stack.inboxApi)).json()) as { to: { address: string }[]; subject: string; text?: string }[];
      return mails.find((m) => m.subject.includes('approval needed') && m.subject.includes(gatedEmail));
    }, 20_000);
    const approveLink = /https?:\/\/\S+\/decisions\/[A-Za-z0-9_.-]+/.exec(approvalMail.text ?? '')?.[0];
    assert.ok(approveLink?.startsWith(stack.api), approvalMail.text);
    assert.match(await (await fetch(approveLink!, { headers: { accept: 'text/html' } })).text(), /<button type="submit">Approve<\/button>/);
    const approved = await fetch(approveLink!, { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    assert.equal(approved.status, 200, await approved.clone().text());
    assert.equal(((await approved.json()) as { status: string }).status, 'ACTIVE');
    assert.equal((await call(stack, 'POST', `/grants/${encodeURIComponent(gated.body.grantId)}/revoke`, {})).status, 202);
    // Break the glass with the admin key: ADMIN on prod_project at once, and the alert in the inbox.
    const glassEmail = `${RUN_PREFIX}.devglass@${stack.emailDomain}`;
    const glass = await call(stack, 'POST', '/grants', { email: glassEmail, name: 'Dev Glass', project: stack.project, database: 'prod_project', accessLevel: 'ADMIN', breakGlass: true, reason: 'incident: orders table locked' });
    assert.equal(glass.status, 201, JSON.stringify(glass.body));
    assert.equal(glass.body.status, 'ACTIVE');
    await until('the break-glass alert in the inbox', async () => {
      const mails = (await (await fetch(stack.inboxApi)).json()) as { subject: string }[];
      return mails.some((m) => m.subject.startsWith('[dbaccess] BREAK-GLASS:') && m.subject.includes(glassEmail));
    }, 20_000);
    assert.equal((await call(stack, 'POST', `/grants/${encodeURIComponent(glass.body.grantId)}/revoke`, { reason: 'incident over' })).status, 202);
    // Payloads are encrypted, and the Temporal UI decrypts them through the API's codec
    // endpoint. Done here as the UI's browser code does it: the UI's settings name the
    // endpoint, the history comes from the UI's own HTTP API (ciphertext), and the
    // payloads go to the endpoint with the UI's origin and no key (the dev UI has no login).
    const settings = (await (await fetch(`${stack.temporalUi}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
    assert.equal(settings.Codec?.Endpoint, `${stack.api}/codec`);
    const historyRes = await fetch(`${stack.temporalUi}/api/v1/namespaces/default/workflows/${encodeURIComponent(grantId)}/history`);
    assert.equal(historyRes.status, 200);
    const history = (await historyRes.json()) as { history: { events: { workflowExecutionStartedEventAttributes?: { input: { payloads: { metadata: Record<string, string>; data: string }[] } } }[] } };
    const input = history.history.events[0]!.workflowExecutionStartedEventAttributes!.input.payloads;
    assert.equal(Buffer.from(input[0]!.metadata.encoding!, 'base64').toString(), 'binary/encrypted');
    assert.ok(!Buffer.from(input[0]!.data, 'base64').toString('latin1').includes(email), 'the e-mail is readable in the stored input');
    const uiOrigin = stack.temporalUi;
    const preflight = await fetch(`${stack.api}/codec/decode`, { method: 'OPTIONS', headers: { origin: uiOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' } });
    assert.equal(preflight.headers.get('access-control-allow-origin'), uiOrigin);
    const decoded = await fetch(`${stack.api}/codec/decode`, { method: 'POST', headers: { origin: uiOrigin, 'content-type': 'application/json', 'x-namespace': 'default' }, body: JSON.stringify({ payloads: input }) });
    assert.equal(decoded.status, 200);
    assert.equal(decoded.headers.get('access-control-allow-origin'), uiOrigin);
    const clear = (await decoded.json()) as { payloads: { data: string }[] };
    assert.equal((JSON.parse(Buffer.from(clear.payloads[0]!.data, 'base64').toString('utf8')) as { email: string }).email, email);
    // The rest of the API still needs the key.
    assert.equal((await fetch(`${stack.api}/grants/${encodeURIComponent(grantId)}`)).status, 401);

    assert.equal(await stopDev(), 0);
    for (const [name, port] of Object.entries(ports)) assert.equal(await listening(port), false, `${name} ${port} is still open after Ctrl-C`);

    // A state folder from before the requester key: its configuration lacks the client. The
    // restart adds it, and the requester key works.
    const configPath = join(dev.stateDir, 'dbaccess.yaml');
    writeFileSync(configPath, readFileSync(configPath, 'utf8').replace(/^ {2}dev-requester:\n(?: {4}.*\n)+/m, ''));
    assert.doesNotMatch(readFileSync(configPath, 'utf8'), /dev-requester/);

    // The Temporal state survives the restart: the grant is still there, still ACTIVE, and can be revoked.
    const again = await startDev();
    assert.match(readFileSync(configPath, 'utf8'), /^ {2}dev-requester:\n {4}role: requester\n/m);
    const mine = await call(again, 'GET', `/grants?project=${again.project}&limit=1`, undefined, 'requester-key');
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    const state = await call(again, 'GET', `/grants/${encodeURIComponent(grantId)}`);
    assert.equal(state.status, 200, JSON.stringify(state.body));
    assert.equal(state.body.status, 'ACTIVE');
    assert.equal((await call(again, 'POST', `/grants/${encodeURIComponent(grantId)}/revoke`, { reason: 'test' })).status, 202);
    await until('the account to be dropped', async () => !(await accountExists(account, '%')), 20_000);
    assert.equal(await stopDev(), 0);
  });
});

describe('npm run dev with PostgreSQL', function () {
  this.timeout(240_000);
  const name = 'devpg';
  const prefix = `${RUN_PREFIX}_${name}`;
  const dev = new DevStackRunner(name);
  const savedPostgresUrl = process.env.DEV_POSTGRES_URL;
  let root: pg.Client | undefined;

  before(async function () {
    root = new pg.Client({ connectionString: POSTGRES_URL });
    root.on('error', () => undefined);
    // PostgreSQL runs wherever the tests run (as MariaDB does): its absence is a failure, not a skip.
    await root.connect();
    rootPool();
    await dev.allocatePorts();
    process.env.DEV_POSTGRES_URL = POSTGRES_URL;
    const client = root;
    onTestRunEnd(async () => {
      // The stack's database, its owner and admin roles, and any grantee left by a failure: all named after the prefix.
      await client.query(`DROP DATABASE IF EXISTS "${prefix}_db" WITH (FORCE)`).catch(() => undefined);
      const roles = await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname DESC', [`${prefix}%`]);
      for (const { rolname } of roles.rows) {
        await client.query(`DROP OWNED BY "${rolname}"`).catch(() => undefined);
        await client.query(`DROP ROLE IF EXISTS "${rolname}"`).catch(() => undefined);
      }
      await client.end().catch(() => undefined);
    });
  });

  after(async () => {
    if (savedPostgresUrl === undefined) delete process.env.DEV_POSTGRES_URL;
    else process.env.DEV_POSTGRES_URL = savedPostgresUrl;
    await dev.dispose();
  });

  it('When PostgreSQL answers, then the demo project has pg_project, a READ grant on it works, and a revoke drops the role', async () => {
    const stack = (await dev.start()) as DevStack & { postgres: { database: string; schema: string } };
    assert.deepEqual(stack.databases, ['dev_project', 'prod_project', 'pg_project']);
    assert.deepEqual(stack.postgres, { url: POSTGRES_URL, database: `${prefix}_db`, schema: `${prefix}_pg` });
    assert.ok(dev.output.includes('"database":"pg_project","accessLevel":"READ"'), 'the tour grants READ on pg_project');
    assert.ok(dev.output.includes(`dbname=${prefix}_db`), 'the tour shows how to connect with psql');

    const email = `${RUN_PREFIX}.devpg@${stack.emailDomain}`;
    const created = await dev.call(stack, 'POST', '/grants', { email, name: 'Dev Pg', project: stack.project, database: 'pg_project', accessLevel: 'READ', duration: '1h' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'ACTIVE');
    const { account, secretName, grantId } = created.body as { account: string; secretName: string; grantId: string };
    const secrets = new SecretsManagerClient({ endpoint: stack.aws, region: 'us-east-1', credentials: { accessKeyId: 'dev', secretAccessKey: 'dev' } });
    const secret = JSON.parse((await secrets.send(new GetSecretValueCommand({ SecretId: secretName }))).SecretString!) as { password: string };
    secrets.destroy();

    const grantee = new pg.Client({ host: '127.0.0.1', port: 5432, user: account, password: secret.password, database: stack.postgres.database });
    await grantee.connect();
    try {
      assert.deepEqual((await grantee.query(`SELECT count(*)::int AS n FROM "${stack.postgres.schema}".example`)).rows, [{ n: 0 }]);
      await assert.rejects(grantee.query(`INSERT INTO "${stack.postgres.schema}".example (note) VALUES ('x')`), (err: { code?: string }) => err.code === '42501');
    } finally {
      await grantee.end();
    }

    assert.equal((await dev.call(stack, 'POST', `/grants/${encodeURIComponent(grantId)}/revoke`, { reason: 'test' })).status, 202);
    await until('the role to be dropped', async () => (await root!.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [account])).rowCount === 0, 20_000);
    assert.equal(await dev.stop(), 0);
  });
});
