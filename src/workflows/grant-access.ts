import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { AccountRef, AuditRecord, GrantActivities, ReconcileActivities, RevocationResult } from '../contract/activities';
import {
  ACCESS_LEVEL_NAME,
  ARMED_REVOCATION_QUEUE_SUFFIX,
  ActivityErrorType,
  CLOSED_STATUSES,
  GrantErrorType,
  PERMANENT_PROVISIONING_ERRORS,
  checkExpiryWindow,
  describeLeftBehind,
  formatDuration,
  initialGrantState,
  innermostMessage,
  isDowngrade,
  normalizePrivileges,
  parseExpiry,
  type ApprovalRequirement,
  type ApproveArgs,
  type AuditEventType,
  type ChangeLevelArgs,
  type ChangeLevelResult,
  type DenyArgs,
  type ExtendArgs,
  type ExtendResult,
  type GrantRequest,
  type GrantState,
  type GrantStatus,
  type LeftBehindObject,
  type RepairDriftArgs,
  type RepairDriftResult,
  type RetryDropArgs,
  type RetryDropResult,
  type RevokeArgs,
} from '../domain';
import { approveUpdate, awaitStatusUpdate, changeAccessLevelUpdate, denyUpdate, extendUpdate, grantStateQuery, repairDriftUpdate, retryDropUpdate, revokeSignal } from '../contract/messages';
import { SA } from '../contract/search-attributes';

// One grant, one workflow, living exactly as long as the access does:
//
//   REQUESTED ─(approval needed)→ PENDING_APPROVAL ─(denied / no decision)→ DENIED
//       │                               └─(approved)─┐   └─(revoke / cancel)→ REVOKED
//       └──────────────────────────────────────────▶ PROVISIONING → ACTIVE ─(extend / change level)→ ACTIVE
//                    │                └─(expiry)→ REVOKING → EXPIRED
//                    │                └─(revoke / cancel)→ REVOKING → REVOKED
//                    └─(a step fails for good)→ ROLLING_BACK → FAILED
//
// Ending access contains the account first (locked, password replaced, privileges
// revoked, sessions ended), then drops it. When the server refuses the drop (the
// account defines stored objects), access has still ended: the grant is REVOKED or
// EXPIRED, but its workflow stays open, the account listed as retained, until a
// retried drop succeeds (retryDrop, or its own retry once a day).
//
// Determinism: time comes from the workflow clock (Date in the sandbox is the
// time of the workflow task), ids from workflowInfo(); every side effect is an
// activity. No secret ever passes through here: createAccount returns the name
// of the secret it wrote, not the password.

// ---------------------------------------------------------------------------
// Activity options, grouped by kind. Provisioning steps give up after a few
// attempts (the grant is then rolled back); revocation never gives up.

const PROVISIONING_RETRY: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '15s',
  maximumAttempts: 5,
  nonRetryableErrorTypes: PERMANENT_PROVISIONING_ERRORS,
};

// Database activities heartbeat while they run: a worker that dies mid-step is
// noticed after the heartbeat timeout, and a cancelled attempt learns it.
const DATABASE: ActivityOptions = { startToCloseTimeout: '30s', heartbeatTimeout: '15s', retry: PROVISIONING_RETRY };
const AUDIT: ActivityOptions = { startToCloseTimeout: '15s', retry: PROVISIONING_RETRY };
const EMAIL: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: ['MailRejected'] },
};
/** Attempts before administrators are alerted that a revocation keeps failing. */
export const REVOKE_ATTEMPTS_BEFORE_ALERT = 6;
const REVOKE_FIRST: ActivityOptions = {
  startToCloseTimeout: '60s',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: REVOKE_ATTEMPTS_BEFORE_ALERT },
};
/** No attempt limit and no non-retryable type: access must end, whatever it takes. */
const UNTIL_DONE: ActivityOptions = {
  startToCloseTimeout: '60s',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', nonRetryableErrorTypes: [] },
};
/** Another try at dropping a retained account: a few attempts, then it waits for the next try (never a storm). */
const RETRY_DROP: ActivityOptions = {
  startToCloseTimeout: '60s',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 3 },
};
/** A lowering of privileges: a session that cannot be ended is not a reason to apply the change again. */
const LOWERING: ActivityOptions = {
  ...DATABASE,
  retry: { ...PROVISIONING_RETRY, nonRetryableErrorTypes: [...PERMANENT_PROVISIONING_ERRORS, ActivityErrorType.SessionsNotEnded] },
};
/**
 * Finishing a lowering that failed midway: the lower level applied again, then the
 * sessions ended, until done; slowly, since what fails here usually needs a person
 * (a privilege the admin account lacks).
 */
const FINISH_LOWERING: ActivityOptions = {
  startToCloseTimeout: '60s',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '10m', nonRetryableErrorTypes: [ActivityErrorType.SessionsNotEnded] },
};

/** How long the expiry (or a revoke) waits for an update already running; then access ends anyway. */
export const UPDATE_GRACE_MS = 30_000;
/** How often a grant retries, on its own, to drop its retained account. */
export const RETAINED_RETRY_MS = 24 * 3600_000;
/** How long an extension waits for an approver when no approval timeout is known. */
const DEFAULT_EXTENSION_TIMEOUT_MS = 24 * 3600_000;

/**
 * Options of an armed revocation, `leftMs` before the expiry, with the grant's
 * lead `leadMs`. Its heartbeats are what carries a stand-down (an extension, a
 * level change) to it. Each heartbeat is a write on the Temporal server, so there
 * are few: the expiry worker sends one every 0.8 × the heartbeat timeout, or every
 * 10 s when that is shorter (worker.ts): a stand-down reaches the attempt within
 * 10 s. The timeout is half the lead (1 s to 30 s), not half the time left: a
 * grant armed late, because a thousand arm in the same minute, got a short
 * timeout that left its heartbeats 2 s of slack on a loaded server, and one in
 * fifteen such attempts timed out while it waited. A worker that dies is noticed
 * within the heartbeat timeout and the attempt retried elsewhere. A missing expiry
 * worker is noticed by the schedule-to-start timeout, and the grant then revokes
 * the way it always did.
 */
function armedRevocation(leftMs: number, leadMs: number): ActivityOptions {
  return {
    taskQueue: `${workflowInfo().taskQueue}${ARMED_REVOCATION_QUEUE_SUFFIX}`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    heartbeatTimeout: Math.min(30_000, Math.max(1000, Math.round(leadMs / 2))),
    scheduleToStartTimeout: Math.max(10_000, Math.round(leftMs / 2)),
    // The wait, then the drop and the secret's deletion. The deletion may queue behind
    // a thousand others after a burst of expiries: liveness is the heartbeat's job, so
    // this only bounds an attempt that hangs while heartbeating.
    startToCloseTimeout: leftMs + 600_000,
    retry: REVOKE_FIRST.retry!,
  };
}

/** How long after the expiry an armed revocation may take to report before the grant shows REVOKING. */
const ARMED_REPORT_GRACE_MS = 10_000;

/** What became of an armed revocation: it ended access at the expiry, stood down untouched, or failed. */
type ArmedOutcome = 'ended' | 'stood down' | 'failed';
interface ArmedRevocation {
  scope: CancellationScope;
  outcome?: ArmedOutcome;
  /** What the revocation reported, once it has ended access. */
  result?: RevocationResult;
  settled: Promise<void>;
}

/** patched() id: the target is checked while REQUESTED is audited (grants started before it check afterwards). */
export const CHECK_WITH_REQUESTED_AUDIT = 'check-target-with-requested-audit';
/** patched() id: the expiry and a revoke wait for a running update for UPDATE_GRACE_MS at most (before: until it finished). */
export const BOUNDED_UPDATE_WAIT = 'bounded-update-wait';
/** patched() id: an update that reaches the front of the chain at or after the expiry is refused. */
export const NO_UPDATE_AFTER_EXPIRY = 'no-update-after-expiry';
/** patched() id: a lowering that fails is finished, never undone (before: the old level was restored). */
export const LOWERING_ONLY_LOWERS = 'lowering-only-lowers';

/** The engine's activity that ends an account's open sessions (a lowering whose kill failed). */
interface SessionActivities {
  endSessions(ref: AccountRef): Promise<unknown>;
}

const db = proxyActivities<GrantActivities>(DATABASE);
const audit = proxyActivities<GrantActivities>(AUDIT);
const email = proxyActivities<GrantActivities>(EMAIL);
const revokeFirst = proxyActivities<GrantActivities>(REVOKE_FIRST);
const untilDone = proxyActivities<GrantActivities>(UNTIL_DONE);
const repair = proxyActivities<ReconcileActivities>(DATABASE);
const retryingDrop = proxyActivities<GrantActivities>(RETRY_DROP);
const finishing = proxyActivities<GrantActivities & SessionActivities>(FINISH_LOWERING);

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
  /** A lowering still being finished (see finishLowering). */
  lowering?: LoweringWork;
}

/** What remains of a lowering that failed midway: the lower level to apply again, or only the sessions to end. */
interface LoweringWork {
  step: 'privileges' | 'sessions';
  previous: string[];
}

/**
 * The reminders of one expiry. Planned again whenever the expiry moves, so an
 * extension brings back the reminders already sent for the old expiry, relative
 * to the new one. Offsets are ms before the expiry.
 */
export interface ReminderPlan {
  plannedFor: string;
  pending: number[];
  sent: number[];
}

export const GRANT_FAILED_ERROR = 'GrantFailed';

/** A step's undo; `unless` skips it for failures after which there is nothing of ours to undo. */
type Compensation = { name: string; run: () => Promise<string | void>; unless?: (err: unknown) => boolean };
type NotifyKind = 'REVOKED' | 'EXPIRED' | 'EXTENDED' | 'LEVEL_CHANGED';
type NoticeKind = 'REMINDER' | 'ADOPTED';
type MailContext = { previous?: { accessLevel?: string; expiresAt?: string; privileges?: string[] }; actor?: string; reason?: string };

