import { Context, log } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { FileConfig } from '../config/file';
import {
  INSPECTION_LIST_LIMIT,
  hasAccountShape,
  parseGrantId,
  privilegeDifference,
  innermostMessage,
  grantSecretName,
  type Drift,
  type LookAlike,
  type Person,
  type RetainedGrant,
  type ServerFindings,
} from '../domain';
import { deriveAccountNames, isDerivedAccountName } from '../domain/naming';
import { grantStateQuery } from '../contract/messages';
import { SA } from '../contract/search-attributes';
import { GRANT_ID_TAG } from './index';
import type { AccountInventory, SchemaGrant } from '../adapters/engines/port';
import type { AccountCallOptions, AccountManager, AuditRecord, AuditStore, GrantSecretStore, Notifier } from '../adapters/ports';
import { listWorkflows } from '../adapters/temporal/visibility';

// The reconciler's inspection of one server: its accounts of the service's shape,
// the open grants of its databases, and what is orphaned, a look-alike, drifted
// or retained (see reconcile.ts for what is done about them). Engine-neutral: the
// server is read through the AccountInventory port.

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

const GRANT_WORKFLOW_QUERY = "WorkflowType = 'grantAccess' AND ExecutionStatus = 'Running'";

/** Heartbeats of a reconciler activity (the SDK throttles them), and the signal that cancels its database calls. */
export function heartbeater(): { beat: (details?: unknown) => void; call: AccountCallOptions } {
  const context = Context.current();
  return { beat: (details?: unknown) => context.heartbeat(details), call: { signal: context.cancellationSignal } };
}

/** `schema: PRIV, PRIV` for a report. */
function describeGrant(g: SchemaGrant): string {
  return `${g.schema ?? g.pattern}${g.host !== '%' ? ` (host ${g.host})` : ''}: ${g.privileges.join(', ') || 'USAGE'}`;
}

export function createInspection(deps: ReconcileDeps) {
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

  /**
   * Inspects one server: its accounts of the service's shape, their privileges
   * on the managed schemas, and the open grants of its databases. Changes nothing.
   */
  async function inspectServer(input: { adminSecretId: string }): Promise<ServerFindings> {
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
    const onManaged = (g: SchemaGrant) => g.serviceSchema !== undefined && managedSchemas.has(g.serviceSchema);

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
        const onSchema = grants.filter((g) => g.host === host && g.serviceSchema === owner.db.schema);
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
      const onSchema = grants.filter((x) => x.serviceSchema === state.schema);
      const actual = [...new Set(onSchema.flatMap((x) => x.privileges))].sort();
      const missing = !hostsOf.has(account);
      const diff = privilegeDifference(state.privileges, actual.filter((p) => p !== 'GRANT OPTION'), allPrivileges);
      const elsewhere = grants.filter((x) => x.serviceSchema !== state.schema).map(describeGrant);
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
  }

  return { servers, isRunning, inspectServer };
}
