import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFile, chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import pg from 'pg';

import { onTestRunEnd } from './hooks';
import { freePort } from './ports';
import { startTestStack, type TestStack } from './stack';

// A PostgreSQL 15 cluster of the test's own, with password (SCRAM) authentication
// on 127.0.0.1: the machine's shared server trusts every local login, so neither a
// password nor VALID UNTIL is ever checked there. The superuser `postgres` connects
// over the cluster's Unix socket (trust); every other login goes through TCP with
// its password. Stopped and removed at the end of the run.

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';

export interface PgCluster {
  host: string;
  port: number;
  /** A superuser pool on `database` (over the Unix socket). */
  root(database?: string): pg.Pool;
  stop(): Promise<void>;
}

/** Runs a cluster binary as the postgres system user when this process is root (the server refuses to run as root). */
async function asPostgres(bin: string, args: string[]): Promise<void> {
  const root = process.getuid?.() === 0;
  await run(root ? 'runuser' : join(BIN, bin), root ? ['-u', 'postgres', '--', join(BIN, bin), ...args] : args, { timeout: 60_000 });
}

export async function startPgCluster(): Promise<PgCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'dbaccess-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  await chmod(dir, 0o700);
  await asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const conf = `listen_addresses = '127.0.0.1'\nport = ${port}\nunix_socket_directories = '${dir}'\nfsync = off\nmax_connections = 60\n`;
  await appendFile(join(data, 'postgresql.conf'), conf);
  await asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', 'start']);
  const pools = new Map<string, pg.Pool>();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const p of pools.values()) await p.end().catch(() => undefined);
    await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  onTestRunEnd(stop, { server: true });
  return {
    host: '127.0.0.1',
    port,
    root(database = 'postgres') {
      let pool = pools.get(database);
      if (!pool) {
        pool = new pg.Pool({ host: dir, port, user: 'postgres', database, max: 3 });
        pool.on('error', () => undefined);
        pools.set(database, pool);
      }
      return pool;
    },
    stop,
  };
}

/** What the service needs on a cluster: an owner role, a non-superuser admin (CREATEROLE, pg_signal_backend, member of the owner), a database and a schema of the owner. */
export interface PgServiceDatabase {
  owner: string;
  admin: string;
  adminPassword: string;
  database: string;
  schema: string;
  /** The admin secret's value in the RDS shape. */
  secret: { engine: 'postgres'; host: string; port: number; username: string; password: string; dbname: string };
}

export async function seedServiceDatabase(cluster: PgCluster, base: string): Promise<PgServiceDatabase> {
  const owner = `${base}_owner`;
  const admin = `${base}_admin`;
  const database = `${base}_db`;
  const schema = 'app';
  const adminPassword = `A${randomUUID().replace(/-/g, '')}`;
  const root = cluster.root();
  await root.query(`CREATE ROLE "${owner}" NOLOGIN`);
  await root.query(`CREATE ROLE "${admin}" LOGIN CREATEROLE PASSWORD '${adminPassword}' IN ROLE pg_signal_backend, "${owner}"`);
  await root.query(`CREATE DATABASE "${database}" OWNER "${owner}"`);
  await cluster.root(database).query(`CREATE SCHEMA ${schema} AUTHORIZATION "${owner}"`);
  return {
    owner,
    admin,
    adminPassword,
    database,
    schema,
    secret: { engine: 'postgres', host: cluster.host, port: cluster.port, username: admin, password: adminPassword, dbname: database },
  };
}

/** Logs in over TCP with a password; resolves to the connected client or rejects with the server's error (28P01: refused). */
export async function loginAs(cluster: PgCluster, user: string, password: string, database: string): Promise<pg.Client> {
  const client = new pg.Client({ host: cluster.host, port: cluster.port, user, password, database, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** A role as the server holds it (read as the superuser): its ownership tag and its password verifier. */
export interface PgRoleTruth {
  comment: string | null;
  /** The SCRAM verifier in pg_authid (a secret: for leak checks, never printed). */
  verifier: string | null;
  validUntil: string | undefined;
}

export async function roleOf(cluster: PgCluster, name: string): Promise<PgRoleTruth | undefined> {
  const { rows } = await cluster
    .root()
    .query<{ comment: string | null; verifier: string | null; until: Date | null }>(
      "SELECT shobj_description(oid, 'pg_authid') AS comment, rolpassword AS verifier, rolvaliduntil AS until FROM pg_authid WHERE rolname = $1",
      [name],
    );
  const row = rows[0];
  return row ? { comment: row.comment, verifier: row.verifier, validUntil: row.until?.toISOString() } : undefined;
}

/** The backends (pids) logged in as `role`, on any database of the cluster. */
export async function sessionsOf(cluster: PgCluster, role: string): Promise<number[]> {
  const { rows } = await cluster.root().query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE usename = $1', [role]);
  return rows.map((r) => r.pid);
}

const TABLE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] as const;

/** Which table privileges `role` holds on `table` (schema-qualified) of `database`, whichever way (directly, PUBLIC, membership). */
export async function tablePrivilegesOf(cluster: PgCluster, database: string, role: string, table: string): Promise<string[]> {
  const held: string[] = [];
  for (const privilege of TABLE_PRIVILEGES) {
    const { rows } = await cluster.root(database).query<{ yes: boolean }>('SELECT has_table_privilege($1, $2, $3) AS yes', [role, table, privilege]);
    if (rows[0]?.yes) held.push(privilege);
  }
  return held;
}

/** A private cluster with one seeded service database (a table `t` of the owner in its schema) and a test stack serving it as `pg`. */
export interface PgServiceStack {
  cluster: PgCluster;
  db: PgServiceDatabase;
  stack: TestStack;
  /** Logs in as a grantee; the session is ended by stop(). */
  login(user: string, password: string): Promise<pg.Client>;
  stop(): Promise<void>;
}

export async function startPgServiceStack(base: string, options: { requireApproval?: true | string[]; reminders?: string[] } = {}): Promise<PgServiceStack> {
  const cluster = await startPgCluster();
  let db: PgServiceDatabase;
  let stack: TestStack;
  try {
    db = await seedServiceDatabase(cluster, base);
    const root = cluster.root(db.database);
    await root.query(`CREATE TABLE ${db.schema}.t (id serial PRIMARY KEY, v text)`);
    await root.query(`ALTER TABLE ${db.schema}.t OWNER TO "${db.owner}"`);
    const { reminders, ...database } = options;
    stack = await startTestStack({ postgres: { schema: db.schema, secret: db.secret, ...database }, reconciler: { mode: 'revoke' }, ...(reminders ? { reminders } : {}) });
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  const sessions: pg.Client[] = [];
  return {
    cluster,
    db,
    stack,
    async login(user, password) {
      const client = await loginAs(cluster, user, password, db.database);
      sessions.push(client);
      return client;
    },
    async stop() {
      await Promise.all(sessions.map((s) => s.end().catch(() => undefined)));
      await stack.stop();
      await cluster.stop();
    },
  };
}
