import { ACCOUNT_NAME, HOST_PATTERN, PRIVILEGE_WHITELIST, SCHEMA_NAME, isPrivilege, type Privilege } from '../../domain';
import { ActivityErrorType, activityError } from '../errors';
import type { SqlDialect } from '../ports';

// Every statement the account manager sends is built here, from validated
// parts only, so that the whole SQL surface can be read (and unit-tested for
// both dialects) in one place without a server. Values go through mysql2's `?`
// placeholders; the only text spliced into SQL is (a) a schema name that
// matched SCHEMA_NAME and is then quoted and wildcard-escaped, (b) privilege
// keywords taken from the whitelist constant itself (never the caller's
// string), (c) integers that passed Number.isSafeInteger.

/** One statement, with what the error mapping needs to explain a refusal without echoing SQL. */
export interface Statement {
  readonly sql: string;
  readonly values: readonly (string | number)[];
  /** What the statement does, for error messages (never contains a value). */
  readonly purpose: string;
  /** The admin privilege the statement relies on, named when the server refuses it. */
  readonly requires: string;
  /** Carries a password: the server's own text about it is never repeated, even scrubbed. */
  readonly sensitive?: true;
}

/** Widest MAX_USER_CONNECTIONS any supported server accepts (MySQL: unsigned 32-bit); narrower servers refuse the rest. */
export const MAX_USER_CONNECTIONS_LIMIT = 4294967295;

/**
 * Database-level privileges each dialect knows, i.e. what `ALL PRIVILEGES ON db.*` expands to.
 * Used to revoke "everything but the new set" without a gap (see revokeExceptStatement).
 * MariaDB adds DELETE HISTORY (10.3.4+); MySQL 8.4 has no database-level dynamic privileges.
 */
const DB_LEVEL_PRIVILEGES: Readonly<Record<SqlDialect, readonly string[]>> = {
  mysql: PRIVILEGE_WHITELIST.filter((p) => p !== 'ALL PRIVILEGES'),
  mariadb: [...PRIVILEGE_WHITELIST.filter((p) => p !== 'ALL PRIVILEGES'), 'DELETE HISTORY'],
};

/** The privilege that lets the admin end other accounts' connections: MariaDB spells it with a space. */
const CONNECTION_ADMIN: Readonly<Record<SqlDialect, string>> = {
  mysql: 'CONNECTION_ADMIN',
  mariadb: 'CONNECTION ADMIN',
};

function invalid(message: string): never {
  throw activityError(ActivityErrorType.InvalidIdentifier, message);
}

/** A short, printable rendering of a refused value (it may hold control characters or be huge). */
function shown(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 70 ? `${text.slice(0, 67)}...` : text;
}

export function checkAccount(account: string): string {
  if (typeof account !== 'string' || !ACCOUNT_NAME.test(account)) {
    invalid(`account ${shown(account)} must be 1-32 characters of a-z, 0-9 and _`);
  }
  return account;
}

export function checkHost(host: string): string {
  if (typeof host !== 'string' || !HOST_PATTERN.test(host)) {
    invalid(`host pattern ${shown(host)} must be 1-255 characters of letters, digits and . : % _ / -`);
  }
  return host;
}

export function checkSchema(schema: string): string {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    invalid(`schema ${shown(schema)} must be 1-64 characters of letters, digits and _`);
  }
  return schema;
}

export function checkMaxUserConnections(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_USER_CONNECTIONS_LIMIT) {
    invalid(`maxUserConnections ${shown(n)} must be an integer from 0 to ${MAX_USER_CONNECTIONS_LIMIT}`);
  }
  return n;
}

/**
 * Passwords travel as placeholders, which mysql2 escapes with backslashes. Under
 * the NO_BACKSLASH_ESCAPES sql_mode that escaping is wrong, so only characters
 * that need no escaping at all are accepted: the literal is then the same in
 * every mode. The message never includes the value.
 */
