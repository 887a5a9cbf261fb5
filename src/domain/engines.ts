import { DEFAULT_ACCESS_LEVELS, PRIVILEGE_WHITELIST, normalizePrivileges } from './levels';

// The database engines the service knows, by key, and what the configuration and
// the grant workflow need to know of each without loading its driver: the privilege
// names it accepts in an access level. Everything else an engine does is behind the
// DatabaseEngine port (src/adapters/engines/port.ts); the registry there asserts
// that it registers exactly these keys, with these catalogues.

/** Keys of the engines, as the configuration's `engine` field names them. */
export const ENGINE_KEYS = ['mysql', 'postgresql'] as const;
export type EngineKey = (typeof ENGINE_KEYS)[number];

/** A database without `engine` in the configuration, and a GrantTarget without it (every grant begun before engines existed). */
export const DEFAULT_ENGINE: EngineKey = 'mysql';

export function isEngineKey(value: unknown): value is EngineKey {
  return typeof value === 'string' && (ENGINE_KEYS as readonly string[]).includes(value);
}

/** The engine of a target: its own field, or MySQL when it has none. */
export function engineOf(target: { engine?: string | undefined }): string {
  return target.engine ?? DEFAULT_ENGINE;
}

/** An account as people name it: `name@host` on MySQL, where the host pattern is part of the account; the role's name on PostgreSQL. */
export function accountLabel(target: { engine?: string | undefined; hostPattern: string }, account: string): string {
  return engineOf(target) === 'mysql' ? `${account}@${target.hostPattern}` : account;
}

/** The privilege names an engine accepts in access levels. Pure data and pure functions. */
export interface PrivilegeCatalogue {
  readonly engine: string;
  /** Every name a level may list, as the engine spells it. */
  readonly names: readonly string[];
  /** The levels a configuration gets when it defines none. */
  readonly defaultLevels: Readonly<Record<string, readonly string[]>>;
  /** A level's privileges in the engine's canonical form; throws (naming the value) on a name it does not accept or an empty list. */
  normalize(list: readonly string[]): string[];
}

/** MySQL and MariaDB: database-level privileges that stay within one schema (see levels.ts). */
export const MYSQL_PRIVILEGES: PrivilegeCatalogue = {
  engine: 'mysql',
  names: PRIVILEGE_WHITELIST,
  defaultLevels: DEFAULT_ACCESS_LEVELS,
  normalize: (list) => normalizePrivileges(list),
};

/**
 * PostgreSQL: names whose meaning on a schema's objects the adapter defines
 * (engines/postgresql/privileges.ts, keyed by these names). `ALL PRIVILEGES` is
 * accepted so that one configuration's ADMIN level works on both engines.
 */
export const PG_PRIVILEGE_NAMES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER', 'EXECUTE', 'CREATE', 'ALL PRIVILEGES'] as const;
export type PgPrivilegeName = (typeof PG_PRIVILEGE_NAMES)[number];

/** Upper case, single spaces, `ALL` as `ALL PRIVILEGES`, de-duplicated, in the catalogue's order; only `ALL PRIVILEGES` when it is there. */
export function normalizePgPrivileges(list: readonly string[]): PgPrivilegeName[] {
  if (!Array.isArray(list)) throw new Error('privileges must be a list');
  const wanted = new Set<string>();
  for (const raw of list) {
    const p = String(raw).trim().toUpperCase().replace(/\s+/g, ' ');
    const name = p === 'ALL' ? 'ALL PRIVILEGES' : p;
    if (!(PG_PRIVILEGE_NAMES as readonly string[]).includes(name)) throw new Error(`"${raw}" is not an allowed PostgreSQL privilege (allowed: ${PG_PRIVILEGE_NAMES.join(', ')})`);
    wanted.add(name);
  }
  if (wanted.size === 0) throw new Error('an access level needs at least one privilege');
  if (wanted.has('ALL PRIVILEGES')) return ['ALL PRIVILEGES'];
  return PG_PRIVILEGE_NAMES.filter((p) => wanted.has(p));
}

export const PG_PRIVILEGES: PrivilegeCatalogue = {
  engine: 'postgresql',
  names: PG_PRIVILEGE_NAMES,
  defaultLevels: DEFAULT_ACCESS_LEVELS,
  normalize: (list) => normalizePgPrivileges(list),
};

export const PRIVILEGE_CATALOGUES: Readonly<Record<EngineKey, PrivilegeCatalogue>> = { mysql: MYSQL_PRIVILEGES, postgresql: PG_PRIVILEGES };

/** The catalogue a target's privileges are normalised with: its engine's, MySQL's when the engine is absent or unknown. */
export function catalogueOf(target: { engine?: string | undefined }): PrivilegeCatalogue {
  return privilegeCatalogue(engineOf(target)) ?? MYSQL_PRIVILEGES;
}

/** The catalogue of an engine key; undefined for a key that is not one. */
export function privilegeCatalogue(engine: string): PrivilegeCatalogue | undefined {
  return isEngineKey(engine) ? PRIVILEGE_CATALOGUES[engine] : undefined;
}
