import type { GrantTarget, LeftBehindObject, Person } from '../domain';
import type { AuditRecord } from '../contract/activities';

// The small interfaces behind which every side effect lives. Activities are
// written against these; the worker wires in the real adapters (MySQL, AWS,
// SMTP) and unit tests may wire in fakes.

/** Admin credentials of a database server, in the Secrets Manager secret format of the seed:
 * `{"MYSQL_HOST","MYSQL_PORT","MYSQL_USERNAME","MYSQL_PASSWORD"}`. */
export interface AdminCredentials {
  host: string;
  port: number;
  username: string;
  password: string;
}

export interface AdminCredentialSource {
  /** Cached; `refresh` forces a new read (after an authentication failure, e.g. rotation). */
  get(secretId: string, options?: { refresh?: boolean }): Promise<AdminCredentials>;
}

export type SqlDialect = 'mysql' | 'mariadb';

/** Where a grantee connects: what the GRANTED e-mail and the per-grant secret say. */
export interface ServerEndpoint {
  host: string;
  port: number;
  engine: SqlDialect;
}

/** Passed to every AccountManager call: a cancelled activity stops before its next statement. */
export interface AccountCallOptions {
  signal?: AbortSignal;
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
  ensureAccount(target: GrantTarget, account: string, password: string, options?: AccountCallOptions): Promise<ServerEndpoint>;
  /**
   * Makes the account's privileges on the schema exactly `privileges` (from the whitelist).
   * With `previous` (a level change), the new privileges are granted before the
   * ones only in `previous` are revoked, so an upgrade never has a moment without
   * access. Without it, everything on the schema is revoked first, then granted.
   */
  setPrivileges(target: GrantTarget, account: string, privileges: readonly string[], previous?: readonly string[], options?: AccountCallOptions): Promise<void>;
  /** Removes every privilege of the account on the schema; no error when there is none or no account. */
  revokeAllPrivileges(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<void>;
  /**
   * The account's database-level privileges on the target's schema (whitelist names,
   * `ALL PRIVILEGES` for all of them), or undefined when the account does not exist.
   * Reads only; used to adopt accounts the old scripts created.
   */
  schemaPrivileges(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<string[] | undefined>;
  /**
   * Everything the account holds besides its database-level privileges on the target's
   * schema: global privileges beyond USAGE, other schemas, table, column and routine
   * privileges, roles, proxy grants (and, where the engine allows it, accounts it is
   * granted to as a role). Empty for an account that holds one schema's privileges only;
   * undefined when the account does not exist. Reads only; used to adopt accounts.
   */
  accountFootprint(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<AccountHolding[] | undefined>;
  /**
   * Kills the account's open connections (the account's: matched by user name and
   * host, so that another account of the same name keeps its own); returns how many
   * were killed.
   */
  killSessions(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<number>;
  /**
   * Ends the account's access, then drops it. Contains first: lock the account,
   * replace its password with a random one nobody keeps, revoke every privilege
   * it holds (every schema, GRANT OPTION), end every session; then lists the
   * stored objects it defines (disabling its events) and drops it. Idempotent.
   * A drop the server refuses for good (MySQL 4006: the account defines stored
   * objects) is not an error: `dropped: false` with the reason. Transient
   * failures (server unreachable, timeouts) throw DatabaseUnavailable; so does a
   * containment that did not complete. Calls for accounts on the same server may
   * be served together (one statement for many accounts).
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

/** The per-grant secret's value (JSON in Secrets Manager). */
export interface GrantCredential {
  engine: SqlDialect;
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
}

export interface GrantSecretStore {
  /** The secret's tags when it exists (not deleted or scheduled for deletion), else undefined. */
  describe(name: string): Promise<{ tags: Record<string, string> } | undefined>;
  /** Creates or overwrites the secret (restoring it if it was scheduled for deletion); the tags are set on an existing secret too, before its new value. */
  put(name: string, value: GrantCredential, tags?: Record<string, string>): Promise<void>;
  /** Deletes the secret at once (no recovery window); `existed: false` when it was not there. */
  delete(name: string): Promise<{ existed: boolean }>;
}

/** One audit event, as stored (defined with the activities that write it). */
export type { AuditRecord } from '../contract/activities';

export interface AuditStore {
  /** Writes the event unless an event with the same id exists; `written: false` for a repeat. */
  append(record: AuditRecord): Promise<{ written: boolean }>;
  /** Every event of a grant id, oldest first. */
  forGrant(grantId: string): Promise<AuditRecord[]>;
  /** Who had access to a database: events for `project/database` between two times. */
  forDatabase(project: string, database: string, from?: string, to?: string): Promise<AuditRecord[]>;
  /** What access a person had: events for an e-mail between two times. */
  forGrantee(email: string, from?: string, to?: string): Promise<AuditRecord[]>;
}

/** Telling people: templates write a Notification, a channel adapter delivers it. */
export type { Notification, NotificationId, Notifier } from './notify/port';

export type { Person };
