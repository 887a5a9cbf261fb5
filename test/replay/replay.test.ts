import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { workflowBundle } from '../support/temporal';

// Histories recorded from the workflow as it shipped (test/replay/histories,
// written by `npm run record:histories`) must replay on the current code: a grant
// that is running today will be resumed by tomorrow's worker. A change that is
// not deterministic fails here, before it reaches a running grant.

const DIR = join(__dirname, 'histories');
const histories = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ name: f.replace(/\.json$/, ''), history: JSON.parse(readFileSync(join(DIR, f), 'utf8')) as unknown }));

describe('replaying recorded grant histories', function () {
  this.timeout(60_000);

  it('When the recorded histories are read, then every lifecycle path is covered', () => {
    assert.deepEqual(histories.map((h) => h.name).sort(), [
      'account-expiry',
      'adoption',
      'approval',
      'armed-expiry',
      'break-glass',
      'break-glass-unreviewed',
      'event-stream',
      'expiry',
      'extension-approval',
      'full-lifecycle',
      'level-changes',
      'long-life-first-run',
      'reminders',
      'retained',
      'revoke-retrying',
      'rollback',
      'standing',
      'stuck-update-at-expiry',
    ]);
  });

  for (const { name, history } of histories) {
    it(`When the "${name}" history is replayed on the current workflow code, then it replays without a determinism error`, async () => {
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, `replay-${name}`);
    });
  }

  it('When a history is replayed on a changed workflow, then the replay fails with a determinism violation', async () => {
    const changed = await bundleWorkflowCode({ workflowsPath: require.resolve('./fixtures/reordered-workflow'), logger: new DefaultLogger('ERROR') });
    const full = histories.find((h) => h.name === 'full-lifecycle')!;
    await assert.rejects(Worker.runReplayHistory({ workflowBundle: changed }, full.history, 'replay-changed'), DeterminismViolationError);
  });
});
