import { PG_PRIVILEGES, type PgPrivilegeName } from '../../../domain';
import { ActivityErrorType, activityError } from '../../errors';
import { accountArray, checkAccount, checkDatabase, checkOwnerOfObjects, checkRoleName, checkSchema, quoteIdent, type PgStatement } from './sql';

// What a grant's privilege names mean on PostgreSQL. A grant names privileges
// (the port's whitelist names; the default levels use only SELECT, INSERT,
// UPDATE, DELETE and ALL PRIVILEGES); each becomes privileges on the objects of
// one schema: its tables (views and foreign tables included), its sequences,
// its routines, the schema itself, and the same on objects created later
// (default privileges of the roles that create them). Every level also holds
// CONNECT on the database and USAGE on the schema.

/** The kinds of object a privilege lands on. */
export interface PgPrivilegeSet {
  schema: string[];
  tables: string[];
  sequences: string[];
  routines: string[];
}

type Kind = keyof PgPrivilegeSet;

/** Everything each kind can hold: what ALL means there, in PostgreSQL's order. */
const EVERYTHING: Readonly<PgPrivilegeSet> = {
  schema: ['USAGE', 'CREATE'],
  tables: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  sequences: ['USAGE', 'SELECT', 'UPDATE'],
  routines: ['EXECUTE'],
};

/**
 * The catalogue of privilege names accepted on PostgreSQL, and what each grants.
 * INSERT brings USAGE on sequences, which is what nextval() of a serial or
 * identity column needs (UPDATE on a sequence would also allow setval()).
 */
export const pgPrivileges: Readonly<Record<PgPrivilegeName, Readonly<Partial<PgPrivilegeSet>>>> = {
  SELECT: { tables: ['SELECT'], sequences: ['SELECT'] },
  INSERT: { tables: ['INSERT'], sequences: ['USAGE'] },
  UPDATE: { tables: ['UPDATE'] },
  DELETE: { tables: ['DELETE'] },
  TRUNCATE: { tables: ['TRUNCATE'] },
  REFERENCES: { tables: ['REFERENCES'] },
  TRIGGER: { tables: ['TRIGGER'] },
  EXECUTE: { routines: ['EXECUTE'] },
  CREATE: { schema: ['CREATE'] },
  'ALL PRIVILEGES': { ...EVERYTHING },
};

/** The default access levels (the domain's catalogue: same names and privilege lists as MySQL's). */
export const pgLevels: Readonly<Record<string, readonly string[]>> = PG_PRIVILEGES.defaultLevels;

/** What a privilege list grants, per kind of object; the base (schema USAGE) included. Refuses names outside the catalogue. */
export function privilegePlan(list: readonly string[]): PgPrivilegeSet {
  if (!Array.isArray(list)) throw activityError(ActivityErrorType.InvalidIdentifier, 'privileges must be a list');
  const plan: PgPrivilegeSet = { schema: ['USAGE'], tables: [], sequences: [], routines: [] };
  for (const name of list) {
    const entry = typeof name === 'string' && Object.hasOwn(pgPrivileges, name) ? pgPrivileges[name as PgPrivilegeName] : undefined;
    if (!entry) {
      throw activityError(ActivityErrorType.InvalidIdentifier, `privilege ${JSON.stringify(String(name)).slice(0, 70)} has no PostgreSQL meaning (allowed: ${Object.keys(pgPrivileges).join(', ')})`);
    }
    for (const kind of Object.keys(EVERYTHING) as Kind[]) for (const p of entry[kind] ?? []) if (!plan[kind].includes(p)) plan[kind].push(p);
  }
  for (const kind of Object.keys(EVERYTHING) as Kind[]) plan[kind] = EVERYTHING[kind].filter((p) => plan[kind].includes(p));
  return plan;
}

