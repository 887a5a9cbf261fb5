// The grant: one person's access to one database at one level until an expiry.
// These types cross every boundary (API → workflow → activities), so they hold
// only what may be written to Temporal history: never a password.

export const GRANT_STATUSES = [
  'REQUESTED',
  'PENDING_APPROVAL',
  'PROVISIONING',
  'ACTIVE',
  'REVOKING',
  'EXPIRED',
  'REVOKED',
  'ROLLING_BACK',
  'FAILED',
  'DENIED',
] as const;
export type GrantStatus = (typeof GRANT_STATUSES)[number];

/** Statuses after which the grant's workflow has ended or is about to. */
export const CLOSED_STATUSES: readonly GrantStatus[] = ['EXPIRED', 'REVOKED', 'FAILED', 'DENIED'];

export const AUDIT_EVENTS = [
  'REQUESTED',
  'GRANTED',
  'LEVEL_CHANGED',
  'EXTENDED',
  'REVOKE_REQUESTED',
  'REVOKED',
  'EXPIRED',
  'ROLLED_BACK',
  'NOTIFY_FAILED',
  'REVOKE_RETRYING',
  'APPROVAL_REQUESTED',
  'APPROVED',
  'DENIED',
  'CREDENTIALS_VIEWED',
  'ORPHAN_REVOKED',
  'DRIFT_REPAIRED',
  'REMINDER_SENT',
  'ADOPTED',
  'ADOPTION_REFUSED',
  'ACCOUNT_RETAINED',
  'ACCOUNT_DROPPED',
  'EXTENSION_REQUESTED',
  'EXTENSION_DENIED',
  'LEVEL_CHANGE_INCOMPLETE',
  'REVIEW_REQUESTED',
  'REVIEW_KEPT',
  'REVIEW_LAPSED',
  'BREAK_GLASS_ACKNOWLEDGED',
  'BREAK_GLASS_FLAGGED',
  'BREAK_GLASS_UNREVIEWED',
] as const;
export type AuditEventType = (typeof AUDIT_EVENTS)[number];

/**
 * A stored object the grantee's account left behind: one whose definer (MySQL,
 * MariaDB) or owner (PostgreSQL) is the account. Names only, never a definition.
 */
export interface LeftBehindObject {
  kind: 'VIEW' | 'PROCEDURE' | 'FUNCTION' | 'TRIGGER' | 'EVENT' | 'TABLE' | 'SEQUENCE' | 'SCHEMA' | 'TYPE' | 'OTHER';
  schema: string;
  name: string;
  /** What was done to it or what it hangs on: `disabled` (an event), `on table t` (a trigger), `owner now X`. */
  note?: string;
}

/** At most this many left-behind objects are listed anywhere (history, audit, e-mail); the count is exact. */
export const LEFT_BEHIND_LIST_LIMIT = 50;

/**
 * An account whose access has ended (contained: locked, password replaced,
 * privileges revoked, sessions ended) but that the server refused to drop.
 */
export interface RetainedAccount {
  /** When containment completed: access ended then. */
  since: string;
  /** Why the drop was refused (no SQL, no secret). */
  reason: string;
  objects: LeftBehindObject[];
  objectCount: number;
}

/** Where the account lives. Captured when the grant is requested, so that a later
 * configuration change can never make the service forget how to revoke it. */
export interface GrantTarget {
  /** MySQL schema the privileges are granted on. */
  schema: string;
  /** Secrets Manager id of the admin credentials for the server. */
  adminSecretId: string;
  /** Host part of the account (`%` by default). */
  hostPattern: string;
  maxUserConnections: number;
  /** Engine key (`mysql`, see ENGINE_KEYS); absent on grants begun before engines existed, which are MySQL's. */
  engine?: string;
}

export interface Person {
  name: string;
  email: string;
}

