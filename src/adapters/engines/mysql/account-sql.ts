import { PRIVILEGE_WHITELIST } from '../../../domain';
import type { SqlDialect } from '../../ports';
import {
  DB_LEVEL_PRIVILEGES,
  SERVER_PRIVILEGE,
  accountValues,
  checkAccount,
  checkHost,
  checkMaxUserConnections,
  checkPassword,
  checkPrivileges,
  checkSchema,
  definerOf,
  grantSchema,
  invalid,
  marks,
  privilegeList,
  quoteStoredName,
  shown,
  type AccountName,
  type Statement,
} from './checks';

// Statements about grantees' accounts: their existence, privileges, containment,
// what they define, their drop (built from checked parts only, see checks.ts).

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