/** Everything of each kind that is not in `keep`. */
export function complement(keep: PgPrivilegeSet): PgPrivilegeSet {
  const out = { schema: [], tables: [], sequences: [], routines: [] } as PgPrivilegeSet;
  for (const kind of Object.keys(EVERYTHING) as Kind[]) out[kind] = EVERYTHING[kind].filter((p) => !keep[kind].includes(p));
  return out;
}

export const NOTHING: Readonly<PgPrivilegeSet> = { schema: [], tables: [], sequences: [], routines: [] };
export const ALL: Readonly<PgPrivilegeSet> = EVERYTHING;

/** Keywords from EVERYTHING only: a caller's string never reaches SQL. */
function keywords(kind: Kind, list: readonly string[]): string {
  for (const p of list) if (!EVERYTHING[kind].includes(p)) throw activityError(ActivityErrorType.InvalidIdentifier, `privilege ${p} is not one of ${kind}`);
  return list.join(', ');
}

const ON_ONE: Readonly<Record<Exclude<Kind, 'schema'>, string>> = { tables: 'TABLE', sequences: 'SEQUENCE', routines: 'ROUTINE' };
const DEFAULT_ON: Readonly<Record<Exclude<Kind, 'schema'>, string>> = { tables: 'TABLES', sequences: 'SEQUENCES', routines: 'ROUTINES' };

/** Objects named per GRANT or REVOKE statement. */
const CHUNK = 100;

export interface PrivilegeScope {
  database: string;
  schema: string;
  /** The grantee; several for the revocations of a batch of endings. */
  account: string | readonly string[];
  /** Roles whose future objects in the schema get the default privileges (the admin must be a member of each). */
  creators: readonly string[];
}

/** The schema's objects the admin may grant on, as SQL names (see objectsOfRows). */
export interface SchemaObjects {
  tables: readonly string[];
  sequences: readonly string[];
  routines: readonly string[];
}

export const NO_OBJECTS: SchemaObjects = { tables: [], sequences: [], routines: [] };

/**
 * The schema's tables (views, foreign tables included), sequences and routines
 * whose owner the admin is a member of, other than the account's own (it holds
 * everything on those). `ON ALL TABLES IN SCHEMA` is not used: it fails outright
 * on one object the admin holds nothing on (a table a grantee created).
 * Routines come with their argument types, as the server formats them.
 */
export function objectsStatement(schema: string, account: string | readonly string[]): PgStatement {
  return {
    sql: `WITH s AS (SELECT oid FROM pg_namespace WHERE nspname = $1), r AS (SELECT oid FROM pg_roles WHERE rolname = ANY($2::text[]))
SELECT CASE relkind WHEN 'S' THEN 'sequences' ELSE 'tables' END AS kind, relname AS name, NULL AS args FROM pg_class
  WHERE relnamespace = (SELECT oid FROM s) AND relkind IN ('r','p','v','m','S','f') AND relowner NOT IN (SELECT oid FROM r) AND pg_has_role(relowner, 'MEMBER')
UNION ALL SELECT 'routines', proname, oidvectortypes(proargtypes) FROM pg_proc
  WHERE pronamespace = (SELECT oid FROM s) AND proowner NOT IN (SELECT oid FROM r) AND pg_has_role(proowner, 'MEMBER')
ORDER BY 1, 2, 3`,
    values: [checkSchema(schema), accountArray(typeof account === 'string' ? [account] : account)],
    purpose: 'list the objects of the schema',
  };
}

/**
 * Rows of objectsStatement as SQL names: schema and name quoted by quoteIdent
 * (the names may be a grantee's choice); a routine's argument types as the
 * server's format_type wrote them (every type name quoted by the server), checked
 * to hold no NUL, and no parenthesis or semicolon outside quotes.
 */