/** The workflow's input. Everything here is visible in Temporal history. */
export interface GrantRequest {
  grantId: string;
  email: string;
  name: string;
  project: string;
  database: string;
  accessLevel: string;
  privileges: string[];
  /** ISO-8601, UTC. */
  expiresAt: string;
  reason?: string;
  /** Name of the API key (or operator) that asked. */
  requestedBy: string;
  account: string;
  secretName: string;
  target: GrantTarget;
  owner: Person;
  /** Longest a grant may run ahead of "now" on this database (rolling window). */
  maxDurationMs: number;
  /**
   * Set when the request asked for a duration instead of an expiry: the clock
   * starts when access is granted, so time spent waiting for approval is not
   * lost. `expiresAt` is then only the estimate made at request time.
   */
  durationMs?: number;
  /** Set when the grant needs approval before anything is created. */
  approval?: ApprovalRequirement;
  /**
   * When to remind the grantee and the owner before the expiry, as offsets in ms
   * (the configuration's `reminders`, captured at request time). Absent on
   * requests made before reminders existed: those grants send none (see waitForEnd).
   */
  reminderOffsetsMs?: number[];
  /**
   * How long before the expiry the revocation is armed: started on a worker, which
   * waits for the exact instant and drops the account then (the configuration's
   * `revocationLead`, captured at request time). Absent on requests made before
   * arming existed, and 0 when it is off: those grants revoke when their timer fires.
   */
  revocationLeadMs?: number;
  /**
   * Set when the configuration has event stream endpoints at request time: every
   * audit event of the grant is then also delivered to them, in order, each retried
   * for `deliverForMs`. Absent on requests made before the stream existed, or with
   * no endpoint configured: those grants deliver nothing (a new path keyed on a
   * request field, decision 0013).
   */
  eventStream?: { deliverForMs: number };
  /**
   * Set when the grant adopts an account the old scripts created: provisioning is
   * replaced by a check of the existing account, which is kept as it is.
   */
  adoption?: GrantAdoption;
  /**
   * Set when the request asked for no end (`expiresAt: "NA"`) on a database that
   * allows standing grants: `expiresAt` is then the first review's deadline, and
   * every review that keeps the grant moves it by `reviewMs`. Absent on every
   * other request (and on requests made before standing grants existed): those
   * grants never take the review path (docs/decisions/0109-standing-grants-reviewed.md).
   */
  standing?: StandingRequest;
  /**
   * Set when an allowed client broke the glass (`breakGlass: true`): no approval
   * wait, a short capped expiry that is never extended, the administrators and the
   * owner alerted at once, and a review after the fact; the workflow stays open after
   * access has ended until the review is made or `reviewWithinMs` (from the grant)
   * has passed. Absent on every other request (a new path keyed on a request field,
   * decision 0013; docs/decisions/0110-break-glass.md).
   */
  breakGlass?: BreakGlassRequest;
}

/** A break-glass grant's review after the fact (the configuration's `breakGlass`, captured at request time). */
export interface BreakGlassRequest {
  /** The review is due this long after access was granted; unreviewed by then, it is audited BREAK_GLASS_UNREVIEWED. */
  reviewWithinMs: number;
  /** Who is asked to review, besides the project owner: the project's approvers with an address, else the administrators. */
  reviewers: Person[];
}

/** A break-glass grant's review: pending until acknowledged or flagged, or unreviewed once its deadline passed. */
export const BREAK_GLASS_REVIEWS = ['pending', 'acknowledged', 'flagged', 'unreviewed'] as const;
export type BreakGlassReview = (typeof BREAK_GLASS_REVIEWS)[number];

export interface BreakGlassState {
  review: BreakGlassReview;
  /** When the review was asked (access granted): one-click links are bound to it. */
  requestedAt?: string;
  /** The review's deadline (requestedAt + reviewWithin). */
  reviewBy?: string;
  reviewedBy?: string;
  reviewedAt?: string;
  /** A flag's reason. */
  reason?: string;
}

