import { ActivityErrorType, activityError } from '../../errors';
import type { AdminCredentials } from '../../ports';
import { checkDatabase } from './sql';

// The admin secret of a PostgreSQL server, in the shape RDS writes for a
// managed database: {"engine","host","port","username","password","dbname"}.
// The database named by `dbname` is where grants are made (one per secret).

/** Admin credentials plus the database the admin works in. */
export interface PgAdminCredentials extends AdminCredentials {
  database: string;
}

/** The source of admin credentials the PostgreSQL manager reads (cached; `refresh` re-reads). */
export interface PgAdminCredentialSource {
  get(secretId: string, options?: { refresh?: boolean }): Promise<PgAdminCredentials>;
}

function bad(secretId: string, why: string): never {
  throw activityError(ActivityErrorType.AdminSecretInvalid, `admin secret ${secretId} ${why}`, { secretId });
}

/**
 * The credentials in the secret's JSON object; throws an Error saying what is wrong
 * (`has no valid host`), naming fields and never a value.
 */
export function parsePgAdminSecretObject(o: Readonly<Record<string, unknown>>): PgAdminCredentials {
  const bad = (why: string): never => {
    throw new Error(why);
  };
  if (o.engine !== undefined && o.engine !== 'postgres' && o.engine !== 'postgresql') bad('is not for a PostgreSQL server (engine)');
  const host = o.host;
  if (typeof host !== 'string' || !/^[A-Za-z0-9.:_-]{1,255}$/.test(host)) return bad('has no valid host');
  const port = typeof o.port === 'string' && /^\d{1,5}$/.test(o.port) ? Number(o.port) : o.port === undefined ? 5432 : o.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return bad('has no valid port');
  const username = o.username;
  if (typeof username !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,62}$/.test(username)) return bad('has no valid username');
  const password = o.password;
  if (typeof password !== 'string' || password.length === 0 || password.length > 1024) return bad('has no valid password');
  const dbname = o.dbname ?? 'postgres';
  if (typeof dbname !== 'string') return bad('has no valid dbname');
  try {
    checkDatabase(dbname);
  } catch {
    bad('has no valid dbname');
  }
  return { host, port, username, password, database: dbname };
}

/** Parses a secret's string value; errors name the field that is wrong, never a value. */
export function parsePgAdminSecret(secretId: string, value: string | undefined): PgAdminCredentials {
  if (typeof value !== 'string' || value.length === 0) bad(secretId, 'has no string value');
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch {
    bad(secretId, 'is not JSON');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) bad(secretId, 'is not a JSON object');
  try {
    return parsePgAdminSecretObject(doc as Record<string, unknown>);
  } catch (err) {
    return bad(secretId, (err as Error).message);
  }
}
