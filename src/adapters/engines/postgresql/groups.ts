import { createHash } from 'node:crypto';

import { ActivityErrorType, activityError } from '../../errors';
import type { PgPrivilegeSet } from './privileges';
import { accountArray, checkAccount, checkDatabase, checkSchema, quoteIdent, quoteLiteral, type PgStatement } from './sql';

// Level groups (docs/decisions/0609-postgresql-level-groups.md): the privileges of
// a level on one schema are granted once, to a NOLOGIN role of the service, and
// each grant's account is made a member. Ending access removes a membership, which
// costs the same however many grantees the schema has, where revoking each
// account's own entry from each object's access list costs their square.

/** Every level group's name starts so; account names (a-z, 0-9, _) never hold a `-`. */
export const LEVEL_GROUP_PREFIX = 'dbaccess-lvl-';
const LEVEL_GROUP = /^dbaccess-lvl-[0-9a-f]{16}$/;
const TAG_PREFIX = 'dbaccess level group ';

export function checkLevelGroup(name: string): string {
  if (typeof name !== 'string' || !LEVEL_GROUP.test(name)) throw activityError(ActivityErrorType.InvalidIdentifier, `role ${JSON.stringify(String(name)).slice(0, 70)} is not a level group of the service`);
  return name;
}

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
    if (!LEVEL_GROUP.test(group)) continue;
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
