import { randomBytes } from 'node:crypto';
import net from 'node:net';

import mysql, { type Connection, type Pool, type RowDataPacket } from 'mysql2/promise';

import type { AdminCredentialSource, AdminCredentials } from '../../src/adapters/ports';
import { adminGrantStatements } from '../../src/adapters/engines/mysql';
import { onTestRunEnd } from './hooks';

// Test helpers for the machine's MariaDB (127.0.0.1:3306, root, empty password).
// Everything a test file creates carries one random run prefix, so files can
// run in any order (or at once) and the end-of-run cleanup drops exactly what
// this process created.

export const MARIADB_HOST = '127.0.0.1';
export const MARIADB_PORT = 3306;

/** Random lower-case suffix: names stay within ACCOUNT_NAME / SCHEMA_NAME. */
export function randomName(length = 6): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** A password made only of characters the account manager accepts. */
export function randomPassword(): string {
  return `P${randomBytes(18).toString('base64url')}`;
}

/** Prefix of every object this process creates (`t` + 6 random characters). */
export const RUN_PREFIX = `t${randomName(6)}`;

let root: Pool | undefined;

/** A root pool, shared by the run and ended at its end. */
export function rootPool(): Pool {
  if (!root) {
    const pool = mysql.createPool({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', password: '', connectionLimit: 4 });
    root = pool;
    onTestRunEnd(async () => {
      await cleanupRun(pool);
      await pool.end();
      root = undefined;
    }, { server: true });
  }
  return root;
}

/** Drops every account and schema whose name starts with this run's prefix. */
async function cleanupRun(pool: Pool): Promise<void> {
  const like = `${RUN_PREFIX}%`;
  const [users] = await pool.query<RowDataPacket[]>('SELECT User AS user, Host AS host FROM mysql.user WHERE User LIKE ?', [like]);
  for (const u of users) await pool.query('DROP USER IF EXISTS ?@?', [u.user, u.host]);
  const [schemas] = await pool.query<RowDataPacket[]>('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?', [like]);
  for (const s of schemas) await pool.query(`DROP DATABASE IF EXISTS \`${String(s.name).replace(/`/g, '``')}\``);
}

/** Creates a schema (name must start with RUN_PREFIX) with a table `t` holding one row. */
export async function createSchema(name: string): Promise<string> {
  if (!name.startsWith(RUN_PREFIX) || !/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`test schema ${name} must start with ${RUN_PREFIX}`);
  const pool = rootPool();
  await pool.query(`CREATE DATABASE IF NOT EXISTS \`${name}\``);
  await pool.query(`CREATE TABLE IF NOT EXISTS \`${name}\`.t (id INT PRIMARY KEY, v VARCHAR(20))`);
  await pool.query(`INSERT IGNORE INTO \`${name}\`.t VALUES (1, 'one')`);
  return name;
}

export interface TestAdmin {
  account: string;
  host: string;
  password: string;
  credentials: AdminCredentials;
  /** The statements it was granted with (adminGrantStatements, MariaDB dialect). */
  grants: string[];
}

/**
 * A least-privileged admin, created by root and granted exactly what
 * `adminGrantStatements` lists for `schemas`, so that a test passing through it
 * proves the list is enough.
 */
export async function createAdmin(schemas: readonly string[], options: { grants?: string[] } = {}): Promise<TestAdmin> {
  const account = `${RUN_PREFIX}_adm_${randomName(8)}`;
  const host = '%';
  const password = randomPassword();
  const pool = rootPool();
  await pool.query('CREATE USER ?@? IDENTIFIED BY ?', [account, host, password]);
  const grants = options.grants ?? adminGrantStatements('mariadb', account, host, schemas);
  for (const statement of grants) await pool.query(statement);
  return { account, host, password, grants, credentials: { host: MARIADB_HOST, port: MARIADB_PORT, username: account, password } };
}

