import { randomUUID } from 'node:crypto';
import { WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, isGrpcDeadlineError, isGrpcServiceError, type WorkflowHandle, type WorkflowStartOptions } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { approvalReasons, approversOf, own, type ApiClient } from '../config';
import { CLOSED_STATUSES, GrantErrorType, initialGrantState, isSafeText, parseExpiry, parseGrantId, formatDuration, type ChangeLevelResult, type DecisionLinkRef, type ExtendResult, type GrantRequest, type GrantState, type GrantStatus, type RetryDropResult } from '../domain';
import type { grantAccess } from '../workflows';
import { approveUpdate, awaitStatusUpdate, changeAccessLevelUpdate, denyUpdate, extendUpdate, retryDropUpdate, reviewUpdate, revokeSignal } from '../contract/messages';
import { SA } from '../contract/search-attributes';
import { HttpError, badRequest, conflict, notFound, unavailable } from './errors';
import { GrantRequests } from './grants/requests';
import { REVOCABLE, SETTLED, UPDATE_TIMEOUT_MS, WORKFLOW_TYPE, QUERY_TIMEOUT_MS, forbidden, type NewGrant } from './grants/reader';

// What the API does with grants, without HTTP: validate a request against the
// configuration (requests.ts), start the grant's workflow, and send it messages;
// reading grants is reader.ts. Fastify routes are thin wrappers around this.

export type { GrantFilters, GrantMessageKind, GrantObserver, GrantServiceOptions, GrantSummary, NewGrant } from './grants/reader';
export { forbidden } from './grants/reader';

/** A grant whose workflow task keeps failing waits for a worker that can run it (a deploy going on): callers are told to come back later than for a passing outage. */
const RETRY_AFTER_TASK_FAILING_S = 30;

/** keep / revoke: a standing grant's review; acknowledge / flag: a break-glass grant's. */
export type ReviewDecision = 'keep' | 'revoke' | 'acknowledge' | 'flag';

