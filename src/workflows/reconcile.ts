import { log, proxyActivities, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { ReconcileActivities } from '../contract/activities';
import { innermostMessage, summaryHasFindings, type ReconcileSummary, type ReconcilerMode } from '../domain';

// One reconciler run, started by the Schedule `dbaccess-reconciler` (or by hand):
// for each server, inspect it (an activity: accounts, privileges, open grants),
// revoke the orphans one activity each, ask drifted grants to repair themselves,
// and e-mail the administrators once if anything was found. Deterministic; every
// side effect is an idempotent activity. History stays small: each server's
// inspection returns a capped summary, never the server's whole account list.

export interface ReconcileInput {
  /** Overrides the configured mode for this run (`report` for a dry run by hand). */
  mode?: ReconcilerMode;
}

const INSPECT: ActivityOptions = {
  startToCloseTimeout: '10m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 3 },
};
const CHANGE: ActivityOptions = {
  startToCloseTimeout: '2m',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
};
const NOTIFY: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: ['MailRejected'] },
};

const inspect = proxyActivities<ReconcileActivities>(INSPECT);
const change = proxyActivities<ReconcileActivities>(CHANGE);
const notify = proxyActivities<ReconcileActivities>(NOTIFY);


export async function reconcileAccess(input: ReconcileInput = {}): Promise<ReconcileSummary> {
  const info = workflowInfo();
  const plan = await inspect.reconcilePlan.executeWithOptions({ ...INSPECT, summary: 'read the configured servers and mode' }, []);
  const mode: ReconcilerMode = input.mode ?? plan.mode;
  const summary: ReconcileSummary = {
    runId: info.runId,
    mode,
    startedAt: new Date().toISOString(),
    servers: [],
    orphans: [],
    orphanCount: 0,
    lookAlikes: [],
    lookAlikeCount: 0,
    drift: [],
    driftCount: 0,
  };

  for (const adminSecretId of plan.servers) {
    let findings;
    try {
      findings = await inspect.inspectServer.executeWithOptions({ ...INSPECT, summary: `inspect the server of ${adminSecretId}` }, [{ adminSecretId }]);
    } catch (err) {
      summary.servers.push({ adminSecretId, accountsSeen: 0, openGrants: 0, inProgress: 0, error: innermostMessage(err) });
      continue;
    }
    summary.servers.push({ adminSecretId, accountsSeen: findings.accountsSeen, openGrants: findings.openGrants, inProgress: findings.inProgress });
    summary.lookAlikes.push(...findings.lookAlikes);
    summary.lookAlikeCount += findings.lookAlikeCount;
    summary.orphanCount += findings.orphanCount;
    summary.driftCount += findings.driftCount;

    for (const orphan of findings.orphans) {
      if (mode === 'report') {
        summary.orphans.push({ ...orphan, outcome: 'reported' });
        continue;
      }
      try {
        const done = await change.revokeOrphan.executeWithOptions(
          { ...CHANGE, summary: `revoke orphan ${orphan.account}@${orphan.host} of ${orphan.grantId}: contain (lock, new password, revoke, end sessions), drop, delete its secret` },
          [{ orphan, workflowId: info.workflowId, runId: info.runId, at: new Date().toISOString() }],
        );
        summary.orphans.push({ ...orphan, outcome: done.outcome, detail: done.detail });
      } catch (err) {
        summary.orphans.push({ ...orphan, outcome: 'failed', detail: innermostMessage(err) });
      }
    }

    for (const drift of findings.drift) {
      if (mode === 'report' || !drift.repairable) {
        // Privileges on other schemas are reported only: the service manages one schema per grant.
        summary.drift.push({ ...drift, outcome: 'reported' });
        continue;
      }
      try {
        const done = await change.repairGrantDrift.executeWithOptions({ ...CHANGE, summary: `ask ${drift.grantId} to repair its account ${drift.account}` }, [
          { grantId: drift.grantId, runId: info.runId },
        ]);
        summary.drift.push({ ...drift, outcome: done.outcome === 'skipped' ? 'reported' : done.outcome, detail: done.detail });
      } catch (err) {
        summary.drift.push({ ...drift, outcome: 'failed', detail: innermostMessage(err) });
      }
    }

    // Absent from inspections recorded before retained accounts existed: no new command on replay.
    for (const retained of findings.retained ?? []) {
      summary.retained ??= [];
      summary.retainedCount = (summary.retainedCount ?? 0) + 1;
      if (mode === 'report') {
        summary.retained.push({ ...retained, outcome: 'reported' });
        continue;
      }
      try {
        const done = await change.retryRetainedDrop.executeWithOptions(
          { ...CHANGE, summary: `ask ${retained.grantId} to try dropping its retained account ${retained.account} again` },
          [{ grantId: retained.grantId, runId: info.runId }],
        );
        summary.retained.push({ ...retained, outcome: done.outcome, detail: done.detail });
      } catch (err) {
        summary.retained.push({ ...retained, outcome: 'failed', detail: innermostMessage(err) });
      }
    }
    if ((findings.retainedCount ?? 0) > (findings.retained?.length ?? 0)) {
      summary.retainedCount = (summary.retainedCount ?? 0) + (findings.retainedCount! - findings.retained!.length);
    }
  }

  if (summaryHasFindings(summary)) {
    try {
      await notify.notifyReconcile.executeWithOptions({ ...NOTIFY, summary: 'email the reconciler summary to the administrators' }, [summary]);
    } catch (err) {
      log.error('could not e-mail the reconciler summary', { message: innermostMessage(err) });
    }
  }
  log.info('reconciler run done', { orphans: summary.orphanCount, drift: summary.driftCount, lookAlikes: summary.lookAlikeCount, retained: summary.retainedCount ?? 0 });
  return summary;
}
