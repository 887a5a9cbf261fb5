// Access levels map a name (`READ`) to database-level privileges. Only
// privileges from this whitelist can ever be granted: all of them are valid at
// the database level (`ON schema.*`) in both MySQL 8 and MariaDB, and none of
// them reaches beyond the schema (no FILE, SUPER, PROCESS, GRANT OPTION...).

export const PRIVILEGE_WHITELIST = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'CREATE',
  'DROP',
  'INDEX',
  'ALTER',
  'REFERENCES',
  'CREATE TEMPORARY TABLES',
  'LOCK TABLES',
  'EXECUTE',
  'CREATE VIEW',
  'SHOW VIEW',
  'CREATE ROUTINE',
  'ALTER ROUTINE',
  'EVENT',
  'TRIGGER',
  'ALL PRIVILEGES',
] as const;

export type Privilege = (typeof PRIVILEGE_WHITELIST)[number];

export const DEFAULT_ACCESS_LEVELS: Readonly<Record<string, readonly Privilege[]>> = {
  READ: ['SELECT'],
  READ_WRITE: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  ADMIN: ['ALL PRIVILEGES'],
};

/** Names of access levels: upper-case words joined by `_`. */
export const ACCESS_LEVEL_NAME = /^[A-Z][A-Z0-9_]{0,31}$/;

const WHITELIST = new Set<string>(PRIVILEGE_WHITELIST);

export function isPrivilege(value: string): value is Privilege {
  return WHITELIST.has(value);
}

/**
 * Normalises a privilege list: upper case, single spaces, `ALL` as `ALL PRIVILEGES`,
 * de-duplicated, in whitelist order. Throws on anything outside the whitelist.
 */
export function normalizePrivileges(list: readonly string[]): Privilege[] {
  const wanted = new Set<string>();
  for (const raw of list) {
    const p = raw.trim().toUpperCase().replace(/\s+/g, ' ');
    const name = p === 'ALL' ? 'ALL PRIVILEGES' : p;
    if (!isPrivilege(name)) throw new Error(`"${raw}" is not an allowed privilege (allowed: ${PRIVILEGE_WHITELIST.join(', ')})`);
    wanted.add(name);
  }
  if (wanted.size === 0) throw new Error('an access level needs at least one privilege');
  if (wanted.has('ALL PRIVILEGES')) return ['ALL PRIVILEGES'];
  return PRIVILEGE_WHITELIST.filter((p) => wanted.has(p));
}

/**
 * Does the change take away any privilege `current` had? Such a change (a pure
 * downgrade, or a lateral move such as [SELECT, INSERT] → [SELECT, UPDATE]) must
 * end the account's open sessions: MySQL applies a database-level privilege
 * change to an open session only at its next `USE`.
 */
export function isDowngrade(current: readonly string[], next: readonly string[]): boolean {
  if (current.includes('ALL PRIVILEGES')) return !next.includes('ALL PRIVILEGES');
  if (next.includes('ALL PRIVILEGES')) return false;
  return current.some((p) => !next.includes(p));
}

export type LevelTable = Readonly<Record<string, readonly string[]>>;

/**
 * The privileges of `level`, looking first at the database's override, then the
 * project's, then the global table. Undefined when no table defines the level.
 */
export function resolveLevel(level: string, ...tables: (LevelTable | undefined)[]): readonly string[] | undefined {
  for (const table of tables) {
    // Own properties only: `toString` or `constructor` is not a level.
    if (table && Object.prototype.hasOwnProperty.call(table, level)) return table[level];
  }
  return undefined;
}

/** All level names visible through the tables, in a stable order. */
export function levelNames(...tables: (LevelTable | undefined)[]): string[] {
  const names = new Set<string>();
  for (const table of tables) for (const name of Object.keys(table ?? {})) names.add(name);
  return [...names].sort();
}
