import { ACCOUNT_HASH_CHARS, ACCOUNT_PREFIX_MAX, LEGACY_ACCOUNT_HASH_CHARS, LEGACY_ACCOUNT_PREFIX_MAX } from './account';

// The reconciler's vocabulary: what it looks for on a server, what it found,
// and how privileges are compared. Pure (imported inside the workflow sandbox).

/**
 * The shapes of the account names this service derives (see deriveAccountNames):
 * a local part of [a-z0-9] words joined by single `_`, `_`, and base32 characters:
 * 16 after a local part of at most 14 characters (the current rule), or 6 after one
 * of at most 24 (the legacy rule, still on accounts made before). A name of either
 * shape is only a candidate: a person can create one by hand. Ownership is proven
 * separately (secret tag or audit).
 */
export const ACCOUNT_SHAPE = new RegExp(`^([a-z0-9]+(?:_[a-z0-9]+)*)_(?:[a-z2-7]{${ACCOUNT_HASH_CHARS}}|[a-z2-7]{${LEGACY_ACCOUNT_HASH_CHARS}})$`);

export function hasAccountShape(account: string): boolean {
  if (typeof account !== 'string') return false;
  const m = ACCOUNT_SHAPE.exec(account);
  if (m === null) return false;
  const hashChars = account.length - m[1]!.length - 1;
  return m[1]!.length <= (hashChars === ACCOUNT_HASH_CHARS ? ACCOUNT_PREFIX_MAX : LEGACY_ACCOUNT_PREFIX_MAX);
}

/** `revoke`: orphans are dropped and drift is repaired. `report`: nothing is changed, everything is reported. */
export const RECONCILER_MODES = ['revoke', 'report'] as const;
export type ReconcilerMode = (typeof RECONCILER_MODES)[number];

/** Id of the Temporal Schedule that runs the reconciler, and the prefix of its workflow ids. */
export const RECONCILER_SCHEDULE_ID = 'dbaccess-reconciler';

/** Actor of what the reconciler does, in audit events and in the grants' histories. */
export const RECONCILER_ACTOR = 'dbaccess-reconciler';

/** An account left behind with no open grant, proven to be this service's. */
export interface Orphan {
  adminSecretId: string;
  project: string;
  database: string;
  schema: string;
  account: string;
  host: string;
  /** The grant that created it (from the secret's tag or the GRANTED audit event). */
  grantId: string;
  /** How ownership was proven. */
  proof: 'secret' | 'audit';
  /** What the account held on the schema when it was found. */
  privileges: string[];
  /** From the GRANTED event, when there is one (for the audit record). */
  accessLevel?: string;
  expiresAt?: string;
}

/** An account of the service's shape that nothing proves to be the service's: reported, never touched. */
export interface LookAlike {
  adminSecretId: string;
  account: string;
  host: string;
  /** Managed schemas it holds privileges on (`schema: PRIV, PRIV`). */
  privileges: string[];
}

/** An ACTIVE grant whose account is missing or whose privileges differ from the grant's. */
export interface Drift {
  grantId: string;
  project: string;
  database: string;
  account: string;
  schema: string;
  expected: string[];
  /** What the account held on the schema; empty when the account is missing. */
  actual: string[];
  missing: boolean;
  /** The account is missing or its privileges on the grant's schema differ: the grant can repair it. */
  repairable: boolean;
  /** Privileges on other schemas (`schema: PRIVS`), which the reconciler reports but does not change. */
  elsewhere: string[];
}

/**
 * A grant whose access ended (its account contained) but whose account the server
 * refused to drop: its workflow stays open (status REVOKED or EXPIRED) until the
 * drop succeeds. The reconciler asks it to try again (the retryDrop update).
 */
export interface RetainedGrant {
  grantId: string;
  project: string;
  database: string;
  account: string;
  /** When access ended. */
  since: string;
  /** Why the server refused the drop. */
  reason: string;
  /** How many stored objects the account defines (what holds the drop back on MySQL). */
  objectCount: number;
}

