import type { SqlDialect } from '../../ports';
import { CONNECTION_ADMIN, checkAccount, checkConnectionId, checkHost, checkSchema, grantSchema, invalid, marks, shown, type Statement } from './checks';

// Statements about the session, the admin account and the server's connections
// (built from checked parts only, see checks.ts).

export function versionStatement(): Statement {
  return { sql: 'SELECT VERSION() AS version', values: [], purpose: 'read the server version', requires: 'a working login' };
}

export function performanceSchemaStatement(): Statement {
  return {
    sql: 'SELECT @@GLOBAL.performance_schema AS enabled',
    values: [],
    purpose: 'check whether the Performance Schema is on',
    requires: 'a working login',
  };
}

/**
 * The admin's own grants, as SHOW GRANTS lines (parsed by admin-check.ts). Unlike
 * information_schema.USER_PRIVILEGES, which MySQL fills from mysql.user only, this
 * lists dynamic privileges such as CONNECTION_ADMIN too. Needs no privilege.
 */
export function adminGrantsStatement(): Statement {
  return { sql: 'SHOW GRANTS FOR CURRENT_USER()', values: [], purpose: "read the admin account's grants", requires: 'a working login' };
}

/**
 * Refused (1227) unless the session itself holds PROCESS. The processlist does not
 * fail without PROCESS, it silently shows only the admin's own connections, and a
 * session keeps the global privileges it logged in with: USER_PRIVILEGES can say
 * PROCESS while a connection opened before the GRANT still lacks it. SHOW ENGINE
 * needs PROCESS on both servers; its output is ignored.
 */
export function processProbeStatement(): Statement {
  return {
    sql: 'SHOW ENGINE INNODB STATUS',
    values: [],
    purpose: "check that the admin account can see other accounts' connections",
    requires: 'PROCESS ON *.*',
  };
}

/** Reads no row, but is refused unless the admin may read mysql.* (where accounts are looked up). */
export function mysqlReadableStatement(): Statement {
  return {
    sql: 'SELECT COUNT(*) AS n FROM mysql.user WHERE 1 = 0',
    values: [],
    purpose: 'check that the admin account can look up accounts',
    requires: 'SELECT ON mysql.*',
  };
}

/** What the session limits are made of (see sessionSettingsStatement). */
export interface SessionLimits {
  /** lock_wait_timeout and innodb_lock_wait_timeout, whole seconds. */
  readonly lockWaitTimeoutSeconds: number;
  /** MariaDB max_statement_time (seconds); MySQL max_execution_time (the same in ms, SELECT only). */
  readonly statementTimeoutSeconds: number;
}

/**
 * The sql_mode every session of the manager runs with, pinned whatever the
 * server's global default is. What matters:
 * - MariaDB: NO_AUTO_CREATE_USER, so that a GRANT to an account that does not
 *   exist (dropped by a compensation while the GRANT waited on a lock) fails
 *   with 1133 instead of creating the account without a password. MySQL 8
 *   removed the mode (setting it is an error) because its GRANT never creates
 *   accounts (it fails with 1410).
 * - neither NO_BACKSLASH_ESCAPES (mysql2 escapes placeholder values with
 *   backslashes) nor ANSI_QUOTES.
 */
export const SESSION_SQL_MODE: Readonly<Record<SqlDialect, string>> = {
  mariadb: 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION',
  mysql: 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION',
};

/** Longest limit accepted here (one year, in seconds, the maximum of lock_wait_timeout). */
const MAX_LIMIT_SECONDS = 31536000;

export function checkSessionLimits(limits: SessionLimits): SessionLimits {
  const lock = limits?.lockWaitTimeoutSeconds;
  const stmt = limits?.statementTimeoutSeconds;
  if (!Number.isSafeInteger(lock) || lock < 1 || lock > MAX_LIMIT_SECONDS) {
    invalid(`lockWaitTimeoutSeconds ${shown(lock)} must be an integer from 1 to ${MAX_LIMIT_SECONDS}`);
  }
  if (typeof stmt !== 'number' || !Number.isFinite(stmt) || stmt < 0.001 || stmt > MAX_LIMIT_SECONDS) {
    invalid(`statementTimeoutSeconds ${shown(stmt)} must be a number from 0.001 to ${MAX_LIMIT_SECONDS}`);
  }
  return limits;
}

/**
 * Session settings sent on every pooled connection before its first use, so
 * that no statement waits on the server for longer than the activity attempt
 * that sent it. None needs a privilege at session level.
 * - lock_wait_timeout: metadata and backup locks (MySQL 8 `LOCK INSTANCE FOR
 *   BACKUP`, MariaDB `BACKUP STAGE BLOCK_COMMIT`), which block CREATE/ALTER/DROP
 *   USER and GRANT. innodb_lock_wait_timeout: row locks on InnoDB tables (MySQL 8
 *   keeps its privilege tables in InnoDB).
 * - MariaDB max_statement_time: every statement, account statements included.
 *   It is the only server-side bound for an account statement waiting on a table
 *   lock (`LOCK TABLES mysql.db READ`, `FLUSH TABLES WITH READ LOCK`), which
 *   MariaDB does not count against lock_wait_timeout.
 * - MySQL max_execution_time covers read-only SELECT statements only: MySQL has
 *   no server-side limit for account statements beyond the lock timeouts. The
 *   manager's client-side timeout (which KILLs the statement) covers the rest.
 */
