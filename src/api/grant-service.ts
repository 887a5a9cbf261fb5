import { randomUUID } from 'node:crypto';

import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
  type WorkflowStartOptions,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { approvalReasons, approversOf, levelTables, own, type ApiClient, type DatabaseConfig, type FileConfig, type ProjectConfig } from '../config';
import {
  ACCESS_LEVEL_NAME,
  DATABASE_KEY,
  GRANT_STATUSES,
  GrantErrorType,
  PROJECT_KEY,
  checkEmail,
  grantIdFor,
  grantSecretName,
  initialGrantState,
  isAllowedDomain,
  isSafeText,
  levelNames,
  normalizeEmail,
  parseDuration,
  parseExpiry,
  parseGrantId,
  resolveExpiry,
  resolveLevel,
  formatDuration,
  type ApprovalRequirement,
  type ChangeLevelResult,
  type ExtendResult,
  type GrantRequest,
  type GrantState,
  type GrantStatus,
  type RetryDropResult,
} from '../domain';
import { deriveAccountName } from '../domain/naming';
import type { grantAccess } from '../workflows';
import { approveUpdate, awaitStatusUpdate, changeAccessLevelUpdate, denyUpdate, extendUpdate, grantStateQuery, retryDropUpdate, revokeSignal } from '../contract/messages';
import { listWorkflows } from '../adapters/temporal/visibility';
import { SA } from '../contract/search-attributes';
import { refusal, type Action } from './authorization';
import { HttpError, badRequest, conflict, notFound } from './errors';

// What the API does with grants, without HTTP: validate a request against the
// configuration, start the grant's workflow, and send it messages. Fastify
// routes are thin wrappers around this.

export interface NewGrant {
  email: string;
  name: string;
  project: string;
  database: string;
  accessLevel: string;
  /** An end (date or timestamp); or else */
  expiresAt?: string;
  /** a duration such as 8h or 14d, counted from when access is granted. */
  duration?: string;
  reason?: string;
}

export interface GrantFilters {
  email?: string;
  project?: string;
  database?: string;
  status?: string;
  limit?: number;
}

export interface GrantSummary {
  grantId: string;
  email?: string;
  project?: string;
  database?: string;
  accessLevel?: string;
  status?: string;
  expiresAt?: string;
  workflowStatus: string;
  startedAt: string;
  closedAt?: string;
}

export interface GrantServiceOptions {
  client: Client;
  config: FileConfig;
  taskQueue: string;
  /** How long `create` waits for ACTIVE before answering "still provisioning". */
  grantWaitMs: number;
  now?: () => Date;
  /**
   * What the DbAccessGrantee search attribute holds for a (normalised) e-mail:
   * a keyed hash when GRANTEE_SEARCH_HASH_KEY is set; the e-mail itself by default.
   */
  granteeSearchValue?: (email: string) => string;
  /** Told when a grant workflow is started or accepts a message (the API's metrics). */
  observer?: GrantObserver;
}

/** The messages the API sends a grant's workflow. */
export type GrantMessageKind = 'revoke' | 'extend' | 'change_level' | 'approve' | 'deny' | 'retry_drop';

/** What GrantService reports as it goes: only what has happened (a workflow started, a message accepted). */
export interface GrantObserver {
  grantStarted(project: string, database: string): void;
  messageSent(kind: GrantMessageKind): void;
}

