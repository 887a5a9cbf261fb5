import { type GrantTarget } from '../../../domain';
import { ActivityErrorType, activityError } from '../../errors';
import type { AccountCallOptions, AdminCredentialSource, EngineAccounts, EngineLogger, ServerEndpoint } from '../port';
import { describePrivileges, missingAdminPrivileges } from './admin-grants';
import { createEnding } from './ending';
import { ER } from './errors';
import { databasePrivilegesOfColumns, dbColumnsStatement, listAccountsStatement, parseSchemaGrant, schemaGrantsStatement, accountHostsStatement } from './inventory';
import { readFootprint } from './footprint';
import { PoolRegistry } from './pools';
import { createRunner, text, type ReadySession, type Session } from './runner';
import { createSessions, refuseAdmin, where, type SessionTarget } from './sessions';
import {
  alterUserStatement,
  checkAccount,
  checkHost,
  checkMaxUserConnections,
  checkPassword,
  checkPrivileges,
  checkSchema,
  checkSessionLimits,
  createUserStatement,
  grantSchema,
  grantStatement,
  heldPrivilegesOfRows,
  mysqlReadableStatement,
  privilegesFromDbRows,
  revokeAllStatements,
  revokeExceptStatement,
  schemaExistsStatement,
  schemaPrivilegesStatement,
  type SessionLimits,
} from './sql';

// The MySQL / MariaDB AccountManager: the account operations, over the pool
// registry (pools.ts), the statement runner (runner.ts), the shared session
// handling (sessions.ts) and the batched ending of access (ending.ts).

/** The manager's logger (the port's EngineLogger). */
export type MysqlLogger = EngineLogger;

export interface MysqlAccountManagerOptions {
  credentials: AdminCredentialSource;
  /** Milliseconds to establish a connection (default 5000). */
  connectTimeoutMs?: number;
  /** Connections per server (default 4). */
  poolSize?: number;
  /** Milliseconds to wait for a pool connection, connecting included (default 10000). */
  acquireTimeoutMs?: number;
  /** Client-side limit per statement in milliseconds (default 20000); the statement is then killed on the server. */
  queryTimeoutMs?: number;
  /** Session lock_wait_timeout and innodb_lock_wait_timeout, whole seconds (default 10). */
  lockWaitTimeoutSeconds?: number;
  /** Session max_statement_time on MariaDB, max_execution_time on MySQL (SELECT only), seconds (default 15). */
  statementTimeoutSeconds?: number;
  /**
   * Limit for one method call, all its statements together, in milliseconds
   * (default 25000). Keep it below the activity's start-to-close timeout.
   */
  operationTimeoutMs?: number;
  /** Most accounts whose access is ended by one coalesced batch of statements (default 100; 1 turns coalescing off). */
  maxBatch?: number;
  logger?: MysqlLogger;
}

export type { AccountCallOptions };

/** The AccountManager and AccountInventory of MySQL and MariaDB. */
export type MysqlAccountManager = EngineAccounts;

const silent: MysqlLogger = { info: () => undefined, warn: () => undefined };

/** Errors meaning "nothing to revoke": the revoke has already happened. */
const NO_SUCH_GRANT = [ER.NONEXISTING_GRANT, ER.NONEXISTING_TABLE_GRANT];

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

