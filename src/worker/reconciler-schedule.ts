import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { RECONCILER_SCHEDULE_ID } from '../domain';

// The reconciler's Temporal Schedule, created or brought up to date by every
// worker at start-up: idempotent, and safe when several workers start at once.
// Overlap SKIP: a run still going when the next is due is not doubled. A pause
// set by an operator (Temporal UI, `temporal schedule toggle`) is kept.

export interface ReconcilerScheduleOptions {
  taskQueue: string;
  intervalMs: number;
  /** Default `dbaccess-reconciler`; tests use their own. */
  scheduleId?: string;
}

export type ScheduleChange = 'created' | 'updated' | 'unchanged';

/** The workflow the schedule starts (src/workflows/reconcile.ts). */
const WORKFLOW_TYPE = 'reconcileAccess';

export async function ensureReconcilerSchedule(client: Client, options: ReconcilerScheduleOptions): Promise<ScheduleChange> {
  const scheduleId = options.scheduleId ?? RECONCILER_SCHEDULE_ID;
  const action = { type: 'startWorkflow' as const, workflowType: WORKFLOW_TYPE, args: [{}], taskQueue: options.taskQueue, workflowId: scheduleId };
  const spec = { intervals: [{ every: options.intervalMs }] };
  const handle = client.schedule.getHandle(scheduleId);
  let current;
  try {
    current = await handle.describe();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    try {
      await client.schedule.create({
        scheduleId,
        spec,
        action,
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10m' },
        state: { note: 'dbaccess reconciler (created by the worker at start-up)' },
      });
      return 'created';
    } catch (createErr) {
      // Another worker created it meanwhile: bring that one up to date below.
      if (!(createErr instanceof ScheduleAlreadyRunning)) throw createErr;
      current = await handle.describe();
    }
  }
  const same =
    current.spec.intervals?.length === 1 &&
    current.spec.intervals[0]!.every === options.intervalMs &&
    current.action.type === 'startWorkflow' &&
    current.action.workflowType === WORKFLOW_TYPE &&
    current.action.taskQueue === options.taskQueue &&
    current.policies.overlap === ScheduleOverlapPolicy.SKIP;
  if (same) return 'unchanged';
  await handle.update((previous) => ({
    spec,
    action,
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: previous.policies.catchupWindow, pauseOnFailure: previous.policies.pauseOnFailure },
    state: { paused: previous.state.paused, ...(previous.state.note !== undefined ? { note: previous.state.note } : {}) },
  }));
  return 'updated';
}