export function objectsOfRows(schema: string, rows: readonly { kind: unknown; name: unknown; args: unknown }[]): SchemaObjects {
  const prefix = `${quoteIdent(checkSchema(schema))}.`;
  const out = { tables: [] as string[], sequences: [] as string[], routines: [] as string[] };
  for (const row of rows) {
    const name = prefix + quoteIdent(String(row.name));
    if (row.kind === 'tables' || row.kind === 'sequences') out[row.kind].push(name);
    else if (row.kind === 'routines') {
      const args = String(row.args ?? '');
      if (args.includes('\u0000') || args.length > 4000 || /[();]/.test(args.replace(/"(?:[^"]|"")*"/g, ''))) {
        throw activityError(ActivityErrorType.InvalidIdentifier, `routine ${JSON.stringify(String(row.name)).slice(0, 70)} has argument types that cannot be named safely`);
      }
      out.routines.push(`${name}(${args})`);
    }
  }
  return out;
}

/**
 * GRANT (or REVOKE) `set` on the schema, on `objects` (what is in it) and,
 * through default privileges, on what its creators make later. The database's
 * CONNECT goes with `database: true`. Empty lists send nothing.
 */
export function privilegeStatements(action: 'GRANT' | 'REVOKE', set: PgPrivilegeSet, scope: PrivilegeScope, objects: SchemaObjects = NO_OBJECTS, options: { database?: boolean } = {}): PgStatement[] {
  const grantees = typeof scope.account === 'string' ? [scope.account] : scope.account;
  if (grantees.length === 0) throw activityError(ActivityErrorType.InvalidIdentifier, 'at least one grantee is needed');
  const role = grantees.map((a) => quoteIdent(checkOwnerOfObjects(a))).join(', ');
  const schema = quoteIdent(checkSchema(scope.schema));
  const to = action === 'GRANT' ? 'TO' : 'FROM';
  const verb = action === 'GRANT' ? 'grant' : 'revoke';
  const out: PgStatement[] = [];
  if (options.database) {
    out.push({ sql: `${action} CONNECT ON DATABASE ${quoteIdent(checkDatabase(scope.database))} ${to} ${role}`, values: [], purpose: `${verb} CONNECT on the database`, acl: 'database' });
  }
  if (set.schema.length > 0) out.push({ sql: `${action} ${keywords('schema', set.schema)} ON SCHEMA ${schema} ${to} ${role}`, values: [], purpose: `${verb} ${set.schema.join(', ')} on the schema`, acl: 'database' });
  const creators = [...new Set(scope.creators.map(checkRoleName))];
  for (const kind of ['tables', 'sequences', 'routines'] as const) {
    if (set[kind].length === 0) continue;
    const list = keywords(kind, set[kind]);
    for (let i = 0; i < objects[kind].length; i += CHUNK) {
      const names = objects[kind].slice(i, i + CHUNK).join(', ');
      out.push({ sql: `${action} ${list} ON ${ON_ONE[kind]} ${names} ${to} ${role}`, values: [], purpose: `${verb} ${list} on the schema's ${kind}`, acl: kind === 'tables' ? 'tables' : 'sequences' });
    }
    if (creators.length > 0) {
      out.push({
        sql: `ALTER DEFAULT PRIVILEGES FOR ROLE ${creators.map(quoteIdent).join(', ')} IN SCHEMA ${schema} ${action} ${list} ON ${DEFAULT_ON[kind]} ${to} ${role}`,
        values: [],
        purpose: `${verb} ${list} on the schema's future ${kind}`,
        acl: 'database',
      });
    }
  }
  return out;
}

/**
 * Roles whose default privileges matter for the schema: its owner, the owners of
 * what is in it, and roles that already hold default privileges there for the
 * account; only those the admin is a member of (others cannot be changed by it),
 * never the account itself (what it creates is its own).
 */
