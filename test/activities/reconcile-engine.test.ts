import { strict as assert } from 'node:assert';

import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { defaultPayloadConverter, TypedSearchAttributes } from '@temporalio/common';
import { google } from '@temporalio/proto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';

import type { AccessEnding, AuditRecord } from '../../src/adapters/ports';
import { createReconcileActivities, type ReconcileDeps } from '../../src/activities/reconcile';
import { databasePrivilegesOfColumns, parseSchemaGrant } from '../../src/adapters/engines/mysql/inventory';
import { parseFileConfig } from '../../src/config';
import { grantIdFor, type GrantState, type Orphan } from '../../src/domain';
import { deriveAccountName } from '../../src/domain/naming';
import { SA } from '../../src/contract/search-attributes';

// The reconciler's engine side with fakes around it (pure decisions: what counts
// as retained, recurring or clean, and what a refused drop makes of an orphan).
// The real stack's reconciler is exercised in test/e2e/reconciler.test.ts.

const PROJECT = 'proj';
const DATABASE = 'main';
const SCHEMA = 'main_db';
const ADMIN_SECRET = 'admin/main';

/** mysql.db on MariaDB 11.3+ (SHOW CREATE ROUTINE is new there). */
const COLUMNS_113 = [
  'Host', 'Db', 'User', 'Select_priv', 'Insert_priv', 'Update_priv', 'Delete_priv', 'Create_priv', 'Drop_priv', 'Grant_priv', 'References_priv',
  'Index_priv', 'Alter_priv', 'Create_tmp_table_priv', 'Lock_tables_priv', 'Create_view_priv', 'Show_view_priv', 'Create_routine_priv',
  'Alter_routine_priv', 'Execute_priv', 'Event_priv', 'Trigger_priv', 'Delete_history_priv', 'Show_create_routine_priv',
];

function row113(user: string, held: (column: string) => boolean): Record<string, string> {
  return Object.fromEntries(COLUMNS_113.map((c) => [c, c === 'Host' ? '%' : c === 'Db' ? SCHEMA.replace(/_/g, '\\_') : c === 'User' ? user : held(c) ? 'Y' : 'N']));
}

const config = parseFileConfig({
  allowedEmailDomains: ['example.com'],
  administrators: [{ name: 'DBA', email: 'dba@example.com' }],
  projects: { [PROJECT]: { ownerName: 'Owner', ownerEmail: 'owner@example.com', databases: { [DATABASE]: { schema: SCHEMA, adminSecretId: ADMIN_SECRET } } } },
});

const quiet = new DefaultLogger('ERROR', () => undefined);
function inActivity<T>(fn: () => Promise<T>): Promise<T> {
  return new MockActivityEnvironment(undefined, { logger: quiet }).run(fn) as Promise<T>;
}

interface Fakes {
  deps: ReconcileDeps;
  audit: AuditRecord[];
  setPrivileges: unknown[][];
  deleted: string[];
}

