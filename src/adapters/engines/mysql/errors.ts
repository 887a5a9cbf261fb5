import { ApplicationFailure } from '@temporalio/common';

import { ActivityErrorType, activityError, scrub, type ActivityErrorTypeName } from '../../errors';
import type { Statement } from './sql';

// Driver errors are never rethrown: a mysql2 error carries `sql` (with the
// password of CREATE/ALTER USER) and server messages can quote statement text.
// Each one becomes a fresh ApplicationFailure built from the error's code and
// number, our own description of the statement and, only for statements that
// carry no password, the server's message with every known secret removed.

/** Server error numbers. */
export const ER = {
  DBACCESS_DENIED: 1044,
  ACCESS_DENIED: 1045,
  NO_SUCH_THREAD: 1094,
  KILL_DENIED: 1095,
  PASSWORD_NO_MATCH: 1133,
  NONEXISTING_GRANT: 1141,
  TABLEACCESS_DENIED: 1142,
  COLUMNACCESS_DENIED: 1143,
  NONEXISTING_TABLE_GRANT: 1147,
  PARSE_ERROR: 1064,
  HOST_NOT_PRIVILEGED: 1130,
  SPECIFIC_ACCESS_DENIED: 1227,
  PROCACCESS_DENIED: 1370,
  /** DROP USER (without IF EXISTS) of an account that does not exist. */
  CANNOT_USER: 1396,
  CANT_CREATE_USER_WITH_GRANT: 1410,
  ACCOUNT_HAS_BEEN_LOCKED: 3118,
  MARIADB_ACCOUNT_LOCKED: 4151,
  LOCK_WAIT_TIMEOUT: 1205,
  QUERY_INTERRUPTED: 1317,
  /** MySQL: max_execution_time exceeded (SELECT only). */
  MYSQL_QUERY_TIMEOUT: 3024,
  /** MariaDB: max_statement_time exceeded. */
  MARIADB_STATEMENT_TIMEOUT: 1969,
  /** REVOKE ALL PRIVILEGES, GRANT OPTION FROM an account that does not exist (or another refusal of it). */
  REVOKE_GRANTS: 1269,
  LOCK_DEADLOCK: 1213,
  SERVER_SHUTDOWN: 1053,
  TOO_MANY_CONNECTIONS: 1040,
  OUT_OF_RESOURCES: 1041,
  /** The server runs with --read-only (a replica, or a failover in progress). */
  OPTION_PREVENTS_STATEMENT: 1290,
  READ_ONLY_MODE: 1836,
  MARIADB_CONNECTION_KILLED: 1927,
  MYSQL_CLIENT_INTERACTION_TIMEOUT: 4031,
  /** MySQL 8.0.22+: DROP USER of an account that is the DEFINER of a stored object. */
  CANNOT_USER_REFERENCED_AS_DEFINER: 4006,
} as const;

/**
 * Server errors that say "not now" rather than "no": a retry may succeed once the
 * lock is released, the server is back or writable again.
 */
const TRANSIENT_ERRNOS = new Set<number>([
  ER.LOCK_WAIT_TIMEOUT,
  ER.LOCK_DEADLOCK,
  ER.QUERY_INTERRUPTED,
  ER.MYSQL_QUERY_TIMEOUT,
  ER.MARIADB_STATEMENT_TIMEOUT,
  ER.SERVER_SHUTDOWN,
  ER.TOO_MANY_CONNECTIONS,
  ER.OUT_OF_RESOURCES,
  ER.OPTION_PREVENTS_STATEMENT,
  ER.READ_ONLY_MODE,
  ER.MARIADB_CONNECTION_KILLED,
  ER.MYSQL_CLIENT_INTERACTION_TIMEOUT,
]);

/** The server gave up on the statement (a lock held elsewhere, or the session's time limit). */
const SERVER_TIMEOUT_ERRNOS = new Set<number>([ER.LOCK_WAIT_TIMEOUT, ER.QUERY_INTERRUPTED, ER.MYSQL_QUERY_TIMEOUT, ER.MARIADB_STATEMENT_TIMEOUT]);

/** The server refused the admin account's own privileges for the statement. */
const PRIVILEGE_ERRNOS = new Set<number>([
  ER.DBACCESS_DENIED,
  ER.KILL_DENIED,
  ER.TABLEACCESS_DENIED,
  ER.COLUMNACCESS_DENIED,
  ER.SPECIFIC_ACCESS_DENIED,
  ER.PROCACCESS_DENIED,
  ER.CANT_CREATE_USER_WITH_GRANT,
]);

/** The admin login itself was refused; only 1045 is worth re-reading the secret for. */
const LOGIN_REFUSED_ERRNOS = new Set<number>([ER.ACCESS_DENIED, ER.HOST_NOT_PRIVILEGED, ER.ACCOUNT_HAS_BEEN_LOCKED, ER.MARIADB_ACCOUNT_LOCKED]);

/** Transport-level failures (Node socket errors and mysql2 protocol states). */
const CONNECTION_CODES = new Set<string>([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_PACKETS_OUT_OF_ORDER',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_OUT_OF_RESOURCES',
  'ER_HOST_IS_BLOCKED',
]);

interface DriverErrorShape {
  code?: unknown;
  errno?: unknown;
  sqlMessage?: unknown;
  message?: unknown;
  fatal?: unknown;
}

export function errnoOf(err: unknown): number | undefined {
  const errno = (err as DriverErrorShape | null)?.errno;
  return typeof errno === 'number' ? errno : undefined;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as DriverErrorShape | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Only the fields that identify the failure: never `sql`, `sqlMessage` or a stack. */
function details(err: unknown): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  const code = codeOf(err);
  const errno = errnoOf(err);
  if (code) out.code = code.slice(0, 64);
  if (errno !== undefined) out.errno = errno;
  return out;
}

