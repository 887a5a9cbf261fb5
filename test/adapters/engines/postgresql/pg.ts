import { randomBytes } from 'node:crypto';

import pg from 'pg';

import type { PgAdminCredentialSource, PgAdminCredentials } from '../../../../src/adapters/engines/postgresql';
import type { GrantTarget } from '../../../../src/domain';
import { onTestRunEnd } from '../../../support/hooks';

// Test helpers for the machine's PostgreSQL 15 (127.0.0.1:5432, postgres, trust).
// Each fixture makes its own owner role, admin role (CREATEROLE, pg_signal_backend,
// member of the owner: never a superuser), two databases owned by the owner and
// a schema; every name starts with this run's prefix, and the end of the run
// drops exactly those. Under trust authentication passwords are not checked:
// tests read pg_authid for them instead.

export const PG_HOST = '127.0.0.1';
export const PG_PORT = 5432;

export function randomName(length = 6): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join('');
}

export function randomPassword(): string {
  return `P${randomBytes(18).toString('base64url')}`;
}

export const RUN_PREFIX = `tpg${randomName(6)}`;

const roots = new Map<string, pg.Pool>();

/** A superuser pool on `database`, ended at the end of the run. */
export function rootPool(database = 'postgres'): pg.Pool {
  let pool = roots.get(database);
  if (!pool) {
    pool = new pg.Pool({ host: PG_HOST, port: PG_PORT, user: 'postgres', database, max: 2 });
    pool.on('error', () => undefined);
    roots.set(database, pool);
    if (roots.size === 1) {
      onTestRunEnd(async () => {
        for (const [name, p] of roots) if (name !== 'postgres') await p.end().catch(() => undefined);
        const main = roots.get('postgres')!;
        roots.clear();
        await cleanupRun(main);
        await main.end();
      }, { server: true });
    }
  }
  return pool;
}

async function cleanupRun(pool: pg.Pool): Promise<void> {
  const like = `${RUN_PREFIX}%`;
  const dbs = await pool.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [like]);
  for (const { datname } of dbs.rows) await pool.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  // Level groups of the service whose database is gone (this run's, or an earlier run's that stopped short).
  const groups = await pool.query<{ rolname: string }>(
    "SELECT rolname FROM pg_roles r WHERE rolname LIKE 'dbaccess-lvl-%' AND NOT rolcanlogin AND NOT EXISTS (SELECT 1 FROM pg_database d WHERE shobj_description(r.oid, 'pg_authid') = 'dbaccess level group ' || d.datname || '/' || split_part(shobj_description(r.oid, 'pg_authid'), '/', 2))",
  );
  for (const { rolname } of groups.rows) await pool.query(`DROP ROLE IF EXISTS "${rolname}"`).catch(() => undefined);
  const roles = await pool.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname DESC', [like]);
  for (const { rolname } of roles.rows) {
    await pool.query(`DROP OWNED BY "${rolname}"`).catch(() => undefined);
    await pool.query(`DROP ROLE IF EXISTS "${rolname}"`).catch(() => undefined);
  }
}

export class StaticCredentialSource implements PgAdminCredentialSource {
  reads = 0;
  constructor(public creds: PgAdminCredentials) {}
  async get(): Promise<PgAdminCredentials> {
    this.reads += 1;
    return { ...this.creds };
  }
}

export interface Fixture {
  /** Owns both databases and the schema; the admin is a member of it. */
  owner: string;
  admin: string;
  database: string;
  /** A second database of the server, whose public schema lets everyone create (as an old cluster's would). */
  otherDatabase: string;
  schema: string;
  credentials: PgAdminCredentials;
  target(extra?: Partial<GrantTarget>): GrantTarget;
  /** A connection as `user` to the fixture's database (or `database`). */
  connectAs(user: string, database?: string): Promise<pg.Client>;
  /** A superuser query in the fixture's database (or `database`). */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, values?: unknown[], database?: string): Promise<R[]>;
}

export async function createFixture(tag: string): Promise<Fixture> {
  const base = `${RUN_PREFIX}_${tag}`;
  const owner = `${base}_owner`;
  const admin = `${base}_admin`;
  const database = `${base}_db`;
  const otherDatabase = `${base}_db2`;
  const schema = 'app';
  const root = rootPool();
  await root.query(`CREATE ROLE "${owner}" LOGIN`);
  await root.query(`CREATE ROLE "${admin}" LOGIN CREATEROLE IN ROLE pg_signal_backend, "${owner}"`);
  await root.query(`CREATE DATABASE "${database}" OWNER "${owner}"`);
  await root.query(`CREATE DATABASE "${otherDatabase}" OWNER "${owner}"`);
  await rootPool(database).query(`CREATE SCHEMA ${schema} AUTHORIZATION "${owner}"`);
  await rootPool(otherDatabase).query('GRANT CREATE ON SCHEMA public TO PUBLIC');
  const clients: pg.Client[] = [];
  onTestRunEnd(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  });
  return {
    owner,
    admin,
    database,
    otherDatabase,
    schema,
    credentials: { host: PG_HOST, port: PG_PORT, username: admin, password: 'unused-under-trust', database },
    target: (extra = {}) => ({ schema, adminSecretId: `${base}/admin`, hostPattern: '%', maxUserConnections: 5, ...extra }),
    async connectAs(user, db = database) {
      const client = new pg.Client({ host: PG_HOST, port: PG_PORT, user, database: db, password: 'x' });
      client.on('error', () => undefined);
      await client.connect();
      clients.push(client);
      return client;
    },
    async query(sql, values = [], db = database) {
      return (await rootPool(db).query(sql, values)).rows;
    },
  };
}

/** The SQLSTATE a statement fails with, or undefined when it succeeds. */
export async function sqlstateOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code ?? 'no code';
  }
}