function fakes(options: {
  grants?: { workflowId: string; status: string; state?: Partial<GrantState> }[];
  accounts?: string[];
  accountRows?: Record<string, string>[];
  endAccess?: AccessEnding;
  update?: () => Promise<unknown>;
}): Fakes {
  const audit: AuditRecord[] = [];
  const setPrivileges: unknown[][] = [];
  const deleted: string[] = [];
  const grants = options.grants ?? [];
  // A search attribute as visibility stores it: JSON, with its type in the metadata.
  const keyword = (value: string) => {
    const payload = defaultPayloadConverter.toPayload(value);
    payload.metadata!.type = Buffer.from(TypedSearchAttributes.toMetadataType(SA.status.type));
    return payload;
  };
  const client = {
    options: { namespace: 'default' },
    connection: {
      workflowService: {
        listWorkflowExecutions: async () => ({
          executions: grants.map((g) => ({
            execution: { workflowId: g.workflowId, runId: 'run' },
            type: { name: 'grantAccess' },
            status: 1,
            startTime: google.protobuf.Timestamp.fromObject({ seconds: 1_700_000_000 }),
            historyLength: { toNumber: () => 10 },
            searchAttributes: { indexedFields: { [SA.status.name]: keyword(g.status) } },
          })),
          nextPageToken: null,
        }),
      },
    },
    workflow: {
      getHandle: (id: string) => ({
        query: async () => grants.find((g) => g.workflowId === id)?.state,
        describe: async () => ({ status: { name: grants.some((g) => g.workflowId === id) ? 'RUNNING' : 'COMPLETED' } }),
        executeUpdate: async () => (options.update ? options.update() : { outcome: 'dropped', detail: 'dropped' }),
      }),
    },
  } as unknown as Client;
  const columns = COLUMNS_113;
  const deps = {
    config,
    client,
    inventory: {
      inventory: async () => ({
        dialect: 'mariadb' as const,
        databasePrivileges: databasePrivilegesOfColumns('mariadb', columns),
        adminAccount: 'admin',
        accounts: (options.accounts ?? []).map((user) => ({ user, host: '%' })),
        grants: [],
      }),
      accountGrants: async () => ({
        dialect: 'mariadb' as const,
        databasePrivileges: databasePrivilegesOfColumns('mariadb', columns),
        hosts: ['%'],
        grants: (options.accountRows ?? []).map((r) => parseSchemaGrant(r as never)),
      }),
    },
    accounts: {
      endAccess: async () => options.endAccess!,
      setPrivileges: async (...args: unknown[]) => {
        setPrivileges.push(args);
      },
      killSessions: async () => 0,
    },
    secrets: {
      describe: async () => undefined,
      delete: async (name: string) => {
        deleted.push(name);
        return { existed: true };
      },
    },
    audit: {
      forDatabase: async () => [],
      append: async (record: AuditRecord) => {
        audit.push(record);
        return { written: true };
      },
    },
    notifier: { notify: async () => undefined, close: () => undefined },
    administrators: config.administrators,
  } as unknown as ReconcileDeps;
  return { deps, audit, setPrivileges, deleted };
}

const email = 'retained.person@example.com';
const grantId = grantIdFor(PROJECT, DATABASE, email);
const account = deriveAccountName(email, PROJECT, DATABASE);
const ref = { grantId, project: PROJECT, database: DATABASE, account, secretName: 'dbaccess/x', target: { schema: SCHEMA, adminSecretId: ADMIN_SECRET, hostPattern: '%', maxUserConnections: 5 } };

