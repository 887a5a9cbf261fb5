import { PG_PRIVILEGE_NAMES } from '../../../domain';
import type { SchemaGrant } from '../port';
import { heldSet, namesOfSet } from './privileges';
import { checkAccount, type PgStatement } from './sql';

// What the reconciler reads from a PostgreSQL server: its LOGIN roles and their
// privileges on the schemas of the admin's database, in catalogue names. A role
// has no host: every row carries the one the caller gives (`%` for a server's
// inventory, the target's pattern for one account). Only names and ACLs are
// read, never a password verifier.

/** What ALL PRIVILEGES stands for on a schema of a PostgreSQL server. */
export const PG_DATABASE_PRIVILEGES: readonly string[] = PG_PRIVILEGE_NAMES.filter((p) => p !== 'ALL PRIVILEGES');

/** Roles that can log in (the reconciler's candidates), never a superuser. */
export function loginRolesStatement(): PgStatement {
  return { sql: 'SELECT rolname AS name FROM pg_roles WHERE rolcanlogin AND NOT rolsuper ORDER BY 1', values: [], purpose: 'list the roles that can log in' };
}

/**
 * Every privilege LOGIN roles hold in the database's schemas (system schemas
 * aside), per role, schema and kind of object: from the ACLs of the schemas,
 * their objects and their default privileges, its own and through its level
 * groups (groups.ts). What a role holds on its own objects is left out: it owns
 * them. With `account`, that role's only.
 */
export function schemaAclStatement(account?: string): PgStatement {
  return {
    sql: `WITH s AS (SELECT oid, nspname, nspowner, nspacl FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema')
SELECT r.rolname AS role, x.schema, x.kind, a.privilege_type FROM (
  SELECT nspname AS schema, 'schema' AS kind, nspowner AS owner, nspacl AS acl FROM s
  UNION ALL SELECT s.nspname, CASE c.relkind WHEN 'S' THEN 'sequences' ELSE 'tables' END, c.relowner, c.relacl FROM pg_class c JOIN s ON c.relnamespace = s.oid WHERE c.relkind IN ('r','p','v','m','S','f')
  UNION ALL SELECT s.nspname, 'routines', p.proowner, p.proacl FROM pg_proc p JOIN s ON p.pronamespace = s.oid
  UNION ALL SELECT s.nspname, CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'routines' ELSE 'other' END, NULL, d.defaclacl FROM pg_default_acl d JOIN s ON d.defaclnamespace = s.oid
) x CROSS JOIN LATERAL aclexplode(x.acl) a
JOIN (SELECT oid AS grantee, oid AS login FROM pg_roles
  UNION ALL SELECT m.roleid, m.member FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname LIKE 'dbaccess-lvl-%' AND NOT g.rolcanlogin) v ON v.grantee = a.grantee
JOIN pg_roles r ON r.oid = v.login
WHERE r.rolcanlogin AND a.grantee IS DISTINCT FROM x.owner AND r.oid IS DISTINCT FROM x.owner${account === undefined ? '' : ' AND r.rolname = $1'}
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
    values: account === undefined ? [] : [checkAccount(account)],
    purpose: account === undefined ? 'list the privileges of the roles on the schemas' : "list the account's privileges on the schemas",
  };
}

/** Rows of schemaAclStatement as one SchemaGrant per role and schema; a schema's exact name is how the service grants on it. */
export function grantsOfRows(rows: readonly Record<string, unknown>[], host: string, include: (role: string) => boolean = () => true): SchemaGrant[] {
  const byKey = new Map<string, { user: string; schema: string; rows: { kind: unknown; privilege_type: unknown }[] }>();
  for (const row of rows) {
    const user = String(row.role);
    if (!include(user)) continue;
    const schema = String(row.schema);
    const key = `${user}\u0000${schema}`;
    let entry = byKey.get(key);
    if (!entry) byKey.set(key, (entry = { user, schema, rows: [] }));
    entry.rows.push({ kind: row.kind, privilege_type: row.privilege_type });
  }
  return [...byKey.values()].map((e) => ({ user: e.user, host, pattern: e.schema, schema: e.schema, serviceSchema: e.schema, privileges: namesOfSet(heldSet(e.rows)) }));
}
