import { randomBytes } from 'node:crypto';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { parsePgAdminSecret } from '../src/adapters/engines/postgresql';
import { checkDatabase, checkRoleName, checkSchema, quoteIdent, quoteLiteral, scramVerifier } from '../src/adapters/engines/postgresql/sql';

// Seeds the PostgreSQL databases of a configuration (those with engine postgresql), idempotently.
// Per admin secret:
//  - the database its `dbname` names (created if missing, owned by `<dbname>_owner`, a NOLOGIN role;
//    PUBLIC loses CONNECT and TEMPORARY on a database that role owns),
//  - each schema of the secret in that database, owned by `<dbname>_owner`, with an example table,
//  - the admin role: LOGIN CREATEROLE, no superuser, member of pg_signal_backend, pg_read_all_stats
//    and `<dbname>_owner`, CONNECT on the database, and its secret in the RDS shape
//    {"engine","host","port","username","password","dbname"}.
// An existing admin secret keeps its role, password and database, so a restart changes nothing.
// Statements splice only names that passed the adapter's checks, quoted by quoteIdent; queries
// take their values as parameters; the password reaches the server as a SCRAM verifier.

export interface PgSeedDatabase {
  schema: string;
  adminSecretId: string;
}

export interface PgSeedOptions {
  secrets: SecretsManagerClient;
  databases: readonly PgSeedDatabase[];
  /** A superuser connection, e.g. postgres://postgres@127.0.0.1:5432/postgres. */
  url: string;
  /** `dbname` of a new admin secret (default `dbaccess_demo`). */
  database?: string;
  /** Name of the admin role of a new secret (default `dbaccess_pg_admin`; then `_1`, `_2`...). */
  adminRole?: string;
  /** Where the worker reaches the server (default: the host and port of `url`). */
  adminHost?: string;
  adminPort?: number;
  log: (line: string) => void;
}

/** The role that owns a seeded database and its schemas; the admin is a member of it. */
export function ownerRoleOf(database: string): string {
  return checkRoleName(`${checkDatabase(database)}_owner`);
}

async function readSecret(client: SecretsManagerClient, id: string): Promise<string | undefined> {
  try {
    return (await client.send(new GetSecretValueCommand({ SecretId: id }))).SecretString;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined;
    throw err;
  }
}

function randomPassword(): string {
  return `P${randomBytes(24).toString('base64url').replace(/[-_]/g, 'x')}`;
}

/** Whether a stored SCRAM verifier is the one of `password` (then the role's password is left alone). */
function verifies(stored: unknown, password: string): boolean {
  const m = typeof stored === 'string' ? /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored) : null;
  return m !== null && scramVerifier(password, Buffer.from(m[2]!, 'base64'), Number(m[1])) === stored;
}