describe('reconciler, engine side (fakes around the activities)', () => {
  it('When an ended grant is still running because its account is retained, then inspectServer lists it as retained (not in progress, not an orphan, not drift)', async () => {
    const f = fakes({
      accounts: [account],
      grants: [
        {
          workflowId: grantId,
          status: 'EXPIRED',
          state: { status: 'EXPIRED', account, schema: SCHEMA, retained: { since: '2026-12-01T10:00:00.000Z', reason: 'MySQL error 4006', objects: [], objectCount: 2 } },
        },
      ],
    });
    const act = createReconcileActivities(f.deps);
    const findings = await inActivity(() => act.inspectServer({ adminSecretId: ADMIN_SECRET }));
    assert.deepEqual(findings.retained, [{ grantId, project: PROJECT, database: DATABASE, account, since: '2026-12-01T10:00:00.000Z', reason: 'MySQL error 4006', objectCount: 2 }]);
    assert.equal(findings.retainedCount, 1);
    assert.deepEqual([findings.inProgress, findings.orphanCount, findings.driftCount], [0, 0, 0]);
  });

  it('When a retained grant is asked to drop again, then the grant\'s answer is the outcome; a grant that is gone or no longer retained is not-retained', async () => {
    const dropped = createReconcileActivities(fakes({ update: async () => ({ outcome: 'dropped', detail: 'the account is gone' }) }).deps);
    assert.deepEqual(await inActivity(() => dropped.retryRetainedDrop({ grantId, runId: 'r1' })), { outcome: 'dropped', detail: 'the account is gone' });
    const gone = createReconcileActivities(
      fakes({
        update: async () => {
          throw new WorkflowNotFoundError('workflow not found', grantId, undefined);
        },
      }).deps,
    );
    assert.equal((await inActivity(() => gone.retryRetainedDrop({ grantId, runId: 'r1' }))).outcome, 'not-retained');
    const refused = createReconcileActivities(
      fakes({
        update: async () => {
          throw new WorkflowUpdateFailedError('not retained', undefined);
        },
      }).deps,
    );
    assert.equal((await inActivity(() => refused.retryRetainedDrop({ grantId, runId: 'r1' }))).outcome, 'not-retained');
  });

  it('When the server refuses to drop an orphan, then it is contained and reported retained, the audit event says so with the instant access ended, and its secret is deleted', async () => {
    const containedAt = '2026-12-05T12:00:00.000Z';
    const f = fakes({
      endAccess: {
        existed: true,
        sessionsKilled: 1,
        containedAt,
        dropped: false,
        refusal: 'the server refuses to drop the account while it is the definer of stored objects (MySQL error 4006)',
        leftBehind: [{ kind: 'VIEW', schema: SCHEMA, name: 'v1' }],
        leftBehindCount: 1,
      },
    });
    const orphan: Orphan = { adminSecretId: ADMIN_SECRET, project: PROJECT, database: DATABASE, schema: SCHEMA, account, host: '%', grantId, proof: 'secret', privileges: ['SELECT'] };
    const act = createReconcileActivities(f.deps);
    const outcome = await inActivity(() => act.revokeOrphan({ orphan, workflowId: 'reconcile', runId: 'r2', at: '2026-12-05T12:00:01.000Z' }));
    assert.equal(outcome.outcome, 'retained');
    assert.match(outcome.detail, /NOT dropped: the server refuses .*4006\)?; retained, the next run tries again; it defines 1 stored object\(s\): VIEW main_db\.v1/);
    assert.equal(f.audit.length, 1);
    assert.equal(f.audit[0]!.event, 'ORPHAN_REVOKED');
    assert.equal(f.audit[0]!.accessEndedAt, containedAt);
    assert.match(f.audit[0]!.detail ?? '', /locked, password replaced, every privilege revoked, sessions ended, 1 session\(s\) ended; NOT dropped/);
    assert.equal(f.deleted.length, 1);
  });

  it('When an ADMIN grant\'s account holds everything on MariaDB 11.3 (SHOW CREATE ROUTINE included), then repairPrivileges finds it clean and changes nothing', async () => {
    const f = fakes({ accountRows: [row113(account, (c) => c !== 'Grant_priv')] });
    const act = createReconcileActivities(f.deps);
    const found = await inActivity(() => act.repairPrivileges({ ...ref, privileges: ['ALL PRIVILEGES'] }));
    assert.equal(found.status, 'clean');
    assert.deepEqual(f.setPrivileges, []);
  });

  it('When the difference found is the one the last repair found, then it is recurring and nothing is changed; another difference is repaired', async () => {
    // READ on 11.3, but the account holds SELECT and SHOW CREATE ROUTINE (a repair that did not hold).
    const rows = [row113(account, (c) => c === 'Select_priv' || c === 'Show_create_routine_priv')];
    const f = fakes({ accountRows: rows });
    const act = createReconcileActivities(f.deps);
    const recurring = await inActivity(() => act.repairPrivileges({ ...ref, privileges: ['SELECT'], lastRepair: { removed: ['SHOW CREATE ROUTINE'], restored: [] } }));
    assert.equal(recurring.status, 'recurring');
    assert.deepEqual(recurring.removed, ['SHOW CREATE ROUTINE']);
    assert.deepEqual(f.setPrivileges, []);
    const repaired = await inActivity(() => act.repairPrivileges({ ...ref, privileges: ['SELECT'], lastRepair: { removed: ['INSERT'], restored: [] } }));
    assert.equal(repaired.status, 'repaired');
    assert.equal(f.setPrivileges.length, 1);
  });
});