class GrantLifecycle {
  readonly state: GrantState;
  private sequence: number;
  /** Set by the revoke signal or by cancellation; acted on by the main loop. */
  private revokeRequest?: RevokeArgs;
  /** Bumped when the expiry moves, so the main loop re-arms its timer. */
  private expiryVersion = 0;
  /**
   * Updates run one at a time, in arrival order, on this chain. `changing` counts
   * the accepted updates not yet finished; it is raised synchronously when an
   * update arrives, so expiry and revocation (which wait for it to reach zero)
   * can never slip in between an update's acceptance and its work.
   */
  private chain: Promise<unknown> = Promise.resolve();
  private changing = 0;
  /** E-mails sent after an update has replied; awaited before the run ends. */
  private readonly background = new Set<Promise<void>>();
  /** The approval gate's decision, once audited; `deciding` while it is being audited. */
  private decision?: { approved: boolean; actor: string; reason?: string; eventId: string };
  private deciding = false;
  /** Set once the gate's wait is over (a decision, a withdrawal, the timeout): no decision is taken after it. */
  private gateClosed = false;
  /** A decision on the pending extension is being made (by an approver, or the timeout): no other is taken. */
  private extensionDeciding = false;
  private reminders?: ReminderPlan;
  /** The revocation armed for the current expiry, if any (see arm()). */
  private armed?: ArmedRevocation;
  /** The expiry whose arming failed before it came: that one is revoked the way it always was. */
  private armFailedFor?: string;
  /** Set when end() has begun: an update still running learns that access is ending. */
  private ending = false;
  private lastRepair?: { removed: string[]; restored: string[] };
  /** Who decides an extension beyond what was approved. */
  private gate?: ApprovalRequirement;
  /** A lowering being finished in the background, and how to stop it. */
  private lowering?: { work: LoweringWork; scope: CancellationScope; done: Promise<void> };
  /** Whether DbAccessRetained was set, so that it is removed once the account is dropped. */
  private retainedPublished = false;
  /** Retries of the retained account's drop run one at a time; counted to restart the daily wait. */
  private dropRetries: Promise<unknown> = Promise.resolve();
  private dropRetryCount = 0;

  constructor(
    private readonly request: GrantRequest,
    private readonly carried?: CarriedState,
  ) {
    this.sequence = carried?.sequence ?? 0;
    if (carried?.reminders) this.reminders = carried.reminders;
    if (carried?.lastRepair) this.lastRepair = carried.lastRepair;
    this.gate = carried?.gate ?? request.approval;
    this.state = carried?.state ?? initialGrantState(request, new Date().toISOString());
  }

  // -- messages -------------------------------------------------------------

  installHandlers(): void {
    setHandler(grantStateQuery, () => this.state);

    setHandler(revokeSignal, (args) => {
      if (this.revokeRequest || this.isEndingOrEnded()) return;
      this.revokeRequest = { actor: args.actor, ...(args.reason ? { reason: args.reason } : {}) };
    });

    // On an ACTIVE grant, approve and deny decide its pending extension; before, the request.
    setHandler(approveUpdate, (args) => (this.state.status === 'ACTIVE' ? this.decideExtension(true, args) : this.decide(true, args)), {
      validator: (args) => this.validateDecision(true, args),
    });
    setHandler(denyUpdate, (args) => (this.state.status === 'ACTIVE' ? this.decideExtension(false, args) : this.decide(false, args)), {
      validator: (args) => this.validateDecision(false, args),
    });
    setHandler(extendUpdate, (args) => this.extend(args), { validator: (args) => this.validateExtend(args) });
    setHandler(changeAccessLevelUpdate, (args) => this.changeLevel(args), { validator: (args) => this.validateChangeLevel(args) });
    setHandler(repairDriftUpdate, (args) => this.repairDrift(args), { validator: (_args) => this.requireActive() });
    setHandler(retryDropUpdate, (args) => this.retryDrop(args), {
      validator: (args) => {
        if (typeof args?.actor !== 'string' || args.actor === '') this.invalid('actor: is required');
      },
    });
    setHandler(awaitStatusUpdate, async ({ statuses }) => {
      await condition(() => statuses.includes(this.state.status) || CLOSED_STATUSES.includes(this.state.status));
      return this.state;
    });
  }

  private isEndingOrEnded(): boolean {
    return this.state.status === 'REVOKING' || this.state.status === 'ROLLING_BACK' || CLOSED_STATUSES.includes(this.state.status);
  }

  private requireActive(): void {
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
  private pastExpiry(): boolean {
    return Date.now() >= Date.parse(this.state.expiresAt);
  }

  /** For an update that was running when access began to end: its change is not made. */
  private refuseIfEnding(): void {
    if (this.ending) {
      throw ApplicationFailure.create({ type: GrantErrorType.NotActive, message: 'access to the grant ended while the change was being recorded; it was not made', nonRetryable: true });
    }
  }

  private refuseAtExpiry(): void {
    if (this.pastExpiry()) {
      throw ApplicationFailure.create({ type: GrantErrorType.Expired, message: `the grant reached its expiry at ${this.state.expiresAt}; its access is ending`, nonRetryable: true });
    }
  }

  private invalid(message: string): never {
    throw ApplicationFailure.create({ type: GrantErrorType.Invalid, message, nonRetryable: true });
  }

  validateExtend(args: ExtendArgs): void {
    this.requireActive();
    this.refuseAtExpiry();
    this.refuseWhileExtensionPending();
    if (typeof args?.expiresAt !== 'string') this.invalid('expiresAt: is required');
    const parsed = parseExpiry(args.expiresAt);
    if (!parsed.ok) this.invalid(`expiresAt: ${parsed.reason}`);
    if (parsed.expiresAt.getTime() <= Date.parse(this.state.expiresAt)) {
      this.invalid(`expiresAt: must be later than the current expiry ${this.state.expiresAt}`);
    }
    const window = checkExpiryWindow(parsed.expiresAt, new Date(), this.request.maxDurationMs);
    if (window) this.invalid(`expiresAt: ${window}`);
  }

  private refuseWhileExtensionPending(): void {
    const pending = this.state.pendingExtension;
    if (pending) {
      throw ApplicationFailure.create({
        type: GrantErrorType.ExtensionPending,
        message: `an extension to ${pending.to} asked by ${pending.requestedBy} waits for approval (denied unless decided by ${pending.decideBy}); one at a time`,
        nonRetryable: true,
      });
    }
  }

  validateChangeLevel(args: ChangeLevelArgs): void {
    this.requireActive();
    this.refuseAtExpiry();
    if (typeof args?.accessLevel !== 'string' || !ACCESS_LEVEL_NAME.test(args.accessLevel)) this.invalid('accessLevel: must be a level name such as READ');
    try {
      normalizePrivileges(args.privileges ?? []);
    } catch (err) {
      this.invalid(`privileges: ${(err as Error).message}`);
    }
  }

  validateDecision(approving: boolean, args: ApproveArgs | DenyArgs): void {
    if (this.state.status === 'ACTIVE') return this.validateExtensionDecision(approving, args);
    // Closed from the moment the wait is over: a decision arriving while the
    // timeout's DENIED is being audited must not be answered as approved.
    if (this.state.status !== 'PENDING_APPROVAL' || this.decision || this.deciding || this.revokeRequest || this.gateClosed) {
      const why = this.decision || this.deciding ? 'already decided' : this.revokeRequest ? 'withdrawn' : this.gateClosed ? `denied (no decision by ${this.state.approval?.decideBy})` : this.state.status;
      throw ApplicationFailure.create({ type: GrantErrorType.NotPending, message: `the request is ${why}, not waiting for approval`, nonRetryable: true });
    }
    if (typeof args?.actor !== 'string' || args.actor === '') this.invalid('actor: is required');
    if (approving) {
      const self = (message: string) => ApplicationFailure.create({ type: GrantErrorType.SelfApproval, message, nonRetryable: true });
      if (args.actor === this.request.requestedBy) throw self(`${args.actor} asked for this grant and cannot approve it; another approver must`);
      const email = (args as ApproveArgs).actorEmail;
      if (typeof email === 'string' && email.toLowerCase() === this.state.email) throw self('nobody can approve access for themselves; another approver must');
      if (this.request.durationMs === undefined && Date.parse(this.state.expiresAt) <= Date.now()) {
        this.invalid(`the requested expiry ${this.state.expiresAt} has passed; deny this request and ask for a new one`);
      }
    } else if (typeof args.reason !== 'string' || args.reason.trim() === '') {
      this.invalid('reason: is required to deny a request');
    }
  }

  /** A decision on an ACTIVE grant's extension that waits for approval: same rules as for a request. */
  private validateExtensionDecision(approving: boolean, args: ApproveArgs | DenyArgs): void {
    const pending = this.state.pendingExtension;
    if (!pending || this.extensionDeciding || this.revokeRequest || this.ending) {
      const why = pending && this.extensionDeciding ? 'its extension is already being decided' : pending ? 'being revoked' : 'ACTIVE with no extension waiting for approval';
      throw ApplicationFailure.create({ type: GrantErrorType.NotPending, message: `the grant is ${why}`, nonRetryable: true });
    }
    this.refuseAtExpiry();
    if (typeof args?.actor !== 'string' || args.actor === '') this.invalid('actor: is required');
    if (approving) {
      const self = (message: string) => ApplicationFailure.create({ type: GrantErrorType.SelfApproval, message, nonRetryable: true });
      const email = (args as ApproveArgs).actorEmail?.toLowerCase();
      if (args.actor === pending.requestedBy || (email !== undefined && email === pending.requestedByEmail?.toLowerCase())) {
        throw self(`${args.actor} asked for this extension and cannot approve it; another approver must`);
      }
      if (email !== undefined && email === this.state.email) throw self('nobody can approve access for themselves; another approver must');
    } else if (typeof args.reason !== 'string' || args.reason.trim() === '') {
      this.invalid('reason: is required to deny an extension');
    }
  }

  /** Records an approval or a denial; the reply comes once it is in the audit trail. */
  private async decide(approved: boolean, args: ApproveArgs | DenyArgs): Promise<{ status: GrantStatus }> {
    this.deciding = true;
    try {
      const event = approved ? 'APPROVED' : 'DENIED';
      const record = this.auditRecord(event, args.actor, { reason: args.reason });
      await this.auditBeforeChange(record, `audit ${event} by ${args.actor}`);
      this.commitEvent(record);
      this.decision = { approved, actor: args.actor, eventId: record.eventId, ...(args.reason ? { reason: args.reason } : {}) };
      if (this.state.approval) {
        Object.assign(this.state.approval, { decision: event, decidedBy: args.actor, decidedAt: record.at, ...(args.reason ? { reason: args.reason } : {}) });
      }
      return { status: approved ? 'PROVISIONING' : 'DENIED' };
    } finally {
      this.deciding = false;
    }
  }

  /**
   * Runs `fn` after every update that arrived before it, once the grant is still
   * ACTIVE and before its expiry. An armed revocation stands down first: if it has
   * already ended access (the expiry came), the update is refused.
   */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.changing += 1;
    const run = this.chain.then(async () => {
      // Queued behind others until the expiry: refused, so that updates kept in
      // flight cannot hold the expiry back (grants started before replay as they ran).
      // One that reached the front in time may still wait for the armed revocation
      // to stand down: that one decides, at the expiry, whether access ended.
      const late = this.pastExpiry();
      await this.disarm();
      this.requireActive();
      if (late && patched(NO_UPDATE_AFTER_EXPIRY)) this.refuseAtExpiry();
      return fn();
    });
    this.chain = run.catch(() => undefined);
    return run.finally(() => {
      this.changing -= 1;
    });
  }

