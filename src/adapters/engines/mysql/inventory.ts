import type { RowDataPacket } from 'mysql2/promise';
import { PRIVILEGE_WHITELIST } from '../../../domain';
import type { SchemaGrant } from '../port';
import type { SqlDialect } from '../../ports';
import { checkAccount, grantSchema, privilegeOfColumn, type Statement } from './sql';

// What the reconciler reads from a server: its accounts and their
// database-level privileges. Read from the grant tables themselves (mysql.user,
// mysql.db), which the admin may already read (SELECT ON mysql.*, see
// adminGrantStatements): no privilege beyond the documented ones.
// information_schema.SCHEMA_PRIVILEGES would not do: without SUPER it shows only
// the current account's own rows. Only names, hosts, database patterns and Y/N
// flags are selected: never a password hash.

/**
 * What `ALL PRIVILEGES ON db.*` stands for on each dialect, as far as this code
 * knows; a server may have more (MariaDB 11.3 added SHOW CREATE ROUTINE): compare
 * with the server's own set (ServerInventory.databasePrivileges) instead.
 */
export function databasePrivilegesOf(dialect: SqlDialect): string[] {
  return dialect === 'mariadb' ? [...DATABASE_PRIVILEGES, 'DELETE HISTORY'] : [...DATABASE_PRIVILEGES];
}

/** Every database-level privilege of MySQL 8 (MariaDB adds DELETE HISTORY). */
export const DATABASE_PRIVILEGES: readonly string[] = PRIVILEGE_WHITELIST.filter((p) => p !== 'ALL PRIVILEGES');

/**
 * What `ALL PRIVILEGES ON db.*` stands for on the server whose mysql.db has
 * `columns`: every `*_priv` column but Grant_priv, named generically
 * (privilegeOfColumn). The dialect's known set when the columns say nothing.
 */
export function databasePrivilegesOfColumns(dialect: SqlDialect, columns: readonly string[]): string[] {
  const found: string[] = [];
  for (const c of columns) {
    const p = privilegeOfColumn(c);
    if (p !== undefined && p !== 'GRANT OPTION' && !found.includes(p)) found.push(p);
  }
  return found.length > 0 ? found : databasePrivilegesOf(dialect);
}

export type { AccountGrants, AccountInventory, SchemaGrant, ServerAccount, ServerInventory } from '../port';

export function listAccountsStatement(): Statement {
  return { sql: 'SELECT User AS user, Host AS host FROM mysql.user', values: [], purpose: 'list the accounts', requires: 'SELECT ON mysql.*' };
}

/** One account's rows of mysql.user: which hosts it exists with. */
export function accountHostsStatement(account: string): Statement {
  return {
    sql: 'SELECT User AS user, Host AS host FROM mysql.user WHERE User = ?',
    values: [checkAccount(account)],
    purpose: 'look the account up',
    requires: 'SELECT ON mysql.*',
  };
}

/** mysql.db, all rows or one account's. `*` because the privilege columns differ between servers; the table holds no secret. */
export function schemaGrantsStatement(account?: string): Statement {
  return account === undefined
    ? { sql: 'SELECT * FROM mysql.db', values: [], purpose: 'list database-level privileges', requires: 'SELECT ON mysql.*' }
    : { sql: 'SELECT * FROM mysql.db WHERE User = ?', values: [checkAccount(account)], purpose: "list the account's database-level privileges", requires: 'SELECT ON mysql.*' };
}

/** The columns of mysql.db: which database-level privileges this server has. */
export function dbColumnsStatement(): Statement {
  return {
    sql: "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'db'",
    values: [],
    purpose: 'read which database-level privileges the server has',
    requires: 'SELECT ON mysql.*',
  };
}

/** A stored database pattern without its escapes; `undefined` when it holds a wildcard. */
export function exactSchemaOf(pattern: string): string | undefined {
  let name = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) name += pattern[++i];
    else if (c === '%' || c === '_') return undefined;
    else name += c;
  }
  return name;
}

/** Whether a stored pattern is exactly how the service writes `schema` in a GRANT. */
export function patternIsSchema(pattern: string, schema: string): boolean {
  return `\`${pattern}\`` === grantSchema(schema);
}

/** patternIsSchema for a schema read from the pattern itself (one the service could not have written is not). */
function serviceWritten(pattern: string, schema: string): boolean {
  try {
    return patternIsSchema(pattern, schema);
  } catch {
    return false;
  }
}

function text(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return String(value ?? '');
}

/** One mysql.db row; every `*_priv` column is read by its name, so a privilege a newer server adds is named too. */
export function parseSchemaGrant(row: RowDataPacket): SchemaGrant {
  const privileges: string[] = [];
  for (const [column, value] of Object.entries(row)) {
    if (!/_priv$/i.test(column) || text(value).toUpperCase() !== 'Y') continue;
    privileges.push(privilegeOfColumn(column) ?? `UNKNOWN (${column.replace(/[^A-Za-z0-9_]/g, '')})`);
  }
  const pattern = text(row.Db ?? row.db);
  const schema = exactSchemaOf(pattern);
  const serviceSchema = schema !== undefined && serviceWritten(pattern, schema) ? { serviceSchema: schema } : {};
  return { user: text(row.User ?? row.user), host: text(row.Host ?? row.host).toLowerCase(), pattern, ...(schema !== undefined ? { schema } : {}), ...serviceSchema, privileges: privileges.sort() };
}
