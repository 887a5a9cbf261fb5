import type { AuditEventType, GrantState, GrantTarget, LeftBehindObject, Person, RetryDropResult } from '../domain/grant';
import type { Orphan, PrivilegeRepair, ReconcileSummary, ReconcilerMode, RepairDriftResult, ServerFindings } from '../domain/reconcile';

// Every activity the workflows call, with its input and output: the workflows proxy
// these interfaces, and src/activities implements them (`satisfies`), so the two
// cannot drift apart. Activity names are recorded in workflow history: never rename
// one that has shipped. Nothing here carries a secret.

/** Identifies an account and where it lives; never a credential. */
export interface AccountRef {
  grantId: string;
  project: string;
  database: string;
  account: string;
  secretName: string;
  target: GrantTarget;
  /**
   * Set when the account is known to be this grant's (createAccount returned, or it
   * was adopted): the revoke then ends access without first asking Secrets Manager
   * who owns the account, so an AWS outage cannot delay it.
   */
  owned?: boolean;
}

/** A revocation; `notBefore` arms it ahead of the expiry. */
export interface RevokeRef extends AccountRef {
  /**
   * ISO instant before which nothing is changed: the attempt waits for it, and a
   * cancellation while it waits stands it down untouched. From that instant on it
   * ignores cancellation and finishes, so "stood down" always means untouched.
   */
  notBefore?: string;
}

/**
 * What a revocation did. The fields after `secretDeleted` are absent from results
 * already in the histories of older grants: read a missing `dropped` as true.
 */
export interface RevocationResult {
  accountExisted: boolean;
  sessionsKilled: number;
  /**
   * True when the attempt deleted the grant's secret. A revocation of an account the grant
   * owns does not look the secret up first: one call deletes it whether or not an earlier
   * attempt already had, and reports true.
   */
  secretDeleted: boolean;
  /** When access ended (the account was contained). */
  containedAt?: string;
  /** False when the server refused the drop: the account stays, contained, and is retained. */
  dropped?: boolean;
  refusal?: string;
  leftBehind?: LeftBehindObject[];
  leftBehindCount?: number;
}

export interface PrivilegeChange extends AccountRef {
  privileges: string[];
  /** The privileges before a level change; absent when provisioning. */
  previous?: string[];
  /** repairPrivileges: what the grant's last repair removed and restored; the same difference again is `recurring`, not repaired. */
  lastRepair?: { removed: string[]; restored: string[] };
}

/** Where a grantee connects: what the GRANTED notice and the per-grant secret say. */
export type ServerEndpoint = NonNullable<GrantState['connection']>;

/** One audit event, as stored. Append-only: never updated, never deleted. */
export interface AuditRecord {
  grantId: string;
  /** Deterministic id (`{firstRunId}:{sequence}`), the same on every retry of the write. */
  eventId: string;
  /** ISO-8601 time of the event (workflow time). */
  at: string;
  event: AuditEventType;
  actor: string;
  email: string;
  project: string;
  database: string;
  accessLevel: string;
  expiresAt: string;
  account: string;
  workflowId: string;
  runId: string;
  reason?: string;
  detail?: string;
  /** REVOKED, EXPIRED, ORPHAN_REVOKED: the instant access ended (the account was contained). */
  accessEndedAt?: string;
  /** CREDENTIALS_VIEWED: the address the credentials went to (the API's request.ip). */
  clientAddress?: string;
  /** CREDENTIALS_VIEWED: the client's user agent, one line, bounded. */
  userAgent?: string;
}

// -- notices: what the workflow asks to tell people; the activities render and deliver them.

export type GrantNoticeKind = 'GRANTED' | 'LEVEL_CHANGED' | 'EXTENDED' | 'REVOKED' | 'EXPIRED';

