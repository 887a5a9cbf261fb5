import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { Context } from '@temporalio/activity';
import { ARMED_REVOCATION_QUEUE_SUFFIX, type GrantRequest } from '../../src/domain';
import { grantAccess } from '../../src/workflows';
import { approveUpdate, changeAccessLevelUpdate, denyUpdate, extendUpdate, grantStateQuery, repairDriftUpdate, retryDropUpdate, reviewUpdate, revokeSignal } from '../../src/contract/messages';
import { timeSkippingTemporal, uniqueTaskQueue, workflowBundle } from '../support/temporal';
import { ROOT } from '../support/tools';
import { DAY, RecordedActivities, grantRequest } from '../workflows/fixtures';

// Records the histories the replay test checks the workflow against:
//
//   npm run record:histories                 # only scenarios without a history yet
//   npm run record:histories -- approval     # re-record the named ones
//
// A committed history is the proof that grants running on the code that wrote
// it still replay: never re-record one to make a failing replay pass. Add a
// scenario (and record it) when the workflow gains a path; re-record an old one
// only when a deliberately incompatible change ships together with a way for
// running grants to finish on the old code (see "Changing workflow code safely"
// in the README). The long-lived history comes from test/workflows/long-life.test.ts
// (RECORD_LONG_LIFE=1).

export const HISTORIES_DIR = join(__dirname, 'histories');

