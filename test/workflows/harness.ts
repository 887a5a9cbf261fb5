import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { GrantState } from '../../src/domain';
import { grantStateQuery } from '../../src/contract/messages';
import { timeSkippingTemporal, uniqueTaskQueue, workflowBundle } from '../support/temporal';
import type { RecordedActivities } from './fixtures';

// The time-skipping test server and a worker on recorded activities, shared by
// the workflow test files. Call inside a `describe`: it registers the hooks.

export interface TimeSkippingHarness {
  /** The test server (set by the `before` hook). */
  readonly env: TestWorkflowEnvironment;
  /** Workflows started in the current `withWorker`, terminated when it ends. */
  readonly started: { terminate: () => Promise<unknown> }[];
  /** Runs `fn` while a worker with `recorded`'s activities serves a fresh task queue. */
  withWorker<T>(recorded: RecordedActivities, fn: (taskQueue: string) => Promise<T>): Promise<T>;
  /** Polls the grant's state until `ok` (or its status is `status`). */
  waitFor(handle: { query: (q: typeof grantStateQuery) => Promise<GrantState> }, ok: string | ((s: GrantState) => boolean)): Promise<GrantState>;
}

export function useTimeSkipping(queuePrefix: string): TimeSkippingHarness {
  let env: TestWorkflowEnvironment | undefined;
  const started: { terminate: () => Promise<unknown> }[] = [];

  before(async () => {
    env = await timeSkippingTemporal();
    await workflowBundle();
  });
  after(async () => {
    await env?.teardown();
  });

  return {
    get env() {
      if (!env) throw new Error('the time-skipping server is not started yet');
      return env;
    },
    started,
    async withWorker(recorded, fn) {
      const taskQueue = uniqueTaskQueue(queuePrefix);
      const worker = await Worker.create({ connection: this.env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities: recorded.activities() });
      try {
        return await worker.runUntil(fn(taskQueue));
      } finally {
        // A workflow left open by a failed assertion would hold a workflow task
        // with no worker, which stops the test server from skipping time.
        await Promise.all(started.splice(0).map((h) => h.terminate().catch(() => undefined)));
      }
    },
    async waitFor(handle, ok) {
      const done = typeof ok === 'string' ? (s: GrantState) => s.status === ok : ok;
      for (let i = 0; i < 400; i++) {
        const state = await handle.query(grantStateQuery);
        if (done(state)) return state;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`the grant never reached ${typeof ok === 'string' ? ok : 'the expected state'}`);
    },
  };
}
