import type { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';

import { ActivityErrorType, activityError } from '../../errors';
import { isConnectionFailure, toActivityError } from './errors';
import type { PgAdminCredentials } from './secret';
import { roleStatement, type AclGroup, type PgStatement } from './sql';

// What the manager and the take-down share: a session on one admin connection,
// running statements with mapped errors, and reading a role.

/** A connection of the admin, and what it needs to map errors. */
export interface PgSession {
  readonly client: pg.ClientBase;
  readonly secretId: string;
  readonly credentials: PgAdminCredentials;
  readonly secrets: readonly string[];
  readonly deadline: number;
  readonly signal?: AbortSignal;
  broken: boolean;
}


/** The driver error behind a mapped failure, for the retry decisions. */
export const driverErrors = new WeakMap<object, unknown>();

export function failure(session: Pick<PgSession, 'secretId' | 'signal'>, purpose: string): ApplicationFailure {
  const why = session.signal?.aborted ? 'cancelled' : "stopped at the call's time limit";
  return activityError(ActivityErrorType.DatabaseUnavailable, `database server of ${session.secretId}: ${why} before trying to ${purpose}`, {
    code: session.signal?.aborted ? 'CANCELLED' : 'OPERATION_TIMEOUT',
  });
}

/** Runs one statement; driver errors leave mapped (the driver error kept in driverErrors). */
export async function run(session: PgSession, statement: PgStatement): Promise<Record<string, unknown>[]> {
  if (session.signal?.aborted || Date.now() > session.deadline) throw failure(session, statement.purpose);
  try {
    const result = await session.client.query({ text: statement.sql, values: [...statement.values] });
    return (result.rows ?? []) as Record<string, unknown>[];
  } catch (err) {
    if (isConnectionFailure(err)) session.broken = true;
    const mapped = toActivityError(err, { secretId: session.secretId, secrets: [session.credentials.password, ...session.secrets], statement });
    driverErrors.set(mapped, err);
    throw mapped;
  }
}

/** Runs statements in one transaction: all take effect or none. */
export async function transaction(session: PgSession, statements: readonly PgStatement[]): Promise<void> {
  await run(session, { sql: 'BEGIN', values: [], purpose: 'start a transaction' });
  try {
    for (const s of statements) await run(session, s);
    await run(session, { sql: 'COMMIT', values: [], purpose: 'commit' });
  } catch (err) {
    await session.client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The advisory locks (two-int form, scoped to the current database) of the service's privilege changes. */
const LOCK_KEY = 0x64626163;
const ACL_LOCK = { sql: 'SELECT pg_advisory_xact_lock($1, $2)', values: [LOCK_KEY, 1], purpose: 'wait for the other privilege changes on this database' };
const GROUP_LOCK: Record<AclGroup, number> = { database: 2, tables: 3, sequences: 4 };

/**
 * A transaction of GRANT/REVOKE statements. Two transactions that change the
 * access list of one object (the database, the schema, a table) at the same time
 * do not wait for each other: the second fails with `tuple concurrently updated`.
 * So the service's privilege changes on a database take an advisory lock first
 * and run one after the other (each takes milliseconds).
 */
export async function privilegeTransaction(session: PgSession, statements: readonly PgStatement[]): Promise<void> {
  if (statements.length === 0) return;
  await transaction(session, [ACL_LOCK, ...statements]);
}

/**
 * The revocations of a batch of endings, one transaction per group of access lists
 * (sql.ts: AclGroup), each under the privilege lock shared with other endings and
 * its group's lock alone: no grant runs meanwhile, and no two transactions rewrite
 * one row, but one batch's tables are revoked while the next batch's database and
 * schema are (docs/decisions/0607-postgresql-revocations-in-a-pipeline.md).
 */
export async function revocationTransactions(session: PgSession, statements: readonly PgStatement[]): Promise<void> {
  for (const group of Object.keys(GROUP_LOCK) as AclGroup[]) {
    const ofGroup = statements.filter((s) => (s.acl ?? 'database') === group);
    if (ofGroup.length === 0) continue;
    const lock = { sql: 'SELECT pg_advisory_xact_lock_shared($1, $2), pg_advisory_xact_lock($1, $3)', values: [LOCK_KEY, 1, GROUP_LOCK[group]], purpose: `wait for the other revocations of ${group === 'database' ? 'the database and schema' : `the schema's ${group}`}` };
    await transaction(session, [lock, ...ofGroup]);
  }
}

export interface RoleRow {
  comment: string | null;
  super: boolean;
}

export async function readRole(session: PgSession, account: string): Promise<RoleRow | undefined> {
  const row = (await run(session, roleStatement(account)))[0];
  return row ? { comment: (row.comment as string | null) ?? null, super: row.super === true } : undefined;
}

export function notOurs(session: PgSession, account: string): ApplicationFailure {
  return activityError(ActivityErrorType.AccountConflict, `role ${account} on the server of ${session.secretId} was not created by this service; it is not touched`);
}

/** Connection settings shared by the pool and the one-off connections to other databases. */
export function clientConfig(creds: PgAdminCredentials, database: string, connectTimeoutMs: number, statementTimeoutMs: number): pg.ClientConfig {
  return {
    host: creds.host,
    port: creds.port,
    user: creds.username,
    password: creds.password,
    database,
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    lock_timeout: Math.max(1, Math.round((statementTimeoutMs * 2) / 3)),
    query_timeout: statementTimeoutMs + 2000,
    application_name: 'dbaccess',
    // Literals are written for standard strings (see quoteLiteral): pinned whatever the server's default.
    options: '-c standard_conforming_strings=on',
  };
}