/** Changes an account's password as root (rotation). */
export async function setPassword(account: string, host: string, password: string): Promise<void> {
  await rootPool().query('ALTER USER ?@? IDENTIFIED BY ?', [account, host, password]);
}

/**
 * An AdminCredentialSource over fixed credentials that records its calls. With
 * `stale`, plain reads return the stale value until a refresh, like a cache that
 * has not yet seen a rotation.
 */
export class StaticCredentialSource implements AdminCredentialSource {
  readonly calls: { secretId: string; refresh: boolean }[] = [];
  private cached: AdminCredentials;

  constructor(
    private current: AdminCredentials,
    stale?: AdminCredentials,
  ) {
    this.cached = stale ?? current;
  }

  /** The value the secret holds from now on (a refresh will see it). */
  rotate(next: AdminCredentials): void {
    this.current = next;
  }

  async get(secretId: string, options?: { refresh?: boolean }): Promise<AdminCredentials> {
    this.calls.push({ secretId, refresh: options?.refresh === true });
    if (options?.refresh) this.cached = this.current;
    return { ...this.cached };
  }
}

/** Connects as a grantee; throws what the server says when the login is refused. */
export async function connectAs(account: string, password: string, schema?: string): Promise<Connection> {
  return mysql.createConnection({
    host: MARIADB_HOST,
    port: MARIADB_PORT,
    user: account,
    password,
    ...(schema ? { database: schema } : {}),
    connectTimeout: 3000,
  });
}

/** Whether `account` can log in with `password` (and USE `schema`, when given). */
export async function canLogin(account: string, password: string, schema?: string): Promise<boolean> {
  try {
    const conn = await connectAs(account, password, schema);
    await conn.end();
    return true;
  } catch {
    return false;
  }
}

/** SHOW GRANTS as root, with the password hash removed so lines compare stably. */
export async function showGrants(account: string, host: string): Promise<string[]> {
  const [rows] = await rootPool().query<RowDataPacket[]>('SHOW GRANTS FOR ?@?', [account, host]);
  return rows.map((r) => String(Object.values(r)[0]).replace(/ IDENTIFIED BY PASSWORD '[^']*'/, ''));
}

/** The grant lines on one schema (SHOW GRANTS writes it with `_` escaped). */
export async function schemaGrants(account: string, host: string, schema: string): Promise<string[]> {
  const quoted = '`' + schema.replace(/_/g, '\\_') + '`.*';
  return (await showGrants(account, host)).filter((line) => line.includes(` ON ${quoted} `));
}

export async function accountExists(account: string, host: string): Promise<boolean> {
  const [rows] = await rootPool().query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM mysql.user WHERE User = ? AND Host = ?', [account, host]);
  return Number(rows[0]?.n) > 0;
}

/** Names of every account this run has created so far. */
export async function runAccounts(): Promise<string[]> {
  const [rows] = await rootPool().query<RowDataPacket[]>('SELECT User AS user FROM mysql.user WHERE User LIKE ? ORDER BY User', [`${RUN_PREFIX}%`]);
  return rows.map((r) => String(r.user));
}

/** Whether an account belongs to another test run (another process of `npm test`, under its own random prefix). */
export function isOtherRunAccount(user: string): boolean {
  return /^t[a-z0-9]{6}[_.]/.test(user) && !user.startsWith(RUN_PREFIX);
}

/** Count of every account on the server but other test runs' (to show that a refused call created nothing, anywhere). */
export async function totalAccounts(): Promise<number> {
  const [rows] = await rootPool().query<RowDataPacket[]>('SELECT User AS user FROM mysql.user');
  return rows.filter((r) => !isOtherRunAccount(String(r.user))).length;
}

/** A login's open connection ids, as root sees them. */
export async function sessionsOf(account: string): Promise<number[]> {
  const [rows] = await rootPool().query<RowDataPacket[]>('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?', [account]);
  return rows.map((r) => Number(r.id));
}

/** Runs a query on an open session; true when the server (or the socket) refused it. Ends the session either way. */
export async function queryFails(conn: Connection): Promise<boolean> {
  try {
    await conn.query('SELECT 1');
    return false;
  } catch {
    return true;
  } finally {
    conn.destroy();
  }
}

/** Grants (or revokes) global privileges of an account as root, e.g. `grantGlobal(['PROCESS'], admin)`. */
export async function grantGlobal(privileges: readonly ('PROCESS' | 'CREATE USER' | 'CONNECTION ADMIN' | 'SET USER')[], admin: { account: string; host: string }, revoke = false): Promise<void> {
  const list = privileges.join(', ');
  await rootPool().query(revoke ? `REVOKE ${list} ON *.* FROM ?@?` : `GRANT ${list} ON *.* TO ?@?`, [admin.account, admin.host]);
}

/** A lock held by root on a connection of its own (LOCK TABLES is per session: never on a pooled one). */
export interface HeldLock {
  /** Runs the unlock statement and ends the connection; idempotent. */
  release(): Promise<void>;
}

/**
 * Takes a lock as root, e.g. `holdLock('LOCK TABLES mysql.db READ', 'UNLOCK TABLES')`,
 * which makes every GRANT, REVOKE and DROP USER on the server wait. Keep it short:
 * the server is shared. Released at the end of the run at the latest.
 */
export async function holdLock(lock: string | string[], unlock: string): Promise<HeldLock> {
  const conn = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', password: '' });
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    try {
      await conn.query(unlock);
    } finally {
      conn.destroy();
    }
  };
  onTestRunEnd(release);
  try {
    for (const statement of Array.isArray(lock) ? lock : [lock]) await conn.query(statement);
  } catch (err) {
    await release().catch(() => undefined);
    throw err;
  }
  return { release };
}