export class GrantService extends GrantRequests {
  /** Starts the grant and waits a little for it to become ACTIVE (or to wait for approval). */
  async create(input: NewGrant, client: ApiClient): Promise<GrantState> {
    const request = this.prepare(input, client);
    const actor = client.name;
    const { taskQueue } = this.options;
    const startToken = randomUUID();
    const options: WorkflowStartOptions<typeof grantAccess> & { workflowIdConflictPolicy: 'FAIL' } = {
      taskQueue,
      workflowId: request.grantId,
      args: [request],
      // One open grant per person and database; a closed one may be granted again.
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      typedSearchAttributes: [
        { key: SA.grantee, value: this.granteeValue(request.email) },
        { key: SA.project, value: request.project },
        { key: SA.database, value: request.database },
        { key: SA.accessLevel, value: request.accessLevel },
        { key: SA.status, value: 'REQUESTED' },
        { key: SA.expiresAt, value: new Date(request.expiresAt) },
        ...(request.standing ? [{ key: SA.reviewBy, value: new Date(request.expiresAt) }] : []),
        ...(request.breakGlass ? [{ key: SA.breakGlass, value: 'pending' }] : []),
      ],
      // Who asked, readable without a worker (describe), for the requester-owns-its-grants rule;
      // and which request started this run (see below: a start whose answer was lost).
      memo: { requestedBy: actor, startedBy: startToken },
      staticSummary: `${request.accessLevel} on ${request.project}/${request.database} for ${request.email} ${
        request.standing ? `standing, reviewed every ${formatDuration(request.standing.reviewMs)} (first review by ${request.expiresAt})` : request.durationMs !== undefined ? `for ${formatDuration(request.durationMs)}` : `until ${request.expiresAt}`
      }${request.approval ? ' (needs approval)' : ''}${request.breakGlass ? ' BREAK-GLASS (no approval, reviewed after the fact)' : ''}`,
      staticDetails: [
        `**Grantee:** ${request.name} <${request.email}>`,
        `**Account:** \`${request.account}\` on schema \`${request.target.schema}\``,
        `**Privileges:** ${request.privileges.join(', ')}`,
        `**Requested by:** ${actor}${request.reason ? ` — ${request.reason}` : ''}`,
        `**Credentials:** secret \`${request.secretName}\``,
      ].join('\n\n'),
    };
    const fallback = () => initialGrantState(request, new Date().toISOString());
    const { client: temporal, grantWaitMs } = this.options;
    const handle = temporal.workflow.getHandle<typeof grantAccess>(request.grantId);
    const alreadyOpen = () => this.alreadyOpen(request, handle);
    const startPlain = async () => {
      try {
        await temporal.workflow.start<typeof grantAccess>(WORKFLOW_TYPE, options);
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) throw await alreadyOpen();
        throw err;
      }
      this.options.observer?.grantStarted(request.project, request.database);
    };
    if (grantWaitMs <= 0) {
      await startPlain();
      return fallback();
    }
    // Started together with an update that the workflow answers as soon as the
    // grant has settled (ACTIVE, waiting for approval, or ended): one call, no polling.
    const start = new WithStartWorkflowOperation<typeof grantAccess>(WORKFLOW_TYPE, options);
    try {
      const state = await temporal.connection.withDeadline(Date.now() + grantWaitMs, () =>
        temporal.workflow.executeUpdateWithStart(awaitStatusUpdate, { args: [{ statuses: [...SETTLED] }], startWorkflowOperation: start }),
      );
      this.options.observer?.grantStarted(request.project, request.database);
      return state;
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw await alreadyOpen();
      // Not settled in time (no worker, or a slow one), or a worker without the
      // update (older code): the grant is accepted if this request started it (an
      // earlier grant of the same id may be open, or have ended just before).
      const started = await temporal.connection
        .withDeadline(Date.now() + QUERY_TIMEOUT_MS, () => handle.describe())
        .then((d) => d.memo?.startedBy === startToken)
        .catch(() => false);
      if (!started) {
        // Not started: a Temporal server without update-with-start (before 1.26), or
        // the call failed before the start. Start it the plain way and poll.
        await startPlain();
        return this.waitForProvisioning(handle, fallback);
      }
      this.options.observer?.grantStarted(request.project, request.database);
      if (err instanceof WorkflowUpdateFailedError) return this.waitForProvisioning(handle, fallback);
      return this.queryState(handle, 1000).catch(() => fallback());
    }
  }

  /**
   * The 409 for a request while a grant of the same id is open. An ended grant whose
   * account the server refused to drop stays open until the account is gone (a new
   * grant would get the same account name): the answer says so.
   */
  protected async alreadyOpen(request: GrantRequest, handle: WorkflowHandle<typeof grantAccess>): Promise<HttpError> {
    const open = await this.queryState(handle, 2000).catch(() => undefined);
    const where = `${request.email} on ${request.project}/${request.database}`;
    if (open?.breakGlass?.review === 'pending' && CLOSED_STATUSES.includes(open.status)) {
      return conflict(
        'grant_exists',
        `the previous grant for ${where} (${request.grantId}) was a break-glass grant: its access has ended (${open.status}), but its review after the fact is pending until ${open.breakGlass.reviewBy ?? 'its deadline'}. ` +
          'An approver of the project or an admin acknowledges or flags it (POST /grants/{grantId}/review, or the links of the review e-mail); a new grant can start once it is reviewed',
        { grantId: request.grantId },
      );
    }
    if (open?.retained) {
      return conflict(
        'grant_exists',
        `the previous grant for ${where} (${request.grantId}) has ended, but its account ${open.account} is retained: it defines stored objects, so the server refused to drop it. ` +
          `An administrator must deal with them (change their definer or drop them) and then retry the drop (POST /grants/{grantId}/retry-drop); a new grant can start once the account is gone`,
        { grantId: request.grantId },
      );
    }
    return conflict('grant_exists', `an open grant already exists for ${where}: ${request.grantId}`, { grantId: request.grantId });
  }

  async revoke(grantId: string, client: ApiClient, reason?: string): Promise<{ grantId: string; status: GrantStatus }> {
    if (reason !== undefined && !isSafeText(reason)) throw badRequest('reason: must not contain control or invisible characters');
    const actor = client.name;
    const { handle } = await this.subjectOf(grantId, client, 'revoke');
    // Refuse a revoke the workflow would ignore. When no worker answers, signal
    // anyway: the signal is durable and is acted on as soon as a worker is back.
    const state = await this.queryState(handle, 2000).catch((err: unknown) => {
      if (err instanceof HttpError && err.statusCode === 503) return undefined;
      throw err;
    });
    if (state && !REVOCABLE.includes(state.status)) {
      const retained = state.retained ? `; its access has ended and its account ${state.account} is retained until an administrator deals with the objects it defines` : '';
      throw conflict('grant_not_active', `the grant ${grantId} is already ${state.status.toLowerCase().replace('_', ' ')}${retained}`);
    }
    await handle.signal(revokeSignal, { actor, ...(reason ? { reason } : {}) });
    this.options.observer?.messageSent('revoke');
    return { grantId, status: 'REVOKING' };
  }

  /**
   * Moves the expiry. Beyond what an approver agreed to (a grant whose level needed
   * approval), an extension by anyone but an approver of the project or an admin
   * waits for an approver: the answer then carries `pending`.
   */
  async extend(grantId: string, expiresAt: string, client: ApiClient, reason?: string): Promise<{ grantId: string } & ExtendResult> {
    const parsed = parseExpiry(expiresAt);
    if (!parsed.ok) throw badRequest(`expiresAt: ${parsed.reason}`);
    if (reason !== undefined && !isSafeText(reason)) throw badRequest('reason: must not contain control or invisible characters');
    const actor = client.name;
    const { handle, ids } = await this.subjectOf(grantId, client, 'extend');
    const mayExceedApproval = client.role === 'admin' || approversOf(this.options.config, ids.project).some((a) => a.name === client.name);
    const result = await this.update(grantId, () =>
      handle.executeUpdate(extendUpdate, {
        args: [{ expiresAt, actor, mayExceedApproval, ...(client.email ? { actorEmail: client.email } : {}), ...(reason ? { reason } : {}) }],
      }),
    );
    this.options.observer?.messageSent('extend');
    return { grantId, expiresAt: result.expiresAt, ...(result.pending ? { pending: result.pending } : {}) };
  }

  async changeLevel(grantId: string, accessLevel: string, client: ApiClient, reason?: string): Promise<{ grantId: string } & ChangeLevelResult> {
    if (reason !== undefined && !isSafeText(reason)) throw badRequest('reason: must not contain control or invisible characters');
    const actor = client.name;
    const { handle, ids } = await this.subjectOf(grantId, client, 'changeLevel');
    const project = own(this.options.config.projects, ids.project);
    const database = project && own(project.databases, ids.database);
    if (!project || !database) throw conflict('grant_unmanaged', `${grantId} is not on a configured database any more; its level cannot change`);
    const privileges = this.privilegesOf(accessLevel, project, database);
    // A level behind the approval gate is not reached by a change: only an admin may, else ask for a new grant.
    const gated = approvalReasons(this.options.config, project, database, accessLevel);
    if (gated.length > 0 && client.role !== 'admin') {
      throw forbidden(`accessLevel: ${gated[0]}; revoke this grant and request ${accessLevel} so that it can be approved`);
    }
    // The workflow learns whether the new level is behind the gate: an admin's change
    // there is what was approved; a level that needs none leaves nothing to bound.
    const approval = gated.length > 0 ? this.approvalFor(project, gated) : null;
    const result = await this.update(grantId, () =>
      handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel, privileges: [...privileges], actor, approval, ...(reason ? { reason } : {}) }] }),
    );
    this.options.observer?.messageSent('change_level');
    return { grantId, ...result };
  }

  /**
   * Asks a grant whose account the server refused to drop (it is retained,
   * contained) to try the drop again, once an administrator has dealt with the
   * objects the account defines. Admins only.
   */
  async retryDrop(grantId: string, client: ApiClient, reason?: string): Promise<{ grantId: string } & RetryDropResult> {
    if (reason !== undefined && !isSafeText(reason)) throw badRequest('reason: must not contain control or invisible characters');
    if (!parseGrantId(grantId)) throw notFound('grant_not_found', `no grant ${grantId}: a grant id looks like grant/{project}/{database}/{email}`);
    if (client.role !== 'admin') throw forbidden(`the ${client.role} key ${client.name} may not retry the drop of a retained account: administrators only`);
    const { handle } = await this.requireRunning(grantId);
    const result = await this.update(grantId, () => handle.executeUpdate(retryDropUpdate, { args: [{ actor: client.name, ...(reason ? { reason } : {}) }] }));
    this.options.observer?.messageSent('retry_drop');
    if (result.outcome === 'not-retained') throw conflict('grant_not_retained', `${grantId}: ${result.detail}`);
    return { grantId, ...result };
  }

  /** Approves a request waiting for approval (or an ACTIVE grant's extension), then waits a little for it to become ACTIVE. */
  async approve(grantId: string, client: ApiClient, reason?: string, link?: DecisionLinkRef): Promise<GrantState> {
    if (reason !== undefined && !isSafeText(reason)) throw badRequest('reason: must not contain control or invisible characters');
    const { handle } = await this.subjectOf(grantId, client, 'decide');
    await this.update(grantId, () =>
      handle.executeUpdate(approveUpdate, { args: [{ actor: client.name, ...(client.email ? { actorEmail: client.email } : {}), ...(reason ? { reason } : {}), ...(link ? { link } : {}) }] }),
    );
    this.options.observer?.messageSent('approve');
    // The decision is in; the workflow leaves PENDING_APPROVAL at its next step.
    const statuses = SETTLED.filter((s) => s !== 'PENDING_APPROVAL');
    const { client: temporal, grantWaitMs } = this.options;
    try {
      return await temporal.connection.withDeadline(Date.now() + Math.max(grantWaitMs, 500), () => handle.executeUpdate(awaitStatusUpdate, { args: [{ statuses }] }));
    } catch (err) {
      const state = await this.queryState(handle);
      // A worker without the update (older code): poll as before.
      return err instanceof WorkflowUpdateFailedError ? this.waitForProvisioning(handle, () => state, statuses) : state;
    }
  }

  /** Denies a request waiting for approval (nothing is created), or an ACTIVE grant's extension (its expiry stays). */
  async deny(grantId: string, client: ApiClient, reason: string, link?: DecisionLinkRef): Promise<{ grantId: string; status: GrantStatus }> {
    if (!isSafeText(reason) || reason.trim() === '') throw badRequest('reason: must be a readable reason (no control or invisible characters)');
    const { handle } = await this.subjectOf(grantId, client, 'decide');
    const result = await this.update(grantId, () => handle.executeUpdate(denyUpdate, { args: [{ actor: client.name, reason: reason.trim(), ...(link ? { link } : {}) }] }));
    this.options.observer?.messageSent('deny');
    return { grantId, status: result.status };
  }

  /**
   * A standing grant's review: `keep` moves its deadline a review period on from now,
   * `revoke` ends it (a reason is required). Approvers of the project and admins only;
   * nobody keeps their own access (the workflow's validator checks that too).
   */
  async review(grantId: string, decision: ReviewDecision, client: ApiClient, reason?: string, link?: DecisionLinkRef): Promise<{ grantId: string; decision: ReviewDecision; status: GrantStatus; expiresAt: string }> {
    const { handle } = await this.subjectOf(grantId, client, 'decide');
    if (reason !== undefined && !isSafeText(reason)) throw badRequest('reason: must be a readable reason (no control or invisible characters)');
    if (reason?.trim() === '') reason = undefined;
    if (decision === 'revoke' && reason === undefined) throw badRequest('reason: is required to revoke a standing grant in its review');
    if (decision === 'flag' && reason === undefined) throw badRequest('reason: is required to flag a break-glass grant');
    const result = await this.update(grantId, () =>
      handle.executeUpdate(reviewUpdate, {
        args: [{ decision, actor: client.name, mayReview: true, ...(client.email ? { actorEmail: client.email } : {}), ...(reason ? { reason: reason.trim() } : {}), ...(link ? { link } : {}) }],
      }),
    );
    this.options.observer?.messageSent('review');
    return { grantId, decision, ...result };
  }

  /**
   * Sends an update, bounded in time, and maps a refusal or failure to the API's
   * error codes. An update that does not finish in time is not undone: it is
   * still in the workflow and will complete (or fail) there.
   */
  protected async update<T>(grantId: string, send: () => Promise<T>): Promise<T> {
    try {
      return await this.options.client.connection.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, send);
    } catch (err) {
      if (isWorkflowTaskFailing(err)) {
        throw unavailable('grant_unavailable', `the grant ${grantId} cannot take a change now: its workflow task is failing (for example while workers of two releases run side by side, see the Temporal UI); nothing was changed, try again later`, RETRY_AFTER_TASK_FAILING_S);
      }
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isGrpcDeadlineError(err)) {
        throw new HttpError(504, 'update_pending', `the change to ${grantId} did not complete within ${UPDATE_TIMEOUT_MS / 1000}s; it may still be applied: check GET /grants/${encodeURIComponent(grantId)}`);
      }
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
        const { type, message } = err.cause;
        if (type === GrantErrorType.Invalid) throw badRequest(message);
        if (type === GrantErrorType.NotActive) throw conflict('grant_not_active', `${grantId}: ${message}`);
        if (type === GrantErrorType.NotPending) throw conflict('grant_not_pending', `${grantId}: ${message}`);
        if (type === GrantErrorType.Expired) throw conflict('grant_expired', `${grantId}: ${message}`);
        if (type === GrantErrorType.ExtensionPending) throw conflict('extension_pending', `${grantId}: ${message}`);
        if (type === GrantErrorType.NotStanding) throw conflict('grant_not_standing', `${grantId}: ${message}`);
        if (type === GrantErrorType.BreakGlass) throw conflict('break_glass', `${grantId}: ${message}`);
        if (type === GrantErrorType.SelfApproval) throw new HttpError(403, 'self_approval', message);
        if (type === GrantErrorType.LevelChangeFailed) throw new HttpError(502, 'level_change_failed', message);
        if (type === GrantErrorType.AuditUnavailable) throw unavailable('audit_unavailable', message);
      }
      if (err instanceof WorkflowNotFoundError) throw conflict('grant_closed', `the grant ${grantId} has already ended`);
      throw err;
    }
  }
}

/** The server refuses updates while the workflow's task keeps failing (WorkflowNotReady: FAILED_PRECONDITION). */
function isWorkflowTaskFailing(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth += 1) {
    if (isGrpcServiceError(e) && e.code === 9 && /workflow task in failed state/i.test(e.details ?? e.message)) return true;
  }
  return false;
}
