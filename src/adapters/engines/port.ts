import type { EngineGuide } from '../../contract/engine-guide';
import type { GrantTarget, LeftBehindObject, PrivilegeCatalogue } from '../../domain';

// The DatabaseEngine port: everything that differs between database engines, so
// that the activities, the reconciler and the worker are written once. An engine
// is one folder under adapters/engines (mysql/, ...) whose index exports one
// DatabaseEngine, registered by one line in registry.ts.

/** Admin credentials of a database server, as the engine reads them from its admin secret. */
export interface AdminCredentials {
  host: string;
  port: number;
  username: string;
  password: string;
  /** The database the admin works in, for engines whose server holds several (PostgreSQL: the secret's `dbname`). */
  database?: string;
}

export interface AdminCredentialSource {
  /** Cached; `refresh` forces a new read (after an authentication failure, e.g. rotation). */
  get(secretId: string, options?: { refresh?: boolean }): Promise<AdminCredentials>;
}

/** Where a grantee connects: what the GRANTED e-mail and the per-grant secret say. */
export interface ServerEndpoint {
  host: string;
  port: number;
  /** What the server is, as it reported itself (`mysql`, `mariadb`, ...): the guides' dialect. */
  engine: string;
  /** The database a session opens, where the engine has databases above schemas (PostgreSQL); absent on MySQL, where it is the schema. */
  database?: string;
}

/**
 * Passed to every AccountManager call: a cancelled activity stops before its next
 * statement; a statement running when it aborts is stopped on the server before
 * the call fails (DatabaseUnavailable, `code: 'CANCELLED'`).
 */
export interface AccountCallOptions {
  signal?: AbortSignal;
}

/** ensureAccount's options: what an engine that can bound an account in time, or tag it, writes with it. */
export interface EnsureAccountOptions extends AccountCallOptions {
  /** ISO-8601 instant (the grant's expiry) after which the server refuses the password, where the engine can say so (PostgreSQL's VALID UNTIL); others ignore it. */
  validUntil?: string;
  /** The grant the account is made for, where the engine records it on the account (PostgreSQL's ownership comment). */
  grantId?: string;
}

