import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { grantAccess } from '../../src/workflows';
import { extendUpdate, grantStateQuery, revokeSignal } from '../../src/contract/messages';
import { SA } from '../../src/contract/search-attributes';
import { onTestRunEnd } from '../support/hooks';
import { quietRuntime, uniqueTaskQueue, workflowBundle } from '../support/temporal';
import { ROOT, toolPath } from '../support/tools';
import { DAY, RecordedActivities, grantRequest } from './fixtures';

// Long lives: a grant extended hundreds of times grows its history until the
// server suggests continuing as new. It must do so without losing its state,
// its audit sequence or any message sent around the hand-over. Runs on a Temporal
// dev server of its own that suggests continue-as-new early (after 150 events
// rather than thousands), so the test takes seconds.
//
// RECORD_LONG_LIFE=1 writes the first run's history to test/replay/histories,
// where the replay test checks it against every later version of the workflow.

const EXTENSIONS = 300;
const SUGGEST_AFTER_EVENTS = 150;

describe('long lives: hundreds of extensions and continue-as-new', function () {
  this.timeout(240_000);
  let env: TestWorkflowEnvironment;

  before(async () => {
    quietRuntime();
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: toolPath.temporal() },
        searchAttributes: Object.values(SA),
        ip: '127.0.0.1',
        extraArgs: ['--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${SUGGEST_AFTER_EVENTS}`],
        log: { format: 'pretty', level: 'error' },
      },
    });
    onTestRunEnd(() => env.teardown(), { server: true });
  });

  it(`When a grant is extended ${EXTENSIONS} times, some at once, then it continues as new with every extension applied, audited once, in order, and a revoke still ends it`, async () => {
    const recorded = new RecordedActivities();
    const taskQueue = uniqueTaskQueue('long');
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities: recorded.activities() });
    await worker.runUntil(async () => {
      const now = new Date();
      const request = grantRequest({ now, ttlMs: 30 * DAY, email: 'long.life@example.com' });
      const workflowId = `${request.grantId}/${uniqueTaskQueue('id')}`;
      const handle = await env.client.workflow.start(grantAccess, { taskQueue, workflowId, args: [request] });
      const first = await handle.describe();
      for (let i = 0; i < 100 && (await handle.query(grantStateQuery)).status !== 'ACTIVE'; i++) await new Promise((r) => setTimeout(r, 50));

      // Extensions in bursts of five sent at once: arrival order decides, and every
      // target is later than the one before, so each is accepted.
      const base = Date.parse(request.expiresAt);
      const target = (i: number) => new Date(base + (i + 1) * 60_000).toISOString();
      for (let i = 0; i < EXTENSIONS; i += 5) {
        const burst = Array.from({ length: Math.min(5, EXTENSIONS - i) }, (_, k) => i + k);
        // Sent one after the other so that arrival order is the order of the targets.
        const replies: Promise<{ expiresAt: string }>[] = [];
        for (const j of burst) {
          replies.push(env.client.workflow.getHandle(workflowId).executeUpdate(extendUpdate, { args: [{ expiresAt: target(j), actor: `ext-${j}` }] }));
          await new Promise((r) => setImmediate(r));
        }
        const results = await Promise.allSettled(replies);
        for (const [k, r] of results.entries()) {
          // A burst raced within itself: a later target validated first makes an earlier one "not later". Retry those alone.
          if (r.status === 'rejected') {
            const j = burst[k]!;
            const state = await env.client.workflow.getHandle(workflowId).query(grantStateQuery);
            assert.ok(Date.parse(state.expiresAt) >= Date.parse(target(j)), `extension ${j} was refused but the expiry ${state.expiresAt} is before it: ${String(r.reason)}`);
          }
        }
      }

      const state = await env.client.workflow.getHandle(workflowId).query(grantStateQuery);
      assert.equal(state.expiresAt, target(EXTENSIONS - 1), 'the last extension holds');
      assert.equal(state.status, 'ACTIVE');

      // It has continued as new, keeping the first run's id in its event ids.
      const latest = await env.client.workflow.getHandle(workflowId).describe();
      assert.notEqual(latest.runId, first.runId, 'the grant continued as new');
      const runs = new Set<string>();
      for await (const wf of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.add(wf.runId);
      assert.ok(runs.size >= 2, `runs: ${runs.size}`);

      // A revoke sent now reaches the current run.
      await env.client.workflow.getHandle(workflowId).signal(revokeSignal, { actor: 'bob', reason: 'done' });
      const final = await env.client.workflow.getHandle<typeof grantAccess>(workflowId).result();
      assert.equal(final.status, 'REVOKED');

      const audits = recorded.audits();
      const extended = audits.filter((a) => a.event === 'EXTENDED');
      const accepted = new Set(extended.map((a) => a.actor));
      assert.equal(extended.length, accepted.size, 'each extension audited once');
      // Every expiry in the trail moves forward, and the trail's ids are one unbroken sequence.
      for (let i = 1; i < extended.length; i++) assert.ok(Date.parse(extended[i]!.expiresAt) > Date.parse(extended[i - 1]!.expiresAt));
      const seq = audits.map((a) => Number(a.eventId.split(':')[1]));
      assert.deepEqual(seq, [...seq].sort((a, b) => a - b));
      assert.equal(new Set(audits.map((a) => a.eventId)).size, audits.length, 'no event id used twice across runs');
      assert.ok(audits.every((a) => a.eventId.startsWith(`${first.runId}:`)), 'event ids keep the first run id');
      assert.equal(final.history.filter((h) => h.event === 'EXTENDED').length, extended.length, 'the carried history keeps every extension');
      assert.deepEqual(recorded.trace().filter((t) => ['createAccount', 'grantPrivileges', 'revokeAccess'].includes(t)), ['createAccount', 'grantPrivileges', 'revokeAccess'], 'provisioned once, revoked once');

      if (process.env.RECORD_LONG_LIFE) {
        const history = await env.client.workflow.getHandle(workflowId, first.runId).fetchHistory();
        const json = historyToJSON(history).split(`${ROOT}/`).join('');
        writeFileSync(join(ROOT, 'test', 'replay', 'histories', 'long-life-first-run.json'), `${json}\n`);
      }
    });
  });
});
