import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

import { ACCOUNT_NAME, SCHEMA_NAME } from '../../../domain';
import { ActivityErrorType, activityError } from '../../errors';
import { isSafePassword, SAFE_PASSWORD_RULE } from '../../password';

// Every statement the PostgreSQL account manager sends is built here, from
// validated parts only. Queries take their values as $n parameters. Utility
// statements (CREATE/ALTER ROLE, GRANT, COMMENT) take no parameters, so the
// only text spliced into them is: identifiers that matched the project's rules,
// double-quoted with quotes doubled (quoteIdent); privilege keywords from the
// constants below, never the caller's string; integers that passed
// Number.isSafeInteger; and literals drawn from alphabets without quote or
// backslash (a SCRAM verifier, an ISO instant, the ownership tag), quoted by
// quoteLiteral. The password itself never reaches the server: only its SCRAM verifier.

/** One statement, with what the error mapping needs to explain a refusal without echoing SQL. */
export interface PgStatement {
  readonly sql: string;
  readonly values: readonly (string | number)[];
  /** What the statement does, for error messages (never contains a value). */
  readonly purpose: string;
  /** Carries a password verifier: neither the text nor the server's message about it is repeated. */
  readonly sensitive?: true;
  /** The access lists a GRANT or REVOKE rewrites (session.ts: revocationTransactions). */
  readonly acl?: AclGroup;
}

/**
 * Catalogue rows a privilege statement rewrites, in groups no two of which share a row:
 * the database's, the schema's and the default privileges' (`database`), the tables'
 * (with their columns'), the sequences' and routines' (`sequences`).
 */
export type AclGroup = 'database' | 'tables' | 'sequences';

function invalid(message: string): never {
  throw activityError(ActivityErrorType.InvalidIdentifier, message);
}

function shown(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 70 ? `${text.slice(0, 67)}...` : text;
}

/** PostgreSQL truncates identifiers beyond 63 bytes: longer ones are refused, never shortened. */
const IDENTIFIER_MAX_BYTES = 63;

/** Double-quotes a name, every `"` doubled; refuses NUL, the empty name and names PostgreSQL would truncate. */
export function quoteIdent(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.includes('\u0000') || Buffer.byteLength(name, 'utf8') > IDENTIFIER_MAX_BYTES) {
    invalid(`identifier ${shown(name)} must be 1-${IDENTIFIER_MAX_BYTES} bytes without NUL`);
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A string literal for utility statements. Only texts without quote, backslash
 * or control characters are accepted, so the literal reads the same whatever
 * standard_conforming_strings says; the quote doubling is a second guard.
 */
export function quoteLiteral(value: string): string {
  if (typeof value !== 'string' || !/^[\x20-\x7e]{0,512}$/.test(value) || /['\\]/.test(value)) {
    invalid('a literal must be printable ASCII without quotes or backslashes');
  }
  return `'${value.replace(/'/g, "''")}'`;
}

/** Grant accounts: the project's account names, minus PostgreSQL's reserved `pg_` prefix. */
export function checkAccount(account: string): string {
  if (typeof account !== 'string' || !ACCOUNT_NAME.test(account) || account.startsWith('pg_')) {
    invalid(`account ${shown(account)} must be 1-32 characters of a-z, 0-9 and _, not starting with pg_`);
  }
  return account;
}

/** The name of one of the service's level groups (groups.ts): account names (a-z, 0-9, _) never hold a `-`. */
export const LEVEL_GROUP_NAME = /^dbaccess-lvl-[0-9a-f]{16}$/;

export function checkLevelGroup(name: string): string {
  if (typeof name !== 'string' || !LEVEL_GROUP_NAME.test(name)) invalid(`role ${shown(name)} is not a level group of the service`);
  return name;
}

/** A role whose objects the service hands over: a grant's account, or one of its level groups (groups.ts). */
export function checkOwnerOfObjects(role: string): string {
  if (typeof role === 'string' && LEVEL_GROUP_NAME.test(role)) return role;
  return checkAccount(role);
}

export function checkSchema(schema: string): string {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema) || schema.length > IDENTIFIER_MAX_BYTES || schema.startsWith('pg_')) {
    invalid(`schema ${shown(schema)} must be 1-63 characters of letters, digits and _, not starting with pg_`);
  }
  return schema;
}

/** Database and owner-role names come from the admin secret or the configuration, not from a request. */
const ADMIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$/;

export function checkDatabase(name: string): string {
  if (typeof name !== 'string' || !ADMIN_NAME.test(name)) invalid(`database ${shown(name)} must be 1-63 characters of letters, digits, _ and -`);
  return name;
}

export function checkRoleName(name: string): string {
  if (typeof name !== 'string' || !ADMIN_NAME.test(name)) invalid(`role ${shown(name)} must be 1-63 characters of letters, digits, _ and -`);
  return name;
}

