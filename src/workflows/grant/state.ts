import { ApplicationFailure, CancellationScope, allHandlersFinished, condition, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { Mutex } from 'async-mutex';
import type { AccountRef, AuditRecord, RevocationResult } from '../../contract/activities';
import { SA } from '../../contract/search-attributes';
import {
  CLOSED_STATUSES,
  GrantErrorType,
  describeLeftBehind,
  formatDuration,
  initialGrantState,
  type ApprovalRequirement,
  type AuditEventType,
  type GrantRequest,
  type GrantState,
  type GrantStatus,
  type LeftBehindObject,
  type RevokeArgs,
} from '../../domain';

// One grant's state: what the query, the search attributes and the audit trail
// show, and what the lifecycle's modules share. Time comes from the workflow
// clock and ids from workflowInfo(): both are deterministic.

/** State carried across continue-as-new. */
export interface CarriedState {
  state: GrantState;
  sequence: number;
  /** Reminders planned for the current expiry (grants whose request has `reminderOffsetsMs`). */
  reminders?: ReminderPlan;
  /** `retained`: access has ended and the run only waits to drop the retained account. */
  phase?: 'retained';
  /** What the last drift repair removed and restored (forgotten at a level change). */
  lastRepair?: { removed: string[]; restored: string[] };
  /** Who decides extensions beyond `approvedUntil`, when the request's own gate does not say (a level an admin gated). */
  gate?: ApprovalRequirement;
  /** A lowering still being finished. */
  lowering?: LoweringWork;
}

/** What remains of a lowering that failed midway: the lower level to apply again, or only the sessions to end. */
export interface LoweringWork {
  step: 'privileges' | 'sessions';
  previous: string[];
}

/** The reminders of one expiry, planned again whenever the expiry moves. Offsets are ms before the expiry. */
export interface ReminderPlan {
  plannedFor: string;
  pending: number[];
  sent: number[];
}

/** A revocation started ahead of the expiry: it ended access at the expiry, stood down untouched, or failed. */
export interface ArmedRevocation {
  scope: CancellationScope;
  outcome?: 'ended' | 'stood down' | 'failed';
  /** What the revocation reported, once it has ended access. */
  result?: RevocationResult;
  settled: Promise<void>;
}

type AuditExtra = { reason?: string | undefined; detail?: string | undefined; accessLevel?: string; expiresAt?: string; accessEndedAt?: string | undefined };

export class Grant {
  readonly state: GrantState;
  private sequence: number;
  /** Set by the revoke signal, by cancellation, or when access can no longer be vouched for; acted on by the main loop. */
  revokeRequest?: RevokeArgs;
  /** Set once the end of access has begun: an update still running learns that access is ending. */
  ending = false;
  /** Bumped when the expiry moves, so that the main loop sets its timer again. */
  expiryVersion = 0;
  /** Updates run one at a time, in arrival order (see updates.ts). */
  readonly updates = new Mutex();
  /** Accepted updates not yet finished; the expiry and a revoke wait for none to be left. */
  changing = 0;
  /** Work that must finish before the run ends, but that nothing else waits for (e-mails after a reply, audits). */
  private readonly background = new Set<Promise<void>>();
  /** The approval gate's decision, once audited; `deciding` while it is being audited. */
  decision?: { approved: boolean; actor: string; reason?: string; eventId: string };
  deciding = false;
  /** Set once the gate's wait is over (a decision, a withdrawal, the timeout): no decision is taken after it. */
  gateClosed = false;
  /** Who decides an extension beyond what was approved. */
  gate?: ApprovalRequirement;
  /** A decision on the pending extension is being made (by an approver, or the timeout): no other is taken. */
  extensionDeciding = false;
  reminders?: ReminderPlan;
  /** The revocation armed for the current expiry, if any. */
  armed?: ArmedRevocation;
  /** The expiry whose arming failed before it came: that one is revoked the usual way. */
  armFailedFor?: string;
  lastRepair?: { removed: string[]; restored: string[] };
  /** A lowering being finished in the background, and how to stop it. */
  lowering?: { work: LoweringWork; scope: CancellationScope; done: Promise<void> };
  /** Tries to drop a retained account run one at a time; each one counts, to restart the daily wait. */
  readonly dropTries = new Mutex();
  dropTryCount = 0;
  /** A break-glass review is being audited: no other is taken meanwhile. */
  breakGlassDeciding = false;
  /** Whether DbAccessRetained was set, so that it is removed once the account is dropped. */
  private retainedPublished = false;

  constructor(
    readonly request: GrantRequest,
    carried?: CarriedState,
  ) {
    this.sequence = carried?.sequence ?? 0;
    if (carried?.reminders) this.reminders = carried.reminders;
    if (carried?.lastRepair) this.lastRepair = carried.lastRepair;
    this.gate = carried?.gate ?? request.approval;
    this.state = carried?.state ?? initialGrantState(request, new Date().toISOString());
  }

  /** The revoke signal: the first one counts; it is acted on by the main loop. */
  requestRevoke(args: RevokeArgs): void {
    if (this.revokeRequest || this.isEndingOrEnded()) return;
    this.revokeRequest = { actor: args.actor, ...(args.reason ? { reason: args.reason } : {}), ...(args.detail ? { detail: args.detail } : {}) };
  }

  // -- guards ---------------------------------------------------------------

  isEndingOrEnded(): boolean {
    return this.state.status === 'REVOKING' || this.state.status === 'ROLLING_BACK' || CLOSED_STATUSES.includes(this.state.status);
  }

  /** The armed revocation ended access: the grant has expired, whatever its status says yet. */
  accessEndedAtExpiry(): boolean {
    return this.armed?.outcome === 'ended';
  }

  requireActive(): void {
    const retained = this.state.retained
      ? `; its access has ended, and its account ${this.state.account} is retained (the server refused to drop it: ${this.state.retained.reason})`
      : '';
    if (this.accessEndedAtExpiry()) {
      throw ApplicationFailure.create({ type: GrantErrorType.NotActive, message: `the grant expired at ${this.state.expiresAt}${retained || '; its access has ended'}`, nonRetryable: true });
    }
    if (this.state.status !== 'ACTIVE' || this.revokeRequest || this.ending) {
      const why = (this.revokeRequest || this.ending) && this.state.status === 'ACTIVE' ? 'being revoked' : this.state.status;
      throw ApplicationFailure.create({ type: GrantErrorType.NotActive, message: `the grant is ${why}, not ACTIVE${retained}`, nonRetryable: true });
    }
  }

  /** At or after the expiry, access is ending: no change is accepted any more. */
  pastExpiry(): boolean {
    return Date.now() >= Date.parse(this.state.expiresAt);
  }

  /** For an update that was running when access began to end: its change is not made. */
  refuseIfEnding(): void {
    if (this.ending) {
      throw ApplicationFailure.create({ type: GrantErrorType.NotActive, message: 'access to the grant ended while the change was being recorded; it was not made', nonRetryable: true });
    }
  }

  refuseAtExpiry(): void {
    if (this.pastExpiry()) {
      throw ApplicationFailure.create({ type: GrantErrorType.Expired, message: `the grant reached its expiry at ${this.state.expiresAt}; its access is ending`, nonRetryable: true });
    }
  }

  invalid(message: string): never {
    throw ApplicationFailure.create({ type: GrantErrorType.Invalid, message, nonRetryable: true });
  }

  // -- the account ----------------------------------------------------------

  accountRef(): AccountRef {
    const r = this.request;
    return { grantId: r.grantId, project: r.project, database: r.database, account: r.account, secretName: r.secretName, target: r.target };
  }

  /** After createAccount has returned (or an adoption), the account is this grant's for certain. */
  ownsAccount(): boolean {
    return this.state.secretName !== undefined || this.request.adoption !== undefined;
  }

  // -- audit trail and what the UI shows -------------------------------------

  /** Builds an audit event with a deterministic id: a retried write finds it already there. */
  auditRecord(event: AuditEventType, actor: string, extra: AuditExtra = {}): AuditRecord {
    const info = workflowInfo();
    this.sequence += 1;
    return {
      grantId: this.state.grantId,
      eventId: `${info.firstExecutionRunId}:${String(this.sequence).padStart(6, '0')}`,
      at: new Date().toISOString(),
      event,
      actor,
      email: this.state.email,
      project: this.state.project,
      database: this.state.database,
      accessLevel: extra.accessLevel ?? this.state.accessLevel,
      expiresAt: extra.expiresAt ?? this.state.expiresAt,
      account: this.state.account,
      workflowId: info.workflowId,
      runId: info.runId,
      ...(extra.reason ? { reason: extra.reason } : {}),
      ...(extra.detail ? { detail: extra.detail } : {}),
      ...(extra.accessEndedAt ? { accessEndedAt: extra.accessEndedAt } : {}),
    };
  }

  /** Told of each committed audit event (the event stream, event-stream.ts). */
  onCommitted?: (record: AuditRecord) => void;
  /** Audit events waiting for the event stream, oldest first. */
  readonly outbox: AuditRecord[] = [];
  /** Whether the event stream's delivery loop is running. */
  delivering = false;

  /** Adds a written (or being written) audit event to the grant's visible history. */
  commitEvent(record: AuditRecord): void {
    this.state.history.push({
      event: record.event,
      at: record.at,
      actor: record.actor,
      accessLevel: record.accessLevel,
      expiresAt: record.expiresAt,
      ...(record.reason ? { reason: record.reason } : {}),
      ...(record.detail ? { detail: record.detail } : {}),
    });
    this.onCommitted?.(record);
  }

  /** A copy of the grant as it is now: a notice describes the grant as it was when its event happened. */
  snapshot(): GrantState {
    return { ...this.state, history: [...this.state.history] };
  }

  setStatus(status: GrantStatus): void {
    this.state.status = status;
    this.publish();
  }

  /** Search attributes and the UI's "current details" follow every change. */
  publish(): void {
    const s = this.state;
    // DbAccessRetained only once a grant has been retained: grants that never are do not need it registered.
    const retained = s.retained ? [{ key: SA.retained, value: 'true' }] : this.retainedPublished ? [{ key: SA.retained, value: null }] : [];
    this.retainedPublished = s.retained !== undefined;
    upsertSearchAttributes([
      { key: SA.status, value: s.status },
      { key: SA.accessLevel, value: s.accessLevel },
      { key: SA.expiresAt, value: new Date(s.expiresAt) },
      ...retained,
      // Standing grants only (grants that are not do not need it registered).
      ...(s.standing ? [{ key: SA.reviewBy, value: new Date(s.standing.reviewBy) }] : []),
      // Break-glass grants only: their review (pending, acknowledged, flagged, unreviewed).
      ...(s.breakGlass ? [{ key: SA.breakGlass, value: s.breakGlass.review }] : []),
    ]);
    setCurrentDetails(
      [
        `**${s.status}**: ${s.accessLevel} (${s.privileges.join(', ')}) on ${s.project}/${s.database} for ${s.email}`,
        `account \`${s.account}\`, expires ${s.expiresAt}`,
        s.standing ? `standing grant, reviewed every ${formatDuration(s.standing.reviewEveryMs)}: keep or revoke by ${s.standing.reviewBy}${s.standing.review ? ` (review asked at ${s.standing.review.requestedAt})` : ''}` : '',
        s.breakGlass ? `**break-glass** (no approval, never extended): review ${s.breakGlass.review}${s.breakGlass.reviewedBy ? ` by ${s.breakGlass.reviewedBy} at ${s.breakGlass.reviewedAt}` : s.breakGlass.reviewBy ? `, due by ${s.breakGlass.reviewBy}` : ''}${s.breakGlass.reason ? ` (${s.breakGlass.reason})` : ''}` : '',
        s.secretName ? `credentials in secret \`${s.secretName}\`` : '',
        s.failure ? `failed at step "${s.failure.step}": ${s.failure.message}` : '',
        s.status === 'PENDING_APPROVAL' && s.approval ? `waiting for approval (${s.approval.reasons.join('; ')}); denied unless decided by ${s.approval.decideBy}` : '',
        s.pendingExtension ? `extension to ${s.pendingExtension.to} asked by ${s.pendingExtension.requestedBy} waits for approval; denied unless decided by ${s.pendingExtension.decideBy}` : '',
        s.accessEndedAt ? `access ended at ${s.accessEndedAt} (account contained: locked, password replaced, privileges revoked, sessions ended)` : '',
        s.retained ? `**account \`${s.account}\` retained**: ${retainedDetail(s.account, s.retained)}` : '',
        !s.retained && s.leftBehind ? `left behind (kept): ${describeLeftBehind(s.leftBehind.objects, s.leftBehind.count)}` : '',
      ]
        .filter(Boolean)
        .join('\n\n'),
    );
  }

  // -- background work and the end of a run ----------------------------------

  /** Work that must finish before the run ends, but that nothing else should wait for. */
  inBackground(work: () => Promise<unknown>): void {
    const task: Promise<void> = CancellationScope.nonCancellable(async () => {
      await work();
    }).finally(() => this.background.delete(task));
    this.background.add(task);
  }

  /** Waits for message handlers and background work, before completing or continuing as new. */
  async settle(): Promise<void> {
    await condition(allHandlersFinished);
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  /** What continues as new: the state, and whatever is still in progress. */
  carry(phase?: 'retained'): CarriedState {
    return {
      state: this.state,
      sequence: this.sequence,
      ...(this.reminders ? { reminders: this.reminders } : {}),
      ...(phase ? { phase } : {}),
      ...(this.lastRepair ? { lastRepair: this.lastRepair } : {}),
      ...(this.gate && this.gate !== this.request.approval ? { gate: this.gate } : {}),
      ...(this.lowering ? { lowering: this.lowering.work } : {}),
    };
  }
}

/** The retained account, for the UI and the ACCOUNT_RETAINED event. */
export function retainedDetail(account: string, retained: { since: string; reason: string; objects: LeftBehindObject[]; objectCount: number }): string {
  return (
    `access ended at ${retained.since}; the account ${account} is contained but the server refused to drop it (${retained.reason})` +
    (retained.objectCount > 0
      ? `; it defines ${retained.objectCount} stored object(s): ${describeLeftBehind(retained.objects, retained.objectCount)}; an administrator must deal with them (change their definer or drop them)`
      : '; an administrator must find out why and fix it') +
    ', then the drop is retried'
  );
}