/** What one server's inspection found (lists capped at INSPECTION_LIST_LIMIT; counts are exact). */
export interface ServerFindings {
  adminSecretId: string;
  /** Accounts of the service's shape seen on the server. */
  accountsSeen: number;
  /** Open grants (running workflows) on the server's databases. */
  openGrants: number;
  orphans: Orphan[];
  orphanCount: number;
  lookAlikes: LookAlike[];
  lookAlikeCount: number;
  drift: Drift[];
  driftCount: number;
  /** Proven accounts left alone because their grant's workflow is running (provisioning, revoking, visibility lag). */
  inProgress: number;
  /** Grants whose contained account the server refused to drop (absent from inspections made before retention existed). */
  retained?: RetainedGrant[];
  retainedCount?: number;
}

export const INSPECTION_LIST_LIMIT = 100;

/** The outcome of one reconciler run: what the summary e-mail says and the workflow returns. */
export interface ReconcileSummary {
  runId: string;
  mode: ReconcilerMode;
  startedAt: string;
  servers: { adminSecretId: string; accountsSeen: number; openGrants: number; inProgress: number; error?: string }[];
  /** `retained`: access ended (the account is contained) but the server refused the drop; the next run tries again. */
  orphans: (Orphan & { outcome: 'revoked' | 'retained' | 'reported' | 'skipped' | 'failed'; detail?: string })[];
  orphanCount: number;
  lookAlikes: LookAlike[];
  lookAlikeCount: number;
  drift: (Drift & { outcome: 'repaired' | 'revoking' | 'clean' | 'recurring' | 'reported' | 'failed'; detail?: string })[];
  driftCount: number;
  /** Retained grants asked to drop their account again (`dropped`, `retained` again, ...); absent in runs made before retention existed. */
  retained?: (RetainedGrant & { outcome: 'dropped' | 'retained' | 'not-retained' | 'reported' | 'failed'; detail?: string })[];
  retainedCount?: number;
}

/** Whether a run found anything an administrator should hear about. */
export function summaryHasFindings(s: ReconcileSummary): boolean {
  return s.orphanCount > 0 || s.lookAlikeCount > 0 || s.driftCount > 0 || (s.retainedCount ?? 0) > 0 || s.servers.some((x) => x.error !== undefined);
}

/**
 * The database-level privileges a set stands for, expanded: `ALL PRIVILEGES` is
 * every privilege of the engine on that server (`allOfDialect`). Sorted, so two sets compare as strings.
 */
export function expandPrivileges(privileges: readonly string[], allOfDialect: readonly string[]): string[] {
  const set = new Set<string>();
  for (const p of privileges) {
    if (p === 'ALL PRIVILEGES') for (const q of allOfDialect) set.add(q);
    else set.add(p);
  }
  return [...set].sort();
}

/** What is held beyond `expected` and what is missing from it, both expanded. */
export function privilegeDifference(
  expected: readonly string[],
  actual: readonly string[],
  allOfDialect: readonly string[],
): { extra: string[]; missing: string[] } {
  const want = new Set(expandPrivileges(expected, allOfDialect));
  const have = new Set(expandPrivileges(actual, allOfDialect));
  return { extra: [...have].filter((p) => !want.has(p)), missing: [...want].filter((p) => !have.has(p)) };
}

/** The `repairDrift` update a grant accepts from the reconciler. */
export interface RepairDriftArgs {
  actor: string;
  reason?: string;
}

/** What the grant's own check found and did. */
export interface RepairDriftResult {
  /**
   * `clean`: nothing to do; `repaired`: privileges set back; `revoking`: the account was gone,
   * so the grant is being revoked; `recurring`: the same difference as the last repair, with no
   * new cause since: not repaired again (reported instead, so a repair that cannot hold never loops).
   */
  outcome: 'clean' | 'repaired' | 'revoking' | 'recurring';
  detail: string;
}

/** What the repairPrivileges activity found on the server (and did). */
export interface PrivilegeRepair {
  /** `recurring`: the difference equals `lastRepair` of the request; nothing was changed. */
  status: 'clean' | 'repaired' | 'missing' | 'recurring';
  /** The account's privileges on the schema before (GRANT OPTION included when held). */
  before: string[];
  /** Removed: held beyond the grant's level. */
  removed: string[];
  /** Granted again: part of the level but missing. */
  restored: string[];
  sessionsKilled: number;
}
