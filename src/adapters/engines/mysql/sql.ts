import { ACCOUNT_NAME, HOST_PATTERN, PRIVILEGE_WHITELIST, SCHEMA_NAME, isPrivilege, type Privilege } from '../../../domain';
import { ActivityErrorType, activityError } from '../../errors';
import type { SqlDialect } from '../../ports';

// Every statement the account manager sends is built here, from validated
// parts only, so that the whole SQL surface can be read (and unit-tested for
// both dialects) in one place without a server. Values go through mysql2's `?`
// placeholders; the only text spliced into SQL is (a) a schema name that
// matched SCHEMA_NAME and is then quoted and wildcard-escaped, (b) privilege
// keywords taken from the whitelist constant itself (never the caller's
// string) or derived from the server's own grant-table column names and checked
// to be plain words, (c) integers that passed Number.isSafeInteger, (d) names of
// stored objects read from the server (grantee-controlled), checked (length, no
// NUL) and backtick-quoted with backticks doubled.

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
export const CONNECTION_ADMIN: Readonly<Record<SqlDialect, string>> = {
  mysql: 'CONNECTION_ADMIN',
  mariadb: 'CONNECTION ADMIN',
};

/**
 * A privilege keyword the server names itself (a mysql.db column turned into
 * words): plain upper-case words only, so it can be spliced into GRANT/REVOKE.
 */
const SERVER_PRIVILEGE = /^[A-Z]{1,32}(?: [A-Z]{1,32}){0,4}$/;

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

/**
 * The keyword list for GRANT/REVOKE: whitelist constants, GRANT OPTION, and
 * database-level privileges the server itself names (see privilegeOfColumn),
 * which are checked to be plain upper-case words before they reach SQL.
 */
