import mysql, { type Pool, type PoolConnection, type RowDataPacket } from 'mysql2/promise';

import type { GrantTarget } from '../../domain';
import { ActivityErrorType, activityError } from '../errors';
import type { AccountManager, AdminCredentialSource, AdminCredentials, ServerEndpoint, SqlDialect } from '../ports';
import { ER, errnoOf, isAccessDenied, toActivityError } from './errors';
import {
  accountExistsStatement,
  alterUserStatement,
  checkAccount,
  checkHost,
  checkMaxUserConnections,
  checkPassword,
  checkPrivileges,
  checkSchema,
  createUserStatement,
  dropUserStatement,
  grantStatement,
  killConnectionStatement,
  listSessionsStatement,
  lockUserStatement,
  performanceSchemaStatement,
  processPrivilegeStatement,
  revokeAllStatements,
  revokeExceptStatement,
  schemaExistsStatement,
  versionStatement,
  type Statement,
} from './sql';

export interface MysqlLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface MysqlAccountManagerOptions {
  credentials: AdminCredentialSource;
  /** Milliseconds to establish a connection (default 5000). */
  connectTimeoutMs?: number;
  /** Connections per server (default 4). */
  poolSize?: number;
  logger?: MysqlLogger;
}

interface ServerInfo {
  dialect: SqlDialect;
  /** MySQL only: whether performance_schema.processlist is populated. */
  performanceSchema: boolean;
  /** Whether the admin holds PROCESS, i.e. whether the processlist shows other accounts at all. */
  seesAllSessions: boolean;
}

/** One admin secret id = one server = one pool, replaced when the secret is re-read. */
interface Server {
  readonly secretId: string;
  readonly credentials: AdminCredentials;
  readonly pool: Pool;
  info?: Promise<ServerInfo>;
  /** Connections handed out and not yet released. */
  inUse: number;
  /** Replaced after a refresh: ended once its last connection comes back. */
  retired: boolean;
}

/** What an operation runs with: a connection of the server's pool and what the server is. */
interface Session {
  server: Server;
  info: ServerInfo;
  run(statement: Statement): Promise<RowDataPacket[]>;
  /** Runs a statement whose listed errors mean "already done"; false when one of them occurred. */
  attempt(statement: Statement, done: readonly number[]): Promise<boolean>;
}

const silent: MysqlLogger = { info: () => undefined, warn: () => undefined };

/** Errors meaning "nothing to revoke": the revoke has already happened. */
const NO_SUCH_GRANT = [ER.NONEXISTING_GRANT, ER.NONEXISTING_TABLE_GRANT];

