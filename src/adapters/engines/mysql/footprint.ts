import type { RowDataPacket } from 'mysql2/promise';
import type { AccountHolding, SqlDialect } from '../../ports';
import { parseSchemaGrant } from './inventory';
import { checkAccount, checkHost, checkSchema, privilegeOfColumn, type Statement } from './sql';

// Everything an account holds besides its database-level privileges on one schema:
// global privileges, other schemas, tables, columns, routines, roles, proxy grants.
// An account the old scripts made holds one schema's privileges and nothing else;
// anything more is not the service's to adopt (a revoke would drop it with the
// account). Read from the grant tables (SELECT ON mysql.*, which the admin holds):
// names, hosts and privilege flags only, never a password hash.

const FROM = 'SELECT ON mysql.*';
/** Column names of mysql.user's privilege flags (read from the server: they differ between versions). */
const PRIV_COLUMN = /^[A-Za-z_]{1,64}_priv$/;

/** The `*_priv` columns of mysql.user on this server. */
export function globalPrivilegeColumnsStatement(): Statement {
  return {
    sql: "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'user' AND COLUMN_NAME LIKE '%\\_priv'",
    values: [],
    purpose: 'list the global privilege columns',
    requires: FROM,
  };
}

/** The account's global privilege flags: only the columns named (checked, quoted), so no password hash is read. */
export function globalPrivilegesStatement(columns: readonly string[], account: string, host: string): Statement {
  const named = columns.filter((c) => PRIV_COLUMN.test(c));
  return {
    sql: `SELECT ${named.length ? named.map((c) => `\`${c}\``).join(', ') : "'N' AS none_priv"} FROM mysql.user WHERE User = ? AND Host = LOWER(?)`,
    values: [checkAccount(account), checkHost(host)],
    purpose: "read the account's global privileges",
    requires: FROM,
  };
}

/** The statements of one footprint read, by what they find. */
export function footprintStatements(dialect: SqlDialect, account: string, host: string, schema: string): Record<string, Statement> {
  const who = [checkAccount(account), checkHost(host)];
  const escaped = checkSchema(schema).replace(/[_%]/g, (c) => `\\${c}`);
  const read = (sql: string, purpose: string, values: readonly string[] = who): Statement => ({ sql, values, purpose, requires: FROM });
  return {
    // The schema itself, escaped or not (as the old scripts wrote it), is the adoption's own.
    schemas: read('SELECT * FROM mysql.db WHERE User = ? AND Host = LOWER(?) AND Db NOT IN (?, ?)', "read the account's privileges on other schemas", [...who, schema, escaped]),
    tables: read('SELECT Db AS db, Table_name AS name, Table_priv AS privileges FROM mysql.tables_priv WHERE User = ? AND Host = LOWER(?)', "read the account's table privileges"),
    columns: read(
      'SELECT Db AS db, Table_name AS tableName, Column_name AS name, Column_priv AS privileges FROM mysql.columns_priv WHERE User = ? AND Host = LOWER(?)',
      "read the account's column privileges",
    ),
    routines: read('SELECT Db AS db, Routine_name AS name, Routine_type AS type, Proc_priv AS privileges FROM mysql.procs_priv WHERE User = ? AND Host = LOWER(?)', "read the account's routine privileges"),
    proxies: read('SELECT Proxied_user AS user, Proxied_host AS host FROM mysql.proxies_priv WHERE User = ? AND Host = LOWER(?)', "read the account's proxy grants"),
    ...(dialect === 'mariadb'
      ? { roles: read('SELECT Role AS role, NULL AS host FROM mysql.roles_mapping WHERE User = ? AND Host = LOWER(?)', "read the account's roles") }
      : {
          roles: read('SELECT FROM_USER AS role, FROM_HOST AS host FROM mysql.role_edges WHERE TO_USER = ? AND TO_HOST = LOWER(?)', "read the account's roles"),
          // MySQL: any account can be granted to others as a role; dropping it would take that from them.
          roleOf: read('SELECT TO_USER AS user, TO_HOST AS host FROM mysql.role_edges WHERE FROM_USER = ? AND FROM_HOST = LOWER(?)', 'read which accounts hold the account as a role'),
          // MySQL 8's dynamic global privileges (BACKUP_ADMIN, CONNECTION_ADMIN...) are not mysql.user columns.
          dynamic: read('SELECT PRIV AS privilege FROM mysql.global_grants WHERE USER = ? AND HOST = LOWER(?)', "read the account's dynamic privileges"),
        }),
  };
}

const GLOBAL_NAMES: Readonly<Record<string, string>> = {
  Grant_priv: 'GRANT OPTION',
  Create_tmp_table_priv: 'CREATE TEMPORARY TABLES',
  Repl_slave_priv: 'REPLICATION SLAVE',
  Repl_client_priv: 'REPLICATION CLIENT',
  Show_db_priv: 'SHOW DATABASES',
  Super_priv: 'SUPER',
};

/** A mysql.user flag column as the privilege's name. */
export function globalPrivilegeName(column: string): string {
  return GLOBAL_NAMES[column] ?? privilegeOfColumn(column) ?? column.replace(/_priv$/i, '').replace(/_/g, ' ').toUpperCase();
}

const text = (value: unknown): string => (Buffer.isBuffer(value) ? value.toString('utf8') : String(value ?? ''));
/** A SET column (`Select,Insert`) as `SELECT, INSERT`; empty when nothing is set. */
const privilegeSet = (value: unknown): string =>
  text(value)
    .split(',')
    .map((p) => p.trim().toUpperCase())
    .filter(Boolean)
    .join(', ');

/**
 * Reads the account's footprint with `run` (one statement at a time, on one admin
 * session): what it holds besides its privileges on `schema`. USAGE is not a holding.
 */
export async function readFootprint(
  dialect: SqlDialect,
  account: string,
  host: string,
  schema: string,
  run: (statement: Statement) => Promise<RowDataPacket[]>,
): Promise<AccountHolding[]> {
  const holdings: AccountHolding[] = [];
  const columns = (await run(globalPrivilegeColumnsStatement())).map((r) => text(r.name ?? r.COLUMN_NAME));
  for (const row of await run(globalPrivilegesStatement(columns, account, host))) {
    for (const [column, value] of Object.entries(row)) if (text(value).toUpperCase() === 'Y') holdings.push({ kind: 'global', what: globalPrivilegeName(column) });
  }
  const statements = footprintStatements(dialect, account, host, schema);
  if (statements.dynamic) for (const r of await run(statements.dynamic)) holdings.push({ kind: 'global', what: text(r.privilege) });
  for (const r of await run(statements.schemas!)) {
    const g = parseSchemaGrant(r);
    holdings.push({ kind: 'schema', what: `${g.schema ?? g.pattern}: ${g.privileges.join(', ') || 'USAGE'}` });
  }
  for (const r of await run(statements.tables!)) {
    const privileges = privilegeSet(r.privileges);
    if (privileges) holdings.push({ kind: 'table', what: `${text(r.db)}.${text(r.name)}: ${privileges}` });
  }
  for (const r of await run(statements.columns!)) holdings.push({ kind: 'column', what: `${text(r.db)}.${text(r.tableName)}.${text(r.name)}: ${privilegeSet(r.privileges) || 'USAGE'}` });
  for (const r of await run(statements.routines!)) {
    holdings.push({ kind: 'routine', what: `${text(r.type).toLowerCase()} ${text(r.db)}.${text(r.name)}: ${privilegeSet(r.privileges) || 'USAGE'}` });
  }
  for (const r of await run(statements.roles!)) holdings.push({ kind: 'role', what: r.host === null || r.host === undefined ? text(r.role) : `${text(r.role)}@${text(r.host)}` });
  for (const r of await run(statements.proxies!)) holdings.push({ kind: 'proxy', what: `${text(r.user) || "''"}@${text(r.host)}` });
  if (statements.roleOf) for (const r of await run(statements.roleOf)) holdings.push({ kind: 'role-of', what: `${text(r.user)}@${text(r.host)}` });
  return holdings;
}