export interface AccountManager {
  /**
   * Checks that the target can be worked on before anything is created: the
   * admin secret is readable and valid, the server answers, the admin holds what
   * it needs, and the schema exists (UnknownDatabase otherwise). No side effect.
   */
  checkTarget(target: GrantTarget, options?: AccountCallOptions): Promise<ServerEndpoint>;
  /** Whether an account of that name exists for the target's host pattern. */
  accountExists(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<boolean>;
  /**
   * Creates the account if it does not exist, then (re)sets its password and
   * connection limit, so that a retry after a partial success ends in the same
   * state with the password that was stored last. Fails with UnknownDatabase
   * when the schema does not exist.
   */
  ensureAccount(target: GrantTarget, account: string, password: string, options?: EnsureAccountOptions): Promise<ServerEndpoint>;
  /**
   * Moves the instant after which the server refuses the account's password (an
   * extension). True when the engine keeps such an instant and it was set; false
   * when it keeps none (MySQL) or the account does not exist.
   */
  setAccountExpiry(target: GrantTarget, account: string, validUntil: string, options?: AccountCallOptions): Promise<boolean>;
  /**
   * Makes the account's privileges on the schema exactly `privileges` (from the engine's catalogue).
   * With `previous` (a level change), the new privileges are granted before the
   * ones only in `previous` are revoked, so an upgrade never has a moment without
   * access. Without it, everything on the schema is revoked first, then granted.
   */
  setPrivileges(target: GrantTarget, account: string, privileges: readonly string[], previous?: readonly string[], options?: AccountCallOptions): Promise<void>;
  /** Removes every privilege of the account on the schema; no error when there is none or no account. */
  revokeAllPrivileges(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<void>;
  /**
   * The account's privileges on the target's schema (catalogue names, `ALL PRIVILEGES`
   * for all of them), or undefined when the account does not exist.
   * Reads only; used to adopt accounts the old scripts created.
   */
  schemaPrivileges(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<string[] | undefined>;
  /**
   * Everything the account holds besides its privileges on the target's schema:
   * global privileges, other schemas, table, column and routine privileges, roles,
   * proxy grants (and, where the engine allows it, accounts it is granted to as a
   * role). Empty for an account that holds one schema's privileges only;
   * undefined when the account does not exist. Reads only; used to adopt accounts.
   */
  accountFootprint(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<AccountHolding[] | undefined>;
  /**
   * Makes an existing account, verified for adoption, the grant's on the server, where
   * the engine records ownership on the account (PostgreSQL's comment), so that later
   * calls may change and end it; nothing where it keeps none (MySQL). Idempotent.
   * Refuses (AccountConflict) an account that is missing or marked as another grant's.
   */
  adoptAccount(target: GrantTarget, account: string, grantId: string, options?: AccountCallOptions): Promise<void>;
  /**
   * Kills the account's open connections (the account's: matched by user name and
   * host, so that another account of the same name keeps its own); returns how many
   * were killed.
   */
  killSessions(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<number>;
  /**
   * Ends the account's access, then drops it. Contains first: lock the account,
   * replace its password with a random one nobody keeps, revoke every privilege
   * it holds, end every session; then lists the stored objects it defines and
   * drops it. Idempotent. A drop the server refuses for good (the account defines
   * stored objects) is not an error: `dropped: false` with the reason. Transient
   * failures (server unreachable, timeouts) throw DatabaseUnavailable; so does a
   * containment that did not complete. Calls for accounts on the same server may
   * be served together.
   */
  endAccess(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<AccessEnding>;
  close(): Promise<void>;
}

/** One thing an account holds beyond one schema's privileges (names only, never a secret). */
export interface AccountHolding {
  kind: 'global' | 'schema' | 'table' | 'column' | 'routine' | 'role' | 'proxy' | 'role-of';
  /** E.g. `SUPER`, `other_db: SELECT`, `db.t: SELECT, INSERT`, `procedure db.p: EXECUTE`, `app_role`, `someone@%`. */
  what: string;
}

/** What endAccess did. */
export interface AccessEnding {
  /** Whether the account existed when the first attempt of this call started. */
  existed: boolean;
  sessionsKilled: number;
  /** ISO instant at which containment had completed; absent when there was no account. */
  containedAt?: string;
  /** True once the account no longer exists (dropped now, or already gone). */
  dropped: boolean;
  /** When the server refused the drop for good: why, readable, without SQL or secrets. */
  refusal?: string;
  /** Stored objects whose definer (or owner) is the account, capped at LEFT_BEHIND_LIST_LIMIT. */
  leftBehind: LeftBehindObject[];
  /** How many there are in all. */
  leftBehindCount: number;
}

// --- what the reconciler reads -----------------------------------------------

export interface ServerAccount {
  user: string;
  host: string;
}

/** An account's privileges on one schema (or schema pattern). */
export interface SchemaGrant {
  user: string;
  host: string;
  /** The schema or pattern as the server stores it, e.g. `dev\_project`. */
  pattern: string;
  /** The schema it names exactly, when it has no wildcard. */
  schema?: string;
  /** The schema, when the stored pattern is exactly how the service writes its own grants on it. */
  serviceSchema?: string;
  privileges: string[];
}

export interface ServerInventory {
  dialect: string;
  /** What ALL PRIVILEGES means on a schema of this server (privileges newer than this code included). */
  databasePrivileges: string[];
  /** The admin account itself, which is never a candidate. */
  adminAccount: string;
  accounts: ServerAccount[];
  grants: SchemaGrant[];
}

export interface AccountGrants {
  dialect: string;
  /** What ALL PRIVILEGES means on a schema of this server. */
  databasePrivileges: string[];
  /** Hosts the account exists with (none: the account does not exist). */
  hosts: string[];
  grants: SchemaGrant[];
}

/** Read-only views of a server's accounts, for the reconciler. */
export interface AccountInventory {
  /** Every account of the server (name and host) whose name passes `include`, and their privileges on schemas. */
  inventory(adminSecretId: string, include: (user: string) => boolean, options?: AccountCallOptions): Promise<ServerInventory>;
  /** One account: whether it exists (with which hosts) and its privileges on schemas. */
  accountGrants(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<AccountGrants>;
}

/** What an engine's createAccounts returns: the account operations and the inventory. */
export interface EngineAccounts extends AccountManager, AccountInventory {}

// --- the engine ------------------------------------------------------------------

export interface EngineLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** The engine's privilege rules: its catalogue (shared with the configuration) and what a change does to open sessions. */
export interface EnginePrivileges extends PrivilegeCatalogue {
  /**
   * Whether, once a level change from `previous` to `next` is in place, the account's
   * open sessions must be ended for the change to hold (an engine that checks
   * privileges at every statement needs none).
   */
  endsSessions(previous: readonly string[], next: readonly string[]): boolean;
}

export interface AdminCheckOptions {
  /** Admin secret id → the schemas the configuration manages through it (this engine's only). */
  scopes: ReadonlyMap<string, readonly string[]>;
  credentials: AdminCredentialSource;
  /** DBACCESS_ALLOW_EXTRA_ADMIN_PRIVILEGES: excess privileges are logged instead of refused. */
  allowExtraPrivileges: boolean;
  logger: EngineLogger;
  /** Per secret: connecting and reading the grants (default 5000 ms). */
  timeoutMs?: number;
}

export interface AdminCheckResult {
  /** Secret id → the privileges beyond what is needed (only secrets that have some). */
  excess: Map<string, string[]>;
  /** Secret id → the privileges it needs and lacks (only secrets that lack some). */
  missing: Map<string, string[]>;
  /** Secret id → why it could not be checked (unreadable secret, unreachable server). */
  unchecked: Map<string, string>;
}

export interface EngineAccountsOptions {
  credentials: AdminCredentialSource;
  logger?: EngineLogger;
  /** DBACCESS_ALLOW_EXTRA_ADMIN_PRIVILEGES: an admin holding more than needed (a PostgreSQL superuser) is accepted. */
  allowExtraPrivileges?: boolean;
}

/** A rule of the logger's text redaction: what to find, and what to put instead (`$1` etc. allowed). */
export type RedactionRule = readonly [RegExp, string];

export interface DatabaseEngine {
  /** The configuration's `engine` value (one of ENGINE_KEYS). */
  readonly key: string;
  /** What people are told about the engine (API, e-mails), without its driver. */
  readonly guide: EngineGuide;
  readonly privileges: EnginePrivileges;
  /**
   * The admin secret's JSON object as credentials. Throws an Error whose message says
   * what is wrong with the format, naming keys and never values.
   */
  parseAdminSecret(json: Readonly<Record<string, unknown>>, secretId: string): AdminCredentials;
  /**
   * The start-up check of the admin accounts: refuses (ConfigError) when one holds more
   * than the service needs, unless allowed; logs what is missing or could not be checked.
   */
  checkAdmin(options: AdminCheckOptions): Promise<AdminCheckResult>;
  createAccounts(options: EngineAccountsOptions): EngineAccounts;
  /** Text the logger removes from free text (statements that carry a password). */
  readonly redaction: readonly RedactionRule[];
}