export function createMysqlAccountManager(options: MysqlAccountManagerOptions): AccountManager {
  const { credentials } = options;
  const connectTimeout = options.connectTimeoutMs ?? 5000;
  const poolSize = options.poolSize ?? 4;
  const log = options.logger ?? silent;
  const servers = new Map<string, Promise<Server>>();
  /** Every pool ever built and not yet ended, retired ones included, so close() ends them all. */
  const pools = new Set<Pool>();
  let closed = false;

  function newServer(secretId: string, creds: AdminCredentials): Server {
    const pool = mysql.createPool({
      host: creds.host,
      port: creds.port,
      user: creds.username,
      password: creds.password,
      connectTimeout,
      connectionLimit: poolSize,
      maxIdle: poolSize,
      idleTimeout: 60_000,
      waitForConnections: true,
      queueLimit: 0,
      enableKeepAlive: true,
      // One statement per call: even a bug elsewhere cannot smuggle a second one in.
      multipleStatements: false,
      namedPlaceholders: false,
      charset: 'utf8mb4',
      supportBigNumbers: true,
    });
    pools.add(pool);
    return { secretId, credentials: creds, pool, inUse: 0, retired: false };
  }

  function endPool(pool: Pool): Promise<void> {
    pools.delete(pool);
    return pool.end().catch(() => undefined);
  }

  /** Caches a server being built; forgets it if building fails, so that the next call tries again. */
  function remember(secretId: string, entry: Promise<Server>): Promise<Server> {
    servers.set(secretId, entry);
    entry.catch(() => {
      if (servers.get(secretId) === entry) servers.delete(secretId);
    });
    return entry;
  }

  function serverFor(secretId: string): Promise<Server> {
    return servers.get(secretId) ?? remember(secretId, credentials.get(secretId).then((creds) => newServer(secretId, creds)));
  }

  /**
   * After the server refused the admin login: re-read the secret (it may have been
   * rotated) and build a new pool, once per stale pool however many calls noticed.
   * The stale pool is ended when its borrowed connections come back, so that
   * operations already running on it finish.
   */
  async function refreshServer(stale: Server): Promise<Server> {
    const current = servers.get(stale.secretId);
    if (current && (await current.catch(() => undefined)) !== stale) return current;
    log.warn({ secretId: stale.secretId }, 'admin credentials refused; re-reading the secret');
    stale.retired = true;
    if (stale.inUse === 0) void endPool(stale.pool);
    return remember(
      stale.secretId,
      credentials.get(stale.secretId, { refresh: true }).then((creds) => newServer(stale.secretId, creds)),
    );
  }

  async function borrow(server: Server): Promise<PoolConnection> {
    const conn = await server.pool.getConnection();
    server.inUse += 1;
    return conn;
  }

  function giveBack(server: Server, conn: PoolConnection): void {
    conn.release();
    server.inUse -= 1;
    if (server.retired && server.inUse === 0) void endPool(server.pool);
  }

  async function detect(server: Server, conn: PoolConnection): Promise<ServerInfo> {
    const query = async (statement: Statement): Promise<RowDataPacket[]> => {
      try {
        const [rows] = await conn.query<RowDataPacket[]>(statement.sql, [...statement.values]);
        return rows;
      } catch (err) {
        throw toActivityError(err, { secretId: server.secretId, secrets: [server.credentials.password], statement });
      }
    };
    const version = String((await query(versionStatement()))[0]?.version ?? '');
    const dialect: SqlDialect = /mariadb/i.test(version) ? 'mariadb' : 'mysql';
    const performanceSchema = dialect === 'mysql' && Number((await query(performanceSchemaStatement()))[0]?.enabled) === 1;
    const seesAllSessions = (await query(processPrivilegeStatement())).length > 0;
    log.info({ secretId: server.secretId, dialect, version, performanceSchema, seesAllSessions }, 'connected to database server');
    if (!seesAllSessions) log.warn({ secretId: server.secretId }, 'admin account lacks PROCESS ON *.*: ending sessions will fail');
    return { dialect, performanceSchema, seesAllSessions };
  }

  /** The dialect, found once per pool (a rebuilt pool may point at a different server). */
  function infoFor(server: Server, conn: PoolConnection): Promise<ServerInfo> {
    if (!server.info) {
      const pending = detect(server, conn);
      server.info = pending;
      pending.catch(() => {
        if (server.info === pending) server.info = undefined;
      });
    }
    return server.info;
  }

  /** A connection of the target's server; a refused login is retried once with a freshly read secret. */
  async function connect(secretId: string): Promise<{ server: Server; conn: PoolConnection }> {
    let server = await serverFor(secretId);
    try {
      return { server, conn: await borrow(server) };
    } catch (err) {
      if (!isAccessDenied(err)) throw toActivityError(err, { secretId, secrets: [server.credentials.password] });
    }
    server = await refreshServer(server);
    try {
      return { server, conn: await borrow(server) };
    } catch (err) {
      if (isAccessDenied(err)) {
        throw activityError(
          ActivityErrorType.AdminAccessDenied,
          `the server refused the admin credentials of ${secretId}, also after re-reading the secret`,
          { errno: ER.ACCESS_DENIED, code: 'ER_ACCESS_DENIED_ERROR' },
        );
      }
      throw toActivityError(err, { secretId, secrets: [server.credentials.password] });
    }
  }

  /** Runs `work` on one pooled connection; every driver error leaves as a secret-free activity error. */
  async function withSession<T>(target: GrantTarget, secrets: readonly string[], work: (session: Session) => Promise<T>): Promise<T> {
    if (closed) throw activityError(ActivityErrorType.DatabaseUnavailable, 'the MySQL account manager is closed');
    const secretId = target.adminSecretId;
    const { server, conn } = await connect(secretId);
    try {
      const info = await infoFor(server, conn);
      const allSecrets = [server.credentials.password, ...secrets];
      const run = async (statement: Statement): Promise<RowDataPacket[]> => {
        try {
          const [rows] = await conn.query<RowDataPacket[]>(statement.sql, [...statement.values]);
          return Array.isArray(rows) ? rows : [];
        } catch (err) {
          throw toActivityError(err, { secretId, secrets: allSecrets, statement });
        }
      };
      const attempt = async (statement: Statement, done: readonly number[]): Promise<boolean> => {
        try {
          await conn.query(statement.sql, [...statement.values]);
          return true;
        } catch (err) {
          const errno = errnoOf(err);
          if (errno !== undefined && done.includes(errno)) return false;
          throw toActivityError(err, { secretId, secrets: allSecrets, statement });
        }
      };
      return await work({ server, info, run, attempt });
    } finally {
      giveBack(server, conn);
    }
  }

  /** Validates the target before anything is sent (and before any secret is read). */
  function checkTarget(target: GrantTarget, account: string): void {
    if (!target || typeof target !== 'object') throw activityError(ActivityErrorType.InvalidIdentifier, 'target is missing');
    checkSchema(target.schema);
    checkHost(target.hostPattern);
    checkAccount(account);
    if (typeof target.adminSecretId !== 'string' || target.adminSecretId.length === 0) {
      throw activityError(ActivityErrorType.InvalidIdentifier, 'adminSecretId is missing');
    }
  }

  /** The service must never lock, kill or drop the account it works through. */
  function refuseAdmin(session: Session, account: string): void {
    if (session.server.credentials.username === account) {
      throw activityError(ActivityErrorType.InvalidIdentifier, `account ${account} is the admin account itself and is not managed`);
    }
  }

  async function accountExists(session: Session, account: string, host: string): Promise<boolean> {
    const rows = await session.run(accountExistsStatement(account, host));
    return Number(rows[0]?.n ?? 0) > 0;
  }

  async function killAll(session: Session, account: string, killed: Set<string>): Promise<void> {
    if (!session.info.seesAllSessions) {
      throw activityError(
        ActivityErrorType.AdminPrivilegeMissing,
        `the admin account of ${session.server.secretId} lacks PROCESS ON *.*: it cannot see the connections of ${account} to end them`,
      );
    }
    const rows = await session.run(listSessionsStatement(session.info.dialect, account, { performanceSchema: session.info.performanceSchema }));
    for (const row of rows) {
      const id = String(row.id);
      if (killed.has(id)) continue;
      // The connection may have ended since it was listed: "unknown thread" means done.
      if (await session.attempt(killConnectionStatement(session.info.dialect, id), [ER.NO_SUCH_THREAD])) killed.add(id);
    }
  }

  async function revokeAll(session: Session, target: GrantTarget, account: string): Promise<void> {
    for (const statement of revokeAllStatements(target.schema, account, target.hostPattern)) {
      await session.attempt(statement, NO_SUCH_GRANT);
    }
  }

  const where = (target: GrantTarget, account: string) => ({
    secretId: target.adminSecretId,
    schema: target.schema,
    account,
    host: target.hostPattern,
  });

  return {
    async ensureAccount(target, account, password) {
      checkTarget(target, account);
      checkMaxUserConnections(target.maxUserConnections);
      checkPassword(password);
      return withSession(target, [password], async (session): Promise<ServerEndpoint> => {
        refuseAdmin(session, account);
        const rows = await session.run(schemaExistsStatement(target.schema));
        // information_schema compares case-insensitively; schema names are case-sensitive on Linux.
        if (!rows.some((r) => r.name === target.schema)) {
          throw activityError(
            ActivityErrorType.UnknownDatabase,
            `schema ${target.schema} does not exist on the server of ${target.adminSecretId} (or the admin account has no privileges on it)`,
          );
        }
        await session.run(createUserStatement(account, target.hostPattern, password, target.maxUserConnections));
        await session.run(alterUserStatement(account, target.hostPattern, password, target.maxUserConnections));
        log.info({ ...where(target, account), maxUserConnections: target.maxUserConnections }, 'account ensured');
        const { host, port } = session.server.credentials;
        return { host, port, engine: session.info.dialect };
      });
    },

    async setPrivileges(target, account, privileges, previous) {
      checkTarget(target, account);
      const wanted = checkPrivileges(privileges);
      if (previous !== undefined) checkPrivileges(previous);
      await withSession(target, [], async (session) => {
        refuseAdmin(session, account);
        if (previous === undefined) {
          await revokeAll(session, target, account);
          if (wanted.length > 0) await session.run(grantStatement(target.schema, wanted, account, target.hostPattern));
        } else {
          // Grant first, then take away the rest: an upgrade is never without access.
          if (wanted.length > 0) await session.run(grantStatement(target.schema, wanted, account, target.hostPattern));
          const revoke = revokeExceptStatement(session.info.dialect, target.schema, wanted, account, target.hostPattern);
          await session.attempt(revoke, NO_SUCH_GRANT);
        }
        log.info({ ...where(target, account), privileges: wanted, previous: previous ?? null }, 'privileges set');
      });
    },

    async revokeAllPrivileges(target, account) {
      checkTarget(target, account);
      await withSession(target, [], async (session) => {
        refuseAdmin(session, account);
        // No account, nothing to revoke (and MySQL and MariaDB differ on how they say so).
        if (!(await accountExists(session, account, target.hostPattern))) return;
        await revokeAll(session, target, account);
        log.info(where(target, account), 'privileges revoked');
      });
    },

    async killSessions(target, account) {
      checkTarget(target, account);
      return withSession(target, [], async (session) => {
        refuseAdmin(session, account);
        const killed = new Set<string>();
        await killAll(session, account, killed);
        if (killed.size > 0) log.info({ ...where(target, account), sessionsKilled: killed.size }, 'sessions killed');
        return killed.size;
      });
    },

    async dropAccount(target, account) {
      checkTarget(target, account);
      return withSession(target, [], async (session) => {
        refuseAdmin(session, account);
        const existed = await accountExists(session, account, target.hostPattern);
        const killed = new Set<string>();
        // Lock first so that no new session starts while the open ones are being killed;
        // kill again after the drop, because a dropped account's open sessions keep running.
        await session.run(lockUserStatement(account, target.hostPattern));
        await killAll(session, account, killed);
        await session.run(dropUserStatement(account, target.hostPattern));
        await killAll(session, account, killed);
        log.info({ ...where(target, account), existed, sessionsKilled: killed.size }, 'account dropped');
        return { existed, sessionsKilled: killed.size };
      });
    },

    async close() {
      closed = true;
      const entries = [...servers.values()];
      servers.clear();
      // Pools still being built are waited for, so that none is left open behind close().
      await Promise.all(entries.map((entry) => entry.catch(() => undefined)));
      await Promise.all([...pools].map(endPool));
    },
  };
}
