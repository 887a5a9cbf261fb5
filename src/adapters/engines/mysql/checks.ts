import { ACCOUNT_NAME, HOST_PATTERN, PRIVILEGE_WHITELIST, SCHEMA_NAME, isPrivilege, type Privilege } from '../../../domain';
import { ActivityErrorType, activityError } from '../../errors';
import { isSafePassword, SAFE_PASSWORD_RULE } from '../../password';
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
//
// This module: the checks every spliced part passes; the statements are in
// account-sql.ts (what is done to grantees' accounts) and server-sql.ts (the
// session, the admin and the server's connections).

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
export const DB_LEVEL_PRIVILEGES: Readonly<Record<SqlDialect, readonly string[]>> = {
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
export const SERVER_PRIVILEGE = /^[A-Z]{1,32}(?: [A-Z]{1,32}){0,4}$/;

export function invalid(message: string): never {
  throw activityError(ActivityErrorType.InvalidIdentifier, message);
}

/** A short, printable rendering of a refused value (it may hold control characters or be huge). */
export function shown(value: unknown): string {
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
export function checkPassword(password: string): string {
  if (!isSafePassword(password)) invalid(SAFE_PASSWORD_RULE);
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
export function privilegeList(privileges: readonly string[]): string {
  const known = new Set<string>([...PRIVILEGE_WHITELIST, 'DELETE HISTORY', 'GRANT OPTION']);
  for (const p of privileges) if (!known.has(p) && !SERVER_PRIVILEGE.test(p)) invalid(`privilege ${shown(p)} is not allowed in SQL`);
  return privileges.join(', ');
}

export function marks(n: number, mark = '?'): string {
  return Array.from({ length: n }, () => mark).join(', ');
}

export function checkConnectionId(id: number | string): string {
  const text = String(id);
  if (!/^[1-9][0-9]{0,19}$/.test(text)) invalid(`connection id ${shown(id)} is not a positive integer`);
  return text;
}

/** An account: user name and host pattern. */
export interface AccountName {
  account: string;
  host: string;
}

export function accountValues(accounts: readonly AccountName[], what: string): string[] {
  if (!Array.isArray(accounts) || accounts.length === 0) invalid(`${what} needs at least one account`);
  const values: string[] = [];
  for (const a of accounts) values.push(checkAccount(a.account), checkHost(a.host));
  return values;
}

/** How a DEFINER reads in information_schema: `user@host`, the host lower-cased as both servers store it. */
export function definerOf(account: string, host: string): string {
  return `${checkAccount(account)}@${checkHost(host).toLowerCase()}`;
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
