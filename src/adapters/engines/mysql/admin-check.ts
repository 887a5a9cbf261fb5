import mysql from 'mysql2/promise';

import type { FileConfig } from '../../../config';
import { ConfigError } from '../../../config/errors';
import type { AdminCredentialSource, AdminCredentials, SqlDialect } from '../../ports';
import type { MysqlLogger } from './manager';
import { ADMIN_GLOBAL_PRIVILEGES, CONNECTION_ADMIN, grantSchema } from './sql';

// The start-up check of the admin accounts: each admin secret's account must
// hold what the README lists (adminGrantStatements) and nothing more. It reads
// `SHOW GRANTS FOR CURRENT_USER()` (which, unlike USER_PRIVILEGES on MySQL, also
// lists dynamic privileges such as CONNECTION_ADMIN) and names every privilege
// missing (missingAdminPrivileges: logged, see checkAdminAccounts) and every one beyond:
//   - CREATE USER, PROCESS, CONNECTION_ADMIN (MySQL) / CONNECTION ADMIN and SET USER
//     (MariaDB) ON *.* (and USAGE, which is no privilege),
//   - SELECT ON `mysql`.* (or on tables/columns of it),
//   - anything, WITH GRANT OPTION, on a schema the configuration names for that secret
//     (written with `_` and `%` escaped: unescaped they are wildcards),
// so GRANT OPTION or ALL PRIVILEGES / SUPER / SYSTEM_USER ... ON *.*, grants on
// other schemas, roles and PROXY grants are all reported. Parsing covers both
// dialects' SHOW GRANTS output (MariaDB 10.x/11.x, MySQL 8.x). Nothing here ever
// puts a password or a password hash into a message.

const GLOBAL_ALLOWED = new Set(['USAGE', ...ADMIN_GLOBAL_PRIVILEGES.mysql, ...ADMIN_GLOBAL_PRIVILEGES.mariadb]);
const MYSQL_SCHEMA_ALLOWED = new Set(['USAGE', 'SELECT']);

/** What one SHOW GRANTS line grants, as far as the check is concerned. */
export type GrantLine =
  | {
      kind: 'privileges';
      privileges: string[];
      /** `global` = *.*; `database` = db.*; `object` = a table, column set or routine in `database`. */
      scope: 'global' | 'database' | 'object';
      /** The database part as written (a LIKE pattern at the database level), unquoted; empty for global. */
      database: string;
      /** The object part as shown (quoted), for messages. */
      on: string;
      withGrantOption: boolean;
    }
  | { kind: 'role'; roles: string; withAdminOption: boolean }
  | { kind: 'proxy'; on: string }
  | { kind: 'ignored' }
  | { kind: 'unrecognised'; head: string };

