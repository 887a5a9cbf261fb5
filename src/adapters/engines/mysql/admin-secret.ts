import type { AdminCredentials } from '../port';

// The admin secret of a MySQL or MariaDB server, in the format of the seed:
// {"MYSQL_HOST","MYSQL_PORT","MYSQL_USERNAME","MYSQL_PASSWORD"} (port 3306 when absent).

export const ADMIN_SECRET_FORMAT = '{"MYSQL_HOST","MYSQL_PORT","MYSQL_USERNAME","MYSQL_PASSWORD"}';

/** The credentials in the secret's JSON object; throws naming the keys that are wrong, never a value. */
export function parseMysqlAdminSecret(obj: Readonly<Record<string, unknown>>): AdminCredentials {
  const problems: string[] = [];
  const str = (key: string): string => {
    const v = obj[key];
    if (v === undefined || v === null || v === '') problems.push(`${key} is missing`);
    else if (typeof v !== 'string') problems.push(`${key} must be a string`);
    return typeof v === 'string' ? v : '';
  };
  const host = str('MYSQL_HOST');
  const username = str('MYSQL_USERNAME');
  const password = str('MYSQL_PASSWORD');
  let port = 3306;
  const rawPort = obj['MYSQL_PORT'];
  if (rawPort !== undefined && rawPort !== null && rawPort !== '') {
    const n = typeof rawPort === 'number' ? rawPort : typeof rawPort === 'string' && /^\s*\d{1,5}\s*$/.test(rawPort) ? Number(rawPort) : NaN;
    if (Number.isInteger(n) && n >= 1 && n <= 65535) port = n;
    else problems.push('MYSQL_PORT must be a port number (1-65535)');
  }
  if (problems.length > 0) throw new Error(`is not in the expected format ${ADMIN_SECRET_FORMAT}: ${problems.join('; ')}`);
  return { host: host.trim(), port, username, password };
}