  private extend(args: ExtendArgs): Promise<ExtendResult> {
    return this.exclusive(async () => {
      const previous = this.state.expiresAt;
      const next = (parseExpiry(args.expiresAt) as { expiresAt: Date }).expiresAt.toISOString();
      if (Date.parse(next) <= Date.parse(previous)) this.invalid(`expiresAt: must be later than the current expiry ${previous}`);
      this.refuseWhileExtensionPending();
      // Beyond what an approver agreed to, by someone who is neither an approver nor an
      // admin: the approvers decide. `mayExceedApproval` is set (true or false) by the
      // API since approvals bound extensions; extensions recorded before never wait.
      const bound = this.state.approvedUntil;
      if (args.mayExceedApproval === false && bound !== undefined && Date.parse(next) > Date.parse(bound)) return this.requestExtension(args, previous, next, bound);
      // Audit first: access never lasts longer than the trail says.
      const record = this.auditRecord('EXTENDED', args.actor, { reason: args.reason, detail: `expiry moved from ${previous} to ${next}`, expiresAt: next });
      await this.auditBeforeChange(record, `audit EXTENDED until ${next}`);
      this.commitEvent(record);
      this.refuseIfEnding();
      this.state.expiresAt = next;
      // An approver or an admin extending is an approval of the new expiry.
      if (bound !== undefined && args.mayExceedApproval === true && Date.parse(next) > Date.parse(bound)) this.state.approvedUntil = next;
      this.expiryVersion++;
      this.publish();
      this.notifyInBackground('EXTENDED', record.eventId, { previous: { expiresAt: previous }, actor: args.actor, ...(args.reason ? { reason: args.reason } : {}) });
      return { expiresAt: next };
    });
  }

  /**
   * An extension beyond what was approved: audited as asked for, the approvers
   * e-mailed; the grant keeps its expiry until one of them decides (approve / deny
   * on the ACTIVE grant), or it is denied at the approval timeout or the expiry.
   */
  private async requestExtension(args: ExtendArgs, from: string, to: string, bound: string): Promise<ExtendResult> {
    const gate = this.gate;
    const timeoutMs = Math.max(gate?.timeoutMs ?? DEFAULT_EXTENSION_TIMEOUT_MS, 1000);
    const decideBy = new Date(Math.min(Date.now() + timeoutMs, Date.parse(from))).toISOString();
    const asked = gate?.approvers.map((a) => a.email).join(', ') || 'the administrators';
    const record = this.auditRecord('EXTENSION_REQUESTED', args.actor, {
      reason: args.reason,
      detail: `asked to move the expiry from ${from} to ${to}, beyond what was approved (${bound}); the grant keeps ${from} unless an approver agrees by ${decideBy}; asked: ${asked}`,
    });
    await this.auditBeforeChange(record, `audit EXTENSION_REQUESTED until ${to}`);
    this.commitEvent(record);
    this.refuseIfEnding();
    this.state.pendingExtension = {
      from,
      to,
      requestedBy: args.actor,
      ...(args.actorEmail ? { requestedByEmail: args.actorEmail.toLowerCase() } : {}),
      requestedAt: record.at,
      decideBy,
      ...(args.reason ? { reason: args.reason } : {}),
    };
    this.expiryVersion++;
    this.publish();
    this.inBackground(() => this.notifyExtension('EXTENSION_REQUESTED', record.eventId, { decideBy, ...(args.reason ? { reason: args.reason } : {}) }));
    return { expiresAt: from, pending: { requestedExpiresAt: to, decideBy } };
  }

  /** An approver approves or denies the pending extension (in the update chain: an approval moves the expiry). */
  private decideExtension(approved: boolean, args: ApproveArgs | DenyArgs): Promise<{ status: GrantStatus }> {
    this.extensionDeciding = true;
    return this.exclusive(async () => {
      const pending = this.state.pendingExtension!;
      const asked = `asked by ${pending.requestedBy}${pending.reason ? ` (${pending.reason})` : ''}`;
      if (approved) {
        const record = this.auditRecord('EXTENDED', args.actor, {
          reason: args.reason,
          detail: `expiry moved from ${pending.from} to ${pending.to}, ${asked}, approved by ${args.actor}`,
          expiresAt: pending.to,
        });
        await this.auditBeforeChange(record, `audit EXTENDED until ${pending.to} (approved by ${args.actor})`);
        this.commitEvent(record);
        delete this.state.pendingExtension;
        this.refuseIfEnding();
        this.state.expiresAt = pending.to;
        this.state.approvedUntil = pending.to;
        this.expiryVersion++;
        this.publish();
        this.notifyInBackground('EXTENDED', record.eventId, { previous: { expiresAt: pending.from }, actor: args.actor, ...(args.reason ? { reason: args.reason } : {}) });
      } else {
        const record = this.auditRecord('EXTENSION_DENIED', args.actor, {
          reason: args.reason,
          detail: `the extension from ${pending.from} to ${pending.to}, ${asked}, was denied; the grant still expires at ${this.state.expiresAt}`,
        });
        await this.auditBeforeChange(record, `audit EXTENSION_DENIED by ${args.actor}`);
        this.commitEvent(record);
        delete this.state.pendingExtension;
        this.publish();
        this.inBackground(() => this.notifyExtension('EXTENSION_DENIED', record.eventId, { actor: args.actor, ...(args.reason ? { reason: args.reason } : {}) }, pending));
      }
      return { status: this.state.status };
    }).finally(() => {
      this.extensionDeciding = false;
      // Refused because access ended meanwhile: the request still gets its one outcome.
      if (this.ending && this.state.pendingExtension) this.closePendingExtension('the grant ended before the decision could be applied');
    });
  }

