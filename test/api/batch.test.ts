import assert from 'node:assert/strict';
import { grantIdFor } from '../../src/domain';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';

// POST /grants/batch over HTTP against the real stack: every row checked first
// (all or nothing), then each started, with per-row answers; roles as POST /grants.

const DAY = 24 * 60 * 60 * 1000;
const isoIn = (ms: number) => new Date(Date.now() + ms).toISOString();

describe('HTTP API: POST /grants/batch', function () {
  this.timeout(90_000);
  let stack: TestStack;

  before(async () => {
    stack = await startTestStack();
  });
  after(async () => {
    await stack?.stop();
  });

  function row(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return { email: stack.newEmail(), name: 'Ada Lovelace', project: stack.project, database: stack.databases.main, accessLevel: 'READ', expiresAt: isoIn(DAY), ...overrides };
  }
  const idOf = (r: Record<string, unknown>) => grantIdFor(String(r.project), String(r.database), String(r.email));
  const batch = (grants: unknown, key?: string) => stack.call('POST', '/grants/batch', { grants }, key ? { key } : {});
  /**
   * A started row's status is the grant's when the answer was made: ACTIVE (or PENDING_APPROVAL)
   * once the worker has settled it, earlier when the API's wait ran out on a loaded machine. Either
   * way the grant goes on to `settled`: wait for it there.
   */
  const startedAs = async (answer: { row: number; grantId: string; status: string }, expected: { row: number; grantId: string; status: string }) => {
    assert.deepEqual({ ...answer, status: undefined }, { ...expected, status: undefined });
    if (answer.status === expected.status) return;
    assert.ok(['REQUESTED', 'PROVISIONING'].includes(answer.status), `row ${answer.row}: ${answer.status}`);
    await until(`row ${answer.row} (${answer.grantId}) to reach ${expected.status}`, async () => (await stack.call('GET', stack.grantPath(answer.grantId))).body.status === expected.status, 30_000);
  };
  const revokeAll = async (ids: string[]) => {
    for (const id of ids) await stack.call('POST', stack.grantPath(id, '/revoke'), {});
  };

  it('When every row is valid, then each is started and the answer lists each row with its grant id and status', async () => {
    const rows = [row(), row({ accessLevel: 'READ_WRITE', duration: '8h', expiresAt: undefined }), row({ database: stack.databases.gated, reason: 'needs an approver' })];
    const res = await batch(rows);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.started, 3);
    assert.equal(res.body.failed, 0);
    assert.equal(res.body.rows.length, 3);
    await startedAs(res.body.rows[0], { row: 1, grantId: idOf(rows[0]!), status: 'ACTIVE' });
    await startedAs(res.body.rows[1], { row: 2, grantId: idOf(rows[1]!), status: 'ACTIVE' });
    await startedAs(res.body.rows[2], { row: 3, grantId: idOf(rows[2]!), status: 'PENDING_APPROVAL' });
    const level = await stack.call('GET', stack.grantPath(idOf(rows[1]!)));
    assert.equal(level.body.accessLevel, 'READ_WRITE');
    assert.equal(level.body.requestedBy, 'test-admin');
    await revokeAll(rows.map(idOf));
  });

  it('When any row is invalid, then the answer is 400 with an entry per row, and nothing is started', async () => {
    const rows = [row(), row({ accessLevel: 'SUPERUSER' }), row({ colour: 'blue' }), row({ project: 'nope' }), row({ email: 'x@evil.example' }), row({ name: 42 })];
    const res = await batch(rows);
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_request');
    assert.match(res.body.message, /5 of 6 rows are invalid \(rows 2, 3, 4, 5, 6\); nothing was started/);
    assert.equal(typeof res.body.requestId, 'string');
    const [ok, level, unknown, project, domain, type] = res.body.rows;
    assert.deepEqual(ok, { row: 1, grantId: idOf(rows[0]!), status: 'VALID' });
    assert.equal(level.error, 'invalid_request');
    assert.match(level.message, /^accessLevel: must be one of ADMIN, READ, READ_WRITE on /);
    assert.deepEqual(unknown, { row: 3, error: 'invalid_request', message: 'colour: is not a known field' });
    assert.equal(project.error, 'unknown_project');
    assert.equal(domain.error, 'domain_not_allowed');
    assert.deepEqual(type, { row: 6, error: 'invalid_request', message: 'name: must be a string' });
    for (const r of rows) assert.equal((await stack.call('GET', stack.grantPath(idOf(r)))).status, 404);
  });

  it('When a row is not an object ({"grants": [null]}, which the document refuses), then the answer is 400 naming that row, and nothing is started', async () => {
    const ok = row();
    const res = await batch([ok, null]);
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_request');
    assert.deepEqual(res.body.rows, [
      { row: 1, grantId: idOf(ok), status: 'VALID' },
      { row: 2, error: 'invalid_request', message: 'row: must be an object' },
    ]);
    assert.equal((await stack.call('GET', stack.grantPath(idOf(ok)))).status, 404);
  });

  it('When two rows ask for the same grant, then the second is refused and nothing is started', async () => {
    const first = row();
    const res = await batch([first, { ...first, email: String(first.email).toUpperCase(), accessLevel: 'READ_WRITE' }]);
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.rows[1], { row: 2, error: 'duplicate_row', message: `email: row 1 already asks for ${idOf(first)}`, grantId: idOf(first) });
    assert.equal((await stack.call('GET', stack.grantPath(idOf(first)))).status, 404);
  });

  it('When a row cannot be started (an open grant exists), then the others are and the answer is 207', async () => {
    const existing = row();
    assert.equal((await stack.call('POST', '/grants', existing)).status, 201);
    const fresh = row();
    const res = await batch([fresh, existing]);
    assert.equal(res.status, 207, JSON.stringify(res.body));
    assert.equal(res.body.started, 1);
    assert.equal(res.body.failed, 1);
    await startedAs(res.body.rows[0], { row: 1, grantId: idOf(fresh), status: 'ACTIVE' });
    assert.equal(res.body.rows[1].error, 'grant_exists');
    assert.equal(res.body.rows[1].grantId, idOf(existing));
    assert.match(res.body.rows[1].message, /an open grant already exists/);
    await revokeAll([idOf(fresh), idOf(existing)]);
  });

  it('When the key may not ask for grants, then the whole batch is 403; a requester outside the project gets a 403 per row', async () => {
    for (const key of [stack.keys.auditor, stack.keys.approver, stack.keys.outsideApprover]) {
      const res = await batch([row()], key);
      assert.equal(res.status, 403);
      assert.equal(res.body.error, 'forbidden');
      assert.match(res.body.message, /^the (auditor|approver) key test-/);
    }
    const outside = await batch([row(), row()], stack.keys.outsideRequester);
    assert.equal(outside.status, 400);
    assert.deepEqual(
      outside.body.rows.map((r: { error: string }) => r.error),
      ['forbidden', 'forbidden'],
    );
    assert.match(outside.body.rows[0].message, /may not ask for grants of project/);
  });

  it('When a requester sends a batch, then the grants are its own (it may revoke them)', async () => {
    const r = row();
    const res = await batch([r], stack.keys.requester);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const revoked = await stack.call('POST', stack.grantPath(idOf(r), '/revoke'), {}, { key: stack.keys.requester });
    assert.equal(revoked.status, 202);
  });

  it('When the body is malformed, too long or larger than the app-wide 16 KiB, then the answers are precise', async () => {
    assert.equal((await batch([])).status, 400);
    const notArray = await stack.call('POST', '/grants/batch', { grants: 'x' });
    assert.equal(notArray.status, 400);
    assert.equal(notArray.body.message, 'grants: must be an array');
    const extra = await stack.call('POST', '/grants/batch', { grants: [row()], dryRun: true });
    assert.equal(extra.body.message, 'dryRun: is not a known field');
    const tooMany = await batch(Array.from({ length: 101 }, () => row()));
    assert.equal(tooMany.status, 400);
    assert.match(tooMany.body.message, /at most 100 rows/);
    // ~40 KiB: over the app's 16 KiB, within the batch route's own limit (every row invalid: nothing starts).
    const big = await batch(Array.from({ length: 80 }, () => row({ accessLevel: 'NOPE', reason: 'r'.repeat(400) })));
    assert.equal(big.status, 400);
    assert.equal(big.body.rows.length, 80);
    const huge = await stack.call('POST', '/grants/batch', JSON.stringify({ grants: [{ reason: 'r'.repeat(300 * 1024) }] }));
    assert.equal(huge.status, 413);
    assert.equal(huge.body.message, 'body: is too large (at most 256 KiB)');
    // The other routes keep the app-wide limit.
    const single = await stack.call('POST', '/grants', JSON.stringify({ ...row(), reason: 'r'.repeat(20 * 1024) }));
    assert.equal(single.status, 413);
  });
});
