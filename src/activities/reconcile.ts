import { Context, log } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { FileConfig } from '../config/file';
import {
  INSPECTION_LIST_LIMIT,
  RECONCILER_ACTOR,
  grantSecretName,
  hasAccountShape,
  parseGrantId,
  privilegeDifference,
  innermostMessage,
  type Drift,
  type LookAlike,
  type Person,
  type LeftBehindObject,
  type PrivilegeRepair,
  type ReconcileSummary,
  type ReconcilerMode,
  type RetainedGrant,
  type RetryDropResult,
  type ServerFindings,
} from '../domain';
import { deriveAccountNames, isDerivedAccountName } from '../domain/naming';
import { grantStateQuery, repairDriftUpdate, retryDropUpdate } from '../contract/messages';
import { SA } from '../contract/search-attributes';
import { GRANT_ID_TAG } from './index';
import type { DriftOutcome, OrphanOutcome, OrphanRevocation, PrivilegeChange, ReconcileActivities } from '../contract/activities';
import { reconcileMessage } from '../adapters/notify';
import { patternIsSchema, type AccountInventory, type SchemaGrant } from '../adapters/engines/mysql/inventory';
import type { AccountCallOptions, AccountManager, AuditRecord, AuditStore, GrantSecretStore, Notifier } from '../adapters/ports';
import { listWorkflows } from '../adapters/temporal/visibility';

// The reconciler's activities: compare what exists on each server with the
// open grants, revoke what is provably the service's and has no open grant,
// and ask grants whose account was changed by hand to repair themselves.
//
// "Provably the service's": an account of the service's name shape whose name
// is exactly the one derived from a grant of a database on this server, where
// that grant is named by its per-grant secret's dbaccess:grant-id tag or by a
// GRANTED audit event for that account. Anything else of the same shape is a
// look-alike: reported, never touched.

export interface ReconcileDeps {
  config: FileConfig;
  /** A Temporal client on the worker's connection and namespace. */
  client: Client;
  inventory: AccountInventory;
  accounts: AccountManager;
  secrets: GrantSecretStore;
  audit: AuditStore;
  notifier: Notifier;
  administrators: Person[];
}

/** One configured database on a server. */
interface ManagedDatabase {
  project: string;
  database: string;
  schema: string;
}

/** Grant statuses of a workflow that stays open only because its account is retained. */
const ENDED_STATUSES = new Set(['REVOKED', 'EXPIRED']);

/** Left-behind objects for a report line: `VIEW s.v, TRIGGER s.t (on table x), ... and N more`. */
function describeObjects(objects: readonly LeftBehindObject[], count: number): string {
  const shown = objects.slice(0, 10).map((o) => `${o.kind} ${o.schema}.${o.name}${o.note ? ` (${o.note})` : ''}`);
  return `${shown.join(', ')}${count > shown.length ? `, and ${count - shown.length} more` : ''}`;
}

const GRANT_WORKFLOW_QUERY = "WorkflowType = 'grantAccess' AND ExecutionStatus = 'Running'";

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
}

function heartbeater(): { beat: (details?: unknown) => void; call: AccountCallOptions } {
  const context = Context.current();
  let last = 0;
  return {
    beat: (details?: unknown) => {
      const now = Date.now();
      if (now - last < 1000) return;
      last = now;
      context.heartbeat(details);
    },
    call: { signal: context.cancellationSignal },
  };
}

/** `schema: PRIV, PRIV` for a report. */
function describeGrant(g: SchemaGrant): string {
  return `${g.schema ?? g.pattern}${g.host !== '%' ? ` (host ${g.host})` : ''}: ${g.privileges.join(', ') || 'USAGE'}`;
}