async function main(): Promise<void> {
  const env = await timeSkippingTemporal();
  const bundle = await workflowBundle();
  mkdirSync(HISTORIES_DIR, { recursive: true });

  const scenarios: {
    name: string;
    setup?: (r: RecordedActivities) => void;
    drive: (h: any, r: RecordedActivities) => Promise<unknown>;
    approval?: boolean;
    /** Fields added to the request (new request fields: reminders, adoption). */
    request?: Partial<GrantRequest>;
    ttlMs?: number;
    /** Activities of a worker on the armed revocations' queue (`<queue>-expiry`); none when absent. */
    expiry?: (r: RecordedActivities) => Record<string, (...args: any[]) => Promise<unknown>>;
  }[] = [
    {
      name: 'full-lifecycle',
      async drive(handle) {
        await waitFor(handle, 'ACTIVE');
        const state = await handle.query(grantStateQuery);
        await handle.executeUpdate(extendUpdate, { args: [{ expiresAt: new Date(Date.parse(state.expiresAt) + 5 * DAY).toISOString(), actor: 'alice', reason: 'more time' }] });
        await handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'READ', privileges: ['SELECT'], actor: 'alice' }] });
        await handle.signal(revokeSignal, { actor: 'bob', reason: 'done' });
        return handle.result();
      },
    },
    { name: 'expiry', drive: (handle) => handle.result() },
    {
      name: 'rollback',
      setup: (r) => r.fail('grantPrivileges', { type: 'UnknownDatabase' }),
      drive: (handle) => handle.result().catch(() => undefined),
    },
    {
      name: 'approval',
      approval: true,
      async drive(handle) {
        await waitFor(handle, 'PENDING_APPROVAL');
        await handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann', actorEmail: 'ann@example.com', reason: 'on call' }] });
        await waitFor(handle, 'ACTIVE');
        await handle.signal(revokeSignal, { actor: 'bob', reason: 'done' });
        return handle.result();
      },
    },
    {
      // Break-glass: no approval gate, alerted and asked for review once ACTIVE; an extension refused;
      // revoked, then acknowledged after access ended, which closes the workflow.
      name: 'break-glass',
      ttlMs: 3600_000,
      request: { breakGlass: { reviewWithinMs: 7 * DAY, reviewers: [{ name: 'ann', email: 'ann@example.com' }] }, durationMs: 3600_000, reason: 'incident 42' },
      async drive(handle) {
        await waitFor(handle, 'ACTIVE');
        const state = await handle.query(grantStateQuery);
        await handle.executeUpdate(extendUpdate, { args: [{ expiresAt: new Date(Date.parse(state.expiresAt) + 3600_000).toISOString(), actor: 'alice' }] }).catch(() => undefined);
        await handle.signal(revokeSignal, { actor: 'bob', reason: 'incident over' });
        await waitFor(handle, 'REVOKED');
        const link = { id: '0123456789abcdef', kind: 'break-glass', request: state.breakGlass.requestedAt, email: 'ann@example.com' };
        await handle.executeUpdate(reviewUpdate, { args: [{ decision: 'acknowledge', actor: 'ann', actorEmail: 'ann@example.com', mayReview: true, link }] });
        return handle.result();
      },
    },
    {
      // Break-glass nobody reviews: it expires, then its review's deadline passes (BREAK_GLASS_UNREVIEWED).
      name: 'break-glass-unreviewed',
      ttlMs: 3600_000,
      request: { breakGlass: { reviewWithinMs: DAY, reviewers: [{ name: 'ann', email: 'ann@example.com' }] }, reason: 'incident 43' },
      drive: (handle) => handle.result(),
    },
    {
      // A standing grant: kept once by a reviewer, then asked for review again, reminded, and lapsed.
      name: 'standing',
      ttlMs: 30 * DAY,
      request: { standing: { reviewMs: 30 * DAY, decideWithinMs: 7 * DAY, reviewers: [{ name: 'ann', email: 'ann@example.com' }] } },
      async drive(handle) {
        await waitFor(handle, 'ACTIVE');
        await handle.executeUpdate(reviewUpdate, { args: [{ decision: 'keep', actor: 'ann', actorEmail: 'ann@example.com', mayReview: true, reason: 'still on call' }] });
        return handle.result();
      },
    },
    {
      // Every audit event delivered to the event stream, in order; approved with a one-click link.
      name: 'event-stream',
      approval: true,
      request: { eventStream: { deliverForMs: DAY } },
      async drive(handle) {
        await waitFor(handle, 'PENDING_APPROVAL');
        const state = await handle.query(grantStateQuery);
        const link = { id: '0123456789abcdef', kind: 'approval', request: state.requestedAt, email: 'ann@example.com' };
        await handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann', actorEmail: 'ann@example.com', link }] });
        await waitFor(handle, 'ACTIVE');
        await handle.signal(revokeSignal, { actor: 'bob', reason: 'done' });
        return handle.result();
      },
    },
    {
      // Reminders 3 days and 1 day before; extended after the 3-day one, so both are re-planned.
      name: 'reminders',
      ttlMs: 10 * DAY,
      request: { reminderOffsetsMs: [3 * DAY, DAY] },
      async drive(handle) {
        await waitFor(handle, 'ACTIVE');
        await env.sleep(7 * DAY + 3600_000);
        const state = await handle.query(grantStateQuery);
        await handle.executeUpdate(extendUpdate, { args: [{ expiresAt: new Date(Date.parse(state.expiresAt) + 10 * DAY).toISOString(), actor: 'alice' }] });
        return handle.result();
      },
    },
    {
      // An account of the old scripts, verified and adopted, then revoked.
      name: 'adoption',
      ttlMs: 10 * DAY,
      request: {
        account: 'adoption_mysql',
        reminderOffsetsMs: [3 * DAY, DAY],
        adoption: { source: 'import', oldRecord: { newer_email: 'adoption@example.com', database_name: 'dev_project', database_expiry: 'NA' }, notes: ['the old record never expired (NA)'] },
      },
      async drive(handle) {
        await waitFor(handle, 'ACTIVE');
        await handle.signal(revokeSignal, { actor: 'bob', reason: 'done' });
        return handle.result();
      },
    },
    {
      // The revocation armed 1 minute ahead; an extension while it is armed stands it down
      // (the first attempt waits to be cancelled); the second, for the new expiry, drops.
      name: 'armed-expiry',
      ttlMs: DAY,
      request: { revocationLeadMs: 60_000 },
      expiry(r) {
        let calls = 0;
        return {
          async revokeAccess(ref: any) {
            calls += 1;
            if (calls === 1) {
              const context = Context.current();
              for (;;) {
                context.heartbeat();
                await context.sleep(200);
              }
            }
            return r.activities().revokeAccess(ref);
          },
        };
      },
      async drive(handle) {
        await waitFor(handle, 'ACTIVE');
        const state = await handle.query(grantStateQuery);
        await env.sleep(Date.parse(state.expiresAt) - (await env.currentTimeMs()) - 30_000);
        await handle.executeUpdate(extendUpdate, { args: [{ expiresAt: new Date(Date.parse(state.expiresAt) + DAY).toISOString(), actor: 'alice', reason: 'one more day' }] });
        return handle.result();
      },
    },
    {
      name: 'revoke-retrying',
      setup: (r) => r.fail('revokeAccess', { times: 8, type: 'DatabaseUnavailable' }),
      drive: (handle) => handle.result(),
    },
    {
      // The server refuses the drop at the expiry: EXPIRED, retained; its own retry a
      // day later is refused again; a retryDrop then drops the account.
      name: 'retained',
      ttlMs: DAY,
      setup: (r) => {
        const refused = { accountExisted: true, sessionsKilled: 1, secretDeleted: true, containedAt: '2030-01-01T00:00:00.000Z', dropped: false, refusal: 'the account is the definer of stored objects', leftBehind: [{ kind: 'VIEW' as const, schema: 'dev_project', name: 'v' }], leftBehindCount: 1 };
        r.revokeReports(refused, refused, { accountExisted: true, sessionsKilled: 0, secretDeleted: false, containedAt: '2030-01-02T00:00:00.000Z', dropped: true, leftBehind: [], leftBehindCount: 0 });
      },
      async drive(handle, r) {
        await waitFor(handle, 'ACTIVE');
        await env.sleep(DAY + 60_000);
        await waitUntil(handle, (s) => s.history.some((e: { event: string }) => e.event === 'ACCOUNT_RETAINED'));
        await env.sleep(DAY + 60_000);
        await waitUntil(handle, () => r.calls.filter((c) => c.name === 'revokeAccess').length === 2);
        await handle.executeUpdate(retryDropUpdate, { args: [{ actor: 'admin', reason: 'definer changed' }] });
        return handle.result();
      },
    },
    {
      // Extensions beyond the approval: one approved, one denied, one left undecided until the expiry.
      name: 'extension-approval',
      approval: true,
      async drive(handle) {
        await waitFor(handle, 'PENDING_APPROVAL');
        await handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann', actorEmail: 'ann@example.com' }] });
        await waitFor(handle, 'ACTIVE');
        const ask = async () => {
          const state = await handle.query(grantStateQuery);
          return handle.executeUpdate(extendUpdate, { args: [{ expiresAt: new Date(Date.parse(state.expiresAt) + DAY).toISOString(), actor: 'rita', mayExceedApproval: false }] });
        };
        await ask();
        await handle.executeUpdate(approveUpdate, { args: [{ actor: 'ann', actorEmail: 'ann@example.com' }] });
        await ask();
        await handle.executeUpdate(denyUpdate, { args: [{ actor: 'ann', reason: 'enough' }] });
        await ask();
        return handle.result();
      },
    },
    {
      // A lowering whose sessions cannot be ended at first, then drift repaired once and found recurring.
      name: 'level-changes',
      setup: (r) => {
        r.fail('changePrivileges', { type: 'SessionsNotEnded', times: 1 }).fail('endSessions', { times: 2 });
        r.repairReports(
          (c) => ({ status: 'repaired', before: [...c.privileges, 'SHOW CREATE ROUTINE'], removed: ['SHOW CREATE ROUTINE'], restored: [], sessionsKilled: 1 }),
          (c) => ({ status: 'recurring', before: [...c.privileges, 'SHOW CREATE ROUTINE'], removed: [], restored: [], sessionsKilled: 0 }),
        );
      },
      async drive(handle, r) {
        await waitFor(handle, 'ACTIVE');
        await handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'READ', privileges: ['SELECT'], actor: 'alice', approval: null }] });
        await env.sleep(3600_000);
        await waitUntil(handle, () => r.succeeded().some((c) => c.name === 'endSessions'));
        await handle.executeUpdate(repairDriftUpdate, { args: [{ actor: 'reconciler' }] });
        await handle.executeUpdate(repairDriftUpdate, { args: [{ actor: 'reconciler' }] });
        await handle.signal(revokeSignal, { actor: 'bob' });
        return handle.result();
      },
    },
    {
      // An update stuck in the database at the expiry: access ends after the bounded
      // wait; a change queued behind it is refused. On the real clock (~45 s): the test
      // server does not skip time while an activity runs.
      name: 'stuck-update-at-expiry',
      ttlMs: 15_000,
      async drive(handle, r) {
        const release = r.holdChanges();
        await waitFor(handle, 'ACTIVE');
        const held = handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'READ', privileges: ['SELECT'], actor: 'alice' }] }).catch(() => undefined);
        await waitUntil(handle, () => r.calls.some((c) => c.name === 'changePrivileges'));
        const queued = handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'ADMIN', privileges: ['ALL PRIVILEGES'], actor: 'mallory' }] }).catch(() => undefined);
        await waitUntil(handle, (s) => s.status === 'EXPIRED', 120_000);
        release();
        await Promise.all([held, queued]);
        return handle.result();
      },
    },
    {
      // A PostgreSQL grant: createAccount carries the expiry, an extension moves it on the server (patch account-expiry).
      name: 'account-expiry',
      request: { target: { schema: 'dev_project', adminSecretId: 'admin/pg', hostPattern: '%', maxUserConnections: 5, engine: 'postgresql' } },
      async drive(handle) {
        await waitFor(handle, 'ACTIVE');
        const state = await handle.query(grantStateQuery);
        await handle.executeUpdate(extendUpdate, { args: [{ expiresAt: new Date(Date.parse(state.expiresAt) + 5 * DAY).toISOString(), actor: 'alice' }] });
        await handle.executeUpdate(changeAccessLevelUpdate, { args: [{ accessLevel: 'READ', privileges: ['SELECT'], actor: 'alice' }] });
        await handle.signal(revokeSignal, { actor: 'bob', reason: 'done' });
        return handle.result();
      },
    },
  ];

  const named = process.argv.slice(2);
  for (const scenario of scenarios) {
    const file = join(HISTORIES_DIR, `${scenario.name}.json`);
    if (named.length > 0 ? !named.includes(scenario.name) : existsSync(file)) continue;
    const recorded = new RecordedActivities();
    scenario.setup?.(recorded);
    const taskQueue = uniqueTaskQueue('record');
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities: recorded.activities() });
    const expiryWorker = scenario.expiry
      ? await Worker.create({ connection: env.nativeConnection, taskQueue: `${taskQueue}${ARMED_REVOCATION_QUEUE_SUFFIX}`, activities: scenario.expiry(recorded) })
      : undefined;
    const running = expiryWorker ? expiryWorker.run() : undefined;
    await worker.runUntil(async () => {
      const now = new Date(await env.currentTimeMs());
      const request = {
        ...grantRequest({ now, ttlMs: scenario.ttlMs ?? 30 * DAY, email: `${scenario.name}@example.com` }),
        ...scenario.request,
        ...(scenario.approval ? { approval: { reasons: ['every grant on project/dev_project needs approval'], timeoutMs: DAY, approvers: [{ name: 'ann', email: 'ann@example.com' }] }, durationMs: 8 * 3600_000 } : {}),
      };
      const handle = await env.client.workflow.start(grantAccess, { taskQueue, workflowId: request.grantId, args: [request] });
      await scenario.drive(handle, recorded);
      const history = await handle.fetchHistory();
      // Stack traces name the checkout's absolute path; keep the fixtures free of it.
      const json = historyToJSON(history).split(`${ROOT}/`).join('');
      writeFileSync(file, `${json}\n`);
      process.stdout.write(`recorded ${scenario.name} (${history.events?.length ?? 0} events)\n`);
    });
    expiryWorker?.shutdown();
    await running;
  }
  await env.teardown();
}

async function waitFor(handle: { query: (q: typeof grantStateQuery) => Promise<{ status: string }> }, status: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await handle.query(grantStateQuery)).status === status) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never reached ${status}`);
}

async function waitUntil(handle: { query: (q: typeof grantStateQuery) => Promise<any> }, ok: (state: any) => boolean, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    if (ok(await handle.query(grantStateQuery))) return;
  }
  throw new Error('never reached the expected state');
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