/** Splits `text` at top-level occurrences of `sep` (outside quotes and parentheses). */
function splitTopLevel(text: string, sep: RegExp): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) {
        if (text[i + 1] === quote) i += 1;
        else quote = undefined;
      } else if (c === '\\' && quote === "'") {
        i += 1;
      }
      continue;
    }
    if (c === '`' || c === '"' || c === "'") {
      quote = c;
      continue;
    }
    if (c === '(') depth += 1;
    else if (c === ')') depth -= 1;
    else if (depth === 0) {
      sep.lastIndex = 0;
      const m = sep.exec(text.slice(i));
      if (m && m.index === 0) {
        parts.push(text.slice(start, i));
        i += m[0].length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** Finds the first top-level keyword (` ON `, ` TO `) outside quotes and parentheses; -1 if none. */
function findKeyword(text: string, keyword: string): number {
  const parts = splitTopLevel(text, new RegExp(`^ ${keyword} `, 'i'));
  return parts.length > 1 ? parts[0]!.length : -1;
}

/** Unquotes one identifier: `a``b` → a`b, "a" → a, bare stays. */
function unquote(ident: string): string {
  const t = ident.trim();
  const q = t[0];
  if ((q === '`' || q === '"') && t.endsWith(q) && t.length >= 2) return t.slice(1, -1).split(q + q).join(q);
  return t;
}

/** Removes quoted strings (password hashes, comments) so a tail can be searched for keywords. */
function withoutStrings(text: string): string {
  return text.replace(/'(?:[^'\\]|\\.|'')*'/g, "''");
}

function normalizePrivilege(raw: string): string {
  const name = raw
    .replace(/\(.*\)$/s, '') // column list: SELECT (`a`, `b`) is SELECT on those columns
    .trim()
    .toUpperCase()
    .replace(/\s+/g, ' ');
  return name === 'ALL' ? 'ALL PRIVILEGES' : name;
}

/** Parses one line of SHOW GRANTS (either dialect). */
export function parseGrantLine(line: string): GrantLine {
  const text = line.trim().replace(/;$/, '');
  if (/^(SET DEFAULT ROLE|REVOKE)\b/i.test(text)) return { kind: 'ignored' }; // default role choice; MySQL partial revokes take away
  const g = /^GRANT\s+/i.exec(text);
  if (!g) return { kind: 'unrecognised', head: text.split(/\s+/).slice(0, 3).join(' ') };
  const rest = text.slice(g[0].length);
  const to = findKeyword(rest, 'TO');
  if (to < 0) return { kind: 'unrecognised', head: text.split(/\s+/).slice(0, 3).join(' ') };
  const grantPart = rest.slice(0, to);
  const tail = withoutStrings(rest.slice(to + 4));
  const on = findKeyword(grantPart, 'ON');
  if (on < 0) {
    // GRANT `role`[@`host`], ... TO user [WITH ADMIN OPTION]
    return { kind: 'role', roles: grantPart.trim(), withAdminOption: /\bWITH\s+ADMIN\s+OPTION\b/i.test(tail) };
  }
  const privilegeText = grantPart.slice(0, on);
  let object = grantPart.slice(on + 4).trim();
  const privileges = splitTopLevel(privilegeText, /^,/).map(normalizePrivilege).filter(Boolean);
  if (privileges.length === 1 && privileges[0] === 'PROXY') return { kind: 'proxy', on: object };
  const withGrantOption = /\bWITH\b[\s\S]*\bGRANT\s+OPTION\b/i.test(tail);
  let routine = false;
  const kindWord = /^(TABLE|PROCEDURE|FUNCTION|PACKAGE BODY|PACKAGE)\s+/i.exec(object);
  if (kindWord) {
    routine = !/^TABLE/i.test(kindWord[1]!);
    object = object.slice(kindWord[0].length);
  }
  const shownOn = object;
  const dot = splitTopLevel(object, /^\./);
  if (dot.length !== 2) return { kind: 'unrecognised', head: `GRANT ${privilegeText.trim()} ON ${shownOn}`.slice(0, 120) };
  const [db, obj] = [dot[0]!.trim(), dot[1]!.trim()];
  if (db === '*' && obj === '*') return { kind: 'privileges', privileges, scope: 'global', database: '', on: '*.*', withGrantOption };
  if (db === '*') return { kind: 'unrecognised', head: `GRANT ${privilegeText.trim()} ON ${shownOn}`.slice(0, 120) };
  const scope = obj === '*' && !routine ? 'database' : 'object';
  return { kind: 'privileges', privileges, scope, database: unquote(db), on: shownOn, withGrantOption };
}

/**
 * A database-level grant's name is a LIKE pattern: `\_` and `\%` are literal, a
 * bare `_` or `%` is a wildcard. Returns the literal name, or undefined when the
 * pattern has a wildcard (it covers more than one schema).
 */
export function literalSchema(pattern: string): string | undefined {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) {
      out += pattern[i + 1];
      i += 1;
    } else if (c === '_' || c === '%') {
      return undefined;
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * The privileges in `lines` (SHOW GRANTS FOR CURRENT_USER()) beyond what an
 * admin managing `schemas` needs, each as "<privilege> ON <object>" (or a role
 * or PROXY grant). Empty when the account holds exactly what it needs, or less:
 * what is missing is the check-target step's business.
 */
export function excessAdminPrivileges(lines: readonly string[], schemas: readonly string[]): string[] {
  const managed = new Set(schemas);
  const extra: string[] = [];
  const add = (s: string) => {
    if (!extra.includes(s)) extra.push(s);
  };
  for (const line of lines) {
    const g = parseGrantLine(line);
    switch (g.kind) {
      case 'ignored':
        break;
      case 'unrecognised':
        add(`an unrecognised grant (${g.head})`);
        break;
      case 'role':
        add(`role ${g.roles}${g.withAdminOption ? ' WITH ADMIN OPTION' : ''}`);
        break;
      case 'proxy':
        add(`PROXY ON ${g.on}`);
        break;
      case 'privileges': {
        if (g.scope === 'global') {
          for (const p of g.privileges) if (!GLOBAL_ALLOWED.has(p)) add(`${p} ON *.*`);
          if (g.withGrantOption) add('GRANT OPTION ON *.*');
          break;
        }
        // Table and routine names are literal; database-level names are patterns.
        const name = g.scope === 'database' ? literalSchema(g.database) : g.database;
        if (name === undefined) {
          add(`${g.privileges.join(', ')} ON ${g.on} (an unescaped _ or % is a wildcard: it covers other schemas too)`);
        } else if (managed.has(name)) {
          // Everything on a managed schema is within ALL PRIVILEGES ... WITH GRANT OPTION.
        } else if (name === 'mysql') {
          for (const p of g.privileges) if (!MYSQL_SCHEMA_ALLOWED.has(p)) add(`${p} ON ${g.on}`);
          if (g.withGrantOption) add(`GRANT OPTION ON ${g.on}`);
        } else {
          const shown = g.privileges.filter((p) => p !== 'USAGE');
          if (shown.length > 0) add(`${shown.join(', ')} ON ${g.on} (a schema the configuration does not name for this secret)`);
          if (g.withGrantOption) add(`GRANT OPTION ON ${g.on}`);
        }
        break;
      }
    }
  }
  return extra;
}

/** Privileges that SUPER also gives (deprecated on MySQL 8, still honoured). */
const SUPER_COVERS = new Set<string>([CONNECTION_ADMIN.mysql, CONNECTION_ADMIN.mariadb, 'SET USER']);

/**
 * What the admin's grants (`lines`, SHOW GRANTS FOR CURRENT_USER()) lack of what
 * the service needs on `dialect` to manage `schemas`: each as "<privilege> ON
 * <object>". `essential`: only what every grant and revocation needs (SET USER,
 * which only disables a grantee's events, is left out). Privileges held through
 * roles are not seen (roles are refused by excessAdminPrivileges anyway).
 */
export function missingAdminPrivileges(
  dialect: SqlDialect,
  lines: readonly string[],
  schemas: readonly string[],
  options: { essential?: boolean } = {},
): string[] {
  const global = new Set<string>();
  let globalGrantOption = false;
  let mysqlReadable = false;
  const onSchema = new Map<string, { all: boolean; grantOption: boolean }>();
  for (const line of lines) {
    const g = parseGrantLine(line);
    if (g.kind !== 'privileges') continue;
    if (g.scope === 'global') {
      for (const p of g.privileges) global.add(p);
      globalGrantOption ||= g.withGrantOption;
      continue;
    }
    if (g.scope !== 'database') continue;
    const name = literalSchema(g.database);
    if (name === undefined) continue;
    if (name === 'mysql' && (g.privileges.includes('SELECT') || g.privileges.includes('ALL PRIVILEGES'))) mysqlReadable = true;
    const entry = onSchema.get(name) ?? { all: false, grantOption: false };
    entry.all ||= g.privileges.includes('ALL PRIVILEGES');
    entry.grantOption ||= g.withGrantOption;
    onSchema.set(name, entry);
  }
  const holds = (p: string) => global.has(p) || global.has('ALL PRIVILEGES') || (SUPER_COVERS.has(p) && global.has('SUPER'));
  const missing: string[] = [];
  for (const p of ADMIN_GLOBAL_PRIVILEGES[dialect]) {
    if (options.essential && p === 'SET USER') continue;
    if (!holds(p)) missing.push(`${p} ON *.*`);
  }
  if (!mysqlReadable && !holds('SELECT')) missing.push('SELECT ON mysql.*');
  const everywhere = global.has('ALL PRIVILEGES') && globalGrantOption;
  for (const schema of schemas) {
    const held = onSchema.get(schema);
    if (!everywhere && !(held?.all && held.grantOption)) missing.push(`ALL PRIVILEGES ON ${grantSchema(schema)}.* WITH GRANT OPTION`);
  }
  return missing;
}

/** `["CREATE USER ON *.*", "PROCESS ON *.*", "SELECT ON mysql.*"]` → `CREATE USER, PROCESS ON *.*; SELECT ON mysql.*`. */
export function describePrivileges(list: readonly string[]): string {
  const global = list.filter((p) => p.endsWith(' ON *.*')).map((p) => p.slice(0, -' ON *.*'.length));
  const rest = list.filter((p) => !p.endsWith(' ON *.*'));
  return [...(global.length > 0 ? [`${global.join(', ')} ON *.*`] : []), ...rest].join('; ');
}

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

export interface AdminCheckOptions {
  config: FileConfig;
  credentials: AdminCredentialSource;
  /** DBACCESS_ALLOW_EXTRA_ADMIN_PRIVILEGES: excess privileges are logged instead of refused. */
  allowExtraPrivileges: boolean;
  logger: MysqlLogger;
  /** Per secret: connecting and reading the grants (default 5000 ms). */
  timeoutMs?: number;
}

export interface AdminCheckResult {
  /** Secret id → the privileges beyond what is needed (only secrets that have some). */
  excess: Map<string, string[]>;
  /** Secret id → the privileges it needs and lacks (only secrets that lack some). */
  missing: Map<string, string[]>;
  /** Secret id → why it could not be checked (unreadable secret, unreachable server). */
  unchecked: Map<string, string>;
}

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
    [...adminScopes(options.config)].map(async ([secretId, schemas]) => {
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