function privilegeList(privileges: readonly string[]): string {
  const known = new Set<string>([...PRIVILEGE_WHITELIST, 'DELETE HISTORY', 'GRANT OPTION']);
  for (const p of privileges) if (!known.has(p) && !SERVER_PRIVILEGE.test(p)) invalid(`privilege ${shown(p)} is not allowed in SQL`);
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

/** The two mysql.db columns whose privilege is not their name in words. */
const COLUMN_PRIVILEGE_EXCEPTIONS: Readonly<Record<string, string>> = {
  Grant_priv: 'GRANT OPTION',
  Create_tmp_table_priv: 'CREATE TEMPORARY TABLES',
};

/**
 * The privilege a mysql.db `*_priv` column stands
 * for, derived from its name (`Show_create_routine_priv` → `SHOW CREATE
 * ROUTINE`), so that a privilege a newer server adds is seen, compared and
 * revoked without this code knowing it. Undefined for anything else.
 */
export function privilegeOfColumn(column: string): string | undefined {
  if (typeof column !== 'string' || !/^[A-Za-z]+(?:_[A-Za-z]+)*_priv$/.test(column)) return undefined;
  const name = COLUMN_PRIVILEGE_EXCEPTIONS[column] ?? column.slice(0, -'_priv'.length).replace(/_/g, ' ').toUpperCase();
  return SERVER_PRIVILEGE.test(name) ? name : undefined;
}

/**
 * What `ALL PRIVILEGES ON db.*` means on the server a mysql.db row comes from:
 * every privilege column of the row but GRANT OPTION (the row has every column,
 * held or not). Falls back to what the dialect is known to have when there is no row.
 */
export function databasePrivilegesOfRow(dialect: SqlDialect, row: Readonly<Record<string, unknown>> | undefined): string[] {
  if (!row) return [...DB_LEVEL_PRIVILEGES[dialect]];
  const found: string[] = [];
  for (const column of Object.keys(row)) {
    const p = privilegeOfColumn(column);
    if (p !== undefined && p !== 'GRANT OPTION' && !found.includes(p)) found.push(p);
  }
  return found.length > 0 ? found : [...DB_LEVEL_PRIVILEGES[dialect]];
}

function isHeld(value: unknown): boolean {
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : String(value ?? '');
  return text.toUpperCase() === 'Y';
}

/** Every privilege (GRANT OPTION included) the mysql.db rows hold, named as the server's columns say. */
export function heldPrivilegesOfRows(rows: readonly Readonly<Record<string, unknown>>[]): string[] {
  const held: string[] = [];
  for (const row of rows) {
    for (const [column, value] of Object.entries(row)) {
      const p = privilegeOfColumn(column);
      if (p !== undefined && isHeld(value) && !held.includes(p)) held.push(p);
    }
  }
  return held;
}

/**
 * The privileges held in mysql.db rows, as whitelist names; every database-level
 * privilege of the server together (databasePrivilegesOfRow) reads as `ALL
 * PRIVILEGES`. `GRANT OPTION` and privileges outside the whitelist are kept, so
 * that a comparison sees them.
 */
export function privilegesFromDbRows(dialect: SqlDialect, rows: readonly Readonly<Record<string, unknown>>[]): string[] {
  const held = new Set(heldPrivilegesOfRows(rows));
  const all = databasePrivilegesOfRow(dialect, rows[0]);
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
 * previous level was: the list is every privilege the dialect is known to have,
 * plus `held`, what the account's mysql.db row holds under whatever names the
 * server gives them (a privilege a newer server added, such as MariaDB 11.3's
 * SHOW CREATE ROUTINE). Revoking privileges that are not held is not an error once
 * the account has a row for the schema (the GRANT just made sure of it).
 */
export function revokeExceptStatement(
  dialect: SqlDialect,
  schema: string,
  keep: readonly string[],
  account: string,
  host: string,
  held: readonly string[] = [],
): Statement {
  const kept = checkPrivileges(keep) as string[];
  const known = [...DB_LEVEL_PRIVILEGES[dialect]];
  for (const p of held) if (p !== 'GRANT OPTION' && p !== 'ALL PRIVILEGES' && !known.includes(p)) known.push(p);
  const revoke = kept.includes('ALL PRIVILEGES') ? [] : known.filter((p) => !kept.includes(p));
  const list = [...revoke, 'GRANT OPTION'];
  return {
    sql: `REVOKE ${privilegeList(list)} ON ${grantSchema(schema)}.* FROM ?@?`,
    values: [checkAccount(account), checkHost(host)],
    purpose: 'revoke the privileges outside the new level',
    requires: `ALL PRIVILEGES ON ${grantSchema(schema)}.* WITH GRANT OPTION`,
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

function marks(n: number, mark = '?'): string {
  return Array.from({ length: n }, () => mark).join(', ');
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

/** An account: user name and host pattern. */
export interface AccountName {
  account: string;
  host: string;
}

function accountValues(accounts: readonly AccountName[], what: string): string[] {
  if (!Array.isArray(accounts) || accounts.length === 0) invalid(`${what} needs at least one account`);
  const values: string[] = [];
  for (const a of accounts) values.push(checkAccount(a.account), checkHost(a.host));
  return values;
}

/**
 * The accounts of these user names, and the anonymous ones (''), with their host
 * patterns: whether each account exists, and which account a session of one of
 * these names belongs to (hosts.ts).
 */
export function accountsNamedStatement(users: readonly string[]): Statement {
  const names = users.map(checkAccount);
  if (names.length === 0) invalid('looking accounts up needs at least one name');
  return {
    sql: `SELECT User AS user, Host AS host FROM mysql.user WHERE User IN (${marks(names.length)}, '')`,
    values: names,
    purpose: names.length === 1 ? 'look the account up' : 'look the accounts up',
    requires: 'SELECT ON mysql.*',
  };
}

/**
 * Containment, first step: each account is locked (no new login) and its
 * password replaced by `password`, a random one that is never kept. One
 * statement for many accounts: MySQL 8 applies it to all or none, MariaDB to
 * those it can and names the others in its error; either way the caller then
 * goes one account at a time. Carries passwords: marked sensitive.
 */
export function containStatement(accounts: readonly (AccountName & { password: string })[]): Statement {
  const values = accountValues(accounts, 'ALTER USER');
  const withPasswords: string[] = [];
  accounts.forEach((a, i) => withPasswords.push(values[2 * i]!, values[2 * i + 1]!, checkPassword(a.password)));
  return {
    sql: `ALTER USER ${marks(accounts.length, '?@? IDENTIFIED BY ?')} ACCOUNT LOCK`,
    values: withPasswords,
    purpose: accounts.length === 1 ? 'lock the account and replace its password' : `lock ${accounts.length} accounts and replace their passwords`,
    requires: 'CREATE USER ON *.*',
    sensitive: true,
  };
}

/**
 * Containment, second step: every privilege the accounts hold, at every level
 * (global, every schema, tables, columns, routines) and GRANT OPTION. Needs only
 * CREATE USER on both servers. Both refuse it for an account that does not exist.
 */
export function revokeEverythingStatement(accounts: readonly AccountName[]): Statement {
  return {
    sql: `REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${marks(accounts.length, '?@?')}`,
    values: accountValues(accounts, 'REVOKE ALL'),
    purpose: accounts.length === 1 ? 'revoke every privilege of the account' : `revoke every privilege of ${accounts.length} accounts`,
    requires: 'CREATE USER ON *.*',
  };
}

/** How a DEFINER reads in information_schema: `user@host`, the host lower-cased as both servers store it. */
export function definerOf(account: string, host: string): string {
  return `${checkAccount(account)}@${checkHost(host).toLowerCase()}`;
}

/**
 * The stored objects the accounts define (views, procedures, functions,
 * triggers, events), at most `limit` per account, each row with the account's
 * exact `total`; and beyond the limit still every enabled event, which must be
 * disabled whatever the cap. Rows: kind, db, name, definer, note (a trigger's
 * table, an event's status), total, n (the row's rank for its account). Reads information_schema, which shows the
 * admin the objects of the schemas it holds privileges on: the only ones a grant
 * account can create objects in. Tables are not listed: neither server records
 * who created a table.
 */
export function leftBehindStatement(accounts: readonly AccountName[], limit: number): Statement {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) invalid(`limit ${shown(limit)} must be an integer from 1 to 10000`);
  const values = accountValues(accounts, 'listing stored objects');
  const definers: string[] = [];
  for (let i = 0; i < values.length; i += 2) definers.push(definerOf(values[i]!, values[i + 1]!));
  const inList = `DEFINER IN (${marks(definers.length)})`;
  // One character set and collation for every branch: MySQL 8's information_schema
  // columns differ in collation, and a UNION of them is otherwise refused.
  const text = (column: string) => `CONVERT(${column} USING utf8mb4) COLLATE utf8mb4_bin`;
  const branch = (kind: string, schema: string, name: string, note: string, table: string) =>
    `SELECT ${text(kind)} AS kind, ${text(schema)} AS db, ${text(name)} AS name, ${text('DEFINER')} AS definer, ${text(note)} AS note FROM information_schema.${table} WHERE ${inList}`;
  const sql =
    'SELECT kind, db, name, definer, note, total, n FROM (' +
    'SELECT x.kind, x.db, x.name, x.definer, x.note, COUNT(*) OVER (PARTITION BY x.definer) AS total, ' +
    'ROW_NUMBER() OVER (PARTITION BY x.definer ORDER BY x.kind, x.db, x.name) AS n FROM (' +
    [
      branch("'VIEW'", 'TABLE_SCHEMA', 'TABLE_NAME', 'NULL', 'VIEWS'),
      branch('ROUTINE_TYPE', 'ROUTINE_SCHEMA', 'ROUTINE_NAME', 'NULL', 'ROUTINES'),
      branch("'TRIGGER'", 'TRIGGER_SCHEMA', 'TRIGGER_NAME', 'EVENT_OBJECT_TABLE', 'TRIGGERS'),
      branch("'EVENT'", 'EVENT_SCHEMA', 'EVENT_NAME', 'STATUS', 'EVENTS'),
    ].join(' UNION ALL ') +
    ") AS x) AS y WHERE n <= ? OR (kind = 'EVENT' AND note = 'ENABLED') ORDER BY definer, kind, db, name";
  return {
    sql,
    values: [...definers, ...definers, ...definers, ...definers, limit],
    purpose: accounts.length === 1 ? 'list the stored objects the account defines' : 'list the stored objects the accounts define',
    requires: 'SELECT ON mysql.* and privileges on the managed schemas',
  };
}

/** Longest name of a schema or stored object on either server, in characters. */
const STORED_NAME_MAX = 64;

/**
 * A schema or object name read from the server, as an identifier. It is the
 * grantee's choice (backticks, quotes, anything but NUL), so it is checked
 * (1-64 characters, no NUL) and quoted with every backtick doubled.
 */
export function quoteStoredName(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || [...name].length > STORED_NAME_MAX || name.includes('\u0000')) {
    invalid(`stored object name ${shown(name)} must be 1-${STORED_NAME_MAX} characters without NUL`);
  }
  return '`' + name.replace(/`/g, '``') + '`';
}

/**
 * Stops one of the account's events from running, and keeps the account as its
 * definer. A plain ALTER EVENT makes whoever runs it the definer (both servers'
 * manuals, and seen on MariaDB 10.11): the grantee's code would then run with the
 * admin's rights once enabled again. Naming another definer needs SET USER
 * (MariaDB) or SET_ANY_DEFINER (MySQL 8.2+); refused without it (1227), and the
 * caller then leaves the event as it is (it runs with the contained account's
 * rights, which are none).
 */
export function disableEventStatement(account: string, host: string, schema: string, name: string): Statement {
  return {
    sql: `ALTER DEFINER = ?@? EVENT ${quoteStoredName(schema)}.${quoteStoredName(name)} DISABLE`,
    values: [checkAccount(account), checkHost(host)],
    purpose: "disable one of the account's events",
    requires: 'SET USER (MariaDB) or SET_ANY_DEFINER (MySQL) ON *.*, and EVENT on its schema',
  };
}

/** Drops the accounts that exist; one statement for many (see containStatement for how servers differ). */
export function dropUsersStatement(accounts: readonly AccountName[]): Statement {
  return {
    sql: `DROP USER IF EXISTS ${marks(accounts.length, '?@?')}`,
    values: accountValues(accounts, 'DROP USER'),
    purpose: accounts.length === 1 ? 'drop the account' : `drop ${accounts.length} accounts`,
    requires: 'CREATE USER ON *.*',
  };
}

export function dropUserStatement(account: string, host: string): Statement {
  return dropUsersStatement([{ account, host }]);
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
