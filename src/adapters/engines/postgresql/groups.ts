import { createHash } from 'node:crypto';

import { ActivityErrorType, activityError } from '../../errors';
import type { PgPrivilegeSet } from './privileges';
import { accountArray, checkAccount, checkDatabase, checkLevelGroup, checkSchema, LEVEL_GROUP_NAME, quoteIdent, quoteLiteral, type PgStatement } from './sql';

export { checkLevelGroup } from './sql';

// Level groups (docs/decisions/0609-postgresql-level-groups.md): the privileges of
// a level on one schema are granted once, to a NOLOGIN role of the service, and
// each grant's account is made a member. Ending access removes a membership, which
// costs the same however many grantees the schema has, where revoking each
// account's own entry from each object's access list costs their square.

/** Every level group's name starts so (sql.ts: LEVEL_GROUP_NAME). */
const LEVEL_GROUP_PREFIX = 'dbaccess-lvl-';
const TAG_PREFIX = 'dbaccess level group ';

/** A set in a fixed order, so one set always names one group. */
function canonical(set: PgPrivilegeSet): string {
  return (['schema', 'tables', 'sequences', 'routines'] as const).map((k) => `${k}:${[...set[k]].sort().join(',')}`).join(';');
}

/** What the group holds: the set without CREATE on the schema (a member acting as the group must not be able to make anything in it). */
export function groupSet(set: PgPrivilegeSet): PgPrivilegeSet {
  return { ...set, schema: set.schema.filter((p) => p !== 'CREATE') };
}

/** What the account holds itself: CREATE on the schema when its level has it, so what it makes is its own (and handed over when access ends). */
export function directSet(set: PgPrivilegeSet): PgPrivilegeSet {
  return { schema: set.schema.filter((p) => p === 'CREATE'), tables: [], sequences: [], routines: [] };
}

/** The group of a database, a schema and a set: the same three always give the same name. */
export function levelGroupName(database: string, schema: string, set: PgPrivilegeSet): string {
  const digest = createHash('sha256').update(`${checkDatabase(database)}\u0000${checkSchema(schema)}\u0000${canonical(set)}`).digest('hex');
  return `${LEVEL_GROUP_PREFIX}${digest.slice(0, 16)}`;
}

/** The comment that marks a level group as the service's, and says where it grants: `dbaccess level group <database>/<schema>`. */
export function levelGroupTag(database: string, schema: string): string {
  return `${TAG_PREFIX}${checkDatabase(database)}/${checkSchema(schema)}`;
}

/** The group, if it exists, with its comment and whether it can log in or is a superuser (then it is not ours to use). */
export function levelGroupStatement(group: string): PgStatement {
  return {
    sql: "SELECT rolcanlogin AS login, rolsuper AS super, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1",
    values: [checkLevelGroup(group)],
    purpose: 'look the level group up',
  };
}

/** Creates the group, tagged, in the caller's transaction. */
export function createLevelGroupStatements(group: string, database: string, schema: string): PgStatement[] {
  const role = quoteIdent(checkLevelGroup(group));
  return [
    { sql: `CREATE ROLE ${role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT`, values: [], purpose: 'create the level group' },
    { sql: `COMMENT ON ROLE ${role} IS ${quoteLiteral(levelGroupTag(database, schema))}`, values: [], purpose: 'tag the level group as this service’s' },
  ];
}

/**
 * Makes the account a member of the group. From PostgreSQL 16 the membership
 * does not let it act as the group (SET FALSE); on 15 any member may SET ROLE,
 * so what a group comes to own is handed over when its members' access ends.
 */
export function joinGroupStatement(group: string, account: string, serverVersion: number): PgStatement {
  const options = serverVersion >= 160000 ? ' WITH INHERIT TRUE, SET FALSE' : '';
  return { sql: `GRANT ${quoteIdent(checkLevelGroup(group))} TO ${quoteIdent(checkAccount(account))}${options}`, values: [], purpose: 'make the account a member of its level group' };
}

/** Ends the accounts' memberships of the groups (a membership that is not there is skipped by the server). */
export function leaveGroupsStatement(groups: readonly string[], accounts: readonly string[]): PgStatement {
  if (groups.length === 0 || accounts.length === 0) throw activityError(ActivityErrorType.InvalidIdentifier, 'at least one group and one account are needed');
  return {
    sql: `REVOKE ${groups.map((g) => quoteIdent(checkLevelGroup(g))).join(', ')} FROM ${accounts.map((a) => quoteIdent(checkAccount(a))).join(', ')}`,
    values: [],
    purpose: 'end the accounts’ memberships of their level groups',
    acl: 'database',
  };
}

/** The service's level groups each of these accounts is a member of. Rows: account, grp. */
export function membershipsStatement(accounts: readonly string[]): PgStatement {
  return {
    sql: `SELECT a.rolname AS account, g.rolname AS grp FROM pg_auth_members m JOIN pg_roles a ON a.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
WHERE a.rolname = ANY($1::text[]) AND g.rolname LIKE 'dbaccess-lvl-%' AND NOT g.rolcanlogin ORDER BY 1, 2`,
    values: [accountArray(accounts)],
    purpose: "find the accounts' level groups",
  };
}

