import { strict as assert } from 'node:assert';

import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';

import { createPostgresAccountManager, parsePgAdminSecret, pgLevels, scramVerifier, type PgAdminCredentials } from '../../src/adapters/engines/postgresql';
import { ConfigError, parseFileConfig, type DatabaseConfig, type FileConfig } from '../../src/config';
import { seed } from '../../scripts/seed';
import { ownerRoleOf } from '../../scripts/seed-postgres';
import { PG_HOST, PG_PORT, randomPassword, rootPool, RUN_PREFIX, StaticCredentialSource } from '../adapters/engines/postgresql/pg';
import { motoAwsSettings } from '../support/moto';

// The seed against the machine's PostgreSQL 15 and the shared AWS emulator: the
// databases with engine postgresql get their database, schemas, owner role and a
// least-privileged admin whose secret is in the RDS shape; a second run changes
// nothing; and the admin it makes is enough for the PostgreSQL account manager.
// Every name starts with the run's prefix, so the end of the run drops them.

const DATABASE = `${RUN_PREFIX}_seed_db`;
const OWNER = ownerRoleOf(DATABASE);
const ADMIN = `${RUN_PREFIX}_seed_admin`;
const SECRET_ID = `${RUN_PREFIX}/seed/pg-admin`;

/** A configuration whose databases say `engine: postgresql` (set after parsing, so it does not depend on the parser knowing the field). */
function pgConfig(databases: Record<string, { schema: string; adminSecretId: string }>, mysql: Record<string, { schema: string; adminSecretId: string }> = {}): FileConfig {
  const config = parseFileConfig({
    allowedEmailDomains: ['example.com'],
    administrators: [{ name: 'Admin', email: 'admin@example.com' }],
    projects: { demo: { ownerName: 'Owner', ownerEmail: 'owner@example.com', databases: { ...databases, ...mysql } } },
  });
  for (const key of Object.keys(databases)) (config.projects.demo!.databases[key] as DatabaseConfig & { engine: string }).engine = 'postgresql';
  return config;
}