/** A change of the grant, to the grantee with the project owner told. */
export interface GrantNotice {
  kind: GrantNoticeKind;
  grant: GrantState;
  owner: Person;
  /** Audit event id of what is announced; a retried delivery is recognised by it. */
  eventId: string;
  /** Values before a LEVEL_CHANGED or EXTENDED; taken from the grant's history when absent. */
  previous?: { accessLevel?: string; expiresAt?: string; privileges?: string[] };
  /** Schema the privileges are on. */
  schema?: string;
  /** Who made the change (REVOKED, EXTENDED, LEVEL_CHANGED). */
  actor?: string;
  reason?: string;
}

/**
 * FAILED: rolled back. REVOKE_RETRYING: a revocation keeps failing. ACCOUNT_RETAINED:
 * access ended but the server refuses the drop. LEVEL_CHANGE_INCOMPLETE: a lowering
 * of access could not finish (it is retried, never undone).
 */
export type AdminAlertKind = 'FAILED' | 'REVOKE_RETRYING' | 'ACCOUNT_RETAINED' | 'LEVEL_CHANGE_INCOMPLETE' | 'BREAK_GLASS' | 'BREAK_GLASS_FLAGGED' | 'BREAK_GLASS_UNREVIEWED';

/** To the administrators (their addresses are the worker's configuration). */
export interface AdminAlert {
  kind: AdminAlertKind;
  grant: GrantState;
  eventId: string;
  /** What went wrong, as the workflow knows it. */
  detail: string;
  /** The project owner, told too (ACCOUNT_RETAINED, LEVEL_CHANGE_INCOMPLETE, BREAK_GLASS*). */
  owner?: Person;
}

export type GranteeNoticeKind = 'REMINDER' | 'ADOPTED';

/** To the grantee with the project owner told, about something that is not a change of the grant. */
export interface GranteeNotice {
  kind: GranteeNoticeKind;
  grant: GrantState;
  owner: Person;
  eventId: string;
  schema?: string;
  /** Longest a grant may run ahead of "now", for the extension hint. */
  maxDurationMs: number;
  /** REMINDER: how long before the expiry it was planned. */
  beforeMs?: number;
  /** REMINDER: when it was sent (workflow time). */
  remindedAt?: string;
}

/** APPROVAL_REQUESTED / DENIED: the gate before access exists. EXTENSION_*: an ACTIVE grant asks for more time than was approved. */
export type ApprovalNoticeKind = 'APPROVAL_REQUESTED' | 'DENIED' | 'EXTENSION_REQUESTED' | 'EXTENSION_DENIED' | 'REVIEW_REQUESTED' | 'REVIEW_REMINDER' | 'BREAK_GLASS_REVIEW';

/** To the approvers (a request), or to the grantee and the owner (a refusal). REVIEW_*: a standing grant's review, to the owner and the reviewers (`approvers`). */
export interface ApprovalNotice {
  kind: ApprovalNoticeKind;
  grant: GrantState;
  owner: Person;
  approvers: Person[];
  /** Why approval is needed (configuration rules). */
  reasons: string[];
  /** When the request is denied without a decision. */
  decideBy?: string;
  /** Requested duration, when the clock starts at approval. */
  duration?: string;
  /** DENIED: who decided (`dbaccess` for a timeout) and why. */
  actor?: string;
  reason?: string;
  eventId: string;
  /** EXTENSION_*: the expiry now, the one asked for, and who asked. */
  extension?: { from: string; to: string; requestedBy: string };
}

/** A request still waiting for a decision when its event is delivered: what one-click links in an approver channel are bound to. */
export interface EventDecision {
  kind: 'approval' | 'extension';
  /** When the request was made. */
  request: string;
  /** When it is denied without a decision. */
  decideBy: string;
}

