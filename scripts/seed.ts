import { randomBytes } from 'node:crypto';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { createAwsClients, ensureAuditTable, ensureCredentialLinksTable, parseAdminSecret } from '../src/adapters/aws';
import { adminGrantStatements, createUserStatement, alterUserStatement } from '../src/adapters/engines/mysql/sql';
import { mysqlEngine } from '../src/adapters/engines/mysql';
import { awsSettings, ConfigError, credentialSettings, Env, loadConfigFile, type AwsSettings, type DatabaseConfig, type FileConfig } from '../src/config';
import { seedPostgres, type PgSeedDatabase } from './seed-postgres';

// Seeds a local or compose stack, idempotently:
//  - the DynamoDB audit table (with its indexes) and the credential links table,
//  - every schema named in the configuration,
//  - per admin secret id, a least-privileged admin account (exactly the
//    privileges docs/security.md lists) and its secret in the seed's format
//    {"MYSQL_HOST","MYSQL_PORT","MYSQL_USERNAME","MYSQL_PASSWORD"},
//  - the databases with engine postgresql on the PostgreSQL server (seed-postgres.ts).
// An existing admin secret keeps its password, so a restart changes nothing.
//
// Environment: DBACCESS_CONFIG, AWS_REGION, AWS_ENDPOINT_URL, AUDIT_TABLE, CREDENTIAL_LINKS_TABLE,
// SEED_MYSQL_URL (a root connection, e.g. mysql://root@127.0.0.1:3306),
// SEED_ADMIN_HOST / SEED_ADMIN_PORT (where the worker reaches the server;
// default: the host and port of SEED_MYSQL_URL), SEED_ADMIN_ACCOUNT (the admin
// account's name, default dbaccess_admin); for PostgreSQL databases: SEED_POSTGRES_URL (a
// superuser connection; default DEV_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/postgres),
// SEED_POSTGRES_ADMIN_HOST / SEED_POSTGRES_ADMIN_PORT (where the worker reaches it), SEED_POSTGRES_DATABASE
// (dbname of a new admin secret, default dbaccess_demo), SEED_POSTGRES_ADMIN_ROLE (default dbaccess_pg_admin).

export interface SeedOptions {
  config: FileConfig;
  aws: AwsSettings;
  /** The one-time credential links table (default dbaccess-credential-links). */
  linksTable?: string;
  mysqlUrl: string;
  adminHost?: string;
  adminPort?: number;
  /** Name of the admin account to create (default `dbaccess_admin`). */
  adminAccount?: string;
  /** The PostgreSQL server of the databases with engine postgresql (see PgSeedOptions). */
  postgres?: { url: string; database?: string; adminRole?: string; adminHost?: string; adminPort?: number };
  log?: (line: string) => void;
}

/** The engine field of a database: `mysql` unless it says otherwise. */
function engineOf(db: DatabaseConfig): string {
  const engine = (db as DatabaseConfig & { engine?: unknown }).engine;
  return typeof engine === 'string' ? engine : 'mysql';
}

/** Admin account name for the n-th admin secret: `dbaccess_admin` (or `adminAccount`), then `_1`, `_2`... */
function adminAccountFor(base: string, index: number): string {
  return index === 0 ? base : `${base}_${index}`;
}

async function readSecret(client: SecretsManagerClient, id: string): Promise<string | undefined> {
  try {
    return (await client.send(new GetSecretValueCommand({ SecretId: id }))).SecretString;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined;
    throw err;
  }
}

