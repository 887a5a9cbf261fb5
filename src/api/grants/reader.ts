import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription, type WorkflowHandle } from '@temporalio/client';
import type { ApiClient, FileConfig } from '../../config';
import { BREAK_GLASS_REVIEWS, DATABASE_KEY, GRANT_STATUSES, PROJECT_KEY, checkEmail, normalizeEmail, parseGrantId, type GrantState, type GrantStatus } from '../../domain';
import type { grantAccess } from '../../workflows';
import { grantStateQuery } from '../../contract/messages';
import { listWorkflows } from '../../adapters/temporal/visibility';
import { SA } from '../../contract/search-attributes';
import { refusal, type Action } from '../authorization';
import { HttpError, badRequest, conflict, notFound, unavailable } from '../errors';

// What the API reads of grants, without HTTP: one grant's state and workflow, and
// lists from Temporal's visibility store; and what every grant operation shares
// (the options, authorization, the bounded query, the running-grant lookups).
// GrantRequests (requests.ts) and GrantService (grant-service.ts) build on it.

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
  /** Break the glass: no approval, capped, alerted, reviewed after the fact (allowed clients only). */
  breakGlass?: boolean;
}

export interface GrantFilters {
  email?: string;
  project?: string;
  database?: string;
  status?: string;
  /** Break-glass grants whose review is in this state. */
  breakGlass?: string;
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
  /** A standing grant's next review deadline. */
  reviewBy?: string;
  /** A break-glass grant's review: pending, acknowledged, flagged or unreviewed. */
  breakGlass?: string;
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
export type GrantMessageKind = 'revoke' | 'extend' | 'change_level' | 'approve' | 'deny' | 'retry_drop' | 'review';

/** What GrantService reports as it goes: only what has happened (a workflow started, a message accepted). */
export interface GrantObserver {
  grantStarted(project: string, database: string): void;
  messageSent(kind: GrantMessageKind): void;
}

export const WORKFLOW_TYPE = 'grantAccess';
export const QUERY_TIMEOUT_MS = 5000;
/** Longer than an update's own worst case (an audit write and a database change, each with retries). */
export const UPDATE_TIMEOUT_MS = 90_000;
/** Statuses at which POST /grants (and an approval) stop waiting and answer. */
export const SETTLED: readonly GrantStatus[] = ['ACTIVE', 'PENDING_APPROVAL', 'FAILED', 'REVOKED', 'EXPIRED', 'DENIED'];
/** Statuses in which a revoke is still acted on. */
export const REVOCABLE: readonly GrantStatus[] = ['REQUESTED', 'PENDING_APPROVAL', 'PROVISIONING', 'ACTIVE'];

export const forbidden = (message: string) => new HttpError(403, 'forbidden', message);

export class GrantReader {
  protected readonly now: () => Date;
  protected readonly granteeValue: (email: string) => string;

  constructor(protected readonly options: GrantServiceOptions) {
    this.now = options.now ?? (() => new Date());
    this.granteeValue = options.granteeSearchValue ?? ((email) => email);
  }

  /** Refuses (403) what the caller's role does not allow. */
  protected authorize(client: ApiClient, action: Action, subject?: { project: string; requestedBy?: string }): void {
    const why = refusal(client, action, subject);
    if (why) throw forbidden(why);
  }

  /**
   * Asks the workflow for its state. A query is answered by a worker: bound it,
   * so that a request does not hang while no worker is running.
   */
  protected async queryState(handle: WorkflowHandle<typeof grantAccess>, timeoutMs = QUERY_TIMEOUT_MS): Promise<GrantState> {
    try {
      return await this.options.client.connection.withDeadline(Date.now() + timeoutMs, () => handle.query(grantStateQuery));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw err;
      throw unavailable('unavailable', `the grant ${handle.workflowId} did not answer in time: is a dbaccess worker running on task queue ${this.options.taskQueue}?`);
    }
  }

  /** Polls the grant until it settles or the wait is over; `fallback` is answered when no worker responds. */
  protected async waitForProvisioning(handle: WorkflowHandle<typeof grantAccess>, fallback: () => GrantState, settled = SETTLED): Promise<GrantState> {
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

  protected handle(grantId: string): WorkflowHandle<typeof grantAccess> {
    if (!parseGrantId(grantId)) throw notFound('grant_not_found', `no grant ${grantId}: a grant id looks like grant/{project}/{database}/{email}`);
    return this.options.client.workflow.getHandle<typeof grantAccess>(grantId);
  }

  protected async describe(grantId: string): Promise<{ handle: WorkflowHandle<typeof grantAccess>; description: WorkflowExecutionDescription }> {
    const handle = this.handle(grantId);
    try {
      return { handle, description: await handle.describe() };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound('grant_not_found', `no grant ${grantId}`);
      throw err;
    }
  }

  protected async requireRunning(grantId: string) {
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
  protected async subjectOf(grantId: string, client: ApiClient, action: Action) {
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
    if (filters.breakGlass !== undefined) {
      if (!(BREAK_GLASS_REVIEWS as readonly string[]).includes(filters.breakGlass)) throw badRequest(`breakGlass: must be one of ${BREAK_GLASS_REVIEWS.join(', ')}`);
      clauses.push(`${SA.breakGlass.name} = '${filters.breakGlass}'`);
    }
    const limit = filters.limit ?? 100;
    const out: GrantSummary[] = [];
    for await (const wf of listWorkflows(this.options.client, clauses.join(' AND '), Math.min(limit, 1000))) {
      const sa = wf.searchAttributes;
      const expiresAt = sa.get(SA.expiresAt);
      const reviewBy = sa.get(SA.reviewBy);
      out.push({
        grantId: wf.workflowId,
        // With a hashed DbAccessGrantee, the e-mail comes from the grant id (which holds it anyway).
        ...optional('email', this.options.granteeSearchValue ? parseGrantId(wf.workflowId)?.email : sa.get(SA.grantee)),
        ...optional('project', sa.get(SA.project)),
        ...optional('database', sa.get(SA.database)),
        ...optional('accessLevel', sa.get(SA.accessLevel)),
        ...optional('status', sa.get(SA.status)),
        ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
        ...(reviewBy ? { reviewBy: reviewBy.toISOString() } : {}),
        ...optional('breakGlass', sa.get(SA.breakGlass)),
        workflowStatus: wf.status,
        startedAt: wf.startTime.toISOString(),
        ...(wf.closeTime ? { closedAt: wf.closeTime.toISOString() } : {}),
      });
      if (out.length >= limit) break;
    }
    return out;
  }
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