/** The grant workflow's activities (a type, not an interface, so that a record of functions can be cast to it). */
export type GrantActivities = {
  /** Checks the target (admin secret, server, privileges, schema) before anything is created. */
  checkTarget(ref: AccountRef): Promise<ServerEndpoint>;
  /** Appends one audit event; a repeat of the same event id is a no-op. */
  recordAudit(record: AuditRecord): Promise<{ written: boolean }>;
  /**
   * Creates (or resets) the account and stores its password in the per-grant secret; returns only the secret's name.
   * `validUntil` (the grant's expiry; absent in older histories): where the engine can, the server refuses the password after it.
   */
  createAccount(ref: AccountRef & { validUntil?: string }): Promise<{ secretName: string; connection: ServerEndpoint }>;
  /** After an extension: moves the instant after which the server refuses the password, where the engine keeps one (`moved: false` otherwise). */
  setAccountExpiry(ref: AccountRef & { validUntil: string }): Promise<{ moved: boolean }>;
  /** Checks that an existing account holds exactly the level's privileges (AdoptionRefused otherwise), then marks it as the grant's where the engine records owners. */
  verifyAdoption(change: PrivilegeChange): Promise<{ connection: ServerEndpoint }>;
  /** Makes the account's privileges exactly the level's. */
  grantPrivileges(change: PrivilegeChange): Promise<void>;
  /** Moves the account to another level; a lowering also ends its sessions (SessionsNotEnded when it cannot). */
  changePrivileges(change: PrivilegeChange & { previous: string[] }): Promise<{ sessionsKilled: number }>;
  /** Ends the account's open sessions. */
  endSessions(ref: AccountRef): Promise<{ sessionsKilled: number }>;
  /** Compensation of grantPrivileges. */
  revokePrivileges(ref: AccountRef): Promise<void>;
  /** Ends access for good: contains the account, drops it, deletes its secret. */
  revokeAccess(ref: RevokeRef): Promise<RevocationResult>;
  notifyGrant(notice: GrantNotice): Promise<void>;
  notifyApproval(notice: ApprovalNotice): Promise<void>;
  notifyGrantee(notice: GranteeNotice): Promise<void>;
  notifyAdmins(alert: AdminAlert): Promise<void>;
  /**
   * Delivers one audit event to the event stream's endpoints that take it; fails (and is
   * retried) until each has it or has refused it for good. Returns who has it and who refused.
   */
  deliverEvent(request: { record: AuditRecord; decision?: EventDecision }): Promise<{ delivered: string[]; refused: string[] }>;
};

// -- the reconciler

/** Revoking an orphan; the reconciler run's workflow id and run id name the audit event, `at` its time. */
export interface OrphanRevocation {
  orphan: Orphan;
  workflowId: string;
  runId: string;
  at: string;
}

export interface OrphanOutcome {
  /** `retained`: access ended (contained), but the server refused the drop; the next run tries again. */
  outcome: 'revoked' | 'retained' | 'skipped';
  detail: string;
}

export interface DriftOutcome {
  outcome: RepairDriftResult['outcome'] | 'skipped';
  detail: string;
}

/** A grant the reconciler sends a message to, on behalf of its run. */
export interface GrantMessage {
  grantId: string;
  runId: string;
}

/** The reconciler workflow's activities (and repairPrivileges, which a grant calls to repair its own drift). */
export type ReconcileActivities = {
  /** The configured mode and servers (by admin secret id). */
  reconcilePlan(): Promise<{ mode: ReconcilerMode; servers: string[] }>;
  /** Compares one server's accounts with the open grants; lists capped, counts exact. */
  inspectServer(input: { adminSecretId: string }): Promise<ServerFindings>;
  /** Contains, drops and audits an account proven to be the service's with no open grant. */
  revokeOrphan(input: OrphanRevocation): Promise<OrphanOutcome>;
  /** Asks a grant to try dropping its retained account again (the retryDrop update). */
  retryRetainedDrop(input: GrantMessage): Promise<RetryDropResult>;
  /** Asks a grant to check and repair its account (the repairDrift update). */
  repairGrantDrift(input: GrantMessage): Promise<DriftOutcome>;
  /** Sets the account's privileges back to the grant's, or reports it missing or the difference recurring. */
  repairPrivileges(change: PrivilegeChange): Promise<PrivilegeRepair>;
  notifyReconcile(summary: ReconcileSummary): Promise<void>;
};