export function creatorsStatement(schema: string, account: string | readonly string[], extra: readonly string[]): PgStatement {
  return {
    sql: `WITH s AS (SELECT oid, nspowner FROM pg_namespace WHERE nspname = $1), c AS (
  SELECT nspowner AS role FROM s
  UNION SELECT relowner FROM pg_class WHERE relnamespace = (SELECT oid FROM s) AND relkind IN ('r','p','v','m','S','f')
  UNION SELECT proowner FROM pg_proc WHERE pronamespace = (SELECT oid FROM s)
  UNION SELECT defaclrole FROM pg_default_acl WHERE defaclnamespace = (SELECT oid FROM s)
  UNION SELECT oid FROM pg_roles WHERE rolname = ANY($3::text[])
)
SELECT r.rolname AS name, pg_has_role(r.oid, 'MEMBER') AS member FROM c JOIN pg_roles r ON r.oid = c.role WHERE r.rolname <> ALL($2::text[]) ORDER BY 1`,
    values: [checkSchema(schema), accountArray(typeof account === 'string' ? [account] : account), `{${extra.map(checkRoleName).join(',')}}`],
    purpose: 'find the roles that create objects in the schema',
  };
}

/**
 * The privileges the account holds in the schema, per kind, read from the ACLs
 * of the schema, its objects and its default privileges (a privilege held on at
 * least one object counts), its own and those of its level groups (groups.ts).
 * Rows: kind, privilege_type.
 */
export function heldStatement(schema: string, account: string): PgStatement {
  return {
    sql: `WITH s AS (SELECT oid, nspacl FROM pg_namespace WHERE nspname = $1), r AS (
  SELECT oid FROM pg_roles WHERE rolname = $2
  UNION SELECT m.roleid FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $2) AND g.rolname LIKE 'dbaccess-lvl-%' AND NOT g.rolcanlogin
)
SELECT DISTINCT kind, a.privilege_type FROM (
  SELECT 'schema' AS kind, nspacl AS acl FROM s
  UNION ALL SELECT CASE relkind WHEN 'S' THEN 'sequences' ELSE 'tables' END, relacl FROM pg_class WHERE relnamespace = (SELECT oid FROM s) AND relkind IN ('r','p','v','m','S','f')
  UNION ALL SELECT 'routines', proacl FROM pg_proc WHERE pronamespace = (SELECT oid FROM s)
  UNION ALL SELECT CASE defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'routines' ELSE 'other' END, defaclacl FROM pg_default_acl WHERE defaclnamespace = (SELECT oid FROM s)
) x, LATERAL aclexplode(x.acl) a WHERE x.acl IS NOT NULL AND a.grantee IN (SELECT oid FROM r) ORDER BY 1, 2`,
    values: [checkSchema(schema), checkAccount(account)],
    purpose: "read the account's privileges in the schema",
  };
}

/** Rows of heldStatement as a privilege set (unknown kinds and names ignored). */
export function heldSet(rows: readonly { kind: unknown; privilege_type: unknown }[]): PgPrivilegeSet {
  const out: PgPrivilegeSet = { schema: [], tables: [], sequences: [], routines: [] };
  for (const row of rows) {
    const kind = String(row.kind) as Kind;
    const p = String(row.privilege_type);
    if (!Object.hasOwn(EVERYTHING, kind) || !EVERYTHING[kind].includes(p)) continue;
    if (!out[kind].includes(p)) out[kind].push(p);
  }
  return out;
}

/** The catalogue names a held set amounts to: `ALL PRIVILEGES` when it holds everything, else each name fully held. */
export function namesOfSet(held: PgPrivilegeSet): string[] {
  const holds = (want: Partial<PgPrivilegeSet>) => (Object.keys(want) as Kind[]).every((k) => (want[k] ?? []).every((p) => held[k].includes(p)));
  if (holds(EVERYTHING)) return ['ALL PRIVILEGES'];
  return (Object.keys(pgPrivileges) as PgPrivilegeName[]).filter((name) => name !== 'ALL PRIVILEGES' && holds({ ...pgPrivileges[name], sequences: name === 'SELECT' || name === 'INSERT' ? [] : pgPrivileges[name].sequences }));
}
