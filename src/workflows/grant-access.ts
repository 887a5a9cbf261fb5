import { CancellationScope, condition, isCancellation, setHandler } from '@temporalio/workflow';
import {
  approveUpdate,
  auditedElsewhereSignal,
  awaitStatusUpdate,
  changeAccessLevelUpdate,
  denyUpdate,
  extendUpdate,
  grantStateQuery,
  repairDriftUpdate,
  retryDropUpdate,
  reviewUpdate,
  revokeSignal,
} from '../contract/messages';
import { CLOSED_STATUSES, type GrantRequest, type GrantState } from '../domain';
import { decide, validateDecision } from './grant/approval';
import { holdForBreakGlassReview, startBreakGlass } from './grant/break-glass';
import { changeLevel, extend, validateChangeLevel, validateExtend } from './grant/changes';
import { repairDrift } from './grant/drift';
import { end } from './grant/end';
import { followEventStream, streamAuditedElsewhere } from './grant/event-stream';
import { waitForEnd } from './grant/expiry';
import { finishLowering } from './grant/lowering';
import { adopt, provision } from './grant/provisioning';
import { holdRetained, retryDrop, validateRetryDrop } from './grant/retained';
import { review, validateReview } from './grant/review';
import { Grant, type CarriedState } from './grant/state';

export { GRANT_FAILED_ERROR } from './grant/errors';
export { REVOKE_ATTEMPTS_BEFORE_ALERT, RETAINED_RETRY_MS, UPDATE_GRACE_MS } from './grant/options';
export { BOUNDED_UPDATE_WAIT, CHECK_WITH_REQUESTED_AUDIT, LOWERING_ONLY_LOWERS, NO_UPDATE_AFTER_EXPIRY } from './grant/patches';
export type { CarriedState, ReminderPlan } from './grant/state';

// One grant, one workflow, living exactly as long as the access does
// (docs/decisions/0100-grant-workflow-as-modules.md):
//
//   REQUESTED ─(approval needed)→ PENDING_APPROVAL ─(denied / no decision)→ DENIED
//       │                               └─(approved)─┐   └─(revoke / cancel)→ REVOKED
//       └──────────────────────────────────────────▶ PROVISIONING → ACTIVE ─(extend / change level)→ ACTIVE
//                    │                └─(expiry)→ REVOKING → EXPIRED
//                    │                └─(standing: review kept)→ ACTIVE; not kept by the deadline → REVOKING → EXPIRED
//   break-glass: REQUESTED → PROVISIONING → ACTIVE (no approval), alert and review asked; after the end,
//                open until acknowledged / flagged or the review's deadline (BREAK_GLASS_UNREVIEWED)
//                    │                └─(revoke / cancel)→ REVOKING → REVOKED
//                    └─(a step fails for good)→ ROLLING_BACK → FAILED
//
// Determinism: time comes from the workflow clock, ids from workflowInfo(); every
// side effect is an activity. No secret passes through here.

/**
 * The grant workflow. `carried` is set only when the workflow continues as new,
 * so that a long-lived grant keeps its state and audit sequence.
 */
export async function grantAccess(request: GrantRequest, carried?: CarriedState): Promise<GrantState> {
  const g = new Grant(request, carried);
  followEventStream(g);

  setHandler(grantStateQuery, () => g.state);
  setHandler(revokeSignal, (args) => g.requestRevoke(args));
  setHandler(auditedElsewhereSignal, (record) => streamAuditedElsewhere(g, record));
  setHandler(approveUpdate, (args) => decide(g, true, args), { validator: (args) => validateDecision(g, true, args) });
  setHandler(denyUpdate, (args) => decide(g, false, args), { validator: (args) => validateDecision(g, false, args) });
  setHandler(extendUpdate, (args) => extend(g, args), { validator: (args) => validateExtend(g, args) });
  setHandler(changeAccessLevelUpdate, (args) => changeLevel(g, args), { validator: (args) => validateChangeLevel(g, args) });
  setHandler(repairDriftUpdate, (args) => repairDrift(g, args), { validator: (_args) => g.requireActive() });
  setHandler(retryDropUpdate, (args) => retryDrop(g, args), { validator: (args) => validateRetryDrop(g, args) });
  setHandler(reviewUpdate, (args) => review(g, args), { validator: (args) => validateReview(g, args) });
  setHandler(awaitStatusUpdate, ({ statuses }) => awaitStatus(g, statuses));

  return run(g, carried);
}

async function run(g: Grant, carried: CarriedState | undefined): Promise<GrantState> {
  // A cancel is a revoke, also while provisioning or waiting for approval (both run
  // shielded from cancellation): note it as soon as it arrives.
  CancellationScope.current().cancelRequested.catch(() => {
    g.revokeRequest ??= { actor: 'temporal', reason: 'workflow cancelled' };
  });
  g.publish();
  if (carried?.phase === 'retained') {
    // Continued as new while the account is retained: access has long ended.
    await CancellationScope.nonCancellable(() => holdRetained(g));
    await CancellationScope.nonCancellable(() => holdForBreakGlassReview(g));
    return g.state;
  }
  if (carried?.lowering) finishLowering(g, carried.lowering);
  if (carried === undefined) {
    // Shielded: a cancel now is acted on as a revoke once the steps (or their
    // compensation) are done, so no activity still running can re-create what a
    // cleanup removed. An adoption checks an existing account instead of creating one.
    const provisioned = await CancellationScope.nonCancellable(() => (g.request.adoption ? adopt(g) : provision(g)));
    if (!provisioned) return g.state;
    // Break-glass: the alert and the review request, in the background.
    startBreakGlass(g);
  }
  try {
    await waitForEnd(g);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    g.revokeRequest ??= { actor: 'temporal', reason: 'workflow cancelled' };
  }
  await CancellationScope.nonCancellable(() => end(g));
  // Break-glass: access has ended; the workflow stays open for the review after the fact.
  await CancellationScope.nonCancellable(() => holdForBreakGlassReview(g));
  return g.state;
}

/** The API's wait for a new grant: answered once its status is one of `statuses`, or it has ended. */
async function awaitStatus(g: Grant, statuses: GrantState['status'][]): Promise<GrantState> {
  await condition(() => statuses.includes(g.state.status) || CLOSED_STATUSES.includes(g.state.status));
  return g.state;
}
