import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { AuditStore } from '../../adapters/ports';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { approversOf, grantTargetOf, levelTables, own, type ApiClient, type FileConfig } from '../../config';
import {
  ACCESS_LEVEL_NAME,
  ACCOUNT_NAME,
  DATABASE_KEY,
  HOST_PATTERN,
  PROJECT_KEY,
  checkEmail,
  formatDuration,
  grantIdFor,
  grantSecretName,
  isAllowedDomain,
  isSafeText,
  normalizeEmail,
  parseExpiry,
  resolveLevel,
  type GrantRequest,
  type GrantState,
  type StandingRequest,
} from '../../domain';
import type { grantAccess } from '../../workflows';
import { grantStateQuery } from '../../contract/messages';
import { SA } from '../../contract/search-attributes';
import { listWorkflows } from '../../adapters/temporal/visibility';
import { refusal } from '../authorization';
import { HttpError } from '../errors';
import { PERSON_NAME } from '../grants/requests';
import { AUTHENTICATED, WITH_BODY, errors } from '../schemas';

// POST /grants/adopt: adopts accesses the old scripts created as grant workflows,
// without re-creating their accounts (used by `dbaccess import`). Admin only.
// Each row is checked against the configuration like a request, and against the
// grants of its database: an account another grant holds (adopted or being adopted
// by a running grant, or retained by an ended one) is refused before anything
// starts. The account itself is checked by the workflow (the API never talks to the
// database server): a missing account, one whose privileges are not the level's, or one that
// holds anything else ends that workflow FAILED with nothing changed, and the row
// is reported REFUSED with the reason.

export interface AdoptionRow {
  email: string;
  name: string;
  project: string;
  database: string;
  accessLevel: string;
  /** The account the old scripts created (kept as it is). */
  account: string;
  /** `YYYY-MM-DD` (end of that day, UTC), an ISO timestamp, or `NA` (never expires). */
  expiresAt: string;
  /** Host part of the account; the database's `hostPattern` when absent. */
  hostPattern?: string;
  /** The old row's attributes, recorded in the audit trail (never a password). */
  oldRecord?: Record<string, string>;
}

export type AdoptionStatus = 'ADOPTED' | 'WOULD_ADOPT' | 'REFUSED' | 'EXISTS' | 'PENDING';

export interface AdoptionResult {
  row: number;
  status: AdoptionStatus;
  email?: string;
  project?: string;
  database?: string;
  account?: string;
  grantId?: string;
  expiresAt?: string;
  /** REFUSED: why (a code and a message). */
  error?: string;
  message?: string;
  /** What was decided that the old row did not say (NA, a capped expiry). */
  notes?: string[];
}

export interface AdoptDeps {
  client: Client;
  config: FileConfig;
  taskQueue: string;
  grantWaitMs: number;
  now?: () => Date;
  /** What the DbAccessGrantee search attribute holds for an e-mail (GRANTEE_SEARCH_HASH_KEY); the e-mail when unset. */
  granteeSearchValue?: (email: string) => string;
  /** The audit trail, to find the accounts other grants hold; without it only the rows of one request are compared. */
  audit?: Pick<AuditStore, 'forDatabase'>;
}

const MAX_ROWS = 25;
const OLD_RECORD_KEY = /^[A-Za-z0-9_]{1,64}$/;
const str = Type.String({ minLength: 1, maxLength: 320 });