describe('seed: PostgreSQL databases', function () {
  this.timeout(60_000);
  let secrets: SecretsManagerClient;
  let aws: Awaited<ReturnType<typeof motoAwsSettings>>;
  const lines: string[] = [];
  const config = pgConfig({
    pg_one: { schema: 'seed_one', adminSecretId: SECRET_ID },
    pg_two: { schema: 'seed_two', adminSecretId: SECRET_ID },
  });

  const run = (c: FileConfig = config) =>
    seed({
      config: c,
      aws,
      linksTable: `${RUN_PREFIX}-seed-links`,
      mysqlUrl: 'mysql://nobody@127.0.0.1:1',
      postgres: { url: `postgres://postgres@${PG_HOST}:${PG_PORT}/postgres`, database: DATABASE, adminRole: ADMIN },
      log: (line) => lines.push(line),
    });
  const secretValue = async () => (await secrets.send(new GetSecretValueCommand({ SecretId: SECRET_ID }))).SecretString!;
  const root = (database = 'postgres') => rootPool(database);
  const stored = async () => (await root().query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [ADMIN])).rows[0]!.rolpassword;

  function passwordMatches(verifier: string, password: string): boolean {
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(verifier)!;
    return scramVerifier(password, Buffer.from(salt!, 'base64'), Number(iterations)) === verifier;
  }

  before(async () => {
    aws = await motoAwsSettings(`${RUN_PREFIX}-seed-audit`);
    secrets = new SecretsManagerClient({ endpoint: aws.endpoint, region: aws.region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  });

  after(() => secrets?.destroy());

  it('When the seed runs twice, then the second run changes nothing: same secret, same password verifier', async () => {
    // The MySQL URL leads nowhere: with only PostgreSQL databases the seed never connects to MySQL.
    const first = await run();
    assert.deepEqual(first, { adminSecrets: [SECRET_ID], schemas: ['seed_one', 'seed_two'] });
    const value = await secretValue();
    const verifier = await stored();
    const second = await run();
    assert.deepEqual(second, first);
    assert.equal(await secretValue(), value, 'the secret is rewritten');
    assert.equal(await stored(), verifier, 'the password is set again');
    assert.ok(lines.some((l) => l.includes(ADMIN) && l.includes(SECRET_ID)), lines.join('\n'));
    for (const line of lines) assert.ok(!line.includes(JSON.parse(value).password), 'a password reached the log');
  });

  it('When the admin role is read, then it can log in, create roles and signal backends, and is no superuser', async () => {
    const role = (
      await root().query(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, pg_has_role(oid, 'pg_signal_backend', 'MEMBER') AS signal, pg_has_role(oid, 'pg_read_all_stats', 'MEMBER') AS stats, pg_has_role(oid, $2, 'MEMBER') AS owner FROM pg_roles WHERE rolname = $1",
        [ADMIN, OWNER],
      )
    ).rows[0];
    assert.deepEqual(role, { rolsuper: false, rolcreaterole: true, rolcreatedb: false, rolcanlogin: true, rolreplication: false, rolbypassrls: false, signal: true, stats: true, owner: true });
    const db = (await root().query("SELECT pg_get_userbyid(datdba) AS owner, has_database_privilege($2, datname, 'CONNECT') AS connect, EXISTS (SELECT 1 FROM aclexplode(datacl) a WHERE a.grantee = 0) AS public FROM pg_database WHERE datname = $1", [DATABASE, ADMIN])).rows[0];
    assert.deepEqual(db, { owner: OWNER, connect: true, public: false }, 'the database is the owner role’s, closed to PUBLIC, open to the admin');
    const objects = (
      await root(DATABASE).query(
        "SELECT n.nspname AS schema, pg_get_userbyid(n.nspowner) AS schema_owner, pg_get_userbyid(c.relowner) AS table_owner FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = 'example' WHERE n.nspname LIKE 'seed_%' ORDER BY 1",
      )
    ).rows;
    assert.deepEqual(objects, [
      { schema: 'seed_one', schema_owner: OWNER, table_owner: OWNER },
      { schema: 'seed_two', schema_owner: OWNER, table_owner: OWNER },
    ]);
  });

  it('When the secret is read, then it is in the RDS shape, parses, and its password logs in', async () => {
    const value = JSON.parse(await secretValue()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(value).sort(), ['dbname', 'engine', 'host', 'password', 'port', 'username']);
    const creds = parsePgAdminSecret(SECRET_ID, JSON.stringify(value));
    assert.deepEqual({ ...creds, password: '' }, { host: PG_HOST, port: PG_PORT, username: ADMIN, password: '', database: DATABASE });
    // The server trusts 127.0.0.1, so the login alone proves little: the stored verifier must be this password's.
    assert.ok(passwordMatches(await stored(), creds.password), 'the role’s password is not the secret’s');
    const client = new pg.Client({ host: creds.host, port: creds.port, user: creds.username, password: creds.password, database: creds.database });
    await client.connect();
    try {
      assert.deepEqual((await client.query('SELECT current_user AS u, current_database() AS d')).rows[0], { u: ADMIN, d: DATABASE });
    } finally {
      await client.end();
    }
  });

  it('When the role’s password was changed on the server, then the seed sets the secret’s password again', async () => {
    await root().query(`ALTER ROLE "${ADMIN}" PASSWORD '${randomPassword()}'`);
    const { password } = JSON.parse(await secretValue()) as { password: string };
    assert.ok(!passwordMatches(await stored(), password));
    await run();
    assert.ok(passwordMatches(await stored(), password));
  });

  it('When the account manager uses the seeded admin, then it checks the target, grants READ and ends the access', async () => {
    const creds: PgAdminCredentials = parsePgAdminSecret(SECRET_ID, await secretValue());
    const manager = createPostgresAccountManager({ credentials: new StaticCredentialSource(creds) });
    const target = { schema: 'seed_one', adminSecretId: SECRET_ID, hostPattern: '%', maxUserConnections: 2 };
    const account = `${RUN_PREFIX}_seedgrantee`;
    try {
      assert.deepEqual(await manager.checkTarget(target), { host: PG_HOST, port: PG_PORT, engine: 'postgresql', database: creds.database });
      await manager.ensureAccount(target, account, randomPassword(), { grantId: 'seed-test' });
      await manager.setPrivileges(target, account, [...pgLevels.READ!]);
      await root(DATABASE).query("INSERT INTO seed_one.example (note) VALUES ('hello')");
      const grantee = new pg.Client({ host: PG_HOST, port: PG_PORT, user: account, database: DATABASE });
      await grantee.connect();
      try {
        assert.deepEqual((await grantee.query('SELECT note FROM seed_one.example')).rows, [{ note: 'hello' }]);
      } finally {
        await grantee.end();
      }
      const ending = await manager.endAccess(target, account);
      assert.equal(ending.dropped, true, JSON.stringify(ending));
    } finally {
      await manager.close();
    }
  });

  it('When one admin secret is named by a MySQL and a PostgreSQL database, then the seed refuses before touching anything', async () => {
    const shared = `${RUN_PREFIX}/seed/shared`;
    const mixed = pgConfig({ pg_x: { schema: 'seed_x', adminSecretId: shared } }, { my_x: { schema: 'seed_my_x', adminSecretId: shared } });
    await assert.rejects(run(mixed), (err: unknown) => err instanceof ConfigError && /each server needs its own/.test(err.message));
    assert.equal((await root(DATABASE).query("SELECT 1 FROM pg_namespace WHERE nspname = 'seed_x'")).rowCount, 0);
  });
});