  /**
   * Denies the pending extension nobody decided on: at its decide-by time, or when
   * access ends first. Decisions are refused from this moment (one outcome).
   */
  private closePendingExtension(reason: string): void {
    const pending = this.state.pendingExtension;
    if (!pending || this.extensionDeciding) return;
    this.extensionDeciding = true;
    const record = this.auditRecord('EXTENSION_DENIED', 'dbaccess', {
      reason,
      detail: `the extension from ${pending.from} to ${pending.to}, asked by ${pending.requestedBy}, was not approved; the grant keeps its expiry ${this.state.expiresAt}`,
    });
    this.commitEvent(record);
    delete this.state.pendingExtension;
    this.publish();
    this.inBackground(async () => {
      try {
        await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: 'audit EXTENSION_DENIED (no decision in time)' }, [record]);
        await this.notifyExtension('EXTENSION_DENIED', record.eventId, { actor: 'dbaccess', reason }, pending);
      } finally {
        this.extensionDeciding = false;
      }
    });
  }

  /** Ms until the pending extension's decide-by time; undefined when none waits. */
  private untilExtensionDecision(): number | undefined {
    const pending = this.state.pendingExtension;
    if (!pending || this.extensionDeciding) return undefined;
    return Date.parse(pending.decideBy) - Date.now();
  }

  private changeLevel(args: ChangeLevelArgs): Promise<ChangeLevelResult> {
    return this.exclusive(async () => {
      const previousLevel = this.state.accessLevel;
      const previous = this.state.privileges;
      if (args.accessLevel === previousLevel) return { accessLevel: previousLevel, sessionsKilled: 0 };
      const privileges = normalizePrivileges(args.privileges);
      const lowering = isDowngrade(previous, privileges);
      const detail = `${previousLevel} (${previous.join(', ')}) → ${args.accessLevel} (${privileges.join(', ')})`;
      // Audit first, so that more access is never in place before the trail says so.
      const record = this.auditRecord('LEVEL_CHANGED', args.actor, { reason: args.reason, detail, accessLevel: args.accessLevel });
      return CancellationScope.nonCancellable(async () => {
        await this.auditBeforeChange(record, `audit LEVEL_CHANGED ${previousLevel} → ${args.accessLevel}`);
        this.commitEvent(record);
        this.refuseIfEnding();
        // A new level is a new cause: a difference the last repair saw may be right now.
        this.lastRepair = undefined;
        // A lowering still being finished gives way: this change sets the level afresh.
        await this.stopLowering();
        let sessionsKilled: number;
        try {
          ({ sessionsKilled } = await db.changePrivileges.executeWithOptions(
            { ...(lowering ? LOWERING : DATABASE), summary: `set ${args.accessLevel} (${privileges.join(', ')}) on ${this.request.target.schema} for ${this.state.account}` },
            [{ ...this.accountRef(), privileges, previous }],
          ));
        } catch (err) {
          // Access ended meanwhile (the expiry did not wait for this change): nothing to undo or finish.
          this.refuseIfEnding();
          // Lowering only lowers: finish it, never put the higher level back.
          if (lowering && patched(LOWERING_ONLY_LOWERS)) return this.finishLoweringLater(args, previousLevel, previous, privileges, record.eventId, err);
          // Put the old level back exactly and say so in the trail, then refuse the update.
          try {
            await db.grantPrivileges.executeWithOptions({ ...DATABASE, summary: `restore ${previousLevel} after a failed change` }, [
              { ...this.accountRef(), privileges: previous },
            ]);
          } catch (restoreErr) {
            // The account's privileges are now unknown: access that cannot be vouched
            // for ends. The revoke (which only needs CREATE USER) retries until done.
            const reason = `the change to ${args.accessLevel} failed (${innermostMessage(err)}) and ${previousLevel} could not be restored (${innermostMessage(restoreErr)})`;
            this.revokeRequest ??= { actor: 'dbaccess', reason };
            throw ApplicationFailure.create({ type: GrantErrorType.LevelChangeFailed, message: `${reason}; the grant is being revoked`, nonRetryable: true });
          }
          const back = this.auditRecord('LEVEL_CHANGED', 'dbaccess', { detail: `change to ${args.accessLevel} failed and was undone: ${innermostMessage(err)}`, accessLevel: previousLevel });
          this.commitEvent(back);
          // In the background: an audit outage must not hold the update lock, which revocation waits for.
          this.inBackground(() => untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: 'audit LEVEL_CHANGED (undone)' }, [back]));
          throw ApplicationFailure.create({ type: GrantErrorType.LevelChangeFailed, message: `the level change failed and was undone: ${innermostMessage(err)}`, nonRetryable: true });
        }
        this.refuseIfEnding();
        this.applyLevel(args, privileges);
        this.notifyInBackground('LEVEL_CHANGED', record.eventId, {
          previous: { accessLevel: previousLevel, privileges: previous },
          actor: args.actor,
          ...(args.reason ? { reason: args.reason } : {}),
        });
        return { accessLevel: args.accessLevel, sessionsKilled };
      });
    });
  }

  /** The grant is at its new level; what it means for the approval bound (see ChangeLevelArgs.approval). */
  private applyLevel(args: ChangeLevelArgs, privileges: string[]): void {
    this.state.accessLevel = args.accessLevel;
    this.state.privileges = privileges;
    if (args.approval === null) {
      // The new level needs no approval: there is nothing left for an extension to exceed.
      delete this.state.approvedUntil;
    } else if (args.approval) {
      // Only an admin reaches a level behind the gate: the grant as it stands is approved.
      this.gate = args.approval;
      this.state.approvedUntil ??= this.state.expiresAt;
    }
    this.publish();
  }

  /**
   * A lowering failed after the audit: the lower level stays (the trail already says
   * so), administrators are alerted once, and the rest (the lower level applied
   * again, or only the sessions ended) is retried in the background, outside the
   * update chain, so that neither later changes nor the expiry wait for it.
   */
  private finishLoweringLater(args: ChangeLevelArgs, previousLevel: string, previous: string[], privileges: string[], changedEventId: string, err: unknown): ChangeLevelResult {
    const sessionsOnly = failureType(err) === ActivityErrorType.SessionsNotEnded;
    this.applyLevel(args, privileges);
    const incomplete = sessionsOnly
      ? `${previousLevel} → ${args.accessLevel}: the privileges were lowered, but the account's open sessions could not be ended (${innermostMessage(err)}); ` +
        `${args.accessLevel} stays, and ending the sessions is retried until it succeeds`
      : `${previousLevel} → ${args.accessLevel} failed midway (${innermostMessage(err)}); ${previousLevel} is not restored: ` +
        `${args.accessLevel} is applied again, and the sessions ended, until it succeeds`;
    const record = this.auditRecord('LEVEL_CHANGE_INCOMPLETE', 'dbaccess', { detail: incomplete });
    this.commitEvent(record);
    const grant = { ...this.state, history: [...this.state.history] };
    // In the background: an audit or mail outage must not hold the update chain, which the expiry waits for.
    this.inBackground(() => untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: 'audit LEVEL_CHANGE_INCOMPLETE' }, [record]));
    this.inBackground(() =>
      email.notifyAdmins
        .executeWithOptions({ ...EMAIL, summary: 'alert administrators: a lowering of access could not finish' }, [
          { kind: 'LEVEL_CHANGE_INCOMPLETE', grant, eventId: record.eventId, detail: incomplete, owner: this.request.owner },
        ])
        .catch((mailErr) => log.error('could not alert administrators', { grantId: this.state.grantId, message: innermostMessage(mailErr) })),
    );
    this.finishLowering({ step: sessionsOnly ? 'sessions' : 'privileges', previous });
    this.notifyInBackground('LEVEL_CHANGED', changedEventId, {
      previous: { accessLevel: previousLevel, privileges: previous },
      actor: args.actor,
      ...(args.reason ? { reason: args.reason } : {}),
    });
    return { accessLevel: args.accessLevel, sessionsKilled: 0, incomplete };
  }

  /** Applies the lower level again (if needed) and ends the account's sessions, retrying until done or stopped. */
  private finishLowering(work: LoweringWork): void {
    const scope = new CancellationScope();
    const ref = this.accountRef();
    const level = this.state.accessLevel;
    const privileges = this.state.privileges;
    const lowering = { work, scope, done: Promise.resolve() };
    lowering.done = scope
      .run(async () => {
        if (work.step === 'privileges') {
          try {
            await finishing.changePrivileges.executeWithOptions(
              { ...FINISH_LOWERING, summary: `apply ${level} (${privileges.join(', ')}) again to ${this.state.account}: a lowering is finished, never undone` },
              [{ ...ref, privileges, previous: work.previous }],
            );
            return;
          } catch (err) {
            if (isCancellation(err) || failureType(err) !== ActivityErrorType.SessionsNotEnded) throw err;
            work.step = 'sessions';
          }
        }
        await finishing.endSessions.executeWithOptions({ ...FINISH_LOWERING, summary: `end the open sessions of ${this.state.account}, lowered to ${level}` }, [ref]);
      })
      .then(
        () => log.info('lowering finished', { grantId: this.state.grantId, accessLevel: level }),
        (err: unknown) => {
          if (!isCancellation(err)) log.error('lowering could not be finished', { grantId: this.state.grantId, message: innermostMessage(err) });
        },
      )
      .finally(() => {
        if (this.lowering === lowering) this.lowering = undefined;
      });
    this.lowering = lowering;
  }

  /** Stops finishing a lowering (a new level, or the end of access, supersedes it). */
  private async stopLowering(): Promise<void> {
    const lowering = this.lowering;
    if (!lowering) return;
    lowering.scope.cancel();
    await lowering.done;
  }

  /**
   * The reconciler found the account changed by hand. Checked and repaired here, in
   * the update chain, so that it never races this grant's own changes and shows in
   * its history: privileges set back exactly; a dropped account is not re-created
   * (someone removed access on purpose, or the server lost it): the grant is revoked.
   */
  private repairDrift(args: RepairDriftArgs): Promise<RepairDriftResult> {
    return this.exclusive(() =>
      CancellationScope.nonCancellable(async (): Promise<RepairDriftResult> => {
        const schema = this.request.target.schema;
        let found;
        try {
          found = await repair.repairPrivileges.executeWithOptions(
            { ...DATABASE, summary: `reconcile: check that ${this.state.account} holds exactly ${this.state.accessLevel} (${this.state.privileges.join(', ')}) on ${schema}` },
            [{ ...this.accountRef(), privileges: this.state.privileges, ...(this.lastRepair ? { lastRepair: this.lastRepair } : {}) }],
          );
        } catch (err) {
          throw ApplicationFailure.create({ type: 'DriftRepairFailed', message: `the account could not be checked or repaired: ${innermostMessage(err)}`, nonRetryable: true });
        }
        if (found.status === 'clean') return { outcome: 'clean', detail: `${this.state.account} holds exactly the grant's privileges` };
        if (found.status === 'recurring') {
          // The same difference as last time, with no new cause since: a repair that
          // does not hold is reported, not repeated (each repair ends the sessions).
          const what = [...(this.lastRepair?.removed.length ? [`removed ${this.lastRepair.removed.join(', ')}`] : []), ...(this.lastRepair?.restored.length ? [`restored ${this.lastRepair.restored.join(', ')}`] : [])].join('; ');
          return { outcome: 'recurring', detail: `${this.state.account} differs from ${this.state.accessLevel} on ${schema} exactly as before the last repair (${what || 'the same difference'}); not repaired again until the grant changes` };
        }
        const detail =
          found.status === 'missing'
            ? `account ${this.state.account} no longer exists on the server; it is not re-created: the grant is revoked`
            : `${this.state.account} held ${found.before.join(', ') || 'nothing'} on ${schema}; set back to ${this.state.privileges.join(', ')}` +
              (found.removed.length ? `; removed ${found.removed.join(', ')}` : '') +
              (found.restored.length ? `; restored ${found.restored.join(', ')}` : '') +
              (found.sessionsKilled ? `; ${found.sessionsKilled} session(s) ended` : '');
        const record = this.auditRecord('DRIFT_REPAIRED', args.actor, { reason: args.reason, detail });
        this.commitEvent(record);
        // In the background: an audit outage must not hold the update chain, which revocation waits for.
        this.inBackground(() => untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: 'audit DRIFT_REPAIRED' }, [record]));
        if (found.status === 'missing') {
          this.revokeRequest ??= { actor: args.actor, reason: detail };
          return { outcome: 'revoking', detail };
        }
        this.lastRepair = { removed: [...found.removed], restored: [...found.restored] };
        return { outcome: 'repaired', detail };
      }),
    );
  }

  /** Writes the audit event of a change before the change is made; if it cannot be written, the change is refused. */
  private async auditBeforeChange(record: AuditRecord, summary: string): Promise<void> {
    try {
      await CancellationScope.nonCancellable(() => audit.recordAudit.executeWithOptions({ ...AUDIT, summary }, [record]));
    } catch (err) {
      throw ApplicationFailure.create({
        type: GrantErrorType.AuditUnavailable,
        message: `the change was not made because it could not be audited (${innermostMessage(err)}); try again later`,
        nonRetryable: true,
      });
    }
  }

  // -- lifecycle ------------------------------------------------------------

  async run(resumed: boolean): Promise<GrantState> {
    // A cancel is a revoke, also while provisioning or waiting for approval
    // (both run shielded from cancellation): note it as soon as it arrives.
    CancellationScope.current().cancelRequested.catch(() => {
      this.revokeRequest ??= { actor: 'temporal', reason: 'workflow cancelled' };
    });
    this.publish();
    if (this.carried?.phase === 'retained') {
      // Continued as new while the account is retained: access has long ended.
      await CancellationScope.nonCancellable(() => this.holdRetained());
      return this.state;
    }
    if (this.carried?.lowering) this.finishLowering(this.carried.lowering);
    if (!resumed) {
      // Provisioning is shielded from cancellation: a cancel that arrives now is
      // acted on as a revoke once the steps (or their compensation) are done, so
      // an activity still running can never re-create what a cleanup removed.
      // An adoption (new input field: old requests never take this path) checks an
      // existing account instead of creating one.
      const provisioned = await CancellationScope.nonCancellable(() => (this.request.adoption ? this.adopt() : this.provision()));
      if (!provisioned) return this.state;
    }
    try {
      await this.waitForEnd();
    } catch (err) {
      if (!isCancellation(err)) throw err;
      this.revokeRequest ??= { actor: 'temporal', reason: 'workflow cancelled' };
    }
    await CancellationScope.nonCancellable(() => this.end());
    return this.state;
  }

  /** Runs the provisioning steps; on a failure, their compensations. Returns whether the grant became ACTIVE. */
  private async provision(): Promise<boolean> {
    const compensations: Compensation[] = [];
    let step = 'audit REQUESTED';
    const checkTarget = () =>
      db.checkTarget.executeWithOptions({ ...DATABASE, summary: `check ${this.request.target.schema} and its admin secret ${this.request.target.adminSecretId}` }, [
        this.accountRef(),
      ]);
    let checked: ReturnType<typeof checkTarget> | undefined;
    try {
      const requested = this.auditRecord('REQUESTED', this.request.requestedBy, { reason: this.request.reason });
      const recorded = audit.recordAudit.executeWithOptions({ ...AUDIT, summary: `audit REQUESTED by ${this.request.requestedBy}` }, [requested]);
      // Checking the target creates nothing, so it runs while REQUESTED is being
      // audited: one round trip less before ACTIVE (README: Performance). Not for a
      // grant that waits for approval, whose check must be fresh when it is approved.
      // Grants started before this change replay the old order (no marker).
      if (!this.request.approval && patched(CHECK_WITH_REQUESTED_AUDIT)) {
        const inFlight = checkTarget();
        inFlight.catch(() => undefined); // its failure is handled at its step below
        checked = inFlight;
      }
      await recorded;
      this.commitEvent(requested);

      if (this.request.approval) {
        step = 'audit APPROVAL_REQUESTED';
        if (!(await this.awaitApproval(this.request.approval))) return false;
      }
      // A duration's clock starts now, when access is about to be granted.
      if (this.request.durationMs !== undefined) this.state.expiresAt = new Date(Date.now() + this.request.durationMs).toISOString();
      // What the approver agreed to: extensions beyond it wait for an approver (see extend()).
      if (this.request.approval) this.state.approvedUntil = this.state.expiresAt;
      this.setStatus('PROVISIONING');

      // Before anything is created: a wrong admin secret, an unreachable server or a
      // missing schema fails here, with nothing to undo.
      step = 'check target';
      await (checked ?? checkTarget());

      // Compensations are registered before their step runs: a step that fails
      // after its retries may still have done part of its work (the account
      // created, the secret not yet stored), and every compensation is
      // idempotent, so undoing a step that did nothing is harmless.
      step = 'create account';
      compensations.push({
        name: 'drop account and delete secret',
        run: async () => {
          // An account this grant just created defines nothing, but should the server
          // refuse its drop, the trail must say the account is still there (contained).
          const ending = endingOf(await this.revokeUntilDone('rollback'));
          if (ending.dropped) return;
          return `the server refused to drop the account (${ending.refusal ?? 'no reason given'}); it stays contained${ending.leftBehindCount ? `, defining ${describeLeftBehind(ending.leftBehind, ending.leftBehindCount)}` : ''}`;
        },
        // The account name was taken by an account this grant does not own: leave it alone.
        unless: (err) => failureType(err) === ActivityErrorType.AccountConflict,
      });
      const created = await db.createAccount.executeWithOptions(
        { ...DATABASE, summary: `create account ${this.state.account} and store its secret ${this.request.secretName}` },
        [this.accountRef()],
      );
      this.state.secretName = created.secretName;
      this.state.connection = created.connection;

      step = 'grant privileges';
      compensations.push({
        name: 'revoke privileges',
        run: () => db.revokePrivileges.executeWithOptions({ ...DATABASE, summary: `compensate: revoke privileges of ${this.state.account}` }, [this.accountRef()]),
      });
      await db.grantPrivileges.executeWithOptions(
        { ...DATABASE, summary: `grant ${this.state.accessLevel} (${this.state.privileges.join(', ')}) on ${this.request.target.schema}` },
        [{ ...this.accountRef(), privileges: this.state.privileges }],
      );

      step = 'audit GRANTED';
      const granted = this.auditRecord('GRANTED', this.request.requestedBy, { reason: this.request.reason });
      await audit.recordAudit.executeWithOptions({ ...AUDIT, summary: `audit GRANTED ${this.state.accessLevel} until ${this.state.expiresAt}` }, [granted]);
      this.commitEvent(granted);

      step = 'notify';
      await email.notifyGrant.executeWithOptions({ ...EMAIL, summary: `email GRANTED to ${this.state.email} and the project owner` }, [
        { kind: 'GRANTED', grant: this.state, owner: this.request.owner, eventId: granted.eventId, schema: this.request.target.schema },
      ]);

      this.state.grantedAt = new Date().toISOString();
      this.setStatus('ACTIVE');
      return true;
    } catch (err) {
      await this.rollBack(step, err, compensations);
      return false;
    }
  }

  /**
   * Adopts an account the old scripts created: audit REQUESTED, verify the account
   * and its privileges (nothing is created or changed), audit ADOPTED, ACTIVE. From
   * then on the grant is like any other: it expires, is revoked (the account is
   * dropped) and extended the same way. A refusal changes nothing on the server:
   * ADOPTION_REFUSED is audited and the grant ends FAILED. The password stays the
   * one the old scripts handed out; dbaccess never knew it and stores no secret.
   */
  private async adopt(): Promise<boolean> {
    const adoption = this.request.adoption!;
    const { requestedBy } = this.request;
    const at = `${this.state.account}@${this.request.target.hostPattern}`;
    let step = 'audit REQUESTED';
    try {
      const requested = this.auditRecord('REQUESTED', requestedBy, {
        reason: this.request.reason,
        detail: `adoption of ${at}, created by the old scripts (${adoption.source})`,
      });
      await audit.recordAudit.executeWithOptions({ ...AUDIT, summary: `audit REQUESTED (adoption) by ${requestedBy}` }, [requested]);
      this.commitEvent(requested);
      this.setStatus('PROVISIONING');

      step = 'verify adoption';
      const { connection } = await db.verifyAdoption.executeWithOptions(
        { ...DATABASE, summary: `verify ${at} holds exactly ${this.state.accessLevel} (${this.state.privileges.join(', ')}) on ${this.request.target.schema}; change nothing` },
        [{ ...this.accountRef(), privileges: this.state.privileges }],
      );
      this.state.connection = connection;

      step = 'audit ADOPTED';
      const record = Object.entries(adoption.oldRecord)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ');
      const adopted = this.auditRecord('ADOPTED', requestedBy, {
        reason: this.request.reason,
        detail: [
          `${at} verified: ${this.state.accessLevel} (${this.state.privileges.join(', ')}) on ${this.request.target.schema}; kept as it is, password unchanged and not stored by dbaccess`,
          `old record: ${record}`,
          ...adoption.notes,
        ].join('; '),
      });
      await audit.recordAudit.executeWithOptions({ ...AUDIT, summary: `audit ADOPTED ${this.state.accessLevel} until ${this.state.expiresAt}` }, [adopted]);
      this.commitEvent(adopted);
      this.state.grantedAt = new Date().toISOString();
      this.setStatus('ACTIVE');
      const grant = { ...this.state, history: [...this.state.history] };
      this.inBackground(() => this.sendNotice('ADOPTED', grant, adopted.eventId));
      return true;
    } catch (err) {
      const message = innermostMessage(err);
      log.warn('adoption refused', { grantId: this.state.grantId, step, message });
      this.state.failure = { step, message };
      const refused = this.auditRecord('ADOPTION_REFUSED', requestedBy, { detail: `step "${step}" failed: ${message}; nothing was changed on the server` });
      await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: 'audit ADOPTION_REFUSED' }, [refused]);
      this.commitEvent(refused);
      this.setStatus('FAILED');
      await this.settle();
      throw ApplicationFailure.create({
        type: GRANT_FAILED_ERROR,
        message: `adoption refused at step "${step}": ${message}; nothing was changed`,
        nonRetryable: true,
        details: [{ step }],
      });
    }
  }

  /**
   * The approval gate: asks the approvers and waits for a decision, a withdrawal
   * (revoke or cancel) or the timeout. Nothing exists in MySQL yet. Returns
   * whether the request was approved; otherwise the grant has ended.
   */
  private async awaitApproval(approval: ApprovalRequirement): Promise<boolean> {
    let waitMs = approval.timeoutMs;
    // An expiry given as a date bounds the wait: approving after it would grant nothing.
    if (this.request.durationMs === undefined) waitMs = Math.min(waitMs, Date.parse(this.state.expiresAt) - Date.now());
    waitMs = Math.max(waitMs, 1000);
    const decideBy = new Date(Date.now() + waitMs).toISOString();
    this.state.approval = { reasons: approval.reasons, decideBy };
    this.setStatus('PENDING_APPROVAL');

    const asked = approval.approvers.map((a) => a.email).join(', ') || 'nobody with an e-mail address';
    const requested = this.auditRecord('APPROVAL_REQUESTED', this.request.requestedBy, {
      reason: this.request.reason,
      detail: `${approval.reasons.join('; ')}; asked: ${asked}; denied unless decided by ${decideBy}`,
    });
    await audit.recordAudit.executeWithOptions({ ...AUDIT, summary: `audit APPROVAL_REQUESTED (${approval.reasons.join('; ')})` }, [requested]);
    this.commitEvent(requested);
    await this.notifyApprovalOrRecord('APPROVAL_REQUESTED', requested.eventId, { decideBy });

    await condition(() => this.decision !== undefined || this.revokeRequest !== undefined, waitMs);
    // From here on the gate takes no decision: one outcome, one audit trail.
    this.gateClosed = true;
    // A decision being audited when the time ran out still counts.
    await condition(() => !this.deciding);

    if (this.decision?.approved && !this.revokeRequest) return true;

    let outcome: 'DENIED' | 'REVOKED';
    let mail: { actor: string; reason?: string; eventId: string };
    if (this.revokeRequest) {
      // Withdrawn: by the requester, an admin, or a cancel from the Temporal UI.
      const { actor, reason } = this.revokeRequest;
      const withdrawn = this.auditRecord('REVOKE_REQUESTED', actor, { reason, detail: 'withdrawn before access was granted' });
      this.commitEvent(withdrawn);
      await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: `audit REVOKE_REQUESTED by ${actor}` }, [withdrawn]);
      const done = this.auditRecord('REVOKED', actor, { reason, detail: 'the request was withdrawn; nothing was created' });
      await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: 'audit REVOKED (withdrawn)' }, [done]);
      this.commitEvent(done);
      outcome = 'REVOKED';
      mail = { actor, reason: reason ? `withdrawn: ${reason}` : 'the request was withdrawn', eventId: done.eventId };
    } else if (this.decision) {
      outcome = 'DENIED';
      mail = { actor: this.decision.actor, eventId: this.decision.eventId, ...(this.decision.reason ? { reason: this.decision.reason } : {}) };
    } else {
      const reason = `no decision by ${decideBy}`;
      const denied = this.auditRecord('DENIED', 'dbaccess', { reason });
      await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: 'audit DENIED (no decision in time)' }, [denied]);
      this.commitEvent(denied);
      Object.assign(this.state.approval, { decision: 'DENIED', decidedBy: 'dbaccess', decidedAt: denied.at, reason });
      outcome = 'DENIED';
      mail = { actor: 'dbaccess', reason, eventId: denied.eventId };
    }
    this.state.endedAt = new Date().toISOString();
    this.setStatus(outcome);
    await this.notifyApprovalOrRecord('DENIED', mail.eventId, { actor: mail.actor, ...(mail.reason ? { reason: mail.reason } : {}) });
    await this.settle();
    return false;
  }

  /** E-mails the approvers about an extension asked for, or the grantee about its denial. */
  private async notifyExtension(
    kind: 'EXTENSION_REQUESTED' | 'EXTENSION_DENIED',
    eventId: string,
    extra: { decideBy?: string; actor?: string; reason?: string },
    pending = this.state.pendingExtension,
  ): Promise<void> {
    if (!pending) return;
    const gate = this.gate ?? { reasons: [], timeoutMs: DEFAULT_EXTENSION_TIMEOUT_MS, approvers: [] };
    await this.notifyApprovalOrRecord(kind, eventId, { ...extra, extension: { from: pending.from, to: pending.to, requestedBy: pending.requestedBy } }, gate);
  }

  /** Sends an approval-gate e-mail; a failure is recorded as NOTIFY_FAILED and never blocks the gate. */
  private async notifyApprovalOrRecord(
    kind: 'APPROVAL_REQUESTED' | 'DENIED' | 'EXTENSION_REQUESTED' | 'EXTENSION_DENIED',
    eventId: string,
    extra: { decideBy?: string; actor?: string; reason?: string; extension?: { from: string; to: string; requestedBy: string } },
    approval: ApprovalRequirement = this.request.approval!,
  ): Promise<void> {
    const grant = { ...this.state, history: [...this.state.history] };
    const asking = kind === 'APPROVAL_REQUESTED' || kind === 'EXTENSION_REQUESTED';
    try {
      await email.notifyApproval.executeWithOptions(
        { ...EMAIL, summary: asking ? `email the approvers: ${approval.approvers.map((a) => a.email).join(', ') || 'the administrators'}${kind === 'EXTENSION_REQUESTED' ? ' (extension)' : ''}` : `email ${kind} to ${grant.email}` },
        [
          {
            kind,
            grant,
            owner: this.request.owner,
            approvers: approval.approvers,
            reasons: approval.reasons,
            eventId,
            ...(this.request.durationMs !== undefined ? { duration: formatDuration(this.request.durationMs) } : {}),
            ...extra,
          },
        ],
      );
    } catch (err) {
      const record = this.auditRecord('NOTIFY_FAILED', 'dbaccess', { detail: `${kind} e-mail not sent: ${innermostMessage(err)}` });
      this.commitEvent(record);
      await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: 'audit NOTIFY_FAILED' }, [record]);
    }
  }

  private async rollBack(step: string, err: unknown, compensations: Compensation[]): Promise<never> {
    const message = innermostMessage(err);
    log.warn('grant provisioning failed; rolling back', { grantId: this.state.grantId, step, message });
    this.setStatus('ROLLING_BACK');
    const undone: string[] = [];
    for (const c of [...compensations].reverse()) {
      if (c.unless?.(err)) continue;
      try {
        const note = await c.run();
        undone.push(note ? `${c.name} (${note})` : c.name);
      } catch (compErr) {
        // Keep going: the remaining compensations must still run.
        log.error('compensation failed', { grantId: this.state.grantId, compensation: c.name, message: innermostMessage(compErr) });
      }
    }
    this.state.failure = { step, message };
    const detail = `step "${step}" failed: ${message}; undone: ${undone.length ? undone.join(', ') : 'nothing to undo'}`;
    const rolledBack = this.auditRecord('ROLLED_BACK', 'dbaccess', { detail });
    try {
      await audit.recordAudit.executeWithOptions({ ...AUDIT, summary: 'audit ROLLED_BACK' }, [rolledBack]);
      this.commitEvent(rolledBack);
    } catch (auditErr) {
      log.error('could not write the ROLLED_BACK audit event', { grantId: this.state.grantId, message: innermostMessage(auditErr) });
      // The grant's own history still says what happened, and that the trail lacks it.
      this.commitEvent({ ...rolledBack, detail: `${detail} (not in the audit trail: ${innermostMessage(auditErr)})` });
    }
    this.setStatus('FAILED');
    try {
      await email.notifyAdmins.executeWithOptions({ ...EMAIL, summary: 'email FAILED to administrators' }, [
        { kind: 'FAILED', grant: this.state, eventId: rolledBack.eventId, detail },
      ]);
    } catch (mailErr) {
      log.error('could not e-mail administrators about the failed grant', { grantId: this.state.grantId, message: innermostMessage(mailErr) });
    }
    await this.settle();
    throw ApplicationFailure.create({
      type: GRANT_FAILED_ERROR,
      message: `grant failed at step "${step}": ${message}; everything it created was rolled back`,
      nonRetryable: true,
      details: [{ step }],
    });
  }

  /** Sleeps until the expiry, a revoke, or a suggestion to continue as new. */
  private async waitForEnd(): Promise<void> {
    for (;;) {
      // A change in flight finishes first: it was accepted before this decision. At
      // the expiry it is waited for UPDATE_GRACE_MS at most, then access ends anyway.
      await this.waitForChanges(Date.parse(this.state.expiresAt) + UPDATE_GRACE_MS, true);
      if (this.revokeRequest || this.accessEndedAtExpiry()) return;
      const left = Date.parse(this.state.expiresAt) - Date.now();
      if (this.armed?.outcome) {
        // Failed before the expiry: that expiry is revoked the way it always was. Failed
        // at it: the ordinary revoke takes over in end() (the return just below).
        if (this.armed.outcome === 'failed' && left > 0) this.armFailedFor = this.state.expiresAt;
        this.armed = undefined;
      }
      // At the expiry: done, or the armed revocation is at work (end() waits for it).
      if (left <= 0) return;
      if (!this.armed && workflowInfo().continueAsNewSuggested) {
        await this.settle();
        if (!this.revokeRequest && this.changing === 0 && allHandlersFinished()) {
          await continueAsNew<typeof grantAccess>(this.request, this.carry());
        }
      }
      const decision = this.untilExtensionDecision();
      if (decision !== undefined && decision <= 0) this.closePendingExtension(`no decision by ${this.state.pendingExtension!.decideBy}`);
      const nextWake = earliest(this.remindIfDue(), this.untilExtensionDecision());
      const lead = this.armFailedFor === this.state.expiresAt ? 0 : (this.request.revocationLeadMs ?? 0);
      if (lead > 0 && !this.armed && left <= lead) this.arm(left, lead);
      const armed = this.armed;
      if (armed) {
        // The worker holds the revocation now; wake for its outcome, a revoke, an
        // update (which disarms it), a reminder, or a while after the expiry: if the
        // armed revocation has not reported by then (it is retrying), the grant shows
        // REVOKING while it goes on. Not at the expiry itself: a thousand timers
        // firing then would take the CPU the drops need, for nothing when they report.
        const wakeAt = left + ARMED_REPORT_GRACE_MS;
        await condition(() => armed.outcome !== undefined || this.revokeRequest !== undefined || this.changing > 0, Math.min(wakeAt, nextWake ?? wakeAt));
        continue;
      }
      const version = this.expiryVersion;
      const untilArmed = lead > 0 ? left - lead : left;
      await condition(
        () => this.revokeRequest !== undefined || this.expiryVersion !== version || workflowInfo().continueAsNewSuggested,
        nextWake === undefined ? untilArmed : Math.min(untilArmed, nextWake),
      );
    }
  }

  /**
   * Waits for the updates in flight, until `deadline` at most (and, with `orRevoke`,
   * until a revoke arrives). False when some still run. Grants started before the
   * bound existed wait for them as they did, however long.
   */
  private async waitForChanges(deadline: number, orRevoke = false): Promise<boolean> {
    if (this.changing === 0) return true;
    if (!patched(BOUNDED_UPDATE_WAIT)) {
      await condition(() => this.changing === 0);
      return true;
    }
    const left = deadline - Date.now();
    if (left > 0) await condition(() => this.changing === 0 || (orRevoke && this.revokeRequest !== undefined), left);
    return this.changing === 0;
  }

  /** What continues as new: the state, and whatever is still in progress. */
  private carry(phase?: 'retained'): CarriedState {
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

  /**
   * Arms the revocation `leftMs` before the expiry: a revokeAccess attempt starts
   * now on a worker and waits there for the exact instant, so that at the expiry
   * nothing waits for Temporal (a timer, a workflow task, an activity dispatch):
   * only the worker's clock and MySQL. 1,000 expiries in the same second then end
   * within a second (README: Performance). An update first stands it down
   * (disarm()); a revoke runs at once beside it (end()).
   */
  private arm(leftMs: number, leadMs: number): void {
    const expiresAt = this.state.expiresAt;
    const scope = new CancellationScope();
    const armed: ArmedRevocation = { scope, settled: Promise.resolve() };
    const ref = { ...this.accountRef(), ...(this.ownsAccount() ? { owned: true } : {}), notBefore: expiresAt };
    armed.settled = scope
      .run(() =>
        revokeFirst.revokeAccess.executeWithOptions(
          {
            ...armedRevocation(leftMs, leadMs),
            summary: `revoke at the expiry ${expiresAt}: armed ${formatDuration(leftMs)} ahead; contain ${this.state.account} (lock, replace its password, revoke its privileges, end its sessions), drop it, delete its secret`,
          },
          [ref],
        ),
      )
      .then(
        (result) => {
          armed.outcome = 'ended';
          armed.result = result;
        },
        (err: unknown) => {
          armed.outcome = isCancellation(err) ? 'stood down' : 'failed';
          if (armed.outcome === 'failed') log.warn('armed revocation failed; revoking the usual way', { grantId: this.state.grantId, message: innermostMessage(err) });
        },
      );
    this.armed = armed;
  }

  /** Stands the armed revocation down and waits to learn whether it did (or had already ended access). */
  private async disarm(): Promise<void> {
    const armed = this.armed;
    if (!armed || armed.outcome) return;
    armed.scope.cancel();
    await armed.settled;
  }

  /** The armed revocation ended access: the grant has expired, whatever its status says yet. */
  private accessEndedAtExpiry(): boolean {
    return this.armed?.outcome === 'ended';
  }

  /** After createAccount has returned (or an adoption), the account is this grant's for certain. */
  private ownsAccount(): boolean {
    return this.state.secretName !== undefined || this.request.adoption !== undefined;
  }

  /**
   * Sends the reminder that is due, if any, and returns the ms until the next one.
   *
   * Determinism: grants started before reminders existed were recorded sleeping on
   * one timer until the expiry; a reminder timer in their command sequence would
   * break their replay. So the reminder path is keyed on the request field
   * `reminderOffsetsMs`, which old requests do not have (rather than on a
   * `patched()` marker, which would give running grants reminders nobody
   * configured for them when they were requested): for them this returns
   * undefined without issuing any command, and the loop is exactly the old one.
   * The replay test proves it on the committed histories.
   */
  private remindIfDue(): number | undefined {
    const offsets = this.request.reminderOffsetsMs;
    if (!offsets || offsets.length === 0) return undefined;
    const now = Date.now();
    const expiry = Date.parse(this.state.expiresAt);
    if (this.reminders?.plannedFor !== this.state.expiresAt) {
      // Only reminders still ahead: a grant shorter than an offset gets none for it,
      // and after an extension the reminders whose time has passed are skipped.
      this.reminders = { plannedFor: this.state.expiresAt, pending: offsets.filter((o) => expiry - o > now).sort((a, b) => b - a), sent: [] };
    }
    const plan = this.reminders;
    const due = plan.pending.filter((o) => expiry - o <= now);
    if (due.length > 0) {
      // Several due at once (the worker was away): one e-mail, the nearest to the expiry.
      plan.pending = plan.pending.filter((o) => expiry - o > now);
      plan.sent.push(...due);
      this.sendReminder(Math.min(...due));
    }
    const next = plan.pending.map((o) => expiry - o - now);
    return next.length > 0 ? Math.min(...next) : undefined;
  }

  /**
   * E-mails a reminder in the background (it never delays the expiry or a revoke),
   * then audits REMINDER_SENT; a mail that cannot be sent is audited NOTIFY_FAILED.
   */
  private sendReminder(beforeMs: number): void {
    const grant = { ...this.state, history: [...this.state.history] };
    const record = this.auditRecord('REMINDER_SENT', 'dbaccess', {
      detail: `reminder ${formatDuration(beforeMs)} before the expiry ${grant.expiresAt}, to ${grant.email} and the project owner`,
    });
    this.inBackground(async () => {
      if (!(await this.sendNotice('REMINDER', grant, record.eventId, { beforeMs, remindedAt: record.at }))) return;
      this.commitEvent(record);
      await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: `audit REMINDER_SENT (${formatDuration(beforeMs)} before the expiry)` }, [record]);
    });
  }

  /** Sends a reminder or adoption e-mail; false (and NOTIFY_FAILED audited) when it could not be sent. */
  private async sendNotice(kind: NoticeKind, grant: GrantState, eventId: string, extra: { beforeMs?: number; remindedAt?: string } = {}): Promise<boolean> {
    try {
      await email.notifyGrantee.executeWithOptions({ ...EMAIL, summary: `email ${kind} to ${grant.email} and the project owner` }, [
        { kind, grant, owner: this.request.owner, eventId, schema: this.request.target.schema, maxDurationMs: this.request.maxDurationMs, ...extra },
      ]);
      return true;
    } catch (err) {
      const record = this.auditRecord('NOTIFY_FAILED', 'dbaccess', { detail: `${kind} e-mail not sent: ${innermostMessage(err)}` });
      this.commitEvent(record);
      await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: 'audit NOTIFY_FAILED' }, [record]);
      return false;
    }
  }

  /** Ends access (on request or at expiry), audits and notifies. Never gives up on ending access itself. */
  private async end(): Promise<void> {
    // An update still running holds the end for UPDATE_GRACE_MS at most. What it does
    // later is harmless: the account is contained (locked, its password unknown, its
    // privileges revoked) before it is dropped, and the update learns access ended.
    const deadline = (this.revokeRequest ? Date.now() : Date.parse(this.state.expiresAt)) + UPDATE_GRACE_MS;
    if (!(await this.waitForChanges(deadline))) log.warn('an update is still running; access ends without waiting for it', { grantId: this.state.grantId });
    this.ending = true;
    // Ending access ends the sessions too: a lowering still being finished stops.
    this.lowering?.scope.cancel();
    const armed = this.armed;
    if (armed && !armed.outcome && !this.revokeRequest) {
      // The expiry has come and the armed revocation is at work: it is the revocation.
      this.setStatus('REVOKING');
      await armed.settled;
    }
    // Ended at the expiry by the armed revocation: the grant expired, even if a
    // revoke arrived while the workflow was learning it.
    const endedAtExpiry = armed?.outcome === 'ended';
    const requested = endedAtExpiry ? undefined : this.revokeRequest;
    const outcome: 'REVOKED' | 'EXPIRED' = requested ? 'REVOKED' : 'EXPIRED';
    this.setStatus('REVOKING');

    let requestAudit: Promise<unknown> = Promise.resolve();
    if (requested) {
      const record = this.auditRecord('REVOKE_REQUESTED', requested.actor, { reason: requested.reason });
      this.commitEvent(record);
      // Written alongside the revoke: an audit outage must not delay the end of access.
      requestAudit = untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: `audit REVOKE_REQUESTED by ${requested.actor}` }, [record]);
    }
    let result = endedAtExpiry ? armed!.result : undefined;
    if (!endedAtExpiry) {
      // A revoke before the expiry does not wait for an armed revocation to stand
      // down: it runs now, and the armed one is told to stand down (both are idempotent).
      // An armed revocation that failed at the expiry is followed by the ordinary
      // revoke and its own first attempts before anyone is alerted: under an
      // overloaded Temporal an armed attempt can be reported failed after it had
      // dropped the account, and that must not page the administrators.
      armed?.scope.cancel();
      result = await this.revokeUntilDone(outcome === 'EXPIRED' ? 'expiry' : 'revoke');
    }
    // Nothing of this grant may still be running when it closes.
    await armed?.settled;
    await requestAudit;
    await this.lowering?.done;

    // Results recorded before containment existed say nothing more: dropped, as then.
    const ending = endingOf(result);
    if (ending.containedAt) this.state.accessEndedAt = ending.containedAt;
    if (ending.leftBehindCount > 0) this.state.leftBehind = { objects: ending.leftBehind, count: ending.leftBehindCount };
    if (this.state.pendingExtension && !this.extensionDeciding) this.closePendingExtension(`the grant was ${outcome.toLowerCase()} before an approver decided`);

    const actor = requested?.actor ?? 'dbaccess';
    const done = this.auditRecord(outcome, actor, { reason: requested?.reason, detail: endingDetail(ending), accessEndedAt: ending.containedAt });
    await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: `audit ${outcome}` }, [done]);
    this.commitEvent(done);
    this.state.endedAt = new Date().toISOString();
    let retained: AuditRecord | undefined;
    if (!ending.dropped) {
      this.state.retained = {
        since: ending.containedAt ?? this.state.endedAt,
        reason: ending.refusal ?? 'the server refused to drop the account',
        objects: ending.leftBehind,
        objectCount: ending.leftBehindCount,
      };
      retained = this.auditRecord('ACCOUNT_RETAINED', 'dbaccess', { detail: retainedDetail(this.state.account, this.state.retained), accessEndedAt: ending.containedAt });
      await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: `audit ACCOUNT_RETAINED ${this.state.account}` }, [retained]);
      this.commitEvent(retained);
    }
    this.setStatus(outcome);

    await this.notifyOrRecord(outcome, done.eventId, requested ? { actor: requested.actor, ...(requested.reason ? { reason: requested.reason } : {}) } : {});
    if (retained) await this.alertRetained(retained);
    await this.settle();
    if (this.state.retained) await this.holdRetained();
  }

  /** Once per retained account: the administrators, with the project owner in copy. */
  private async alertRetained(record: AuditRecord): Promise<void> {
    const grant = { ...this.state, history: [...this.state.history] };
    try {
      await email.notifyAdmins.executeWithOptions({ ...EMAIL, summary: `alert administrators and the owner: account ${this.state.account} retained` }, [
        { kind: 'ACCOUNT_RETAINED', grant, eventId: record.eventId, detail: record.detail ?? '', owner: this.request.owner },
      ]);
    } catch (err) {
      log.error('could not alert administrators about a retained account', { grantId: this.state.grantId, message: innermostMessage(err) });
      const failed = this.auditRecord('NOTIFY_FAILED', 'dbaccess', { detail: `ACCOUNT_RETAINED e-mail not sent: ${innermostMessage(err)}` });
      this.commitEvent(failed);
      await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: 'audit NOTIFY_FAILED' }, [failed]);
    }
  }

  /**
   * Access has ended, but the server refused to drop the account. The workflow
   * stays open, so that the Temporal UI and GET /grants/:id show the retained
   * account and no new grant of the same account can start, until a retried drop
   * succeeds: asked for (retryDrop: the reconciler, an administrator), or its own
   * retry once a day. A refusal again changes nothing: no audit event, no alert.
   */
  private async holdRetained(): Promise<void> {
    while (this.state.retained) {
      if (workflowInfo().continueAsNewSuggested) {
        await this.settle();
        if (this.state.retained && allHandlersFinished()) await continueAsNew<typeof grantAccess>(this.request, this.carry('retained'));
      }
      const tries = this.dropRetryCount;
      const woken = await condition(() => !this.state.retained || this.dropRetryCount !== tries || workflowInfo().continueAsNewSuggested, RETAINED_RETRY_MS);
      if (!woken) await this.retryDrop({ actor: 'dbaccess', reason: 'the daily retry of a retained account' });
    }
    await this.settle();
  }

  /** One retry at a time; each restarts the daily wait. */
  private retryDrop(args: RetryDropArgs): Promise<RetryDropResult> {
    const run = this.dropRetries.then(() => this.retryDropOnce(args));
    this.dropRetries = run.catch(() => undefined);
    return run;
  }

  private async retryDropOnce(args: RetryDropArgs): Promise<RetryDropResult> {
    const retained = this.state.retained;
    const account = this.state.account;
    if (!retained) return { outcome: 'not-retained', detail: `the grant is ${this.state.status}; its account ${account} is not retained` };
    this.dropRetryCount += 1;
    let result: RevocationResult;
    try {
      result = await CancellationScope.nonCancellable(() =>
        retryingDrop.revokeAccess.executeWithOptions(
          { ...RETRY_DROP, summary: `retry the drop of the retained account ${account} (contained since ${retained.since}), asked by ${args.actor}` },
          [{ ...this.accountRef(), ...(this.ownsAccount() ? { owned: true } : {}) }],
        ),
      );
    } catch (err) {
      return { outcome: 'retained', detail: `the drop could not be tried (${innermostMessage(err)}); ${account} stays retained, contained` };
    }
    const ending = endingOf(result);
    if (!ending.dropped) {
      // Refused again: the picture is brought up to date; nothing is audited or alerted again.
      this.state.retained = {
        ...retained,
        reason: ending.refusal ?? retained.reason,
        ...(ending.leftBehindCount > 0 ? { objects: ending.leftBehind, objectCount: ending.leftBehindCount } : {}),
      };
      this.publish();
      return { outcome: 'retained', detail: `the server refused the drop again (${this.state.retained.reason}); ${account} stays retained, contained` };
    }
    const detail = `the retained account ${account} was dropped (contained since ${retained.since})`;
    const record = this.auditRecord('ACCOUNT_DROPPED', args.actor, { reason: args.reason, detail });
    await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: `audit ACCOUNT_DROPPED ${account}` }, [record]);
    this.commitEvent(record);
    delete this.state.retained;
    this.publish();
    return { outcome: 'dropped', detail };
  }

  /**
   * Contains the account, drops it and deletes its secret. The first attempts are
   * limited; if they all fail, administrators are alerted once (audit
   * REVOKE_RETRYING and an e-mail) while the revoke goes on retrying with no limit.
   * A drop the server refuses is not a failure: the result says so.
   */
  private async revokeUntilDone(why: 'revoke' | 'expiry' | 'rollback'): Promise<RevocationResult> {
    // During a rollback the account may not be this grant's (AccountConflict), so ownership is checked.
    const owned = why !== 'rollback' && this.ownsAccount();
    const ref = { ...this.accountRef(), ...(owned ? { owned: true } : {}) };
    const summary = `revoke: contain ${this.state.account} (lock, replace its password, revoke its privileges, end its sessions), drop it, delete its secret (${why})`;
    try {
      return await revokeFirst.revokeAccess.executeWithOptions({ ...REVOKE_FIRST, summary }, [ref]);
    } catch (err) {
      if (isCancellation(err)) throw err;
      const detail = `revocation failed ${REVOKE_ATTEMPTS_BEFORE_ALERT} times (last error: ${innermostMessage(err)}); retrying until it succeeds`;
      log.error('revocation keeps failing', { grantId: this.state.grantId, detail });
      const record = this.auditRecord('REVOKE_RETRYING', 'dbaccess', { detail });
      this.commitEvent(record);
      const alert = Promise.all([
        untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: 'audit REVOKE_RETRYING' }, [record]),
        email.notifyAdmins
          .executeWithOptions({ ...EMAIL, summary: 'alert administrators: revocation keeps failing' }, [
            { kind: 'REVOKE_RETRYING', grant: this.state, eventId: record.eventId, detail },
          ])
          .catch((mailErr) => log.error('could not alert administrators', { grantId: this.state.grantId, message: innermostMessage(mailErr) })),
      ]);
      const result = await untilDone.revokeAccess.executeWithOptions({ ...UNTIL_DONE, summary: `${summary}, retrying until done` }, [ref]);
      await alert;
      return result;
    }
  }

  /** Sends a grant e-mail; a failure is recorded as NOTIFY_FAILED and never blocks the lifecycle. */
  private async notifyOrRecord(kind: NotifyKind, eventId: string, about: MailContext = {}): Promise<void> {
    // A copy: the e-mail describes the grant as it was when the event happened.
    const grant = { ...this.state, history: [...this.state.history] };
    try {
      await email.notifyGrant.executeWithOptions({ ...EMAIL, summary: `email ${kind} to ${grant.email} and the project owner` }, [
        { kind, grant, owner: this.request.owner, eventId, schema: this.request.target.schema, ...about },
      ]);
    } catch (err) {
      const record = this.auditRecord('NOTIFY_FAILED', 'dbaccess', { detail: `${kind} e-mail not sent: ${innermostMessage(err)}` });
      this.commitEvent(record);
      await untilDone.recordAudit.executeWithOptions({ ...UNTIL_DONE, summary: 'audit NOTIFY_FAILED' }, [record]);
    }
  }

  /** E-mails after an update without making the caller wait for SMTP. */
  private notifyInBackground(kind: NotifyKind, eventId: string, about: MailContext): void {
    this.inBackground(() => this.notifyOrRecord(kind, eventId, about));
  }

  /** Work that must finish before the run ends, but that nothing else should wait for. */
  private inBackground(work: () => Promise<unknown>): void {
    const task: Promise<void> = CancellationScope.nonCancellable(async () => {
      await work();
    }).finally(() => this.background.delete(task));
    this.background.add(task);
  }

  /** Waits for message handlers and background e-mails, before completing or continuing as new. */
  private async settle(): Promise<void> {
    await condition(allHandlersFinished);
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  // -- helpers --------------------------------------------------------------

  private accountRef(): AccountRef {
    const r = this.request;
    return { grantId: r.grantId, project: r.project, database: r.database, account: r.account, secretName: r.secretName, target: r.target };
  }

  /** Builds an audit event with a deterministic id: a retried write finds it already there. */
  private auditRecord(
    event: AuditEventType,
    actor: string,
    extra: { reason?: string | undefined; detail?: string | undefined; accessLevel?: string; expiresAt?: string; accessEndedAt?: string | undefined } = {},
  ): AuditRecord {
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

  /** Adds a written (or being written) audit event to the grant's visible history. */
  private commitEvent(record: AuditRecord): void {
    this.state.history.push({
      event: record.event,
      at: record.at,
      actor: record.actor,
      accessLevel: record.accessLevel,
      expiresAt: record.expiresAt,
      ...(record.reason ? { reason: record.reason } : {}),
      ...(record.detail ? { detail: record.detail } : {}),
    });
  }

  private setStatus(status: GrantStatus): void {
    this.state.status = status;
    this.publish();
  }

  /** Search attributes and the UI's "current details" follow every change. */
  private publish(): void {
    const s = this.state;
    // DbAccessRetained only once a grant has been retained: grants that never are do not need it registered.
    const retained = s.retained ? [{ key: SA.retained, value: 'true' }] : this.retainedPublished ? [{ key: SA.retained, value: null }] : [];
    this.retainedPublished = s.retained !== undefined;
    upsertSearchAttributes([
      { key: SA.status, value: s.status },
      { key: SA.accessLevel, value: s.accessLevel },
      { key: SA.expiresAt, value: new Date(s.expiresAt) },
      ...retained,
    ]);
    setCurrentDetails(
      [
        `**${s.status}**: ${s.accessLevel} (${s.privileges.join(', ')}) on ${s.project}/${s.database} for ${s.email}`,
        `account \`${s.account}\`, expires ${s.expiresAt}`,
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
}

/** What a revocation reported, with what results recorded before containment lack filled in. */
interface Ending {
  dropped: boolean;
  containedAt?: string;
  refusal?: string;
  leftBehind: LeftBehindObject[];
  leftBehindCount: number;
}

function endingOf(result: RevocationResult | undefined): Ending {
  const leftBehind = result?.leftBehind ?? [];
  return {
    dropped: result?.dropped !== false,
    ...(result?.containedAt ? { containedAt: result.containedAt } : {}),
    ...(result?.refusal ? { refusal: result.refusal } : {}),
    leftBehind,
    leftBehindCount: result?.leftBehindCount ?? leftBehind.length,
  };
}

/** The REVOKED / EXPIRED event's detail: what stayed behind, and a refused drop. */
function endingDetail(ending: Ending): string | undefined {
  const objects = ending.leftBehindCount > 0 ? describeLeftBehind(ending.leftBehind, ending.leftBehindCount) : '';
  if (!ending.dropped) {
    return (
      `access ended${ending.containedAt ? ` at ${ending.containedAt}` : ''}: the account was contained (locked, password replaced, privileges revoked, sessions ended); ` +
      `the server refused to drop it (${ending.refusal ?? 'no reason given'}), so it is retained` +
      (objects ? `; it defines ${ending.leftBehindCount} stored object(s): ${objects}` : '')
    );
  }
  return objects ? `the account left ${ending.leftBehindCount} stored object(s) behind, kept as they are: ${objects}` : undefined;
}

function retainedDetail(account: string, retained: { since: string; reason: string; objects: LeftBehindObject[]; objectCount: number }): string {
  return (
    `access ended at ${retained.since}; the account ${account} is contained but the server refused to drop it (${retained.reason})` +
    (retained.objectCount > 0
      ? `; it defines ${retained.objectCount} stored object(s): ${describeLeftBehind(retained.objects, retained.objectCount)}; an administrator must deal with them (change their definer or drop them)`
      : '; an administrator must find out why and fix it') +
    ', then the drop is retried'
  );
}

/** The sooner of two optional delays. */
function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

/** The type of the application failure at the root of a failure chain, if any. */
function failureType(err: unknown): string | undefined {
  let current: unknown = err;
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure) return current.type ?? undefined;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}


/**
 * The grant workflow. `carried` is set only when the workflow continues as new,
 * so that a long-lived grant keeps its state and audit sequence.
 */
export async function grantAccess(request: GrantRequest, carried?: CarriedState): Promise<GrantState> {
  const lifecycle = new GrantLifecycle(request, carried);
  lifecycle.installHandlers();
  return lifecycle.run(carried !== undefined);
}