export function createMysqlAccountManager(options: MysqlAccountManagerOptions): MysqlAccountManager {
  const connectTimeout = positive('connectTimeoutMs', options.connectTimeoutMs, 5000);
  const poolSize = positive('poolSize', options.poolSize, 4);
  const limits: SessionLimits = checkSessionLimits({
    lockWaitTimeoutSeconds: options.lockWaitTimeoutSeconds ?? 10,
    statementTimeoutSeconds: options.statementTimeoutSeconds ?? 15,
  });
  const log = options.logger ?? silent;
  const pools = new PoolRegistry(options.credentials, { connectTimeout, poolSize }, log);
  const runner = createRunner(
    pools,
    {
      acquireTimeoutMs: positive('acquireTimeoutMs', options.acquireTimeoutMs, 10_000),
      queryTimeoutMs: positive('queryTimeoutMs', options.queryTimeoutMs, 20_000),
      operationTimeoutMs: positive('operationTimeoutMs', options.operationTimeoutMs, 25_000),
      stopTimeoutMs: Math.min(3000, connectTimeout + 1000),
      limits,
    },
    log,
  );
  const { withSession, run, attempt, adminGrants } = runner;
  const sessions = createSessions(runner, log);
  const { hasAccount, endSessions } = sessions;
  const endAccess = createEnding(runner, sessions, log, { poolSize, maxBatch: positive('maxBatch', options.maxBatch, 100) });

  /** Validates the target (and account) before anything is sent (and before any secret is read). */
  function validate(target: GrantTarget, ...account: [string] | []): void {
    if (!target || typeof target !== 'object') throw activityError(ActivityErrorType.InvalidIdentifier, 'target is missing');
    checkSchema(target.schema);
    checkHost(target.hostPattern);
    if (account.length > 0) checkAccount(account[0]!);
    if (typeof target.adminSecretId !== 'string' || target.adminSecretId.length === 0) {
      throw activityError(ActivityErrorType.InvalidIdentifier, 'adminSecretId is missing');
    }
  }

  async function requireSchema(session: Session, target: GrantTarget): Promise<void> {
    const rows = await run(session, schemaExistsStatement(target.schema));
    // information_schema compares case-insensitively; schema names are case-sensitive on Linux.
    if (!rows.some((r) => r.name === target.schema)) {
      throw activityError(
        ActivityErrorType.UnknownDatabase,
        `schema ${target.schema} does not exist on the server of ${target.adminSecretId} (or the admin account has no privileges on it)`,
      );
    }
  }

  function endpoint(session: ReadySession): ServerEndpoint {
    const { host, port } = session.server.credentials;
    return { host, port, engine: session.info.dialect };
  }

  /** What ALL PRIVILEGES means at the database level on this server, read from its mysql.db columns. */
  async function serverDatabasePrivileges(session: ReadySession): Promise<string[]> {
    const columns = (await run(session, dbColumnsStatement())).map((r) => text(r.name));
    return databasePrivilegesOfColumns(session.info.dialect, columns);
  }

  async function revokeAll(session: Session, target: GrantTarget, account: string): Promise<void> {
    for (const statement of revokeAllStatements(target.schema, account, target.hostPattern)) {
      await attempt(session, statement, NO_SUCH_GRANT);
    }
  }

  return {
    async checkTarget(target, callOptions) {
      validate(target);
      return withSession(target.adminSecretId, [], callOptions, async (session) => {
        // The schema's own grant is proven by the GRANT itself (it may come through a pattern the start-up check reports).
        const missing = missingAdminPrivileges(session.info.dialect, await adminGrants(session), [], { essential: true });
        if (missing.length > 0) {
          throw activityError(
            ActivityErrorType.AdminPrivilegeMissing,
            `the admin account of ${target.adminSecretId} lacks ${describePrivileges(missing)} (see adminGrantStatements)`,
          );
        }
        await run(session, mysqlReadableStatement());
        await requireSchema(session, target);
        return endpoint(session);
      });
    },

    async accountExists(target, account, callOptions) {
      validate(target, account);
      return withSession(target.adminSecretId, [], callOptions, (session) => hasAccount(session, account, target.hostPattern));
    },

    // MySQL keeps no instant after which a password is refused: the expiry is the workflow's alone.
    async setAccountExpiry(target, account) {
      validate(target, account);
      return false;
    },

    async ensureAccount(target, account, password, callOptions) {
      validate(target, account);
      checkMaxUserConnections(target.maxUserConnections);
      checkPassword(password);
      return withSession(target.adminSecretId, [password], callOptions, async (session): Promise<ServerEndpoint> => {
        refuseAdmin(session, account);
        await requireSchema(session, target);
        await run(session, createUserStatement(account, target.hostPattern, password, target.maxUserConnections));
        await run(session, alterUserStatement(account, target.hostPattern, password, target.maxUserConnections));
        log.info({ ...where(target, account), maxUserConnections: target.maxUserConnections }, 'account ensured');
        return endpoint(session);
      });
    },

    async setPrivileges(target, account, privileges, previous, callOptions) {
      validate(target, account);
      const wanted = checkPrivileges(privileges);
      if (previous !== undefined) checkPrivileges(previous);
      await withSession(target.adminSecretId, [], callOptions, async (session) => {
        refuseAdmin(session, account);
        if (previous === undefined) {
          await revokeAll(session, target, account);
          if (wanted.length > 0) await run(session, grantStatement(target.schema, wanted, account, target.hostPattern));
        } else {
          // Grant first, then take away the rest: an upgrade is never without access.
          if (wanted.length > 0) await run(session, grantStatement(target.schema, wanted, account, target.hostPattern));
          // Whatever the server calls what the account holds (a privilege newer than this code included).
          const pattern = grantSchema(target.schema).slice(1, -1);
          const rows = await run(session, schemaPrivilegesStatement(account, target.hostPattern, target.schema));
          const held = heldPrivilegesOfRows(rows.filter((r) => text(r.Db) === pattern));
          const revoke = revokeExceptStatement(session.info.dialect, target.schema, wanted, account, target.hostPattern, held);
          await attempt(session, revoke, NO_SUCH_GRANT);
        }
        log.info({ ...where(target, account), privileges: wanted, previous: previous ?? null }, 'privileges set');
      });
    },

    async revokeAllPrivileges(target, account, callOptions) {
      validate(target, account);
      await withSession(target.adminSecretId, [], callOptions, async (session) => {
        refuseAdmin(session, account);
        // No account, nothing to revoke (and MySQL and MariaDB differ on how they say so).
        if (!(await hasAccount(session, account, target.hostPattern))) return;
        await revokeAll(session, target, account);
        log.info(where(target, account), 'privileges revoked');
      });
    },

    async schemaPrivileges(target, account, callOptions) {
      validate(target, account);
      return withSession(target.adminSecretId, [], callOptions, async (session) => {
        if (!(await hasAccount(session, account, target.hostPattern))) return undefined;
        const rows = await run(session, schemaPrivilegesStatement(account, target.hostPattern, target.schema));
        return privilegesFromDbRows(session.info.dialect, rows);
      });
    },

    async killSessions(target, account, callOptions) {
      validate(target, account);
      // Kept across a second run of the work within this call (see withSession).
      const own: SessionTarget = { account, host: target.hostPattern, killed: new Set<string>() };
      return withSession(target.adminSecretId, [], callOptions, async (session) => {
        refuseAdmin(session, account);
        await endSessions(session, [own], { untilNone: false });
        if (own.killed.size > 0) log.info({ ...where(target, account), sessionsKilled: own.killed.size }, 'sessions killed');
        return own.killed.size;
      });
    },

    async endAccess(target, account, callOptions) {
      validate(target, account);
      if (pools.closed) throw pools.closedFailure();
      return endAccess(target, account, callOptions?.signal);
    },

    async inventory(adminSecretId, include, callOptions) {
      if (typeof adminSecretId !== 'string' || adminSecretId.length === 0) throw activityError(ActivityErrorType.InvalidIdentifier, 'adminSecretId is missing');
      return withSession(adminSecretId, [], callOptions, async (session) => {
        const adminAccount = session.server.credentials.username;
        const keep = (user: string) => user !== adminAccount && include(user);
        const accounts = (await run(session, listAccountsStatement()))
          .map((r) => ({ user: String(r.user), host: String(r.host).toLowerCase() }))
          .filter((a) => keep(a.user));
        const grants = (await run(session, schemaGrantsStatement())).map(parseSchemaGrant).filter((g) => keep(g.user));
        const databasePrivileges = await serverDatabasePrivileges(session);
        return { dialect: session.info.dialect, databasePrivileges, adminAccount, accounts, grants };
      });
    },

    async accountGrants(target, account, callOptions) {
      validate(target, account);
      return withSession(target.adminSecretId, [], callOptions, async (session) => {
        refuseAdmin(session, account);
        const hosts = (await run(session, accountHostsStatement(account))).map((r) => String(r.host).toLowerCase());
        const grants = (await run(session, schemaGrantsStatement(account))).map(parseSchemaGrant);
        const databasePrivileges = await serverDatabasePrivileges(session);
        return { dialect: session.info.dialect, databasePrivileges, hosts, grants };
      });
    },

    close: () => pools.close(),

    // MySQL records no owner on an account: the grant's secret and audit trail say whose it is.
    async adoptAccount(target, account) {
      validate(target, account);
    },

    async accountFootprint(target, account, callOptions) {
      validate(target, account);
      return withSession(target.adminSecretId, [], callOptions, async (session) => {
        if (!(await hasAccount(session, account, target.hostPattern))) return undefined;
        return readFootprint(session.info.dialect, account, target.hostPattern, target.schema, (statement) => run(session, statement));
      });
    },
  };
}

