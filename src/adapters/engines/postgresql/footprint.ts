import { isSafeText } from '../../../domain';
import type { AccountHolding } from '../../ports';
import { checkAccount, checkSchema, type PgStatement } from './sql';

// What a role holds besides its privileges in the grant's schema: role
// attributes, memberships (both ways; its level group of the schema is its privileges there, not more), the databases and schemas it owns, privileges on other databases, schemas,
// tables and routines, and column privileges anywhere (the service never grants
// those). Read in the admin's database; other databases' objects are not visible from it.

export function footprintStatement(account: string, schema: string): PgStatement {
  const agg = "string_agg(DISTINCT a.privilege_type, ', ' ORDER BY a.privilege_type)";
  const sql = `WITH r AS (SELECT * FROM pg_roles WHERE rolname = $1), s AS (SELECT oid FROM pg_namespace WHERE nspname = $2)
SELECT 'global' AS kind, x AS what FROM r, LATERAL unnest(ARRAY[
  CASE WHEN r.rolsuper THEN 'SUPERUSER' END, CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
  CASE WHEN r.rolreplication THEN 'REPLICATION' END, CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END]) x WHERE x IS NOT NULL
UNION ALL SELECT 'role', g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = (SELECT oid FROM r)
  AND NOT (g.rolname LIKE 'dbaccess-lvl-%' AND NOT g.rolcanlogin AND shobj_description(g.oid, 'pg_authid') = 'dbaccess level group ' || current_database() || '/' || $2)
UNION ALL SELECT 'role-of', g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.member WHERE m.roleid = (SELECT oid FROM r) AND g.rolname <> current_user
UNION ALL SELECT 'schema', 'owner of database ' || d.datname FROM pg_database d WHERE d.datdba = (SELECT oid FROM r)
UNION ALL SELECT 'schema', 'owner of schema ' || n.nspname FROM pg_namespace n WHERE n.nspowner = (SELECT oid FROM r)
UNION ALL SELECT 'schema', 'database ' || d.datname || ': ' || ${agg} FROM pg_database d, LATERAL aclexplode(d.datacl) a
  WHERE a.grantee = (SELECT oid FROM r) AND d.datname <> current_database() GROUP BY d.datname
UNION ALL SELECT 'schema', n.nspname || ': ' || ${agg} FROM pg_namespace n, LATERAL aclexplode(n.nspacl) a
  WHERE a.grantee = (SELECT oid FROM r) AND n.oid IS DISTINCT FROM (SELECT oid FROM s) GROUP BY n.nspname
UNION ALL SELECT 'table', n.nspname || '.' || c.relname || ': ' || ${agg} FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, LATERAL aclexplode(c.relacl) a
  WHERE a.grantee = (SELECT oid FROM r) AND c.relnamespace IS DISTINCT FROM (SELECT oid FROM s) GROUP BY n.nspname, c.relname
UNION ALL SELECT 'column', n.nspname || '.' || c.relname || '.' || t.attname || ': ' || ${agg} FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace, LATERAL aclexplode(t.attacl) a WHERE a.grantee = (SELECT oid FROM r) GROUP BY n.nspname, c.relname, t.attname
UNION ALL SELECT 'routine', lower(CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END) || ' ' || n.nspname || '.' || p.proname || ': ' || ${agg}
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace, LATERAL aclexplode(p.proacl) a
  WHERE a.grantee = (SELECT oid FROM r) AND p.pronamespace IS DISTINCT FROM (SELECT oid FROM s) GROUP BY p.prokind, n.nspname, p.proname
ORDER BY 1, 2`;
  return { sql, values: [checkAccount(account), checkSchema(schema)], purpose: 'read what the account holds besides the schema' };
}

/** A name the grantee chose, as it may appear in a report: control and invisible characters escaped. */
export function shownName(name: string): string {
  if (isSafeText(name)) return name;
  return [...name].map((c) => (isSafeText(c) ? c : `\\u{${c.codePointAt(0)!.toString(16)}}`)).join('');
}

const KINDS = new Set<AccountHolding['kind']>(['global', 'schema', 'table', 'column', 'routine', 'role', 'proxy', 'role-of']);

export function holdingsOfRows(rows: readonly { kind: unknown; what: unknown }[]): AccountHolding[] {
  const out: AccountHolding[] = [];
  for (const row of rows) {
    const kind = String(row.kind) as AccountHolding['kind'];
    if (KINDS.has(kind)) out.push({ kind, what: shownName(String(row.what ?? '')) });
  }
  return out;
}