export function sessionSettingsStatement(dialect: SqlDialect, limits: SessionLimits): Statement {
  const { lockWaitTimeoutSeconds, statementTimeoutSeconds } = checkSessionLimits(limits);
  const common = 'SET SESSION sql_mode = ?, lock_wait_timeout = ?, innodb_lock_wait_timeout = ?';
  let sql: string;
  let statementLimit: number;
  if (dialect === 'mariadb') {
    sql = `${common}, max_statement_time = ?`;
    statementLimit = statementTimeoutSeconds;
  } else if (dialect === 'mysql') {
    sql = `${common}, max_execution_time = ?`;
    statementLimit = Math.max(1, Math.round(statementTimeoutSeconds * 1000));
  } else {
    invalid(`dialect ${shown(dialect)} must be mysql or mariadb`);
  }
  return {
    sql,
    values: [SESSION_SQL_MODE[dialect], lockWaitTimeoutSeconds, lockWaitTimeoutSeconds, statementLimit],
    purpose: 'set the session limits and sql_mode',
    requires: 'a working login',
  };
}

/** How many connections with that id exist (0 or 1). The admin sees its own connections without PROCESS. */
export function connectionAliveStatement(dialect: SqlDialect, id: number | string, options: { performanceSchema: boolean }): Statement {
  return {
    sql: `SELECT COUNT(*) AS n FROM ${processlist(dialect, options)} WHERE ID = ?`,
    values: [checkConnectionId(id)],
    purpose: 'check that a stopped statement has ended',
    requires: 'a working login',
  };
}

/** The exact-name match is re-checked by the caller: information_schema compares case-insensitively. */
export function schemaExistsStatement(schema: string): Statement {
  return {
    sql: 'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    values: [checkSchema(schema)],
    purpose: 'check that the schema exists',
    requires: `privileges on ${grantSchema(schema)}.* (to see the schema)`,
  };
}

/**
 * The connections of every account named `users`, with the client host (to tell
 * apart accounts of one name, see hosts.ts) and the command (`Killed` once a KILL
 * has reached it). MySQL 8.4 deprecates information_schema.PROCESSLIST in favour
 * of performance_schema.processlist (readable by everyone, rows filtered by
 * PROCESS), which is empty when the Performance Schema is off, so the caller falls
 * back then. MariaDB has no performance_schema.processlist.
 */
export function listSessionsStatement(dialect: SqlDialect, users: string | readonly string[], options: { performanceSchema: boolean }): Statement {
  const names = (typeof users === 'string' ? [users] : [...users]).map(checkAccount);
  if (names.length === 0) invalid('listing sessions needs at least one account');
  return {
    sql: `SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command FROM ${processlist(dialect, options)} WHERE USER IN (${marks(names.length)}) AND ID <> CONNECTION_ID()`,
    values: names,
    purpose: names.length === 1 ? "list the account's connections" : "list the accounts' connections",
    requires: 'PROCESS ON *.*',
  };
}

function processlist(dialect: SqlDialect, options: { performanceSchema: boolean }): string {
  return dialect === 'mysql' && options.performanceSchema ? 'performance_schema.processlist' : 'information_schema.PROCESSLIST';
}

/** Same syntax on both servers; the privilege behind it is spelled differently. */
export function killConnectionStatement(dialect: SqlDialect, id: number | string): Statement {
  const text = checkConnectionId(id);
  return {
    sql: `KILL CONNECTION ${text}`,
    values: [],
    purpose: "end one of the account's connections",
    requires: `${CONNECTION_ADMIN[dialect]} ON *.*`,
  };
}

/**
 * The global privileges the admin needs. MariaDB also SET USER: to disable a
 * grantee's events while keeping the grantee as their definer
 * (disableEventStatement). Not on MySQL: its equivalent, SET_ANY_DEFINER, would
 * also let DROP USER orphan the objects an account defines instead of refusing
 * (4006), the refusal that keeps such an account contained and reported until a
 * person deals with its objects; a contained account's event runs with no
 * privilege.
 */
export const ADMIN_GLOBAL_PRIVILEGES: Readonly<Record<SqlDialect, readonly string[]>> = {
  mysql: ['CREATE USER', 'PROCESS', CONNECTION_ADMIN.mysql],
  mariadb: ['CREATE USER', 'PROCESS', CONNECTION_ADMIN.mariadb, 'SET USER'],
};

/**
 * The complete grants of the service's admin account: everything it needs and nothing
 * more. For the dev stack, the README and the tests (which run through an admin
 * created with exactly these). The names are checked and then written as quoted
 * literals, because these statements are meant to be run as text.
 */
export function adminGrantStatements(dialect: SqlDialect, adminAccount: string, adminHost: string, schemas: readonly string[]): string[] {
  if (dialect !== 'mysql' && dialect !== 'mariadb') invalid(`dialect ${shown(dialect)} must be mysql or mariadb`);
  const to = `'${checkAccount(adminAccount)}'@'${checkHost(adminHost)}'`;
  return [
    `GRANT ${ADMIN_GLOBAL_PRIVILEGES[dialect].join(', ')} ON *.* TO ${to}`,
    `GRANT SELECT ON mysql.* TO ${to}`,
    ...schemas.map((s) => `GRANT ALL PRIVILEGES ON ${grantSchema(s)}.* TO ${to} WITH GRANT OPTION`),
  ];
}
