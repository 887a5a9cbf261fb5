import pg from 'pg';

import { ConfigError } from '../../../config/errors';
import type { AdminCheckOptions, AdminCheckResult, AdminCredentials } from '../port';
import { clientConfig } from './session';
import { adminStatement, schemaStatement } from './sql';

// The start-up check of PostgreSQL admin roles, and the rule checkTarget applies
// to one schema: the admin is a CREATEROLE role, member of pg_signal_backend and
// of each managed schema's owner, and not a superuser (more than the service needs).

/** The admin's attributes as adminStatement reads them. */
export interface PgAdminRow {
  super?: unknown;
  createrole?: unknown;
  signal?: unknown;
}

/** A managed schema as schemaStatement reads it; undefined when it does not exist. */
export interface PgSchemaRow {
  owner?: unknown;
  member?: unknown;
}

/** What the admin lacks for these schemas (a superuser lacks nothing), and whether it holds more than needed. */
export function judgeAdmin(admin: PgAdminRow, schemas: ReadonlyMap<string, PgSchemaRow | undefined>): { superuser: boolean; missing: string[] } {
  const superuser = admin.super === true;
  const missing: string[] = [];
  if (!superuser) {
    if (admin.createrole !== true) missing.push('CREATEROLE');
    if (admin.signal !== true) missing.push('membership in pg_signal_backend');
  }
  for (const [schema, row] of schemas) {
    if (!row) missing.push(`schema ${schema} (it does not exist)`);
    // Granting on the schema's objects and their future ones acts as their owner.
    else if (row.member !== true) missing.push(`membership in the owner ${String(row.owner)} of schema ${schema}`);
  }
  return { superuser, missing };
}

/** Reads the admin's attributes and the schemas over a connection of its own, bounded in time. */
async function readAdmin(credentials: AdminCredentials, schemas: readonly string[], timeoutMs: number) {
  const client = new pg.Client(clientConfig({ ...credentials, database: credentials.database ?? 'postgres' }, credentials.database ?? 'postgres', timeoutMs, timeoutMs));
  client.on('error', () => undefined);
  await client.connect();
  try {
    const q = async (s: { sql: string; values: readonly (string | number)[] }) => (await client.query({ text: s.sql, values: [...s.values] })).rows as Record<string, unknown>[];
    const admin = (await q(adminStatement()))[0] ?? {};
    const rows = new Map<string, PgSchemaRow | undefined>();
    for (const schema of schemas) rows.set(schema, (await q(schemaStatement(schema)))[0]);
    return judgeAdmin(admin, rows);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function reasonOf(err: unknown, secret: string | undefined): string {
  const e = err as { code?: unknown; message?: unknown };
  let text = typeof e?.message === 'string' ? e.message.split('\n')[0]! : String(err);
  if (secret) text = text.split(secret).join('***');
  return `${text.slice(0, 300)}${typeof e?.code === 'string' ? ` (${e.code})` : ''}`;
}

/**
 * Checks every admin secret of the PostgreSQL databases, as the MySQL check does:
 * a superuser admin refuses the start (ConfigError) unless extra privileges are
 * allowed; what is missing, or a secret that cannot be checked, is logged (the
 * worker must start, or revocations elsewhere would stop).
 */
export async function checkPgAdminAccounts(options: AdminCheckOptions): Promise<AdminCheckResult> {
  const { logger } = options;
  const result: AdminCheckResult = { excess: new Map(), missing: new Map(), unchecked: new Map() };
  await Promise.all(
    [...options.scopes].map(async ([secretId, schemas]) => {
      let password: string | undefined;
      try {
        const credentials = await options.credentials.get(secretId);
        password = credentials.password;
        const { superuser, missing } = await readAdmin(credentials, schemas, options.timeoutMs ?? 5000);
        if (superuser) result.excess.set(secretId, ['SUPERUSER']);
        if (missing.length > 0) {
          result.missing.set(secretId, missing);
          logger.warn({ secretId, missingPrivileges: missing }, `the admin role lacks ${missing.join(', ')}: grants on its schemas fail at the check-target step`);
        }
        if (!superuser && missing.length === 0) logger.info({ secretId, schemas }, 'admin role checked: it holds exactly what dbaccess needs');
      } catch (err) {
        const reason = reasonOf(err, password);
        result.unchecked.set(secretId, reason);
        logger.warn({ secretId, reason }, 'could not check the admin role at start-up; grants on its databases will fail at the check-target step until this is fixed');
      }
    }),
  );
  if (result.excess.size === 0) return result;
  if (!options.allowExtraPrivileges) {
    throw new ConfigError([
      ...[...result.excess.keys()].map((secretId) => `admin secret ${secretId}: the admin role is a superuser, more than dbaccess needs`),
      'use a CREATEROLE role that is a member of pg_signal_backend and of each schema owner, or set DBACCESS_ALLOW_EXTRA_ADMIN_PRIVILEGES=true to start anyway',
    ]);
  }
  for (const secretId of result.excess.keys()) logger.warn({ secretId, extraPrivileges: ['SUPERUSER'] }, 'the admin role is a superuser (allowed by DBACCESS_ALLOW_EXTRA_ADMIN_PRIVILEGES)');
  return result;
}