export function createReconcileActivities(deps: ReconcileDeps) {
  const { config, client } = deps;

  /** Configured databases by admin secret: one inventory per server. */
  function servers(): Map<string, ManagedDatabase[]> {
    const out = new Map<string, ManagedDatabase[]>();
    for (const p of Object.values(config.projects)) {
      for (const d of Object.values(p.databases)) {
        const list = out.get(d.adminSecretId) ?? [];
        list.push({ project: p.key, database: d.key, schema: d.schema });
        out.set(d.adminSecretId, list);
      }
    }
    return out;
  }

  async function isRunning(workflowId: string): Promise<boolean> {
    try {
      const description = await client.workflow.getHandle(workflowId).describe();
      return description.status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  /** The grant that owns `account` on one of `dbs`, proven by a GRANTED event or the secret's tag; undefined if none. */
  async function proveOwner(
    account: string,
    dbs: ManagedDatabase[],
    granted: Map<string, AuditRecord>,
  ): Promise<{ db: ManagedDatabase; grantId: string; proof: 'audit' | 'secret'; record?: AuditRecord } | undefined> {
    // The name must be exactly one the service derives for that grant (the current
    // rule's or, for accounts made before it, the legacy one's): a secret or event
    // that names some other account proves nothing about this one.
    const derivesTo = (grantId: string, db: ManagedDatabase) => {
      const parsed = parseGrantId(grantId);
      return parsed !== undefined && parsed.project === db.project && parsed.database === db.database && isDerivedAccountName(account, parsed.email, db.project, db.database);
    };
    for (const db of dbs) {
      const record = granted.get(`${db.project}/${db.database}/${account}`);
      if (record && derivesTo(record.grantId, db)) return { db, grantId: record.grantId, proof: 'audit', record };
    }
    for (const db of dbs) {
      const owner = (await deps.secrets.describe(grantSecretName(config.secretPrefix, db.project, db.database, account)))?.tags[GRANT_ID_TAG];
      if (owner !== undefined && derivesTo(owner, db)) return { db, grantId: owner, proof: 'secret' };
    }
    return undefined;
  }

  /** The grant's retained account, when its (ended, still running) workflow says it has one. */
  async function retainedGrant(grantId: string, account: string, db: ManagedDatabase): Promise<RetainedGrant | undefined> {
    let state;
    try {
      state = await client.workflow.getHandle(grantId).query(grantStateQuery);
    } catch (err) {
      log.warn('could not query a grant for the reconciler', { grantId, message: innermostMessage(err) });
      return undefined;
    }
    if (!state.retained || state.account !== account) return undefined;
    return {
      grantId,
      project: db.project,
      database: db.database,
      account,
      since: state.retained.since,
      reason: state.retained.reason,
      objectCount: state.retained.objectCount,
    };
  }

  return {
    /** What the run covers: the mode from the configuration and one entry per admin secret (server). */
    async reconcilePlan(): Promise<{ mode: ReconcilerMode; servers: string[] }> {
      return { mode: config.reconciler.mode, servers: [...servers().keys()].sort() };
    },

    /**
     * Inspects one server: its accounts of the service's shape, their privileges
     * on the managed schemas, and the open grants of its databases. Changes nothing.
     */
    async inspectServer(input: { adminSecretId: string }): Promise<ServerFindings> {
      const { beat, call } = heartbeater();
      const dbs = servers().get(input.adminSecretId) ?? [];
      const findings: ServerFindings = {
        adminSecretId: input.adminSecretId,
        accountsSeen: 0,
        openGrants: 0,
        orphans: [],
        orphanCount: 0,
        lookAlikes: [],
        lookAlikeCount: 0,
        drift: [],
        driftCount: 0,
        inProgress: 0,
        retained: [],
        retainedCount: 0,
      };
      if (dbs.length === 0) return findings;
      const dbOf = (project: string, database: string) => dbs.find((d) => d.project === project && d.database === database);

      // Open grants first, the server second: an account that exists by the time the
      // server is read belongs to a grant listed here, or is re-checked by its id below.
      const listed: { names: { current: string; legacy: string }; grant: { grantId: string; db: ManagedDatabase; status: string } }[] = [];
      for await (const wf of listWorkflows(client, GRANT_WORKFLOW_QUERY)) {
        beat();
        const parsed = parseGrantId(wf.workflowId);
        const db = parsed && dbOf(parsed.project, parsed.database);
        if (!parsed || !db) continue;
        listed.push({
          names: deriveAccountNames(parsed.email, db.project, db.database),
          grant: { grantId: wf.workflowId, db, status: String(wf.searchAttributes.get(SA.status) ?? '') },
        });
      }
      findings.openGrants = listed.length;

      const server = await deps.inventory.inventory(input.adminSecretId, hasAccountShape, call);
      beat();
      // What ALL PRIVILEGES means on this server, privileges newer than this code included.
      const allPrivileges = server.databasePrivileges;
      const managedSchemas = new Set(dbs.map((d) => d.schema));
      const hostsOf = new Map<string, string[]>();
      for (const a of server.accounts) hostsOf.set(a.user, [...(hostsOf.get(a.user) ?? []), a.host]);
      const grantsOf = new Map<string, SchemaGrant[]>();
      for (const g of server.grants) grantsOf.set(g.user, [...(grantsOf.get(g.user) ?? []), g]);
      findings.accountsSeen = hostsOf.size;

      // Each open grant by the name its account carries: the current rule's, or the legacy
      // one's for grants begun before it (their input keeps it). A grant whose current name
      // is on the server holds that one and claims no other: a legacy name (30 bits) can be
      // forced to match someone else's, and must not shield it. Otherwise the legacy name
      // when it is there, and both when neither is (the drift check finds the account missing).
      const open = new Map<string, { grantId: string; db: ManagedDatabase; status: string }>();
      for (const { names, grant } of listed) {
        const current = hostsOf.has(names.current);
        if (current || !hostsOf.has(names.legacy)) open.set(names.current, grant);
        if (!current && !open.has(names.legacy)) open.set(names.legacy, grant);
      }
      const onManaged = (g: SchemaGrant) => [...managedSchemas].some((s) => patternIsSchema(g.pattern, s));

      // GRANTED events of each database, by account: one query per database.
      const granted = new Map<string, AuditRecord>();
      for (const db of dbs) {
        for (const r of await deps.audit.forDatabase(db.project, db.database)) {
          if (r.event === 'GRANTED') granted.set(`${db.project}/${db.database}/${r.account}`, r);
        }
        beat();
      }

      for (const [user, hosts] of hostsOf) {
        beat({ account: user });
        if (open.has(user)) continue;
        const grants = grantsOf.get(user) ?? [];
        const managed = grants.filter(onManaged);
        // Privileges only on schemas this configuration does not manage: not ours to judge.
        if (managed.length === 0 && grants.length > 0) continue;
        const owner = await proveOwner(user, dbs, granted);
        if (!owner) {
          // Unproven and without access to a managed schema: nothing to report either.
          if (managed.length === 0) continue;
          for (const host of hosts) {
            findings.lookAlikeCount += 1;
            if (findings.lookAlikes.length < INSPECTION_LIST_LIMIT) {
              const lookAlike: LookAlike = { adminSecretId: input.adminSecretId, account: user, host, privileges: managed.filter((g) => g.host === host).map(describeGrant) };
              findings.lookAlikes.push(lookAlike);
            }
          }
          continue;
        }
        // Its grant is running (being provisioned or revoked, or listed late by visibility): not an orphan.
        if (await isRunning(owner.grantId)) {
          findings.inProgress += 1;
          continue;
        }
        for (const host of hosts) {
          findings.orphanCount += 1;
          if (findings.orphans.length >= INSPECTION_LIST_LIMIT) continue;
          const onSchema = grants.filter((g) => g.host === host && patternIsSchema(g.pattern, owner.db.schema));
          findings.orphans.push({
            adminSecretId: input.adminSecretId,
            project: owner.db.project,
            database: owner.db.database,
            schema: owner.db.schema,
            account: user,
            host,
            grantId: owner.grantId,
            proof: owner.proof,
            privileges: [...new Set(onSchema.flatMap((g) => g.privileges))].sort(),
            ...(owner.record ? { accessLevel: owner.record.accessLevel, expiresAt: owner.record.expiresAt } : {}),
          });
        }
      }

      // Drift: every ACTIVE grant of this server, against what its account holds.
      // Retained: ended grants kept open because the server refused to drop their account.
      for (const [account, g] of open) {
        beat({ grantId: g.grantId });
        if (ENDED_STATUSES.has(g.status) && hostsOf.has(account)) {
          const retained = await retainedGrant(g.grantId, account, g.db);
          if (retained) {
            findings.retainedCount! += 1;
            if (findings.retained!.length < INSPECTION_LIST_LIMIT) findings.retained!.push(retained);
          }
          continue;
        }
        if (g.status !== 'ACTIVE') continue;
        let state;
        try {
          state = await client.workflow.getHandle(g.grantId).query(grantStateQuery);
        } catch (err) {
          log.warn('could not query a grant for the reconciler', { grantId: g.grantId, message: innermostMessage(err) });
          continue;
        }
        if (state.status !== 'ACTIVE' || state.account !== account) continue;
        const grants = grantsOf.get(account) ?? [];
        const onSchema = grants.filter((x) => patternIsSchema(x.pattern, state.schema));
        const actual = [...new Set(onSchema.flatMap((x) => x.privileges))].sort();
        const missing = !hostsOf.has(account);
        const diff = privilegeDifference(state.privileges, actual.filter((p) => p !== 'GRANT OPTION'), allPrivileges);
        const elsewhere = grants.filter((x) => !patternIsSchema(x.pattern, state.schema)).map(describeGrant);
        const repairable = missing || diff.extra.length > 0 || diff.missing.length > 0 || actual.includes('GRANT OPTION');
        if (!repairable && elsewhere.length === 0) continue;
        findings.driftCount += 1;
        if (findings.drift.length < INSPECTION_LIST_LIMIT) {
          const drift: Drift = { grantId: g.grantId, project: g.db.project, database: g.db.database, account, schema: state.schema, expected: state.privileges, actual, missing, repairable, elsewhere };
          findings.drift.push(drift);
        }
      }
      log.info('server inspected', {
        adminSecretId: input.adminSecretId,
        accountsSeen: findings.accountsSeen,
        openGrants: findings.openGrants,
        orphans: findings.orphanCount,
        lookAlikes: findings.lookAlikeCount,
        drift: findings.driftCount,
        inProgress: findings.inProgress,
        retained: findings.retainedCount,
      });
      return findings;
    },

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
      const timer = setInterval(() => beat(), 5000);
      try {
        if (await isRunning(o.grantId)) return { outcome: 'skipped', detail: 'its grant is running again; left to the grant' };
        const secretName = grantSecretName(config.secretPrefix, o.project, o.database, o.account);
        const owner = (await deps.secrets.describe(secretName))?.tags[GRANT_ID_TAG];
        if (owner !== undefined && owner !== o.grantId) return { outcome: 'skipped', detail: `its secret now belongs to ${owner}; left alone` };
        const target = { schema: o.schema, adminSecretId: o.adminSecretId, hostPattern: o.host, maxUserConnections: 1 };
        const ended = await deps.accounts.endAccess(target, o.account, call);
        // Also when the drop is refused: the password in the secret no longer works.
        const secret = await deps.secrets.delete(secretName);
        const parsed = parseGrantId(o.grantId);
        const sessions = ended.sessionsKilled > 0 ? `, ${ended.sessionsKilled} session(s) ended` : '';
        const objects = ended.leftBehindCount > 0 ? `; it defines ${ended.leftBehindCount} stored object(s): ${describeObjects(ended.leftBehind, ended.leftBehindCount)}` : '';
        const fate = ended.dropped ? 'dropped' : `NOT dropped: ${ended.refusal ?? 'the server refused'}; retained, the next run tries again`;
        const detail =
          `account ${o.account}@${o.host} had no open grant (ownership proven by ${o.proof === 'secret' ? 'its per-grant secret' : 'the GRANTED audit event'}; ` +
          `it held ${o.privileges.join(', ') || 'no privilege'} on ${o.schema}); locked, password replaced, every privilege revoked, sessions ended${sessions}; ${fate}${objects}; ` +
          `secret ${secret.existed ? 'deleted' : 'already gone'}`;
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
        log.info('orphan revoked', {
          grantId: o.grantId,
          account: o.account,
          host: o.host,
          existed: ended.existed,
          sessionsKilled: ended.sessionsKilled,
          dropped: ended.dropped,
          leftBehind: ended.leftBehindCount,
          secretDeleted: secret.existed,
        });
        const summary = `contained${sessions}; ${fate}${objects}; secret ${secret.existed ? 'deleted' : 'already gone'}`;
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
        const before = [...new Set(found.grants.filter((g) => g.host === host && patternIsSchema(g.pattern, change.target.schema)).flatMap((g) => g.privileges))].sort();
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
