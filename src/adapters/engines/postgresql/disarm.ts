import { checkOwnerOfObjects, quoteIdent, type PgStatement } from './sql';

// Before what a grantee made is given to the owner role, nothing of it may run
// with that role's rights: a SECURITY DEFINER routine, a view (which reads its
// tables with its owner's rights) or a rule (whose actions run with the table
// owner's rights) would otherwise let whoever may call, read or write it act as
// the owner role, the grantee's later accounts included. A trigger whose routine
// the grantee wrote (ADMIN holds TRIGGER on the owner's tables) would run that
// code as whoever writes the table, the owner's applications included. So
// routines become SECURITY INVOKER, views security_invoker, and rules and such
// triggers are disabled. Nothing is dropped; the owner can turn each back on.

/** What the role owns in the current database that would run with its owner's rights. */
export function definerRightsStatement(account: string): PgStatement {
  return {
    sql: `WITH r AS (SELECT oid FROM pg_roles WHERE rolname = $1)
SELECT 'routine' AS what, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind, n.nspname AS schema, p.proname AS name,
       p.oid::regprocedure::text AS signature, NULL AS on_schema, NULL AS on_table, NULL AS rule
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proowner = (SELECT oid FROM r) AND p.prosecdef
UNION ALL SELECT 'view', 'VIEW', n.nspname, c.relname, NULL, n.nspname, c.relname, NULL
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relowner = (SELECT oid FROM r) AND c.relkind = 'v' AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)
UNION ALL SELECT 'rule', 'TABLE', n.nspname, c.relname, NULL, n.nspname, c.relname, w.rulename
  FROM pg_rewrite w JOIN pg_class c ON c.oid = w.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relowner = (SELECT oid FROM r) AND w.rulename <> '_RETURN' AND w.ev_enabled <> 'D'
UNION ALL SELECT 'trigger', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, pn.nspname, p.proname, NULL, n.nspname, c.relname, t.tgname
  FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
  JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE p.proowner = (SELECT oid FROM r) AND NOT t.tgisinternal AND t.tgenabled <> 'D'`,
    values: [checkOwnerOfObjects(account)],
    purpose: "list what the account owns that runs with its owner's rights",
  };
}

export interface DefinerRights {
  what: 'routine' | 'view' | 'rule' | 'trigger';
  /** The object of the account the change is reported on (a trigger's: its routine). */
  kind: string;
  schema: string;
  name: string;
  /** Routines: the server's own rendering of `oid::regprocedure` (names quoted by the server, argument types). */
  signature: string | null;
  /** Views, rules and triggers: the relation changed. */
  on_schema: string | null;
  on_table: string | null;
  /** The rule's or the trigger's name. */
  rule: string | null;
}

/** The statement that makes one of them run with its caller's rights, and what the report says of it. */
export function disarmStatement(row: DefinerRights): { statement: PgStatement; note: string } {
  const relation = (): string => `${quoteIdent(row.on_schema ?? '')}.${quoteIdent(row.on_table ?? '')}`;
  switch (row.what) {
    case 'routine':
      // regprocedure output is quoted by the server; it is never built from a grantee's text here.
      return { statement: { sql: `ALTER ROUTINE ${row.signature} SECURITY INVOKER`, values: [], purpose: 'make a routine of the account run with its caller\'s rights' }, note: 'made SECURITY INVOKER' };
    case 'view':
      return { statement: { sql: `ALTER VIEW ${relation()} SET (security_invoker = true)`, values: [], purpose: "make a view of the account read with its reader's rights" }, note: 'set security_invoker' };
    case 'rule':
      return { statement: { sql: `ALTER TABLE ${relation()} DISABLE RULE ${quoteIdent(row.rule ?? '')}`, values: [], purpose: 'disable a rule of the account' }, note: `rule ${row.rule} disabled` };
    case 'trigger':
      return {
        statement: { sql: `ALTER TABLE ${relation()} DISABLE TRIGGER ${quoteIdent(row.rule ?? '')}`, values: [], purpose: "disable a trigger that runs the account's routine" },
        note: `trigger ${row.rule} on ${row.on_schema}.${row.on_table} disabled`,
      };
  }
}
