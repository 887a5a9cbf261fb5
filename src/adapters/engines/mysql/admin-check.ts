import mysql from 'mysql2/promise';

import type { FileConfig } from '../../../config';
import { ConfigError } from '../../../config/errors';
import type { AdminCheckOptions as PortAdminCheckOptions, AdminCheckResult, AdminCredentials } from '../port';
import type { SqlDialect } from '../../ports';
import { describePrivileges, excessAdminPrivileges, missingAdminPrivileges } from './admin-grants';

// The start-up check of the admin accounts, over a connection of its own per
// admin secret: what the grants hold beyond or below what the service needs is
// judged by admin-grants.ts (pure, both dialects).

export { describePrivileges, excessAdminPrivileges, literalSchema, missingAdminPrivileges, parseGrantLine, type GrantLine } from './admin-grants';
export type { AdminCheckResult } from '../port';

/** The server's dialect and the admin's SHOW GRANTS lines, over a connection of its own, bounded in time. */
export async function readAdminAccount(credentials: AdminCredentials, timeoutMs = 5000): Promise<{ dialect: SqlDialect; grants: string[] }> {
  const conn = await mysql.createConnection({
    host: credentials.host,
    port: credentials.port,
    user: credentials.username,
    password: credentials.password,
    connectTimeout: timeoutMs,
    multipleStatements: false,
  });
  try {
    await conn.query({ sql: "SET SESSION sql_mode = ''", timeout: timeoutMs });
    const [version] = await conn.query<mysql.RowDataPacket[]>({ sql: 'SELECT VERSION() AS version', timeout: timeoutMs });
    const [rows] = await conn.query<mysql.RowDataPacket[]>({ sql: 'SHOW GRANTS FOR CURRENT_USER()', timeout: timeoutMs });
    return {
      dialect: /mariadb/i.test(String(version[0]?.version ?? '')) ? 'mariadb' : 'mysql',
      grants: rows.map((r) => String(Object.values(r)[0])),
    };
  } finally {
    conn.destroy();
  }
}

/** Reads SHOW GRANTS FOR CURRENT_USER() over a connection of its own, bounded in time. */
export async function readAdminGrants(credentials: AdminCredentials, timeoutMs = 5000): Promise<string[]> {
  return (await readAdminAccount(credentials, timeoutMs)).grants;
}

/** Every distinct admin secret of the configuration, with the schemas it manages. */
export function adminScopes(config: FileConfig): Map<string, string[]> {
  const bySecret = new Map<string, Set<string>>();
  for (const project of Object.values(config.projects)) {
    for (const db of Object.values(project.databases)) {
      const set = bySecret.get(db.adminSecretId) ?? new Set<string>();
      set.add(db.schema);
      bySecret.set(db.adminSecretId, set);
    }
  }
  return new Map([...bySecret].map(([id, set]) => [id, [...set].sort()]));
}

/** The port's options, with the scopes given or read from a configuration (its MySQL databases). */
export type AdminCheckOptions = Omit<PortAdminCheckOptions, 'scopes'> & ({ scopes: PortAdminCheckOptions['scopes'] } | { config: FileConfig });

/** What fails without the missing privileges, for the start-up warning. */
function consequences(missing: readonly string[]): string {
  const says: string[] = [];
  const lacks = (p: string) => missing.some((m) => m.startsWith(p));
  if (lacks('CREATE USER')) says.push('no account can be created, locked or dropped');
  if (lacks('PROCESS') || lacks('CONNECTION')) says.push("a revocation or a lowered level cannot end the grantee's open sessions");
  if (lacks('SET USER')) says.push("a revocation cannot disable the grantee's events (they stay enabled, running with no privilege)");
  if (lacks('SELECT ON mysql')) says.push('accounts cannot be looked up');
  if (missing.some((m) => m.startsWith('ALL PRIVILEGES ON'))) says.push('privileges on those schemas cannot be granted');
  return says.join('; ');
}

/** The message of a failure to check, without anything the secret holds. */
function reasonOf(err: unknown, secrets: readonly string[]): string {
  const e = err as { code?: unknown; message?: unknown };
  let text = typeof e?.message === 'string' ? e.message.split('\n')[0]! : String(err);
  for (const s of secrets) if (s) text = text.split(s).join('***');
  const code = typeof e?.code === 'string' ? ` (${e.code})` : '';
  return `${text.slice(0, 300)}${code}`;
}

/**
 * Checks every distinct admin secret of the configuration. Excess privileges
 * refuse the start (ConfigError naming the secret ids and the privileges) unless
 * `allowExtraPrivileges`; then they are logged as warnings. Missing privileges
 * are logged as warnings naming what fails without them: refusing to start would
 * also stop the revocations that still work (a revocation without CONNECTION_ADMIN
 * still locks the account and takes its privileges), and the per-grant
 * check-target step refuses new grants on that database. A secret that cannot
 * be read or a server that does not answer is only logged: the worker must still
 * start, or it would block revocations on every other database; the per-grant
 * check-target step reports that database's problem.
 */
export async function checkAdminAccounts(options: AdminCheckOptions): Promise<AdminCheckResult> {
  const { logger } = options;
  const result: AdminCheckResult = { excess: new Map(), missing: new Map(), unchecked: new Map() };
  await Promise.all(
    [...('scopes' in options ? options.scopes : adminScopes(options.config))].map(async ([secretId, schemas]) => {
      let credentials: AdminCredentials | undefined;
      try {
        credentials = await options.credentials.get(secretId);
        const { dialect, grants } = await readAdminAccount(credentials, options.timeoutMs);
        const extra = excessAdminPrivileges(grants, schemas);
        const lacking = missingAdminPrivileges(dialect, grants, schemas);
        if (extra.length > 0) result.excess.set(secretId, extra);
        if (lacking.length > 0) {
          result.missing.set(secretId, lacking);
          logger.warn(
            { secretId, dialect, missingPrivileges: lacking },
            `the admin account lacks ${describePrivileges(lacking)}: ${consequences(lacking)}; grant what the README lists (adminGrantStatements)`,
          );
        }
        if (extra.length === 0 && lacking.length === 0) logger.info({ secretId, schemas }, 'admin account checked: it holds exactly what dbaccess needs');
      } catch (err) {
        const reason = reasonOf(err, credentials ? [credentials.password] : []);
        result.unchecked.set(secretId, reason);
        logger.warn({ secretId, reason }, 'could not check the admin account at start-up; grants on its databases will fail at the check-target step until this is fixed');
      }
    }),
  );
  if (result.excess.size === 0) return result;
  const problems = [...result.excess].map(
    ([secretId, extra]) => `admin secret ${secretId}: the admin account holds more than dbaccess needs: ${extra.join('; ')}`,
  );
  if (!options.allowExtraPrivileges) {
    throw new ConfigError([
      ...problems,
      'grant the admin account exactly what the README lists (adminGrantStatements), or set DBACCESS_ALLOW_EXTRA_ADMIN_PRIVILEGES=true to start anyway',
    ]);
  }
  for (const [secretId, extra] of result.excess) {
    logger.warn({ secretId, extraPrivileges: extra }, 'the admin account holds more than dbaccess needs (allowed by DBACCESS_ALLOW_EXTRA_ADMIN_PRIVILEGES)');
  }
  return result;
}
