import type { ApplicationFailure } from '@temporalio/common';

import { ActivityErrorType, activityError, scrub, type ActivityErrorTypeName } from '../../errors';
import type { PgStatement } from './sql';

// Driver errors are never rethrown: each becomes a fresh ApplicationFailure
// built from its SQLSTATE, our own description of the statement and, only for
// statements that carry no password verifier, the server's message with every
// known secret removed. Same error types as the MySQL adapter.

export const SQLSTATE = {
  INSUFFICIENT_PRIVILEGE: '42501',
  UNDEFINED_OBJECT: '42704',
  DUPLICATE_OBJECT: '42710',
  INVALID_SCHEMA_NAME: '3F000',
  INVALID_CATALOG_NAME: '3D000',
  INVALID_PASSWORD: '28P01',
  INVALID_AUTHORIZATION: '28000',
  DEPENDENT_OBJECTS_STILL_EXIST: '2BP01',
  OBJECT_IN_USE: '55006',
  LOCK_NOT_AVAILABLE: '55P03',
  QUERY_CANCELED: '57014',
  ADMIN_SHUTDOWN: '57P01',
  CRASH_SHUTDOWN: '57P02',
  CANNOT_CONNECT_NOW: '57P03',
  TOO_MANY_CONNECTIONS: '53300',
  DEADLOCK: '40P01',
  SERIALIZATION: '40001',
  READ_ONLY: '25006',
  TUPLE_CONCURRENTLY_UPDATED: 'XX000',
} as const;

/** "Not now" rather than "no": a retry may succeed. */
const TRANSIENT = new Set<string>([
  SQLSTATE.LOCK_NOT_AVAILABLE,
  SQLSTATE.QUERY_CANCELED,
  SQLSTATE.ADMIN_SHUTDOWN,
  SQLSTATE.CRASH_SHUTDOWN,
  SQLSTATE.CANNOT_CONNECT_NOW,
  SQLSTATE.TOO_MANY_CONNECTIONS,
  SQLSTATE.DEADLOCK,
  SQLSTATE.SERIALIZATION,
  SQLSTATE.READ_ONLY,
  SQLSTATE.TUPLE_CONCURRENTLY_UPDATED,
]);

const SOCKET_CODES = new Set<string>(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

interface PgErrorShape {
  code?: unknown;
  message?: unknown;
}

export function sqlstateOf(err: unknown): string | undefined {
  const code = (err as PgErrorShape | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Transport failures: socket errors, a class 08 SQLSTATE, or a driver error without SQLSTATE (closed or timed-out connection). */
export function isConnectionFailure(err: unknown): boolean {
  const code = (err as PgErrorShape | null)?.code;
  if (typeof code === 'string' && SOCKET_CODES.has(code)) return true;
  const state = sqlstateOf(err);
  if (state === undefined) return true;
  return state.startsWith('08') || state === SQLSTATE.ADMIN_SHUTDOWN || state === SQLSTATE.CRASH_SHUTDOWN || state === SQLSTATE.CANNOT_CONNECT_NOW;
}

export function isLoginRefused(err: unknown): boolean {
  const state = sqlstateOf(err);
  return state === SQLSTATE.INVALID_PASSWORD || state === SQLSTATE.INVALID_AUTHORIZATION;
}

/** The server answered with a refusal no retry changes by itself. */
export function isPermanentRefusal(err: unknown): boolean {
  const state = sqlstateOf(err);
  return state !== undefined && !isConnectionFailure(err) && !TRANSIENT.has(state);
}

function serverText(err: unknown, secrets: readonly (string | undefined)[]): string {
  const raw = (err as PgErrorShape | null)?.message;
  const clean = scrub(typeof raw === 'string' ? raw : '', ...secrets).replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return clean.length > 300 ? `${clean.slice(0, 297)}...` : clean;
}

export interface PgErrorContext {
  statement?: PgStatement;
  secrets: readonly (string | undefined)[];
  secretId: string;
}

/** Maps anything thrown by pg to a fresh, secret-free activity error. */
export function toActivityError(err: unknown, ctx: PgErrorContext): ApplicationFailure {
  const state = sqlstateOf(err);
  const where = ctx.statement ? ctx.statement.purpose : `connect with the admin credentials of ${ctx.secretId}`;
  const text = ctx.statement?.sensitive ? '' : serverText(err, ctx.secrets);
  const suffix = text ? `: ${text}` : '';
  const details: Record<string, string> = {};
  if (state) details.sqlstate = state;
  else if (typeof (err as PgErrorShape | null)?.code === 'string') details.code = String((err as PgErrorShape).code).slice(0, 64);

  let type: ActivityErrorTypeName;
  let message: string;
  if (state === SQLSTATE.INSUFFICIENT_PRIVILEGE) {
    type = ActivityErrorType.AdminPrivilegeMissing;
    message = `the admin account of ${ctx.secretId} lacks a privilege to ${where}${suffix}`;
  } else if (isLoginRefused(err)) {
    type = ActivityErrorType.AdminAccessDenied;
    message = `the server refused the admin credentials of ${ctx.secretId}${suffix}`;
  } else if (state === SQLSTATE.INVALID_CATALOG_NAME || state === SQLSTATE.INVALID_SCHEMA_NAME) {
    type = ActivityErrorType.UnknownDatabase;
    message = `could not ${where} on the server of ${ctx.secretId}${suffix}`;
  } else if (isConnectionFailure(err)) {
    type = ActivityErrorType.DatabaseUnavailable;
    message = `database server of ${ctx.secretId} unavailable while trying to ${where} (${state ?? details.code ?? 'no code'})`;
  } else if (state !== undefined && TRANSIENT.has(state)) {
    type = ActivityErrorType.DatabaseUnavailable;
    message = `the database server of ${ctx.secretId} gave up while trying to ${where} (a lock, a time limit or a restart)${suffix}`;
  } else {
    type = ActivityErrorType.DatabaseUnavailable;
    message = `database error while trying to ${where}${suffix}`;
  }
  return activityError(type, scrub(message, ...ctx.secrets), details);
}

/** Why the server refused to take the account apart, for people: no SQL, no secret. */
export function dropRefusalText(err: unknown, secrets: readonly (string | undefined)[]): string {
  const text = serverText(err, secrets);
  return `the server refused to remove the account (SQLSTATE ${sqlstateOf(err) ?? 'unknown'}${text ? `: ${text}` : ''}); it stays unable to log in, with a password nobody knows, no privilege on the schema and no session`;
}
