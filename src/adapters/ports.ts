import type { Person } from '../domain';
import type { AuditRecord } from '../contract/activities';

// The small interfaces behind which every side effect lives. Activities are
// written against these; the worker wires in the real adapters (MySQL, AWS,
// SMTP) and unit tests may wire in fakes.

// The database side (AccountManager and what it returns) is the engines' port,
// re-exported here so that the activities and their tests keep one import.
export type {
  AccessEnding,
  AccountCallOptions,
  AccountHolding,
  AccountManager,
  AdminCredentialSource,
  AdminCredentials,
  ServerEndpoint,
} from './engines/port';

/** MySQL's two dialects, as a server reports itself. */
export type SqlDialect = 'mysql' | 'mariadb';

/** The per-grant secret's value (JSON in Secrets Manager). */
export interface GrantCredential {
  /** The server's dialect (ServerEndpoint.engine). */
  engine: string;
  host: string;
  port: number;
  username: string;
  password: string;
  /** What a session opens, as in the RDS secret shape: the database (PostgreSQL), or the schema (MySQL). */
  dbname: string;
  /** The same as `dbname`: the field the per-grant secret had before it took the RDS shape. */
  database: string;
  /** PostgreSQL: the schema the privileges are on, inside `dbname`. */
  schema?: string;
}

export interface GrantSecretStore {
  /** The secret's tags when it exists (not deleted or scheduled for deletion), else undefined. */
  describe(name: string): Promise<{ tags: Record<string, string> } | undefined>;
  /** Creates or overwrites the secret (restoring it if it was scheduled for deletion); the tags are set on an existing secret too, before its new value. */
  put(name: string, value: GrantCredential, tags?: Record<string, string>): Promise<void>;
  /** Deletes the secret at once (no recovery window); one that is not there is no error. */
  delete(name: string): Promise<void>;
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