export async function seed(options: SeedOptions): Promise<{ adminSecrets: string[]; schemas: string[] }> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[seed] ${line}\n`));
  const databases = Object.values(options.config.projects).flatMap((project) => Object.values(project.databases));
  const mysqlDatabases = databases.filter((db) => ['mysql', 'mariadb'].includes(engineOf(db)));
  const pgDatabases: PgSeedDatabase[] = databases.filter((db) => engineOf(db) === 'postgresql').map((db) => ({ schema: db.schema, adminSecretId: db.adminSecretId }));
  const other = databases.find((db) => !['mysql', 'mariadb', 'postgresql'].includes(engineOf(db)));
  if (other) throw new ConfigError([`database ${other.key}: the seed knows the engines mysql (mariadb) and postgresql, not ${engineOf(other)}`]);
  const shared = pgDatabases.find((p) => mysqlDatabases.some((m) => m.adminSecretId === p.adminSecretId));
  if (shared) throw new ConfigError([`admin secret ${shared.adminSecretId} is named by a MySQL and a PostgreSQL database: each server needs its own`]);
  if (pgDatabases.length > 0 && !options.postgres) throw new ConfigError(['the configuration has PostgreSQL databases, and the seed was given no PostgreSQL server']);

  const aws = createAwsClients(options.aws);
  try {
    await ensureAuditTable(aws.dynamo, options.aws.auditTable);
    log(`audit table ${options.aws.auditTable} ready`);
    const linksTable = options.linksTable ?? 'dbaccess-credential-links';
    await ensureCredentialLinksTable(aws.dynamo, linksTable);
    log(`credential links table ${linksTable} ready`);
    const mysqlSeeded = mysqlDatabases.length > 0 ? await seedMysql(options, mysqlDatabases, aws.secrets, log) : { adminSecrets: [], schemas: [] };
    const pgSeeded = pgDatabases.length > 0 ? await seedPostgres({ ...options.postgres!, secrets: aws.secrets, databases: pgDatabases, log }) : { adminSecrets: [], schemas: [] };
    return { adminSecrets: [...mysqlSeeded.adminSecrets, ...pgSeeded.adminSecrets], schemas: [...mysqlSeeded.schemas, ...pgSeeded.schemas] };
  } finally {
    aws.destroy();
  }
}

async function seedMysql(options: SeedOptions, databases: DatabaseConfig[], secrets: SecretsManagerClient, log: (line: string) => void): Promise<{ adminSecrets: string[]; schemas: string[] }> {
  const url = new URL(options.mysqlUrl);
  const adminHost = options.adminHost ?? url.hostname;
  const adminPort = options.adminPort ?? Number(url.port || 3306);
  const root = await mysql.createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password),
    multipleStatements: false,
  });
  try {
    const [[version]] = await root.query<RowDataPacket[]>('SELECT VERSION() AS v');
    const dialect = String(version?.v).includes('MariaDB') ? 'mariadb' : 'mysql';

    // Which schemas each admin secret manages.
    const bySecret = new Map<string, Set<string>>();
    for (const db of databases) {
      const set = bySecret.get(db.adminSecretId) ?? new Set<string>();
      set.add(db.schema);
      bySecret.set(db.adminSecretId, set);
    }

    const schemas: string[] = [];
    let index = 0;
    for (const [secretId, schemaSet] of bySecret) {
      for (const schema of schemaSet) {
        // Schema names passed SCHEMA_NAME ([A-Za-z0-9_]) when the configuration was loaded.
        await root.query(`CREATE DATABASE IF NOT EXISTS \`${schema}\``);
        await root.query(`CREATE TABLE IF NOT EXISTS \`${schema}\`.example (id INT PRIMARY KEY AUTO_INCREMENT, note VARCHAR(200) NOT NULL)`);
        schemas.push(schema);
      }
      const existing = await readSecret(secrets, secretId);
      const admin = existing ? parseAdminSecret(secretId, existing, mysqlEngine.parseAdminSecret) : undefined;
      const account = admin?.username ?? adminAccountFor(options.adminAccount ?? 'dbaccess_admin', index);
      const password = admin?.password ?? `A${randomBytes(24).toString('base64url').replace(/[-_]/g, 'x')}`;
      for (const st of [createUserStatement(account, '%', password, 100), alterUserStatement(account, '%', password, 100)]) {
        await root.query(st.sql, [...st.values]);
      }
      for (const statement of adminGrantStatements(dialect, account, '%', [...schemaSet])) await root.query(statement);

      const value = JSON.stringify({ MYSQL_HOST: adminHost, MYSQL_PORT: String(adminPort), MYSQL_USERNAME: account, MYSQL_PASSWORD: password });
      if (existing === undefined) await secrets.send(new CreateSecretCommand({ Name: secretId, SecretString: value }));
      else if (existing !== value) await secrets.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: value }));
      log(`admin ${account}@% (${dialect}) for ${[...schemaSet].join(', ')}; credentials in secret ${secretId}`);
      index += 1;
    }
    return { adminSecrets: [...bySecret.keys()], schemas };
  } finally {
    await root.end();
  }
}

async function main(): Promise<void> {
  const env = new Env();
  try {
    // The seed writes admin secrets and creates tables: meant for an emulator. Against
    // real AWS it would overwrite production admin secrets, so it must be asked for.
    if (!env.get('AWS_ENDPOINT_URL') && process.env.SEED_ALLOW_REAL_AWS !== 'true') {
      throw new ConfigError(['AWS_ENDPOINT_URL is not set: the seed only runs against a local AWS emulator (set SEED_ALLOW_REAL_AWS=true to run it against real AWS on purpose)']);
    }
    const mysqlUrl = process.env.SEED_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
    const adminPort = process.env.SEED_ADMIN_PORT ? Number(process.env.SEED_ADMIN_PORT) : undefined;
    const pgAdminPort = process.env.SEED_POSTGRES_ADMIN_PORT ? Number(process.env.SEED_POSTGRES_ADMIN_PORT) : undefined;
    const optional = (key: string, name: string) => (process.env[name] ? { [key]: process.env[name] } : {});
    await seed({
      config: loadConfigFile(env),
      aws: awsSettings(env),
      linksTable: credentialSettings(env, 'api').linksTable,
      mysqlUrl,
      ...(process.env.SEED_ADMIN_HOST ? { adminHost: process.env.SEED_ADMIN_HOST } : {}),
      ...(adminPort ? { adminPort } : {}),
      ...(process.env.SEED_ADMIN_ACCOUNT ? { adminAccount: process.env.SEED_ADMIN_ACCOUNT } : {}),
      postgres: {
        url: process.env.SEED_POSTGRES_URL ?? process.env.DEV_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
        ...optional('database', 'SEED_POSTGRES_DATABASE'),
        ...optional('adminRole', 'SEED_POSTGRES_ADMIN_ROLE'),
        ...optional('adminHost', 'SEED_POSTGRES_ADMIN_HOST'),
        ...(pgAdminPort ? { adminPort: pgAdminPort } : {}),
      },
    });
  } catch (err) {
    process.stderr.write(`[seed] failed: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