async function connect(url: URL, database?: string): Promise<pg.Client> {
  const target = new URL(url.href);
  if (database !== undefined) target.pathname = `/${encodeURIComponent(database)}`;
  const client = new pg.Client({ connectionString: target.href, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function exists(client: pg.Client, sql: string, value: string): Promise<Record<string, unknown> | undefined> {
  return (await client.query(sql, [value])).rows[0] as Record<string, unknown> | undefined;
}

async function ensureRoles(root: pg.Client, admin: string, password: string, owner: string): Promise<void> {
  if (!(await exists(root, 'SELECT 1 FROM pg_roles WHERE rolname = $1', owner))) await root.query(`CREATE ROLE ${quoteIdent(owner)} NOLOGIN`);
  const attributes = 'LOGIN CREATEROLE NOSUPERUSER NOCREATEDB NOREPLICATION NOBYPASSRLS INHERIT';
  const stored = await exists(root, 'SELECT rolpassword AS password FROM pg_authid WHERE rolname = $1', admin);
  const secret = `PASSWORD ${quoteLiteral(scramVerifier(password))}`;
  if (!stored) await root.query(`CREATE ROLE ${quoteIdent(admin)} ${attributes} ${secret}`);
  else await root.query(`ALTER ROLE ${quoteIdent(admin)} ${attributes}${verifies(stored.password, password) ? '' : ` ${secret}`}`);
  const held = await root.query<{ name: string }>('SELECT b.rolname AS name FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid JOIN pg_roles a ON a.oid = m.member WHERE a.rolname = $1', [admin]);
  for (const role of ['pg_signal_backend', 'pg_read_all_stats', owner]) {
    if (!held.rows.some((r) => r.name === role)) await root.query(`GRANT ${quoteIdent(role)} TO ${quoteIdent(admin)}`);
  }
}

/** Creates the database if missing; one the owner role owns is closed to PUBLIC. */
async function ensureDatabase(root: pg.Client, database: string, owner: string, admin: string, log: (line: string) => void): Promise<void> {
  const row = await exists(root, 'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', database);
  if (!row) await root.query(`CREATE DATABASE ${quoteIdent(database)} OWNER ${quoteIdent(owner)}`);
  const db = quoteIdent(database);
  if (!row || row.owner === owner) {
    await root.query(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
  } else {
    log(`database ${database} is owned by ${String(row.owner)}, not ${owner}: ending an access hands what the grantee owns to ${String(row.owner)}, which ${admin} cannot do unless it is a member of it`);
  }
  await root.query(`GRANT CONNECT ON DATABASE ${db} TO ${quoteIdent(admin)}`);
}

async function ensureSchema(client: pg.Client, schema: string, owner: string): Promise<void> {
  const s = quoteIdent(checkSchema(schema));
  const o = quoteIdent(owner);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${s} AUTHORIZATION ${o}`);
  await client.query(`ALTER SCHEMA ${s} OWNER TO ${o}`);
  await client.query(`CREATE TABLE IF NOT EXISTS ${s}.example (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note varchar(200) NOT NULL)`);
  // The identity sequence follows its table's owner.
  await client.query(`ALTER TABLE ${s}.example OWNER TO ${o}`);
}

export async function seedPostgres(options: PgSeedOptions): Promise<{ adminSecrets: string[]; schemas: string[] }> {
  const url = new URL(options.url);
  if (!/^postgres(ql)?:$/.test(url.protocol)) throw new Error('the PostgreSQL URL must start with postgres://');
  const adminHost = options.adminHost ?? url.hostname;
  const adminPort = options.adminPort ?? Number(url.port || 5432);
  const bySecret = new Map<string, Set<string>>();
  for (const db of options.databases) bySecret.set(db.adminSecretId, (bySecret.get(db.adminSecretId) ?? new Set<string>()).add(checkSchema(db.schema)));

  const schemas: string[] = [];
  const root = await connect(url);
  try {
    let index = 0;
    for (const [secretId, schemaSet] of bySecret) {
      const existing = await readSecret(options.secrets, secretId);
      const current = existing === undefined ? undefined : parsePgAdminSecret(secretId, existing);
      const base = options.adminRole ?? 'dbaccess_pg_admin';
      const admin = checkRoleName(current?.username ?? (index === 0 ? base : `${base}_${index}`));
      const password = current?.password ?? randomPassword();
      const database = checkDatabase(current?.database ?? options.database ?? 'dbaccess_demo');
      const owner = ownerRoleOf(database);

      await ensureRoles(root, admin, password, owner);
      await ensureDatabase(root, database, owner, admin, options.log);
      const inside = await connect(url, database);
      try {
        for (const schema of schemaSet) {
          await ensureSchema(inside, schema, owner);
          schemas.push(schema);
        }
      } finally {
        await inside.end().catch(() => undefined);
      }

      const value = JSON.stringify({ engine: 'postgres', host: adminHost, port: adminPort, username: admin, password, dbname: database });
      if (existing === undefined) await options.secrets.send(new CreateSecretCommand({ Name: secretId, SecretString: value }));
      else if (existing !== value) await options.secrets.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: value }));
      options.log(`PostgreSQL admin ${admin} (member of ${owner}) for ${[...schemaSet].join(', ')} in database ${database}; credentials in secret ${secretId}`);
      index += 1;
    }
  } finally {
    await root.end().catch(() => undefined);
  }
  return { adminSecrets: [...bySecret.keys()], schemas };
}