/** What root's processlist shows of an account's connections: id, command, state and statement text. */
export async function processesOf(account: string): Promise<{ id: number; command: string; state: string; info: string }[]> {
  const [rows] = await rootPool().query<RowDataPacket[]>(
    'SELECT ID AS id, COMMAND AS command, STATE AS state, INFO AS info FROM information_schema.PROCESSLIST WHERE USER = ?',
    [account],
  );
  return rows.map((r) => ({ id: Number(r.id), command: String(r.command ?? ''), state: String(r.state ?? ''), info: String(r.info ?? '') }));
}

/** A TCP forwarder to the MariaDB server, standing in for a server address that can stall or go away. */
export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** New connections are accepted but not forwarded (no handshake reaches the client) until resume(). */
  pause(): void;
  resume(): void;
  /** Stops listening and cuts every connection (the address is gone: ECONNREFUSED from now on). */
  close(): Promise<void>;
}

export async function startProxy(options: { host?: string } = {}): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const held: net.Socket[] = [];
  let paused = false;
  const forward = (client: net.Socket) => {
    const upstream = net.connect(MARIADB_PORT, MARIADB_HOST);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (paused) held.push(client);
    else forward(client);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    const done = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await done;
  };
  onTestRunEnd(close);
  return {
    host,
    port,
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      for (const client of held.splice(0)) if (!client.destroyed) forward(client);
    },
    close,
  };
}

/**
 * Runs `fn` while the server's global sql_mode is `mode` (new connections start
 * with it), on a root connection of its own, and restores the previous value
 * even when `fn` throws. Keep `fn` short: the server is shared.
 */
export async function withGlobalSqlMode<T>(mode: string, fn: () => Promise<T>): Promise<T> {
  const conn = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', password: '' });
  try {
    const [rows] = await conn.query<RowDataPacket[]>('SELECT @@GLOBAL.sql_mode AS mode');
    const previous = String(rows[0]?.mode ?? '');
    await conn.query('SET GLOBAL sql_mode = ?', [mode]);
    try {
      return await fn();
    } finally {
      await conn.query('SET GLOBAL sql_mode = ?', [previous]);
    }
  } finally {
    conn.destroy();
  }
}