export function checkPassword(password: string): string {
  if (!isSafePassword(password)) invalid(SAFE_PASSWORD_RULE);
  return password;
}

/** Widest CONNECTION LIMIT (int4). The port's 0 means "no limit", PostgreSQL's -1. */
export const CONNECTION_LIMIT_MAX = 2147483647;

export function connectionLimit(maxUserConnections: number): number {
  if (!Number.isSafeInteger(maxUserConnections) || maxUserConnections < 0 || maxUserConnections > CONNECTION_LIMIT_MAX) {
    invalid(`maxUserConnections ${shown(maxUserConnections)} must be an integer from 0 to ${CONNECTION_LIMIT_MAX}`);
  }
  return maxUserConnections === 0 ? -1 : maxUserConnections;
}

/** An ISO-8601 UTC instant, re-rendered by Date so that only digits, `-`, `:`, `.`, `T` and `Z` remain. */
export function checkValidUntil(value: string): string {
  const ok = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?Z$/.test(value);
  const time = ok ? Date.parse(value) : NaN;
  if (!Number.isFinite(time)) invalid(`validUntil ${shown(value)} must be an ISO-8601 UTC instant`);
  return new Date(time).toISOString();
}

/** A grant id (`grant/<project>/<database>/<email>`): printable ASCII without space, quote or backslash, so it can be a literal. */
const GRANT_ID = /^[\x21-\x7e]{1,200}$/;
const GRANT_ID_FORBIDDEN = /['"\\]/;

/** The comment that marks a role as this service's: `dbaccess grant <id>`, or `dbaccess account` without one. */
export function ownershipTag(grantId?: string): string {
  if (grantId === undefined) return 'dbaccess account';
  if (typeof grantId !== 'string' || !GRANT_ID.test(grantId) || GRANT_ID_FORBIDDEN.test(grantId)) invalid(`grantId ${shown(grantId)} must be 1-200 printable characters without space, quote or backslash`);
  return `dbaccess grant ${grantId}`;
}

/** Whether a role's comment marks it as made by this service (for `grantId`, by that grant). */
export function isOurs(comment: string | null | undefined, grantId?: string): boolean {
  if (typeof comment !== 'string') return false;
  if (grantId !== undefined) return comment === ownershipTag(grantId) || comment === ownershipTag();
  const id = comment.startsWith('dbaccess grant ') ? comment.slice('dbaccess grant '.length) : undefined;
  return comment === ownershipTag() || (id !== undefined && GRANT_ID.test(id) && !GRANT_ID_FORBIDDEN.test(id));
}

/**
 * The SCRAM-SHA-256 verifier of a password (RFC 5802/7677, the form PostgreSQL
 * stores): the server keeps it as given, so the password crosses neither the
 * wire nor the server's statement log. SASLprep is the identity on checkPassword's alphabet.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(checkPassword(password), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

// --- roles ------------------------------------------------------------------

export interface RoleSettings {
  maxUserConnections: number;
  validUntil?: string;
}

/** ALTER ROLE may not name SUPERUSER, REPLICATION or BYPASSRLS, even to deny them, unless a superuser runs it. */
function roleOptions(password: string, settings: RoleSettings, create = false): string {
  const parts = create ? ['LOGIN', 'NOSUPERUSER', 'NOCREATEDB', 'NOCREATEROLE', 'NOREPLICATION', 'NOBYPASSRLS', 'INHERIT'] : ['LOGIN', 'NOCREATEDB', 'NOCREATEROLE', 'INHERIT'];
  parts.push(`CONNECTION LIMIT ${connectionLimit(settings.maxUserConnections)}`);
  parts.push(`PASSWORD ${quoteLiteral(scramVerifier(password))}`);
  if (settings.validUntil !== undefined) parts.push(`VALID UNTIL ${quoteLiteral(checkValidUntil(settings.validUntil))}`);
  return parts.join(' ');
}

export function createRoleStatement(account: string, password: string, settings: RoleSettings): PgStatement {
  return { sql: `CREATE ROLE ${quoteIdent(checkAccount(account))} ${roleOptions(password, settings, true)}`, values: [], purpose: 'create the account', sensitive: true };
}

/** Re-sets everything createRoleStatement sets: a retry ends in the same state, with the last password. */
export function alterRoleStatement(account: string, password: string, settings: RoleSettings): PgStatement {
  return { sql: `ALTER ROLE ${quoteIdent(checkAccount(account))} ${roleOptions(password, settings)}`, values: [], purpose: 'set the password and limits of the account', sensitive: true };
}

export function validUntilStatement(account: string, validUntil: string): PgStatement {
  return {
    sql: `ALTER ROLE ${quoteIdent(checkAccount(account))} VALID UNTIL ${quoteLiteral(checkValidUntil(validUntil))}`,
    values: [],
    purpose: 'move the expiry of the account',
  };
}

export function commentStatement(account: string, grantId?: string): PgStatement {
  return { sql: `COMMENT ON ROLE ${quoteIdent(checkAccount(account))} IS ${quoteLiteral(ownershipTag(grantId))}`, values: [], purpose: 'tag the account as this service’s' };
}

/**
 * Containment: no new login and no password at all. With PASSWORD NULL every
 * password check fails, whatever is tried; a random password's verifier would
 * mean the same at the cost of a key derivation per account (4096 rounds of
 * PBKDF2 on the worker), which a burst of expiries cannot afford.
 */
export function containStatement(account: string): PgStatement {
  return {
    sql: `ALTER ROLE ${quoteIdent(checkAccount(account))} NOLOGIN PASSWORD NULL`,
    values: [],
    purpose: 'stop the account from logging in and remove its password',
  };
}

/**
 * containStatement for several accounts as one round trip: PostgreSQL has no
 * multi-role ALTER ROLE, but a simple query of several statements runs as one
 * implicit transaction (all or none). Names checked and quoted as everywhere.
 */
export function containAllStatement(accounts: readonly string[]): PgStatement {
  if (accounts.length === 0) invalid('at least one account is needed');
  if (accounts.length === 1) return containStatement(accounts[0]!);
  return { sql: accounts.map((a) => containStatement(a).sql).join(';\n'), values: [], purpose: 'stop the accounts from logging in and remove their passwords' };
}

/** A text[] parameter of account names (checked: only a-z, 0-9 and _, so nothing in them needs quoting in an array literal). */
export function accountArray(accounts: readonly string[]): string {
  if (accounts.length === 0) invalid('at least one account is needed');
  return `{${accounts.map(checkAccount).join(',')}}`;
}

/** The roles of these names: whether each is a superuser, and its comment (the ownership tag). */
export function rolesStatement(accounts: readonly string[]): PgStatement {
  return {
    sql: "SELECT rolname AS name, rolsuper AS super, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = ANY($1::text[])",
    values: [accountArray(accounts)],
    purpose: 'look the accounts up',
  };
}

export function roleStatement(account: string): PgStatement {
  return {
    sql: "SELECT oid::text AS oid, rolsuper AS super, rolcanlogin AS login, rolconnlimit AS connlimit, rolvaliduntil AS valid_until, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1",
    values: [checkAccount(account)],
    purpose: 'look the account up',
  };
}

/** The admin itself: what checkTarget requires of it. */
export function adminStatement(): PgStatement {
  return {
    sql: "SELECT current_user AS name, rolsuper AS super, rolcreaterole AS createrole, pg_has_role(current_user, 'pg_signal_backend', 'MEMBER') AS signal, current_database() AS database FROM pg_roles WHERE rolname = current_user",
    values: [],
    purpose: "read the admin account's attributes",
  };
}

export function schemaStatement(schema: string): PgStatement {
  return {
    sql: "SELECT nspname AS name, pg_get_userbyid(nspowner) AS owner, pg_has_role(nspowner, 'MEMBER') AS member, d.datname AS database, pg_get_userbyid(d.datdba) AS database_owner FROM pg_namespace, pg_database d WHERE nspname = $1 AND d.datname = current_database()",
    values: [checkSchema(schema)],
    purpose: 'check that the schema exists',
  };
}

export function serverVersionStatement(): PgStatement {
  return { sql: "SELECT current_setting('server_version_num')::int AS version", values: [], purpose: "read the server's version" };
}

export function databaseOwnerStatement(): PgStatement {
  return { sql: 'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()', values: [], purpose: "read the database's owner" };
}

/** Makes the admin a member of the account: REASSIGN and DROP OWNED need it (CREATEROLE may grant it up to PostgreSQL 15; 16 gives it to the creator). */
export function joinRoleStatement(account: string): PgStatement {
  return { sql: `GRANT ${quoteIdent(checkOwnerOfObjects(account))} TO CURRENT_USER`, values: [], purpose: 'make the admin a member of the account' };
}

/** Drops the roles that exist; one statement for many (all or none). */
export function dropRoleStatement(accounts: string | readonly string[]): PgStatement {
  const list = typeof accounts === 'string' ? [accounts] : accounts;
  if (list.length === 0) invalid('at least one account is needed');
  return { sql: `DROP ROLE IF EXISTS ${list.map((a) => quoteIdent(checkAccount(a))).join(', ')}`, values: [], purpose: list.length > 1 ? 'drop the accounts' : 'drop the account' };
}

// --- sessions -----------------------------------------------------------------

/** Sessions of the role in every database of the server (pg_stat_activity is server-wide). */
export function sessionsStatement(account: string): PgStatement {
  return {
    sql: 'SELECT pid FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()',
    values: [checkAccount(account)],
    purpose: "list the account's sessions",
  };
}

/** Waits up to `timeoutMs` for the backend to exit (PostgreSQL 14+); false when it did not. */
export function terminateStatement(pid: number, timeoutMs = 2000): PgStatement {
  if (!Number.isSafeInteger(pid) || pid <= 0) invalid(`pid ${shown(pid)} is not a positive integer`);
  return { sql: 'SELECT pg_terminate_backend($1::int, $2::bigint) AS ended', values: [pid, timeoutMs], purpose: "end one of the account's sessions" };
}

/** Signals every session of these roles to end, without waiting for any to exit; a row per session (`signalled` false for one that was already gone). */
export function signalSessionsStatement(accounts: readonly string[]): PgStatement {
  return {
    sql: 'SELECT usename AS name, pid, pg_terminate_backend(pid) AS signalled FROM pg_stat_activity WHERE usename = ANY($1::text[]) AND pid <> pg_backend_pid()',
    values: [accountArray(accounts)],
    purpose: "end the accounts' sessions",
  };
}

/** Which of these backends have not exited yet. */
export function backendsLeftStatement(pids: readonly number[]): PgStatement {
  if (pids.length === 0) invalid('at least one pid is needed');
  for (const pid of pids) if (!Number.isSafeInteger(pid) || pid <= 0) invalid(`pid ${shown(pid)} is not a positive integer`);
  return { sql: 'SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[])', values: [`{${pids.join(',')}}`], purpose: "wait for the accounts' sessions to exit" };
}

// --- where the role has left traces ---------------------------------------------

/** Databases in which the role owns objects or holds privileges (pg_shdepend is shared; 0 is a shared object). */
export function dependentDatabasesStatement(account: string): PgStatement {
  return {
    sql: 'SELECT DISTINCT d.datname AS name, pg_get_userbyid(d.datdba) AS owner FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.refobjid WHERE s.refclassid = \'pg_authid\'::regclass AND r.rolname = $1 ORDER BY 1',
    values: [checkAccount(account)],
    purpose: 'find the databases the account left objects or privileges in',
  };
}

/** Roles of these names that still leave a trace in some database or on the server (pg_shdepend: owned objects, privileges, default privileges). */
export function tracedRolesStatement(accounts: readonly string[]): PgStatement {
  return {
    sql: "SELECT DISTINCT r.rolname AS name FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid WHERE s.refclassid = 'pg_authid'::regclass AND r.rolname = ANY($1::text[])",
    values: [accountArray(accounts)],
    purpose: 'find the accounts that left objects or privileges',
  };
}

/** Objects the role owns in the current database, capped, with the exact total on every row. */
export function ownedObjectsStatement(account: string, limit: number): PgStatement {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) invalid(`limit ${shown(limit)} must be an integer from 1 to 10000`);
  const sql = `WITH r AS (SELECT oid FROM pg_roles WHERE rolname = $1), o AS (
  SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'VIEW' ELSE 'TABLE' END AS kind, n.nspname AS schema, c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relowner = (SELECT oid FROM r) AND c.relkind IN ('r','p','v','m','S','f')
  UNION ALL SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, n.nspname, p.proname
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proowner = (SELECT oid FROM r)
  UNION ALL SELECT 'SCHEMA', n.nspname, n.nspname FROM pg_namespace n WHERE n.nspowner = (SELECT oid FROM r)
  UNION ALL SELECT 'TYPE', n.nspname, t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typowner = (SELECT oid FROM r) AND t.typtype IN ('c','d','e','r','m') AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  UNION ALL SELECT 'OTHER', '', 'large object ' || l.oid::text FROM pg_largeobject_metadata l WHERE l.lomowner = (SELECT oid FROM r)
)
SELECT kind, schema, name, COUNT(*) OVER () AS total FROM o ORDER BY kind, schema, name LIMIT $2`;
  return { sql, values: [checkOwnerOfObjects(account), limit], purpose: 'list the objects the account owns' };
}

/** Gives what a level group owns to `owner`, in the current database; its privileges stay (its other members hold them). */
export function reassignGroupStatement(group: string, owner: string): PgStatement {
  return { sql: `REASSIGN OWNED BY ${quoteIdent(checkLevelGroup(group))} TO ${quoteIdent(checkRoleName(owner))}`, values: [], purpose: "give the level group's objects to the owner role" };
}

/** Gives what the role owns to `owner` and removes its privileges and default privileges, in the current database. */
export function reassignStatements(account: string, owner: string): PgStatement[] {
  const role = quoteIdent(checkAccount(account));
  return [
    { sql: `REASSIGN OWNED BY ${role} TO ${quoteIdent(checkRoleName(owner))}`, values: [], purpose: "give the account's objects to the owner role" },
    { sql: `DROP OWNED BY ${role}`, values: [], purpose: "remove the account's remaining privileges" },
  ];
}