/** A display name: letters (any script), digits, spaces and . , ' ( ) _ - only. */
const PERSON_NAME = /^[\p{L}\p{M}\p{N}][\p{L}\p{M}\p{N} .,'()_-]*$/u;

const WORKFLOW_TYPE = 'grantAccess';
const QUERY_TIMEOUT_MS = 5000;
/** Longer than an update's own worst case (an audit write and a database change, each with retries). */
const UPDATE_TIMEOUT_MS = 90_000;
/** Statuses at which POST /grants (and an approval) stop waiting and answer. */
const SETTLED: readonly GrantStatus[] = ['ACTIVE', 'PENDING_APPROVAL', 'FAILED', 'REVOKED', 'EXPIRED', 'DENIED'];
/** Statuses in which a revoke is still acted on. */
const REVOCABLE: readonly GrantStatus[] = ['REQUESTED', 'PENDING_APPROVAL', 'PROVISIONING', 'ACTIVE'];
/** The shortest duration a request may ask for. */
const MIN_DURATION_MS = 60_000;

export const forbidden = (message: string) => new HttpError(403, 'forbidden', message);

export class GrantService {
  private readonly now: () => Date;
  private readonly granteeValue: (email: string) => string;

  constructor(private readonly options: GrantServiceOptions) {
    this.now = options.now ?? (() => new Date());
    this.granteeValue = options.granteeSearchValue ?? ((email) => email);
  }

  /** Refuses (403) what the caller's role does not allow. */
  private authorize(client: ApiClient, action: Action, subject?: { project: string; requestedBy?: string }): void {
    const why = refusal(client, action, subject);
    if (why) throw forbidden(why);
  }

  /** Checks a request against the configuration and the caller's rights, and builds the workflow's input. */
  prepare(input: NewGrant, client: ApiClient): GrantRequest {
    const actor = client.name;
    const { config } = this.options;
    const emailProblem = checkEmail(input.email);
    if (emailProblem) throw badRequest(`email: ${emailProblem}`);
    const email = normalizeEmail(input.email);
    const name = input.name.trim();
    if (!name || !isSafeText(name) || !PERSON_NAME.test(name)) {
      throw badRequest("name: must be a person's name (letters, digits, spaces and . , ' ( ) _ -)");
    }
    if (input.reason !== undefined && !isSafeText(input.reason)) throw badRequest('reason: must not contain control or invisible characters');
    if (!PROJECT_KEY.test(input.project)) throw badRequest('project: must be a project key (lower-case letters, digits, _ and -)');
    if (!DATABASE_KEY.test(input.database)) throw badRequest('database: must be a database key (letters, digits, _ and -)');
    if (!isAllowedDomain(email, config.allowedEmailDomains)) {
      throw new HttpError(403, 'domain_not_allowed', `email: the domain of ${email} is not allowed (allowed: ${config.allowedEmailDomains.join(', ')})`);
    }
    this.authorize(client, 'create', { project: input.project });
    const project = own(config.projects, input.project);
    if (!project) throw notFound('unknown_project', `project: ${input.project} is not a configured project`);
    const database = own(project.databases, input.database);
    if (!database) throw notFound('unknown_database', `database: ${input.database} is not a database of project ${input.project}`);
    const privileges = this.privilegesOf(input.accessLevel, project, database);
    const { expiresAt, durationMs } = this.expiryOf(input, database);
    const reasons = approvalReasons(config, project, database, input.accessLevel);

    const account = deriveAccountName(email, project.key, database.key);
    const reason = input.reason?.trim();
    return {
      grantId: grantIdFor(project.key, database.key, email),
      email,
      name,
      project: project.key,
      database: database.key,
      accessLevel: input.accessLevel,
      privileges: [...privileges],
      expiresAt,
      ...(durationMs !== undefined ? { durationMs } : {}),
      ...(reasons.length > 0 ? { approval: this.approvalFor(project, reasons) } : {}),
      ...(reason ? { reason } : {}),
      requestedBy: actor,
      account,
      secretName: grantSecretName(config.secretPrefix, project.key, database.key, account),
      target: { schema: database.schema, adminSecretId: database.adminSecretId, hostPattern: database.hostPattern, maxUserConnections: database.maxUserConnections },
      owner: project.owner,
      maxDurationMs: database.maxDurationMs,
      reminderOffsetsMs: [...config.reminders],
      ...(config.revocationLeadMs > 0 ? { revocationLeadMs: config.revocationLeadMs } : {}),
    };
  }

  /** The expiry (or the duration and its estimated expiry) of a request. */
  private expiryOf(input: NewGrant, database: DatabaseConfig): { expiresAt: string; durationMs?: number } {
    if (input.expiresAt === undefined && input.duration === undefined) {
      throw badRequest('expiresAt: is required (an end date or timestamp), unless a duration such as 8h or 14d is given instead');
    }
    if (input.expiresAt !== undefined && input.duration !== undefined) throw badRequest('duration: give either expiresAt or duration, not both');
    if (input.expiresAt !== undefined) {
      const expiry = resolveExpiry(input.expiresAt, this.now(), database.maxDurationMs);
      if (!expiry.ok) throw badRequest(`expiresAt: ${expiry.reason}`);
      return { expiresAt: expiry.expiresAt.toISOString() };
    }
    const durationMs = parseDuration(input.duration!);
    if (durationMs === undefined) throw badRequest('duration: must be a duration such as 30m, 8h, 14d or 1d12h');
    if (durationMs < MIN_DURATION_MS) throw badRequest('duration: must be at least 1m');
    if (durationMs > database.maxDurationMs) throw badRequest(`duration: must be at most ${formatDuration(database.maxDurationMs)} on ${database.key}`);
    return { expiresAt: new Date(this.now().getTime() + durationMs).toISOString(), durationMs };
  }

  /** Who is asked to approve: the project's approvers with an e-mail address, else the administrators. */
  private approvalFor(project: ProjectConfig, reasons: string[]): ApprovalRequirement {
    const { config } = this.options;
    const approvers = approversOf(config, project.key).flatMap((c) => (c.email ? [{ name: c.name, email: c.email }] : []));
    return { reasons, timeoutMs: config.approval.timeoutMs, approvers: approvers.length > 0 ? approvers : config.administrators };
  }

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
      ],
      // Who asked, readable without a worker (describe), for the requester-owns-its-grants rule;
      // and which request started this run (see below: a start whose answer was lost).
      memo: { requestedBy: actor, startedBy: startToken },
      staticSummary: `${request.accessLevel} on ${request.project}/${request.database} for ${request.email} ${
        request.durationMs !== undefined ? `for ${formatDuration(request.durationMs)}` : `until ${request.expiresAt}`
      }${request.approval ? ' (needs approval)' : ''}`,
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
  private async alreadyOpen(request: GrantRequest, handle: WorkflowHandle<typeof grantAccess>): Promise<HttpError> {
    const open = await this.queryState(handle, 2000).catch(() => undefined);
    const where = `${request.email} on ${request.project}/${request.database}`;
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

  /**
   * Asks the workflow for its state. A query is answered by a worker: bound it,
   * so that a request does not hang while no worker is running.
   */
  private async queryState(handle: WorkflowHandle<typeof grantAccess>, timeoutMs = QUERY_TIMEOUT_MS): Promise<GrantState> {
    try {
      return await this.options.client.connection.withDeadline(Date.now() + timeoutMs, () => handle.query(grantStateQuery));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw err;
      throw new HttpError(503, 'unavailable', `the grant ${handle.workflowId} did not answer in time: is a dbaccess worker running on task queue ${this.options.taskQueue}?`);
    }
  }

  /** Polls the grant until it settles or the wait is over; `fallback` is answered when no worker responds. */
  private async waitForProvisioning(handle: WorkflowHandle<typeof grantAccess>, fallback: () => GrantState, settled = SETTLED): Promise<GrantState> {
    const deadline = Date.now() + this.options.grantWaitMs;
    let delay = 20;
    for (;;) {
      let state: GrantState;
      try {
        state = await this.queryState(handle, Math.max(500, Math.min(QUERY_TIMEOUT_MS, deadline - Date.now())));
      } catch (err) {
        // The workflow is started: whatever a query says now, the grant is accepted.
        // No worker answering (none running, or a slow one) means "not picked up yet".
        if (!(err instanceof HttpError)) throw err;
        return fallback();
      }
      if (settled.includes(state.status) || Date.now() >= deadline) return state;
      await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
      delay = Math.min(delay * 2, 250);
    }
  }

  private handle(grantId: string): WorkflowHandle<typeof grantAccess> {
    if (!parseGrantId(grantId)) throw notFound('grant_not_found', `no grant ${grantId}: a grant id looks like grant/{project}/{database}/{email}`);
    return this.options.client.workflow.getHandle<typeof grantAccess>(grantId);
  }

  private async describe(grantId: string): Promise<{ handle: WorkflowHandle<typeof grantAccess>; description: WorkflowExecutionDescription }> {
    const handle = this.handle(grantId);
    try {
      return { handle, description: await handle.describe() };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound('grant_not_found', `no grant ${grantId}`);
      throw err;
    }
  }

  private async requireRunning(grantId: string) {
    const found = await this.describe(grantId);
    if (found.description.status.name !== 'RUNNING') {
      throw conflict('grant_closed', `the grant ${grantId} has already ended (${found.description.status.name.toLowerCase()})`);
    }
    return found;
  }

  /**
   * A running grant and what the authorization rules need to know about it: its
   * project (from the id) and who asked for it (from the memo, else the state).
   */
  private async subjectOf(grantId: string, client: ApiClient, action: Action) {
    const ids = parseGrantId(grantId);
    if (!ids) throw notFound('grant_not_found', `no grant ${grantId}: a grant id looks like grant/{project}/{database}/{email}`);
    // Refuse on the project alone first: a caller that may not act there learns nothing more.
    this.authorize(client, action, { project: ids.project, requestedBy: client.role === 'requester' ? client.name : undefined });
    const found = await this.requireRunning(grantId);
    if (client.role === 'requester') {
      const memo = found.description.memo?.requestedBy;
      const requestedBy = typeof memo === 'string' ? memo : (await this.queryState(found.handle)).requestedBy;
      this.authorize(client, action, { project: ids.project, requestedBy });
    }
    return { ...found, ids };
  }

  async get(grantId: string): Promise<GrantState & { workflow: { runId: string; status: string; startedAt: string; closedAt?: string } }> {
    const { handle, description } = await this.describe(grantId);
    const state = await this.queryState(handle);
    return {
      ...state,
      workflow: {
        runId: description.runId,
        status: description.status.name,
        startedAt: description.startTime.toISOString(),
        ...(description.closeTime ? { closedAt: description.closeTime.toISOString() } : {}),
      },
    };
  }

  /** Lists grants from Temporal's visibility store (eventually consistent: a second or so behind). */
  async list(filters: GrantFilters): Promise<GrantSummary[]> {
    const clauses = [`WorkflowType = '${WORKFLOW_TYPE}'`];
    if (filters.email !== undefined) {
      const problem = checkEmail(filters.email);
      if (problem) throw badRequest(`email: ${problem}`);
      clauses.push(`${SA.grantee.name} = '${this.granteeValue(normalizeEmail(filters.email))}'`);
    }
    if (filters.project !== undefined) {
      if (!PROJECT_KEY.test(filters.project)) throw badRequest('project: must be a project key (lower-case letters, digits, _ and -)');
      clauses.push(`${SA.project.name} = '${filters.project}'`);
    }
    if (filters.database !== undefined) {
      if (!DATABASE_KEY.test(filters.database)) throw badRequest('database: must be a database key (letters, digits, _ and -)');
      clauses.push(`${SA.database.name} = '${filters.database}'`);
    }
    if (filters.status !== undefined) {
      if (!(GRANT_STATUSES as readonly string[]).includes(filters.status)) throw badRequest(`status: must be one of ${GRANT_STATUSES.join(', ')}`);
      clauses.push(`${SA.status.name} = '${filters.status}'`);
    }
    const limit = filters.limit ?? 100;
    const out: GrantSummary[] = [];
    for await (const wf of listWorkflows(this.options.client, clauses.join(' AND '), Math.min(limit, 1000))) {
      const sa = wf.searchAttributes;
      const expiresAt = sa.get(SA.expiresAt);
      out.push({
        grantId: wf.workflowId,
        // With a hashed DbAccessGrantee, the e-mail comes from the grant id (which holds it anyway).
        ...optional('email', this.options.granteeSearchValue ? parseGrantId(wf.workflowId)?.email : sa.get(SA.grantee)),
        ...optional('project', sa.get(SA.project)),
        ...optional('database', sa.get(SA.database)),
        ...optional('accessLevel', sa.get(SA.accessLevel)),
        ...optional('status', sa.get(SA.status)),
        ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
        workflowStatus: wf.status,
        startedAt: wf.startTime.toISOString(),
        ...(wf.closeTime ? { closedAt: wf.closeTime.toISOString() } : {}),
      });
      if (out.length >= limit) break;
    }
    return out;
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

  /** The privileges of a level on a database; a refusal lists the levels that exist there (and never echoes the input). */
  private privilegesOf(accessLevel: string, project: ProjectConfig, database: DatabaseConfig): readonly string[] {
    const tables = levelTables(this.options.config, project, database);
    const privileges = ACCESS_LEVEL_NAME.test(accessLevel) ? resolveLevel(accessLevel, ...tables) : undefined;
    if (!privileges) throw badRequest(`accessLevel: must be one of ${levelNames(...tables).join(', ')} on ${project.key}/${database.key}`);
    return privileges;
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
  async approve(grantId: string, client: ApiClient, reason?: string): Promise<GrantState> {
    if (reason !== undefined && !isSafeText(reason)) throw badRequest('reason: must not contain control or invisible characters');
    const { handle } = await this.subjectOf(grantId, client, 'decide');
    await this.update(grantId, () =>
      handle.executeUpdate(approveUpdate, { args: [{ actor: client.name, ...(client.email ? { actorEmail: client.email } : {}), ...(reason ? { reason } : {}) }] }),
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
  async deny(grantId: string, client: ApiClient, reason: string): Promise<{ grantId: string; status: GrantStatus }> {
    if (!isSafeText(reason) || reason.trim() === '') throw badRequest('reason: must be a readable reason (no control or invisible characters)');
    const { handle } = await this.subjectOf(grantId, client, 'decide');
    const result = await this.update(grantId, () => handle.executeUpdate(denyUpdate, { args: [{ actor: client.name, reason: reason.trim() }] }));
    this.options.observer?.messageSent('deny');
    return { grantId, status: result.status };
  }

  /**
   * Sends an update, bounded in time, and maps a refusal or failure to the API's
   * error codes. An update that does not finish in time is not undone: it is
   * still in the workflow and will complete (or fail) there.
   */
  private async update<T>(grantId: string, send: () => Promise<T>): Promise<T> {
    try {
      return await this.options.client.connection.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, send);
    } catch (err) {
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
        throw new HttpError(504, 'update_pending', `the change to ${grantId} did not complete within ${UPDATE_TIMEOUT_MS / 1000}s; it may still be applied: check GET /grants/${encodeURIComponent(grantId)}`);
      }
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
        const { type, message } = err.cause;
        if (type === GrantErrorType.Invalid) throw badRequest(message);
        if (type === GrantErrorType.NotActive) throw conflict('grant_not_active', `${grantId}: ${message}`);
        if (type === GrantErrorType.NotPending) throw conflict('grant_not_pending', `${grantId}: ${message}`);
        if (type === GrantErrorType.Expired) throw conflict('grant_expired', `${grantId}: ${message}`);
        if (type === GrantErrorType.ExtensionPending) throw conflict('extension_pending', `${grantId}: ${message}`);
        if (type === GrantErrorType.SelfApproval) throw new HttpError(403, 'self_approval', message);
        if (type === GrantErrorType.LevelChangeFailed) throw new HttpError(502, 'level_change_failed', message);
        if (type === GrantErrorType.AuditUnavailable) throw new HttpError(503, 'audit_unavailable', message);
      }
      if (err instanceof WorkflowNotFoundError) throw conflict('grant_closed', `the grant ${grantId} has already ended`);
      throw err;
    }
  }
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