const adoptSchema = {
  summary: 'Adopt accesses the old scripts created',
  description:
    `Up to ${MAX_ROWS} rows. Each becomes a grant workflow that keeps the existing account after checking it holds exactly the level's privileges; ` +
    '`dryRun` only checks the rows against the configuration. Used by `dbaccess import`. Admins only.',
  tags: ['bulk'],
  operationId: 'adoptGrants',
  body: Type.Object(
    {
      dryRun: Type.Optional(Type.Boolean()),
      rows: Type.Array(
        Type.Object(
          {
            email: str,
            name: str,
            project: str,
            database: str,
            accessLevel: str,
            account: str,
            expiresAt: str,
            hostPattern: Type.Optional(str),
            oldRecord: Type.Optional(Type.Unsafe<Record<string, string>>({ type: 'object', maxProperties: 16, additionalProperties: { type: 'string', maxLength: 200 } })),
          },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: MAX_ROWS },
      ),
    },
    { additionalProperties: false },
  ),
  response: {
    200: {
      type: 'object',
      properties: {
        dryRun: { type: 'boolean' },
        results: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              row: { type: 'integer' },
              status: { type: 'string', enum: ['ADOPTED', 'WOULD_ADOPT', 'REFUSED', 'EXISTS', 'PENDING'] },
              ...Object.fromEntries(['email', 'project', 'database', 'account', 'grantId', 'expiresAt', 'error', 'message'].map((k) => [k, { type: 'string' }])),
              notes: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    },
    ...errors(...WITH_BODY, ...AUTHENTICATED, 403),
  },
} as const;

class Refused extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Checks one row against the configuration and builds the workflow's input. */
export function prepareAdoption(row: AdoptionRow, client: ApiClient, config: FileConfig, now: Date): { request: GrantRequest; notes: string[] } {
  const emailProblem = checkEmail(row.email);
  if (emailProblem) throw new Refused('invalid_request', `email: ${emailProblem}`);
  const email = normalizeEmail(row.email);
  if (!isAllowedDomain(email, config.allowedEmailDomains)) throw new Refused('domain_not_allowed', `email: the domain of ${email} is not allowed`);
  const name = row.name.trim();
  if (!isSafeText(name) || !PERSON_NAME.test(name)) throw new Refused('invalid_request', "name: must be a person's name (letters, digits, spaces and . , ' ( ) _ -)");
  if (!PROJECT_KEY.test(row.project)) throw new Refused('unknown_project', 'project: must be a project key');
  if (!DATABASE_KEY.test(row.database)) throw new Refused('unknown_database', 'database: must be a database key');
  const project = own(config.projects, row.project);
  if (!project) throw new Refused('unknown_project', `project: ${row.project} is not a configured project`);
  const database = own(project.databases, row.database);
  if (!database) throw new Refused('unknown_database', `database: ${row.database} is not a database of project ${row.project}`);
  const privileges = ACCESS_LEVEL_NAME.test(row.accessLevel) ? resolveLevel(row.accessLevel, ...levelTables(config, project, database)) : undefined;
  if (!privileges) throw new Refused('unknown_level', `accessLevel: ${ACCESS_LEVEL_NAME.test(row.accessLevel) ? row.accessLevel : 'the level'} is not a level of ${project.key}/${database.key}`);
  // The old name is kept, so it must be one this service can put in SQL.
  if (!ACCOUNT_NAME.test(row.account)) throw new Refused('invalid_account', 'account: must be 1-32 characters of a-z, 0-9 and _ (the account is left alone)');
  const hostPattern = row.hostPattern ?? database.hostPattern;
  if (!HOST_PATTERN.test(hostPattern)) throw new Refused('invalid_request', 'hostPattern: must be %, a host name or an address');
  const oldRecord: Record<string, string> = {};
  for (const [key, value] of Object.entries(row.oldRecord ?? {})) {
    if (!OLD_RECORD_KEY.test(key) || !isSafeText(value) || /pass|secret|token/i.test(key)) continue;
    oldRecord[key] = value;
  }

  // NA (never expires) becomes a standing grant where the database allows one (its first
  // review a period from now), else the database's longest, from now; a later expiry is
  // brought inside it.
  const notes: string[] = [];
  const latest = now.getTime() + database.maxDurationMs;
  let expiresAt: number;
  let standing: StandingRequest | undefined;
  if (row.expiresAt === 'NA' && database.standing) {
    expiresAt = now.getTime() + database.standing.reviewMs;
    const approvers = approversOf(config, project.key).flatMap((c) => (c.email ? [{ name: c.name, email: c.email }] : []));
    standing = { reviewMs: database.standing.reviewMs, decideWithinMs: database.standing.decideWithinMs, reviewers: approvers.length > 0 ? approvers : config.administrators };
    notes.push(`the old record never expired (NA): it is now a standing grant, reviewed every ${formatDuration(database.standing.reviewMs)}`);
  } else if (row.expiresAt === 'NA') {
    expiresAt = latest;
    notes.push(`the old record never expired (NA): it now expires after the database's maximum of ${formatDuration(database.maxDurationMs)}`);
  } else {
    const parsed = parseExpiry(row.expiresAt);
    if (!parsed.ok) throw new Refused('invalid_expiry', `expiresAt: ${parsed.reason}`);
    expiresAt = parsed.expiresAt.getTime();
    if (expiresAt <= now.getTime()) throw new Refused('expired', `expiresAt: ${row.expiresAt} has passed; the access should already have ended (not adopted: remove the account by hand)`);
    if (expiresAt > latest) {
      notes.push(`the old expiry ${row.expiresAt} is beyond the database's maximum of ${formatDuration(database.maxDurationMs)}: brought forward`);
      expiresAt = latest;
    }
  }

  const reason = 'imported from the old scripts';
  return {
    notes,
    request: {
      grantId: grantIdFor(project.key, database.key, email),
      email,
      name,
      project: project.key,
      database: database.key,
      accessLevel: row.accessLevel,
      privileges: [...privileges],
      expiresAt: new Date(expiresAt).toISOString(),
      reason,
      requestedBy: client.name,
      account: row.account,
      secretName: grantSecretName(config.secretPrefix, project.key, database.key, row.account),
      target: { ...grantTargetOf(database), hostPattern },
      owner: project.owner,
      maxDurationMs: database.maxDurationMs,
      ...(standing ? { standing } : {}),
      reminderOffsetsMs: [...config.reminders],
      ...(config.revocationLeadMs > 0 ? { revocationLeadMs: config.revocationLeadMs } : {}),
      adoption: { source: 'import', oldRecord, notes },
    },
  };
}

/** Events that give a grant its account, and those after which it no longer holds it. */
const CLAIMS = new Set(['REQUESTED', 'GRANTED', 'ADOPTED']);

/**
 * The accounts of one database that another grant holds, with why: the account of a
 * running grant (from its latest REQUESTED event: the adoption being verified, or the
 * adopted or granted account it manages), or one retained by an ended grant (access
 * ended, the server refused the drop, and no ACCOUNT_DROPPED since).
 */
export async function heldAccounts(client: Client, audit: Pick<AuditStore, 'forDatabase'>, project: string, database: string): Promise<Map<string, { grantId: string; running: boolean; why: string }>> {
  const running = new Set<string>();
  // Keys were checked against PROJECT_KEY / DATABASE_KEY: nothing to escape in the query.
  const query = `WorkflowType = 'grantAccess' AND ExecutionStatus = 'Running' AND ${SA.project.name} = '${project}' AND ${SA.database.name} = '${database}'`;
  for await (const wf of listWorkflows(client, query)) running.add(wf.workflowId);
  const events = [...(await audit.forDatabase(project, database))].sort((a, b) => a.at.localeCompare(b.at));
  const held = new Map<string, { grantId: string; running: boolean; why: string }>();
  const current = new Map<string, { account: string; event: string }>();
  const retained = new Map<string, { account: string; grantId: string }>();
  for (const e of events) {
    if (e.event === 'REQUESTED' || (CLAIMS.has(e.event) && !current.has(e.grantId))) current.set(e.grantId, { account: e.account, event: e.event });
    else if (CLAIMS.has(e.event) && current.get(e.grantId)?.account === e.account) current.set(e.grantId, { account: e.account, event: e.event });
    if (e.event === 'ACCOUNT_RETAINED') retained.set(`${e.grantId}\n${e.account}`, { account: e.account, grantId: e.grantId });
    if (e.event === 'ACCOUNT_DROPPED') retained.delete(`${e.grantId}\n${e.account}`);
  }
  for (const [grantId, claim] of current) {
    if (!running.has(grantId)) continue;
    const why = claim.event === 'REQUESTED' ? `the running grant ${grantId} is being set up with it` : `the running grant ${grantId} holds it (${claim.event === 'ADOPTED' ? 'adopted' : 'granted'})`;
    held.set(claim.account, { grantId, running: true, why });
  }
  for (const r of retained.values()) {
    if (!held.has(r.account)) held.set(r.account, { grantId: r.grantId, running: false, why: `the grant ${r.grantId} ended with it retained (the server refused to drop it; an administrator must deal with it first)` });
  }
  return held;
}

export function registerAdoptRoutes(app: FastifyInstance, deps: AdoptDeps): void {
  const now = deps.now ?? (() => new Date());
  const granteeValue = deps.granteeSearchValue ?? ((email: string) => email);

  async function start(request: GrantRequest): Promise<WorkflowHandle<typeof grantAccess>> {
    return deps.client.workflow.start<typeof grantAccess>('grantAccess', {
      taskQueue: deps.taskQueue,
      workflowId: request.grantId,
      args: [request],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      typedSearchAttributes: [
        { key: SA.grantee, value: granteeValue(request.email) },
        { key: SA.project, value: request.project },
        { key: SA.database, value: request.database },
        { key: SA.accessLevel, value: request.accessLevel },
        { key: SA.status, value: 'REQUESTED' },
        { key: SA.expiresAt, value: new Date(request.expiresAt) },
        ...(request.standing ? [{ key: SA.reviewBy, value: new Date(request.expiresAt) }] : []),
      ],
      memo: { requestedBy: request.requestedBy },
      staticSummary: `${request.accessLevel} on ${request.project}/${request.database} for ${request.email} until ${request.expiresAt} (adopted from the old scripts)`,
      staticDetails: [
        `**Grantee:** ${request.name} <${request.email}>`,
        `**Account:** \`${request.account}\` (created by the old scripts, kept) on schema \`${request.target.schema}\``,
        `**Privileges:** ${request.privileges.join(', ')}`,
        `**Adopted by:** ${request.requestedBy}`,
      ].join('\n\n'),
    });
  }

  /** Waits for the workflow to be ACTIVE or FAILED; undefined when it is still verifying. */
  async function settled(handle: WorkflowHandle<typeof grantAccess>, deadline: number): Promise<GrantState | undefined> {
    let delay = 50;
    for (;;) {
      try {
        const state = await deps.client.connection.withDeadline(Math.max(Date.now() + 500, Math.min(deadline, Date.now() + 5000)), () => handle.query(grantStateQuery));
        if (['ACTIVE', 'FAILED', 'REVOKED', 'EXPIRED'].includes(state.status)) return state;
      } catch {
        // No worker answering yet: keep waiting until the deadline.
      }
      if (Date.now() >= deadline) return undefined;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 250);
    }
  }

  app.withTypeProvider<TypeBoxTypeProvider>().post('/grants/adopt', { schema: adoptSchema }, async (request) => {
    const why = refusal(request.client, 'adopt');
    if (why) throw new HttpError(403, 'forbidden', why);
    const dryRun = request.body.dryRun === true;
    const at = now();
    const deadline = Date.now() + deps.grantWaitMs;
    const prepared = request.body.rows.map((row) => {
      try {
        return prepareAdoption(row, request.client, deps.config, at);
      } catch (err) {
        if (err instanceof Refused) return err;
        throw err;
      }
    });
    // What other grants hold, once per database of the request.
    const holders = new Map<string, ReturnType<typeof heldAccounts>>();
    const heldOn = (project: string, database: string) => {
      const key = `${project}/${database}`;
      if (!holders.has(key)) holders.set(key, deps.audit ? heldAccounts(deps.client, deps.audit, project, database) : Promise.resolve(new Map()));
      return holders.get(key)!;
    };
    const firstRowOf = new Map<string, number>();
    const results = await Promise.all(
      request.body.rows.map(async (row, index): Promise<AdoptionResult> => {
        const base = { row: index, email: row.email, project: row.project, database: row.database, account: row.account };
        const ready = prepared[index]!;
        if (ready instanceof Refused) return { ...base, status: 'REFUSED', error: ready.code, message: ready.message };
        const { request: grant, notes } = ready;
        const planned = { ...base, email: grant.email, grantId: grant.grantId, expiresAt: grant.expiresAt, ...(notes.length ? { notes } : {}) };
        // Two grants on one account: revoking either would drop the other's access.
        const key = `${grant.target.adminSecretId}\n${grant.account}`;
        const first = firstRowOf.get(key) ?? index;
        firstRowOf.set(key, first);
        if (first !== index) return { ...planned, status: 'REFUSED', error: 'account_taken', message: `account: ${grant.account} is also adopted by row ${first} of this request; an account is adopted by one grant only` };
        const holder = (await heldOn(grant.project, grant.database)).get(grant.account);
        // The row's own grant, still running: reported EXISTS below.
        if (holder !== undefined && !(holder.running && holder.grantId === grant.grantId)) {
          return { ...planned, status: 'REFUSED', error: 'account_taken', message: `account: ${grant.account} belongs to another grant: ${holder.why}; it is left alone` };
        }
        if (dryRun) return { ...planned, status: 'WOULD_ADOPT' };
        let handle: WorkflowHandle<typeof grantAccess>;
        try {
          handle = await start(grant);
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) {
            return { ...planned, status: 'EXISTS', message: `an open grant already exists for ${grant.email} on ${grant.project}/${grant.database}` };
          }
          throw err;
        }
        request.log.info({ grantId: grant.grantId, account: grant.account }, 'adoption started');
        const state = await settled(handle, deadline);
        if (!state) return { ...planned, status: 'PENDING', message: `still verifying: check GET /grants/${encodeURIComponent(grant.grantId)}` };
        if (state.status === 'ACTIVE') return { ...planned, status: 'ADOPTED', expiresAt: state.expiresAt };
        // Admin only: the reason names the account and what it holds, so the operator can fix it.
        return { ...planned, status: 'REFUSED', error: 'not_adopted', message: state.failure?.message ?? `the grant is ${state.status}` };
      }),
    );
    return { dryRun, results };
  });
}
