import type { SqlDialect } from '../../ports';
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
