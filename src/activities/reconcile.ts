import { Context, log } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import {
  RECONCILER_ACTOR,
  grantSecretName,
  parseGrantId,
  privilegeDifference,
  innermostMessage,
  type GrantTarget,
  type LeftBehindObject,
  type PrivilegeRepair,
  type ReconcileSummary,
  type ReconcilerMode,
  type RetryDropResult,
} from '../domain';
import { own } from '../config/file';
import { repairDriftUpdate, retryDropUpdate } from '../contract/messages';
import { GRANT_ID_TAG } from './index';
import type { DriftOutcome, OrphanOutcome, OrphanRevocation, PrivilegeChange, ReconcileActivities } from '../contract/activities';
import { reconcileMessage } from '../adapters/notify';
import type { AuditRecord } from '../adapters/ports';
import { createInspection, heartbeater, type ReconcileDeps } from './reconcile-inspect';

export type { ReconcileDeps } from './reconcile-inspect';

// The reconciler's activities: compare what exists on each server with the
// open grants, revoke what is provably the service's and has no open grant,
// and ask grants whose account was changed by hand to repair themselves.
//
// "Provably the service's": an account of the service's name shape whose name
// is exactly the one derived from a grant of a database on this server, where
// that grant is named by its per-grant secret's dbaccess:grant-id tag or by a
// GRANTED audit event for that account. Anything else of the same shape is a
// look-alike: reported, never touched.

/** Left-behind objects for a report line: `VIEW s.v, TRIGGER s.t (on table x), ... and N more`. */
function describeObjects(objects: readonly LeftBehindObject[], count: number): string {
  const shown = objects.slice(0, 10).map((o) => `${o.kind} ${o.schema}.${o.name}${o.note ? ` (${o.note})` : ''}`);
  return `${shown.join(', ')}${count > shown.length ? `, and ${count - shown.length} more` : ''}`;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
}