/** How a standing grant is reviewed (the database's `standing`, captured at request time). */
export interface StandingRequest {
  /** Each review keeps the grant this long (the next deadline is the decision + reviewMs). */
  reviewMs: number;
  /** The review is asked this long before its deadline. */
  decideWithinMs: number;
  /** Who is asked, besides the project owner: the project's approvers with an address, else the administrators. */
  reviewers: Person[];
}

/** Where an adopted grant comes from. Visible in history: never a password. */
export interface GrantAdoption {
  source: 'import';
  /** The old tool's row, restricted to the attributes the import reads (see src/cli/import.ts). */
  oldRecord: Record<string, string>;
  /** What the import decided that the old row did not say (an `NA` expiry, a capped expiry). */
  notes: string[];
}

export interface ApprovalRequirement {
  /** Why (configuration rules), for the approvers and the audit trail. */
  reasons: string[];
  /** Without a decision within this time, the request is DENIED. */
  timeoutMs: number;
  /** Who is asked (e-mailed); any approver of the project may decide. */
  approvers: Person[];
}

export interface GrantEvent {
  event: AuditEventType;
  /** ISO-8601 (workflow time, deterministic). */
  at: string;
  actor: string;
  accessLevel: string;
  expiresAt: string;
  reason?: string;
  detail?: string;
}

export interface GrantState {
  grantId: string;
  status: GrantStatus;
  email: string;
  name: string;
  project: string;
  database: string;
  /** MySQL schema of the database. */
  schema: string;
  account: string;
  accessLevel: string;
  privileges: string[];
  expiresAt: string;
  requestedAt: string;
  requestedBy: string;
  reason?: string;
  grantedAt?: string;
  endedAt?: string;
  /** Name of the per-grant secret, once it exists. The name only, never the value. */
  secretName?: string;
  /** Where the grantee connects, once the account exists. */
  connection?: { host: string; port: number; engine: string; database?: string };
  /** For FAILED grants: the step that failed and why. */
  failure?: { step: string; message: string };
  /** When access ended: the instant the account was contained (revoke, expiry), from the revocation's own clock. */
  accessEndedAt?: string;
  /** Objects the account left behind, reported when access ended (capped at LEFT_BEHIND_LIST_LIMIT). */
  leftBehind?: { objects: LeftBehindObject[]; count: number };
  /** Set while the server refuses to drop the contained account; cleared once it is dropped. */
  retained?: RetainedAccount;
  /**
   * The latest expiry an approver (or an admin) agreed to, for a grant whose level
   * needs approval: set when the request is approved, raised by an approved
   * extension. Extensions beyond it by anyone else wait for an approver.
   */
  approvedUntil?: string;
  /** An extension beyond `approvedUntil`, waiting for an approver (one at a time). */
  pendingExtension?: PendingExtension;
  /** Requested duration (the clock starts when access is granted); `expiresAt` is fixed then. */
  durationMs?: number;
  /** For grants behind the approval gate: why, until when, and the decision. */
  approval?: ApprovalState;
  /** For a standing grant (no end, reviewed): when its review is due and the review under way. */
  standing?: StandingState;
  /** For a break-glass grant: its review after the fact. */
  breakGlass?: BreakGlassState;
  history: GrantEvent[];
}

export interface StandingState {
  /** How often it is reviewed (ms). */
  reviewEveryMs: number;
  /** The deadline of the next review: the grant's expiry, unless a reviewer keeps it. */
  reviewBy: string;
  /** When the last review kept it, and by whom. */
  lastReviewedAt?: string;
  lastReviewedBy?: string;
  /** The review asked for and not yet decided: when it was asked (links are bound to it). */
  review?: { requestedAt: string; decideBy: string; remindedAt?: string };
}

export interface PendingExtension {
  /** The expiry when it was asked for (the grant keeps it meanwhile) and the one asked for. */
  from: string;
  to: string;
  requestedBy: string;
  requestedByEmail?: string;
  requestedAt: string;
  /** Denied without a decision by then (the approval timeout, or the expiry if sooner). */
  decideBy: string;
  reason?: string;
}

