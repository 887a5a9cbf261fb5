import assert from 'node:assert/strict';
import { DynamoAuditStore } from '../../src/adapters/aws';
import { extendUpdate, reviewUpdate } from '../../src/contract/messages';
import { accountExists } from '../support/mariadb';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';

// Standing grants, reviewed (docs/decisions/0109-standing-grants-reviewed.md), on the
// real stack with test-sized periods: a request with no end (expiresAt NA) on a
// database that allows it is granted until its first review deadline; the review
// e-mail gives each reviewer Keep and Revoke links of their own; keeping moves the
// deadline, revoking ends access, and nobody deciding ends it at the deadline.
// What the grantee could try (keeping their own access, extending past the review,
// a link of one review deciding another) is tried too.

const REVIEW_MS = 40_000;
const DECIDE_WITHIN_MS = 25_000;

describe('end to end: standing grants, reviewed', function () {
  this.timeout(240_000);
  let stack: TestStack;
  let audit: DynamoAuditStore;
  /** Started first, never decided: it lapses while the other cases run. */
  let lapsing: Promise<{ grantId: string; account: string; requestedAt: number }>;

  before(async () => {
    stack = await startTestStack({ decisionLinks: true, standing: { review: '40s', decideWithin: '25s' } });
    audit = new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable);
    lapsing = (async () => {
      const requestedAt = Date.now();
      const { grantId, body } = await standing();
      return { grantId, account: body.account as string, requestedAt };
    })();
    await lapsing;
  });
  after(async () => {
    await stack?.stop();
  });

  async function standing(email = stack.newEmail()): Promise<{ grantId: string; email: string; body: any }> {
    const res = await stack.call('POST', '/grants', { email, name: 'Standing Test', project: stack.project, database: stack.databases.standing, accessLevel: 'READ', expiresAt: 'NA', reason: 'on call' }, { key: stack.keys.requester });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return { grantId: res.body.grantId as string, email, body: res.body };
  }

  function reviewMails(grantee: string) {
    return stack.components.smtp.messages
      .filter((m) => m.subject.includes('review standing') && m.subject.includes(grantee))
      .map((m) => ({ to: [...m.to, ...m.cc], subject: m.subject, text: m.text, links: [...m.text.matchAll(/https?:\/\/[^\s]+\/decisions\/[A-Za-z0-9_.-]+/g)].map((x) => x[0]) }));
  }

  async function reviewLinks(grantee: string): Promise<{ keep: string; revoke: string }> {
    const found = await until(`the review e-mail about ${grantee}`, async () => reviewMails(grantee).find((m) => m.links.length === 2), 40_000);
    return { keep: found.links[0]!, revoke: found.links[1]! };
  }

  const press = (url: string, form: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: new URLSearchParams(form).toString() });
  const status = async (grantId: string) => (await stack.call('GET', stack.grantPath(grantId))).body;

  it('When NA is asked for on a database without standing grants, then it is a 400 that names expiresAt and the databases that allow them; none of another project\'s do', async () => {
    const email = stack.newEmail();
    const here = await stack.call('POST', '/grants', { email, name: 'No End', project: stack.project, database: stack.databases.main, accessLevel: 'READ', expiresAt: 'NA' });
    assert.equal(here.status, 400, JSON.stringify(here.body));
    assert.match(here.body.message, /^expiresAt: NA \(no end\) is not allowed on [^ ]+\/main; databases of project [^ ]+ that allow standing grants: standing \(reviewed every 40s\)$/);
    const elsewhere = await stack.call('POST', '/grants', { email, name: 'No End', project: 'elsewhere', database: 'main', accessLevel: 'READ', expiresAt: 'NA' });
    assert.equal(elsewhere.status, 400, JSON.stringify(elsewhere.body));
    assert.match(elsewhere.body.message, /^expiresAt: NA \(no end\) is not allowed on elsewhere\/main; no database of project elsewhere allows standing grants/);
  });

  it('When a standing grant is asked for, then it is ACTIVE until its review deadline (shown by GET and the listing); the reviewer\'s Keep link moves the deadline, audited REVIEW_KEPT with the link; the grantee cannot extend it', async () => {
    const before = Date.now();
    const { grantId, email, body } = await standing();
    assert.equal(body.status, 'ACTIVE');
    assert.equal(body.standing.reviewEveryMs, REVIEW_MS);
    assert.equal(body.standing.reviewBy, body.expiresAt);
    const deadline = Date.parse(body.expiresAt);
    assert.ok(deadline >= before + REVIEW_MS && deadline <= Date.now() + REVIEW_MS, body.expiresAt);
    const listed = await until('the grant in the listing', async () => {
      const res = await stack.call('GET', `/grants?project=${stack.project}&database=standing`);
      return (res.body.grants as any[]).find((g) => g.grantId === grantId && g.reviewBy);
    });
    assert.equal(listed.reviewBy, body.expiresAt);

    // Extending is not how a standing grant goes on: only a review keeps it.
    const extend = await stack.call('POST', stack.grantPath(grantId, '/extend'), { expiresAt: new Date(Date.now() + 86_400_000).toISOString() }, { key: stack.keys.requester });
    assert.equal(extend.status, 400, JSON.stringify(extend.body));
    assert.match(extend.body.message, /standing grant/);

    const links = await reviewLinks(email);
    // Each reviewer's e-mail is sent on its own: the owner's may land after the approver's.
    const owners = await until('the owner\'s review e-mail', async () => reviewMails(email).find((m) => m.to.includes(stack.components.owner.email)), 20_000);
    assert.equal(owners.links.length, 0, 'the owner is asked too, without links (not an API client)');
    assert.ok(reviewMails(email).some((m) => m.to.includes('approver@example.com') && m.links.length === 2), 'the approver has links of their own');
    const asked = await status(grantId);
    assert.ok(asked.standing.review?.requestedAt, JSON.stringify(asked.standing));
    // Asked decideWithin before the deadline (the workflow's clock, give or take a wake-up).
    assert.ok(Math.abs(deadline - DECIDE_WITHIN_MS - Date.parse(asked.standing.review.requestedAt)) < 3_000, asked.standing.review.requestedAt);
    assert.ok(Date.now() < deadline);

    const kept = await press(links.keep);
    assert.equal(kept.status, 200, await kept.clone().text());
    assert.deepEqual(await kept.json(), { grantId, kind: 'review', decision: 'kept', status: 'ACTIVE' });
    const after = await status(grantId);
    assert.ok(Date.parse(after.expiresAt) > deadline, `${after.expiresAt} after ${body.expiresAt}`);
    assert.equal(after.standing.reviewBy, after.expiresAt);
    assert.equal(after.standing.lastReviewedBy, 'test-approver');
    assert.equal(after.standing.review, undefined);
    const events = await audit.forGrant(grantId);
    assert.ok(events.some((e) => e.event === 'REVIEW_REQUESTED'));
    const keptEvent = events.find((e) => e.event === 'REVIEW_KEPT')!;
    assert.equal(keptEvent.actor, 'test-approver');
    assert.equal(keptEvent.expiresAt, after.expiresAt);
    assert.match(keptEvent.detail ?? '', /decided with one-click link [0-9a-f]{16}, sent to approver@example\.com$/);

    // The review is decided: its Revoke link (and the Keep again) finds nothing to decide.
    const again = await press(links.revoke, { reason: 'late' });
    assert.equal(again.status, 409);
    assert.equal((await status(grantId)).status, 'ACTIVE');
    await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'done' }, { key: stack.keys.admin });
  });

  it('When a reviewer presses Revoke (with a reason), then access ends: REVOKED, the account gone, the request audited with the link', async () => {
    const { grantId, email, body } = await standing();
    const links = await reviewLinks(email);
    const empty = await press(links.revoke, { reason: ' ' });
    assert.equal(empty.status, 400);
    const res = await press(links.revoke, { reason: 'no longer on call' });
    assert.equal(res.status, 200, await res.clone().text());
    const done = await until('REVOKED', async () => ((await status(grantId)).status === 'REVOKED' ? status(grantId) : undefined), 30_000);
    assert.ok(done.accessEndedAt);
    assert.equal(await accountExists(body.account, '%'), false);
    const requested = (await audit.forGrant(grantId)).find((e) => e.event === 'REVOKE_REQUESTED')!;
    assert.equal(requested.actor, 'test-approver');
    assert.equal(requested.reason, 'no longer on call');
    assert.match(requested.detail ?? '', /^revoked in its review; decided with one-click link [0-9a-f]{16}, sent to approver@example\.com$/);
  });

  it('When the grantee is a reviewer, then their review e-mail has no links, and neither the API nor the workflow lets them keep their own access; a link of another review decides nothing', async () => {
    const { grantId } = await standing('approver@example.com');
    try {
      const mail = await until('the review e-mail', async () => stack.components.smtp.messages.find((m) => m.subject.includes('review standing') && m.text.includes(grantId) && m.to.includes('approver@example.com')), 40_000);
      assert.equal(/\/decisions\//.test(mail.text), false, 'no link to keep one’s own access');
      const self = await stack.call('POST', stack.grantPath(grantId, '/review'), { decision: 'keep' }, { key: stack.keys.approver });
      assert.equal(self.status, 403, JSON.stringify(self.body));
      assert.equal(self.body.error, 'self_approval');
      const handle = stack.client.workflow.getHandle(grantId);
      await assert.rejects(handle.executeUpdate(reviewUpdate, { args: [{ decision: 'keep', actor: 'test-approver', actorEmail: 'approver@example.com', mayReview: true }] }), (err: Error) =>
        /nobody can keep their own access/.test(String((err as { cause?: Error }).cause?.message)),
      );
      // Without the API's say-so (mayReview), nobody reviews; and a link bound to another review (or of another kind) is refused.
      await assert.rejects(handle.executeUpdate(reviewUpdate, { args: [{ decision: 'keep', actor: 'test-admin' }] }));
      const requestedAt = (await status(grantId)).standing.review.requestedAt as string;
      for (const link of [
        { id: '0123456789abcdef', kind: 'review' as const, request: '2020-01-01T00:00:00.000Z', email: 'x@example.com' },
        { id: '0123456789abcdef', kind: 'approval' as const, request: requestedAt, email: 'x@example.com' },
      ]) {
        await assert.rejects(handle.executeUpdate(reviewUpdate, { args: [{ decision: 'keep', actor: 'test-admin', mayReview: true, link }] }), (err: Error) =>
          /already decided or replaced/.test(String((err as { cause?: Error }).cause?.message)),
        );
      }
      // Nor does extend (the workflow's own validator, not only the API's).
      await assert.rejects(handle.executeUpdate(extendUpdate, { args: [{ expiresAt: new Date(Date.now() + 86_400_000).toISOString(), actor: 'test-admin', mayExceedApproval: true }] }));
      // An admin keeps it through the API.
      const kept = await stack.call('POST', stack.grantPath(grantId, '/review'), { decision: 'keep', reason: 'still needed' }, { key: stack.keys.admin });
      assert.equal(kept.status, 200, JSON.stringify(kept.body));
      assert.equal(kept.body.decision, 'keep');
      assert.ok(Date.parse(kept.body.expiresAt) > Date.now() + REVIEW_MS - 5000);
    } finally {
      await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'cleanup' }, { key: stack.keys.admin });
    }
  });

  it('When nobody decides a review by its deadline, then REVIEW_LAPSED and EXPIRED are audited, in that order, and the account is gone', async () => {
    const { grantId, account, requestedAt } = await lapsing;
    const ended = await until('EXPIRED', async () => ((await status(grantId)).status === 'EXPIRED' ? status(grantId) : undefined), Math.max(5_000, requestedAt + REVIEW_MS + 30_000 - Date.now()));
    assert.ok(Date.parse(ended.accessEndedAt) - Date.parse(ended.expiresAt) < 5_000, `${ended.accessEndedAt} vs ${ended.expiresAt}`);
    assert.equal(await accountExists(account, '%'), false);
    const events = (await audit.forGrant(grantId)).map((e) => e.event);
    const lapsed = events.indexOf('REVIEW_LAPSED');
    assert.ok(events.indexOf('REVIEW_REQUESTED') >= 0 && lapsed > events.indexOf('REVIEW_REQUESTED'), events.join(', '));
    assert.ok(events.indexOf('EXPIRED') > lapsed, events.join(', '));
    assert.ok(!events.includes('REVIEW_KEPT'));
    assert.ok(stack.components.smtp.messages.some((m) => m.subject.includes('reminder: review standing') && m.text.includes(grantId)), 'the reviewers were reminded before the deadline');
  });
});