const PASSWORD = /^[\x21-\x7e]{8,256}$/;
const PASSWORD_FORBIDDEN = /['"\\]/;

export function checkPassword(password: string): string {
  if (typeof password !== 'string' || !PASSWORD.test(password) || PASSWORD_FORBIDDEN.test(password)) {
    invalid('password must be 8-256 printable ASCII characters without spaces, quotes or backslashes');
  }
  return password;
}

/**
 * The privileges as whitelist constants: exact members only (no case folding, nothing
 * "cleaned up"), de-duplicated, in whitelist order; `ALL PRIVILEGES` absorbs the rest.
 */
export function checkPrivileges(list: readonly string[]): Privilege[] {
  if (!Array.isArray(list)) invalid('privileges must be a list');
  for (const p of list) {
    if (typeof p !== 'string' || !isPrivilege(p)) {
      invalid(`privilege ${shown(p)} is not in the whitelist (${PRIVILEGE_WHITELIST.join(', ')})`);
    }
  }
  if (list.includes('ALL PRIVILEGES')) return ['ALL PRIVILEGES'];
  return PRIVILEGE_WHITELIST.filter((p) => list.includes(p));
}

/**
 * `schema` as the database part of a GRANT/REVOKE: backtick-quoted, with `_` and `%`
 * escaped, because at the database level they are wildcards and an unescaped
 * `dev_project` would also cover `devXproject`.
 */
export function grantSchema(schema: string): string {
  return '`' + checkSchema(schema).replace(/[_%\\]/g, (c) => `\\${c}`) + '`';
}

/** The keyword list for GRANT/REVOKE, built from whitelist constants only. */
function privilegeList(privileges: readonly string[]): string {
  const known = new Set<string>([...PRIVILEGE_WHITELIST, 'DELETE HISTORY', 'GRANT OPTION']);
  for (const p of privileges) if (!known.has(p)) invalid(`privilege ${shown(p)} is not allowed in SQL`);
  return privileges.join(', ');
}

// --- statements -----------------------------------------------------------

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
 * The admin's own global privileges (one row each, `privilege`), from
 * information_schema.USER_PRIVILEGES for CURRENT_USER(). Looks at direct grants
 * (what adminGrantStatements produces), not at roles. MySQL fills this table from
 * mysql.user, i.e. static privileges only: dynamic ones such as CONNECTION_ADMIN
 * are not listed there (see missingAdminPrivileges).
 */
export function adminGlobalPrivilegesStatement(): Statement {
  return {
    sql:
      'SELECT PRIVILEGE_TYPE AS privilege FROM information_schema.USER_PRIVILEGES ' +
      "WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')",
    values: [],
    purpose: "read the admin account's global privileges",
    requires: 'a working login',
  };
}

/**
 * Whether the admin holds PROCESS (or SUPER) on *.*. Without it the processlist
 * silently shows only the admin's own connections, and killSessions would report
 * "none" while the grantee stays connected: it must fail instead.
 */
export function canSeeAllSessions(held: readonly string[]): boolean {
  return held.includes('PROCESS') || held.includes('SUPER');
}

/**
 * The global privileges of adminGrantStatements that `held` (from
 * adminGlobalPrivilegesStatement) lacks, spelled as GRANT spells them. The
 * privilege to end other accounts' connections is only checked on MariaDB, where
 * USER_PRIVILEGES lists it; on MySQL a missing CONNECTION_ADMIN shows when a KILL
 * is refused (AdminPrivilegeMissing naming it).
 */
export function missingAdminPrivileges(dialect: SqlDialect, held: readonly string[]): string[] {
  const missing: string[] = [];
  if (!held.includes('CREATE USER')) missing.push('CREATE USER');
  if (!canSeeAllSessions(held)) missing.push('PROCESS');
  if (dialect === 'mariadb' && !held.includes(CONNECTION_ADMIN.mariadb) && !held.includes('SUPER')) missing.push(CONNECTION_ADMIN.mariadb);
  return missing;
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

/** Both dialects store host names lower-cased, so the pattern is lower-cased for the comparison. */
export function accountExistsStatement(account: string, host: string): Statement {
  return {
    sql: 'SELECT COUNT(*) AS n FROM mysql.user WHERE User = ? AND Host = LOWER(?)',
    values: [checkAccount(account), checkHost(host)],
    purpose: 'check whether the account exists',
    requires: 'SELECT ON mysql.*',
  };
}

/**
 * The account's database-level privileges on the schema, as mysql.db rows: the
 * grant may name the schema escaped (`dev\_project`, as this service writes it) or
 * not (`dev_project`, as the old scripts did, a wildcard pattern).
 */
export function schemaPrivilegesStatement(account: string, host: string, schema: string): Statement {
  const escaped = checkSchema(schema).replace(/[_%]/g, (c) => `\\${c}`);
  return {
    sql: 'SELECT * FROM mysql.db WHERE User = ? AND Host = LOWER(?) AND Db IN (?, ?)',
    values: [checkAccount(account), checkHost(host), schema, escaped],
    purpose: "read the account's privileges on the schema",
    requires: 'SELECT ON mysql.*',
  };
}

/** mysql.db columns and the privilege each one stands for. */
export const DB_PRIVILEGE_COLUMNS: Readonly<Record<string, string>> = {
  Select_priv: 'SELECT',
  Insert_priv: 'INSERT',
  Update_priv: 'UPDATE',
  Delete_priv: 'DELETE',
  Create_priv: 'CREATE',
  Drop_priv: 'DROP',
  Grant_priv: 'GRANT OPTION',
  References_priv: 'REFERENCES',
  Index_priv: 'INDEX',
  Alter_priv: 'ALTER',
  Create_tmp_table_priv: 'CREATE TEMPORARY TABLES',
  Lock_tables_priv: 'LOCK TABLES',
  Create_view_priv: 'CREATE VIEW',
  Show_view_priv: 'SHOW VIEW',
  Create_routine_priv: 'CREATE ROUTINE',
  Alter_routine_priv: 'ALTER ROUTINE',
  Execute_priv: 'EXECUTE',
  Event_priv: 'EVENT',
  Trigger_priv: 'TRIGGER',
  Delete_history_priv: 'DELETE HISTORY',
};

/**
 * The privileges held in mysql.db rows, as whitelist names; every database-level
 * privilege of the dialect together reads as `ALL PRIVILEGES`. `GRANT OPTION` and
 * anything outside the whitelist are kept, so that a comparison sees them.
 */
export function privilegesFromDbRows(dialect: SqlDialect, rows: readonly Record<string, unknown>[]): string[] {
  const held = new Set<string>();
  for (const row of rows) {
    for (const [column, privilege] of Object.entries(DB_PRIVILEGE_COLUMNS)) if (String(row[column] ?? '') === 'Y') held.add(privilege);
  }
  const all = DB_LEVEL_PRIVILEGES[dialect];
  if (all.every((p) => held.has(p))) {
    for (const p of all) held.delete(p);
    return ['ALL PRIVILEGES', ...held];
  }
  return [...PRIVILEGE_WHITELIST.filter((p) => held.has(p)), ...[...held].filter((p) => !(PRIVILEGE_WHITELIST as readonly string[]).includes(p))];
}

export function createUserStatement(account: string, host: string, password: string, maxUserConnections: number): Statement {
  const n = checkMaxUserConnections(maxUserConnections);
  return {
    sql: `CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ? WITH MAX_USER_CONNECTIONS ${n}`,
    values: [checkAccount(account), checkHost(host), checkPassword(password)],
    purpose: 'create the account',
    requires: 'CREATE USER ON *.*',
    sensitive: true,
  };
}

/** Resets password and limit on a retry, and unlocks an account a failed revoke may have locked. */
export function alterUserStatement(account: string, host: string, password: string, maxUserConnections: number): Statement {
  const n = checkMaxUserConnections(maxUserConnections);
  return {
    sql: `ALTER USER ?@? IDENTIFIED BY ? WITH MAX_USER_CONNECTIONS ${n} ACCOUNT UNLOCK`,
    values: [checkAccount(account), checkHost(host), checkPassword(password)],
    purpose: 'set the password and connection limit of the account',
    requires: 'CREATE USER ON *.*',
    sensitive: true,
  };
}

export function grantStatement(schema: string, privileges: readonly string[], account: string, host: string): Statement {
  const list = checkPrivileges(privileges);
  if (list.length === 0) invalid('GRANT needs at least one privilege');
  return {
    sql: `GRANT ${privilegeList(list)} ON ${grantSchema(schema)}.* TO ?@?`,
    values: [checkAccount(account), checkHost(host)],
    purpose: `grant ${list.join(', ')} on the schema`,
    requires: `ALL PRIVILEGES ON ${grantSchema(schema)}.* WITH GRANT OPTION`,
  };
}

/**
 * Revokes everything on the schema. `ALL PRIVILEGES` (rather than an explicit list)
 * also covers database-level privileges a newer server may add; GRANT OPTION is
 * separate because MySQL does not accept it in one list with ALL.
 */
export function revokeAllStatements(schema: string, account: string, host: string): Statement[] {
  const on = `${grantSchema(schema)}.*`;
  const values = [checkAccount(account), checkHost(host)];
  const requires = `ALL PRIVILEGES ON ${on} WITH GRANT OPTION`;
  return [
    { sql: `REVOKE ALL PRIVILEGES ON ${on} FROM ?@?`, values, purpose: 'revoke all privileges on the schema', requires },
    { sql: `REVOKE GRANT OPTION ON ${on} FROM ?@?`, values, purpose: 'revoke GRANT OPTION on the schema', requires },
  ];
}

/**
 * Revokes every database-level privilege except `keep`. Sent after the GRANT of a
 * level change, it never touches what the new level holds (no moment without
 * access), yet leaves exactly `keep` however stale the caller's idea of the
 * previous level was. `ALL PRIVILEGES` in the previous level is covered because
 * the list is its expansion. Revoking privileges that are not held is not an
 * error once the account has a row for the schema (the GRANT just made sure of it).
 */
export function revokeExceptStatement(dialect: SqlDialect, schema: string, keep: readonly string[], account: string, host: string): Statement {
  const kept = checkPrivileges(keep);
  const revoke = kept.includes('ALL PRIVILEGES') ? [] : DB_LEVEL_PRIVILEGES[dialect].filter((p) => !(kept as string[]).includes(p));
  const list = [...revoke, 'GRANT OPTION'];
  return {
    sql: `REVOKE ${privilegeList(list)} ON ${grantSchema(schema)}.* FROM ?@?`,
    values: [checkAccount(account), checkHost(host)],
    purpose: 'revoke the privileges outside the new level',
    requires: `ALL PRIVILEGES ON ${grantSchema(schema)}.* WITH GRANT OPTION`,
  };
}

/**
 * The account's connections. MySQL 8.4 deprecates information_schema.PROCESSLIST in
 * favour of performance_schema.processlist (readable by everyone, rows filtered by
 * PROCESS), which is empty when the Performance Schema is off, so the caller falls
 * back then. MariaDB has no performance_schema.processlist. The processlist shows
 * the user name, not the account's host pattern: names are unique per grant
 * (derived with a hash), so the name identifies the account.
 */
export function listSessionsStatement(dialect: SqlDialect, account: string, options: { performanceSchema: boolean }): Statement {
  return {
    sql: `SELECT ID AS id FROM ${processlist(dialect, options)} WHERE USER = ? AND ID <> CONNECTION_ID()`,
    values: [checkAccount(account)],
    purpose: "list the account's connections",
    requires: 'PROCESS ON *.*',
  };
}

function processlist(dialect: SqlDialect, options: { performanceSchema: boolean }): string {
  return dialect === 'mysql' && options.performanceSchema ? 'performance_schema.processlist' : 'information_schema.PROCESSLIST';
}

function checkConnectionId(id: number | string): string {
  const text = String(id);
  if (!/^[1-9][0-9]{0,19}$/.test(text)) invalid(`connection id ${shown(id)} is not a positive integer`);
  return text;
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

export function dropUserStatement(account: string, host: string): Statement {
  return {
    sql: 'DROP USER IF EXISTS ?@?',
    values: [checkAccount(account), checkHost(host)],
    purpose: 'drop the account',
    requires: 'CREATE USER ON *.*',
  };
}

/**
 * Drops the account and tells whether there was one, in one round trip: the
 * server refuses it with ER_CANNOT_USER (1396) when there is none.
 */
export function dropExistingUserStatement(account: string, host: string): Statement {
  return { ...dropUserStatement(account, host), sql: 'DROP USER ?@?' };
}

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
    `GRANT CREATE USER, PROCESS, ${CONNECTION_ADMIN[dialect]} ON *.* TO ${to}`,
    `GRANT SELECT ON mysql.* TO ${to}`,
    ...schemas.map((s) => `GRANT ALL PRIVILEGES ON ${grantSchema(s)}.* TO ${to} WITH GRANT OPTION`),
  ];
}