export interface ApprovalState {
  reasons: string[];
  /** Denied without a decision by then. */
  decideBy: string;
  decision?: 'APPROVED' | 'DENIED';
  decidedBy?: string;
  decidedAt?: string;
  reason?: string;
}

/** A grant's state before anything has happened to it. */
export function initialGrantState(request: GrantRequest, requestedAt: string): GrantState {
  return {
    grantId: request.grantId,
    status: 'REQUESTED',
    email: request.email,
    name: request.name,
    project: request.project,
    database: request.database,
    schema: request.target.schema,
    account: request.account,
    accessLevel: request.accessLevel,
    privileges: request.privileges,
    expiresAt: request.expiresAt,
    requestedAt,
    requestedBy: request.requestedBy,
    ...(request.reason ? { reason: request.reason } : {}),
    ...(request.durationMs !== undefined ? { durationMs: request.durationMs } : {}),
    ...(request.standing ? { standing: { reviewEveryMs: request.standing.reviewMs, reviewBy: request.expiresAt } } : {}),
    ...(request.breakGlass ? { breakGlass: { review: 'pending' as const } } : {}),
    history: [],
  };
}

export function grantIdFor(project: string, database: string, email: string): string {
  return `grant/${project}/${database}/${email.trim().toLowerCase()}`;
}

/** Splits a grant id back into its parts; undefined when it is not one of ours. */
export function parseGrantId(grantId: string): { project: string; database: string; email: string } | undefined {
  const m = /^grant\/([^/\s]+)\/([^/\s]+)\/([^/@\s]+@[^/@\s]+)$/.exec(grantId);
  return m ? { project: m[1]!, database: m[2]!, email: m[3]! } : undefined;
}

/** Errors the workflow's validators raise; the API maps them to HTTP codes. */
export const GrantErrorType = {
  /** The grant is not ACTIVE any more (or not yet): 409. */
  NotActive: 'GrantNotActive',
  /** An approve or deny for a grant that is not waiting for one: 409. */
  NotPending: 'GrantNotPendingApproval',
  /** Approving a request for oneself, or made by oneself: 403. */
  SelfApproval: 'SelfApproval',
  /** The message is malformed or breaks a rule: 400. */
  Invalid: 'InvalidGrantChange',
  /** The change could not be audited, so it was not made: 503. */
  AuditUnavailable: 'AuditUnavailable',
  /** A level change failed in the database and was undone: 502. */
  LevelChangeFailed: 'LevelChangeFailed',
  /** An extension or approval arrives when the grant has reached its expiry: 409. */
  Expired: 'GrantExpired',
  /** An extension while another waits for approval: 409. */
  ExtensionPending: 'ExtensionPending',
  /** A review of a grant that is not a standing grant: 409. */
  NotStanding: 'GrantNotStanding',
  /** An extension or a level change of a break-glass grant: 409. */
  BreakGlass: 'BreakGlassGrant',
} as const;

/**
 * "VIEW s.v, TRIGGER s.t (on table s.x)" and, past the list's cap, "and 12 more".
 * Names only: never a definition.
 */
export function describeLeftBehind(objects: readonly LeftBehindObject[], count: number): string {
  const listed = objects.map((o) => `${o.kind} ${o.schema}.${o.name}${o.note ? ` (${o.note})` : ''}`);
  const more = count - objects.length;
  return listed.join(', ') + (more > 0 ? `${listed.length ? ' ' : ''}and ${more} more` : '');
}

/**
 * A revocation armed ahead of the expiry (the workflow's arm()) runs on the task
 * queue `<task queue>-expiry`: the armed attempts wait there without taking the
 * activity slots that provisioning needs. Every worker serves both queues.
 */
export const ARMED_REVOCATION_QUEUE_SUFFIX = '-expiry';
export * from './grant-messages';