export function createReconcileActivities(deps: ReconcileDeps) {
  const { config, client } = deps;
  const { servers, isRunning, inspectServer } = createInspection(deps);

  /** With endpoints configured: a workflow of its own delivers the event (one per event id: a retried attempt starts none). */
  async function streamOrphanEvent(record: AuditRecord): Promise<void> {
    if (Object.keys(config.eventStream.endpoints).length === 0) return;
    try {
      await client.workflow.start('streamAuditEvent', {
        taskQueue: Context.current().info.taskQueue,
        workflowId: `events/${record.eventId}`,
        args: [{ record, deliverForMs: config.eventStream.deliverForMs }],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  return {
    /** What the run covers: the mode from the configuration and one entry per admin secret (server). */
    async reconcilePlan(): Promise<{ mode: ReconcilerMode; servers: string[] }> {
      return { mode: config.reconciler.mode, servers: [...servers().keys()].sort() };
    },

    inspectServer,

    /**
     * Revokes an orphan exactly as a grant's revoke does (contain: lock, a password
     * nobody knows, every privilege revoked, every session ended; then the drop),
     * after checking again that its grant is not running and its secret is not
     * another grant's, and deletes its secret. Audited ORPHAN_REVOKED (with the
     * instant access ended) under an id made of the run and the account, so a
     * retried write is a no-op. When the server refuses the drop, access has ended
     * all the same: the outcome is `retained` and the next run tries the drop again.
     */
    async revokeOrphan(input: OrphanRevocation): Promise<OrphanOutcome> {
      const { beat, call } = heartbeater();
      const o = input.orphan;
      // Heartbeats go out only when given: one every 5 s through the long awaits (the SDK throttles them).
      const timer = setInterval(() => beat(), 5000);
      try {
        if (await isRunning(o.grantId)) return { outcome: 'skipped', detail: 'its grant is running again; left to the grant' };
        const secretName = grantSecretName(config.secretPrefix, o.project, o.database, o.account);
        const described = await deps.secrets.describe(secretName);
        const owner = described?.tags[GRANT_ID_TAG];
        if (owner !== undefined && owner !== o.grantId) return { outcome: 'skipped', detail: `its secret now belongs to ${owner}; left alone` };
        const engine = own(config.projects, o.project) && own(config.projects[o.project]!.databases, o.database)?.engine;
        const target: GrantTarget = { schema: o.schema, adminSecretId: o.adminSecretId, hostPattern: o.host, maxUserConnections: 1, ...(engine ? { engine } : {}) };
        const ended = await deps.accounts.endAccess(target, o.account, call);
        // Also when the drop is refused: the password in the secret no longer works.
        await deps.secrets.delete(secretName);
        const secretFound = described !== undefined;
        const parsed = parseGrantId(o.grantId);
        const sessions = ended.sessionsKilled > 0 ? `, ${ended.sessionsKilled} session(s) ended` : '';
        const objects = ended.leftBehindCount > 0 ? `; it defines ${ended.leftBehindCount} stored object(s): ${describeObjects(ended.leftBehind, ended.leftBehindCount)}` : '';
        const fate = ended.dropped ? 'dropped' : `NOT dropped: ${ended.refusal ?? 'the server refused'}; retained, the next run tries again`;
        const detail =
          `account ${o.account}@${o.host} had no open grant (ownership proven by ${o.proof === 'secret' ? 'its per-grant secret' : 'the GRANTED audit event'}; ` +
          `it held ${o.privileges.join(', ') || 'no privilege'} on ${o.schema}); locked, password replaced, every privilege revoked, sessions ended${sessions}; ${fate}${objects}; ` +
          `secret ${secretFound ? 'deleted' : 'already gone'}`;
        const record: AuditRecord = {
          grantId: o.grantId,
          eventId: `reconcile:${input.runId}:${o.account}@${o.host}`,
          at: input.at,
          event: 'ORPHAN_REVOKED',
          actor: RECONCILER_ACTOR,
          email: parsed?.email ?? '',
          project: o.project,
          database: o.database,
          accessLevel: o.accessLevel ?? '',
          expiresAt: o.expiresAt ?? '',
          account: o.account,
          workflowId: input.workflowId,
          runId: input.runId,
          detail,
          ...(ended.containedAt ? { accessEndedAt: ended.containedAt } : {}),
        };
        await deps.audit.append(record);
        await streamOrphanEvent(record);
        log.info('orphan revoked', {
          grantId: o.grantId,
          account: o.account,
          host: o.host,
          existed: ended.existed,
          sessionsKilled: ended.sessionsKilled,
          dropped: ended.dropped,
          leftBehind: ended.leftBehindCount,
          secretDeleted: secretFound,
        });
        const summary = `contained${sessions}; ${fate}${objects}; secret ${secretFound ? 'deleted' : 'already gone'}`;
        return { outcome: ended.dropped ? 'revoked' : 'retained', detail: summary };
      } finally {
        clearInterval(timer);
      }
    },

    /**
     * Asks a retained grant (access ended, the server refused to drop its account)
     * to try the drop again (the retryDrop update): once a person has dealt with
     * what the account defines, the drop succeeds and the grant closes.
     */
    async retryRetainedDrop(input: { grantId: string; runId: string }): Promise<RetryDropResult> {
      try {
        return await client.workflow.getHandle(input.grantId).executeUpdate(retryDropUpdate, {
          args: [{ actor: RECONCILER_ACTOR, reason: `reconciler run ${input.runId}` }],
        });
      } catch (err) {
        // Closed meanwhile, or no longer retained: nothing to do.
        if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) return { outcome: 'not-retained', detail: innermostMessage(err) };
        throw err;
      }
    },

    /**
     * Asks an ACTIVE grant to repair itself (the repairDrift update): the check and
     * the repair run inside the grant's workflow, one change at a time with its own
     * extend and level changes, and show in its history.
     */
    async repairGrantDrift(input: { grantId: string; runId: string }): Promise<DriftOutcome> {
      try {
        return await client.workflow.getHandle(input.grantId).executeUpdate(repairDriftUpdate, {
          args: [{ actor: RECONCILER_ACTOR, reason: `reconciler run ${input.runId}` }],
        });
      } catch (err) {
        // Not ACTIVE any more (revoked, expired meanwhile): nothing to repair.
        if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) return { outcome: 'skipped', detail: innermostMessage(err) };
        throw err;
      }
    },

    /**
     * For the grant's repairDrift update: compares the account with the grant's
     * privileges (ALL PRIVILEGES meaning what it means on that server) and sets
     * them back exactly when they differ. Ends the account's open sessions when it
     * held more than the grant (an open session keeps a database privilege until
     * its next USE). Never creates an account. When the difference is exactly the
     * one the grant's last repair found (`lastRepair`), the repair did not hold:
     * `recurring`, and nothing is changed (no hourly repair that never converges).
     */
    async repairPrivileges(change: PrivilegeChange): Promise<PrivilegeRepair> {
      const { beat, call } = heartbeater();
      const timer = setInterval(() => beat(), 5000);
      try {
        const found = await deps.inventory.accountGrants(change.target, change.account, call);
        const host = change.target.hostPattern.toLowerCase();
        if (!found.hosts.includes(host)) return { status: 'missing', before: [], removed: [], restored: [], sessionsKilled: 0 };
        const before = [...new Set(found.grants.filter((g) => g.host === host && g.serviceSchema === change.target.schema).flatMap((g) => g.privileges))].sort();
        const diff = privilegeDifference(change.privileges, before.filter((p) => p !== 'GRANT OPTION'), found.databasePrivileges);
        const removed = [...diff.extra, ...(before.includes('GRANT OPTION') ? ['GRANT OPTION'] : [])];
        if (removed.length === 0 && diff.missing.length === 0) return { status: 'clean', before, removed: [], restored: [], sessionsKilled: 0 };
        if (change.lastRepair && sameSet(change.lastRepair.removed, removed) && sameSet(change.lastRepair.restored, diff.missing)) {
          log.warn('the same difference as the last repair: not repaired again', { grantId: change.grantId, account: change.account, removed, restored: diff.missing });
          return { status: 'recurring', before, removed, restored: diff.missing, sessionsKilled: 0 };
        }
        // Grant what is missing first, then revoke the rest: never a moment with less than the level.
        await deps.accounts.setPrivileges(change.target, change.account, change.privileges, [], call);
        const sessionsKilled = removed.length > 0 ? await deps.accounts.killSessions(change.target, change.account, call) : 0;
        log.info('privileges repaired', { grantId: change.grantId, account: change.account, removed, restored: diff.missing, sessionsKilled });
        return { status: 'repaired', before, removed, restored: diff.missing, sessionsKilled };
      } finally {
        clearInterval(timer);
      }
    },

    /** One message to the administrators about a run that found something. */
    async notifyReconcile(summary: ReconcileSummary): Promise<void> {
      await deps.notifier.notify(reconcileMessage({ summary, administrators: deps.administrators }));
    },
  } satisfies ReconcileActivities;
}

export type { DriftOutcome, OrphanOutcome, OrphanRevocation, ReconcileActivities } from '../contract/activities';