/** The server's text (not mysql2's wrapper), scrubbed and bounded, or '' when none may be shown. */
function serverText(err: unknown, secrets: readonly (string | undefined)[]): string {
  const e = err as DriverErrorShape | null;
  const raw = typeof e?.sqlMessage === 'string' ? e.sqlMessage : typeof e?.message === 'string' ? e.message : '';
  const clean = scrub(raw, ...secrets).replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return clean.length > 300 ? `${clean.slice(0, 297)}...` : clean;
}

export function isLoginRefused(err: unknown): boolean {
  const errno = errnoOf(err);
  return errno !== undefined && LOGIN_REFUSED_ERRNOS.has(errno);
}

export function isAccessDenied(err: unknown): boolean {
  return errnoOf(err) === ER.ACCESS_DENIED;
}

export function isConnectionFailure(err: unknown): boolean {
  const code = codeOf(err);
  if (code && CONNECTION_CODES.has(code)) return true;
  // A driver error without a server error number is the client's own (closed pool, socket, timeout).
  return errnoOf(err) === undefined || (err as DriverErrorShape | null)?.fatal === true;
}

/**
 * A refusal no retry will change on its own: the server answered the statement
 * with an error of its own that is not a timeout, a lock, a shutdown or a
 * read-only server. Client-side failures (no errno, a lost connection) are not refusals.
 */
export function isPermanentRefusal(err: unknown): boolean {
  const errno = errnoOf(err);
  if (errno === undefined || isConnectionFailure(err)) return false;
  return !TRANSIENT_ERRNOS.has(errno);
}

/**
 * Why the server refused to drop a contained account, for people: no SQL, no
 * secret. 4006 is explained; anything else names the error and the server's
 * (scrubbed, bounded) text.
 */
export function dropRefusalText(err: unknown, secrets: readonly (string | undefined)[]): string {
  const errno = errnoOf(err);
  if (errno === ER.CANNOT_USER_REFERENCED_AS_DEFINER) {
    return (
      'the server refuses to drop the account while it is the definer of stored objects (MySQL error 4006); ' +
      'it stays locked, with a password nobody knows, no privilege and no session, until those objects are dropped or given another definer'
    );
  }
  const text = serverText(err, secrets);
  return `the server refused to drop the account (error ${errno ?? 'unknown'}${text ? `: ${text}` : ''}); it stays locked, with a password nobody knows, no privilege and no session`;
}

export interface ErrorContext {
  /** Where the failure happened: "admin login to <secret id>" or the statement. */
  statement?: Statement;
  /** Every secret that could appear in the driver's text (admin password, account password). */
  secrets: readonly (string | undefined)[];
  /** The admin secret id, to name the server without its address. */
  secretId: string;
}

/** Maps anything thrown by mysql2 to a fresh, secret-free activity error. */
export function toActivityError(err: unknown, ctx: ErrorContext): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const errno = errnoOf(err);
  const where = ctx.statement ? ctx.statement.purpose : `connect with the admin credentials of ${ctx.secretId}`;
  // A statement with a password gets no server text at all: scrubbing cannot catch a
  // password the server quoted only in part ("near '...").
  const text = ctx.statement?.sensitive ? '' : serverText(err, ctx.secrets);
  const suffix = text ? `: ${text}` : '';
  const info = details(err);

  let type: ActivityErrorTypeName;
  let message: string;
  if (errno !== undefined && PRIVILEGE_ERRNOS.has(errno)) {
    type = ActivityErrorType.AdminPrivilegeMissing;
    const needs = ctx.statement ? ctx.statement.requires : 'its privileges';
    message =
      errno === ER.CANT_CREATE_USER_WITH_GRANT
        ? `could not ${where}: the account does not exist, or the admin account lacks CREATE USER ON *.*`
        : `the admin account of ${ctx.secretId} lacks a privilege to ${where}: it needs ${needs}${suffix}`;
  } else if (errno === ER.PASSWORD_NO_MATCH) {
    // MariaDB under NO_AUTO_CREATE_USER (pinned for every session): a GRANT to an
    // account that does not exist fails rather than creating it without a password.
    // The same type as MySQL's 1410 above: no retry of this statement can succeed.
    type = ActivityErrorType.AdminPrivilegeMissing;
    message = `could not ${where}: the account does not exist (a GRANT never creates one)`;
  } else if (errno !== undefined && SERVER_TIMEOUT_ERRNOS.has(errno)) {
    type = ActivityErrorType.DatabaseUnavailable;
    message = `the database server of ${ctx.secretId} gave up waiting while trying to ${where} (a lock held by another session, or the session's time limit)${suffix}`;
  } else if (errno !== undefined && LOGIN_REFUSED_ERRNOS.has(errno)) {
    type = ActivityErrorType.AdminAccessDenied;
    message = `the server refused the admin credentials of ${ctx.secretId}${suffix}`;
  } else if (isConnectionFailure(err)) {
    type = ActivityErrorType.DatabaseUnavailable;
    message = `database server of ${ctx.secretId} unavailable while trying to ${where} (${info.code ?? 'no code'})`;
  } else if (errno === ER.PARSE_ERROR) {
    // Our statements are fixed text, so a parse error means the server refused one
    // of the values (e.g. a connection limit beyond its range): no retry fixes it.
    type = ActivityErrorType.InvalidIdentifier;
    message = `the server refused a value while trying to ${where}${suffix}`;
  } else {
    type = ActivityErrorType.DatabaseUnavailable;
    message = `database error while trying to ${where}${suffix}`;
  }
  return activityError(type, scrub(message, ...ctx.secrets), info);
}