/** Rows of membershipsStatement as account → its groups (names that are not level groups are left out). */
export function membershipsOfRows(rows: readonly Record<string, unknown>[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const row of rows) {
    const group = String(row.grp);
    if (!LEVEL_GROUP_NAME.test(group)) continue;
    const account = String(row.account);
    out.set(account, [...(out.get(account) ?? []), group]);
  }
  return out;
}

/** Where these groups own something: a row per group and database (pg_shdepend, deptype o), with the database's owner. Rows: grp, database, owner. */
export function groupsOwningStatement(groups: readonly string[]): PgStatement {
  for (const g of groups) checkLevelGroup(g);
  return {
    sql: `SELECT DISTINCT r.rolname AS grp, d.datname AS database, pg_get_userbyid(d.datdba) AS owner FROM pg_shdepend s
  JOIN pg_roles r ON r.oid = s.refobjid JOIN pg_database d ON d.oid = s.dbid
WHERE s.refclassid = 'pg_authid'::regclass AND s.deptype = 'o' AND r.rolname = ANY($1::text[]) ORDER BY 1, 2`,
    values: [`{${groups.join(',')}}`],
    purpose: 'find where the level groups own objects',
  };
}

/**
 * What the group holds now, on the objects a grant would give it (the database,
 * the schema, the schema's objects the admin may grant on, other than `account`'s
 * own) and in the default privileges of the schema. Rows: kind, creator (default
 * privileges only), privs (sorted).
 */
export function groupHoldingsStatement(schema: string, group: string, account: string): PgStatement {
  return {
    sql: `WITH s AS (SELECT oid, nspacl FROM pg_namespace WHERE nspname = $1), g AS (SELECT oid FROM pg_roles WHERE rolname = $2), a AS (SELECT oid FROM pg_roles WHERE rolname = $3),
o AS (
  SELECT 'database' AS kind, NULL::name AS creator, datacl AS acl FROM pg_database WHERE datname = current_database()
  UNION ALL SELECT 'schema', NULL, nspacl FROM s
  UNION ALL SELECT CASE relkind WHEN 'S' THEN 'sequences' ELSE 'tables' END, NULL, relacl FROM pg_class
    WHERE relnamespace = (SELECT oid FROM s) AND relkind IN ('r','p','v','m','S','f') AND relowner NOT IN (SELECT oid FROM a) AND pg_has_role(relowner, 'MEMBER')
  UNION ALL SELECT 'routines', NULL, proacl FROM pg_proc WHERE pronamespace = (SELECT oid FROM s) AND proowner NOT IN (SELECT oid FROM a) AND pg_has_role(proowner, 'MEMBER')
  UNION ALL SELECT CASE defaclobjtype WHEN 'r' THEN 'default tables' WHEN 'S' THEN 'default sequences' WHEN 'f' THEN 'default routines' ELSE 'default other' END, pg_get_userbyid(defaclrole), defaclacl
    FROM pg_default_acl WHERE defaclnamespace = (SELECT oid FROM s)
)
SELECT kind, creator, ARRAY(SELECT DISTINCT x.privilege_type FROM aclexplode(CASE WHEN cardinality(o.acl) > 0 THEN o.acl END) x WHERE x.grantee = (SELECT oid FROM g) ORDER BY 1) AS privs FROM o`,
    values: [checkSchema(schema), checkLevelGroup(group), checkAccount(account)],
    purpose: "read the level group's privileges",
  };
}

/**
 * Whether the group already holds exactly `set` on everything a grant would give
 * it (then the grant has nothing to rewrite): CONNECT on the database, the set's
 * privileges on the schema and on each of its objects, and default privileges for
 * each creator. Anything missing, more, or not read means no.
 */
export function groupIsCurrent(rows: readonly Record<string, unknown>[], set: PgPrivilegeSet, creators: readonly string[]): boolean {
  const same = (privs: unknown, want: readonly string[]) => Array.isArray(privs) && privs.length === want.length && [...want].sort().every((p, i) => privs[i] === p);
  let database = false;
  let schema = false;
  const defaults = new Set<string>();
  for (const row of rows) {
    const kind = String(row.kind);
    if (kind === 'database') database = same(row.privs, ['CONNECT']);
    else if (kind === 'schema') schema = same(row.privs, set.schema);
    else if (kind === 'tables' || kind === 'sequences' || kind === 'routines') {
      if (!same(row.privs, set[kind])) return false;
    } else if (kind.startsWith('default ')) {
      const of = kind.slice('default '.length);
      const want = of === 'tables' || of === 'sequences' || of === 'routines' ? set[of] : [];
      if (!same(row.privs, want)) return false;
      if (want.length > 0) defaults.add(`${of} ${String(row.creator)}`);
    } else return false;
  }
  if (!database || !schema) return false;
  for (const creator of creators) for (const of of ['tables', 'sequences', 'routines'] as const) if (set[of].length > 0 && !defaults.has(`${of} ${creator}`)) return false;
  return true;
}

/** Whether the account holds any privilege itself, in this database or on the server (pg_shdepend, deptype a). */
export function holdsDirectlyStatement(account: string): PgStatement {
  return {
    sql: `SELECT EXISTS (SELECT 1 FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid WHERE s.refclassid = 'pg_authid'::regclass AND s.deptype = 'a' AND r.rolname = $1
  AND s.dbid IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))) AS holds`,
    values: [checkAccount(account)],
    purpose: 'find whether the account holds privileges itself',
  };
}
