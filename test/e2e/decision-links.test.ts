import assert from 'node:assert/strict';
import { DynamoAuditStore } from '../../src/adapters/aws';
import { approveUpdate } from '../../src/contract/messages';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';

// One-click decisions on the real stack: the approval e-mail gives the approver
// an Approve and a Deny link of their own; opening one decides nothing, pressing
// its button decides through the workflow's own validator, once. What a reader of
// the e-mail (or of a forwarded one, or the grantee) could try with the links is
// tried here too.

describe('end to end: one-click approval links', function () {
  this.timeout(180_000);
  let stack: TestStack;
  let audit: DynamoAuditStore;

  before(async () => {
    stack = await startTestStack({ decisionLinks: true, approvalTimeout: '1h' });
    audit = new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable);
  });
  after(async () => {
    await stack?.stop();
  });

  const in10days = () => new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);

  async function request(email = stack.newEmail(), accessLevel = 'READ'): Promise<{ grantId: string; email: string }> {
    const res = await stack.call('POST', '/grants', { email, name: 'Link Test', project: stack.project, database: stack.databases.gated, accessLevel, expiresAt: in10days(), reason: 'one-click' }, { key: stack.keys.requester });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.status, 'PENDING_APPROVAL');
    return { grantId: res.body.grantId as string, email };
  }

  /** The approval e-mails about a grantee, and the decision links in each. */
  function mails(grantee: string, subject = 'approval needed') {
    return stack.components.smtp.messages
      .filter((m) => m.subject.includes(subject) && m.subject.includes(grantee))
      .map((m) => ({ to: [...m.to, ...m.cc], text: m.text, html: m.html, links: [...m.text.matchAll(/https?:\/\/[^\s]+\/decisions\/[A-Za-z0-9_.-]+/g)].map((x) => x[0]) }));
  }

  async function linksFor(grantee: string, subject?: string): Promise<{ approve: string; deny: string }> {
    const found = await until(`the approval e-mail about ${grantee}`, async () => mails(grantee, subject).find((m) => m.links.length === 2), 20_000);
    return { approve: found.links[0]!, deny: found.links[1]! };
  }

  const open = (url: string, accept = 'text/html') => fetch(url, { headers: { accept } });
  const press = (url: string, form: Record<string, string> = {}, accept = 'text/html') =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept }, body: new URLSearchParams(form).toString() });
  const status = async (grantId: string) => (await stack.call('GET', stack.grantPath(grantId))).body;

  it('When an approver opens the Approve link, then the page shows the request and a button and nothing is decided; pressing it approves as that approver, audited with the link, once', async () => {
    const { grantId, email } = await request();
    const links = await linksFor(email);
    const mail = mails(email).find((m) => m.links.length === 2)!;
    assert.deepEqual(mail.to, ['approver@example.com'], 'each approver gets a message of their own');
    assert.ok(mail.html.includes(`href="${links.approve.replace(/&/g, '&amp;')}"`), 'the HTML part has the link as a button');

    // A mail scanner (or the approver) opening the link decides nothing.
    const page = await open(links.approve);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<form method="post"><button type="submit">Approve<\/button><\/form>/);
    assert.ok(html.includes(email) && html.includes('test-approver'), html);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.equal((await status(grantId)).status, 'PENDING_APPROVAL');

    const done = await press(links.approve);
    assert.equal(done.status, 200, await done.clone().text());
    assert.match(await done.text(), /You approved it/);
    const state = await until('ACTIVE', async () => ((await status(grantId)).status === 'ACTIVE' ? status(grantId) : undefined), 20_000);
    assert.equal(state.approval.decidedBy, 'test-approver');
    const approved = (await audit.forGrant(grantId)).find((e) => e.event === 'APPROVED')!;
    assert.equal(approved.actor, 'test-approver');
    assert.match(approved.detail ?? '', /^decided with one-click link [0-9a-f]{16}, sent to approver@example\.com$/);

    // Once: a second press, and the Deny link of the same e-mail, find the request decided.
    for (const again of [await press(links.approve, {}, 'application/json'), await press(links.deny, { reason: 'late' }, 'application/json')]) {
      assert.equal(again.status, 409);
      assert.equal(((await again.json()) as { error: string }).error, 'already_decided');
    }
  });

  it('When the Deny link is pressed, then a reason is required (400 naming it, nothing decided) and the denial carries it', async () => {
    const { grantId, email } = await request();
    const links = await linksFor(email);
    const page = await (await open(links.deny)).text();
    assert.match(page, /<textarea id="reason" name="reason"[^>]* required>/);
    const empty = await press(links.deny, { reason: '  ' }, 'application/json');
    assert.equal(empty.status, 400);
    assert.match(((await empty.json()) as { message: string }).message, /^reason: is required/);
    assert.equal((await status(grantId)).status, 'PENDING_APPROVAL');
    const denied = await press(links.deny, { reason: 'not this quarter' }, 'application/json');
    assert.equal(denied.status, 200);
    assert.deepEqual(await denied.json(), { grantId, kind: 'approval', decision: 'denied', status: 'DENIED' });
    const event = (await audit.forGrant(grantId)).find((e) => e.event === 'DENIED')!;
    assert.equal(event.reason, 'not this quarter');
    assert.match(event.detail ?? '', /one-click link [0-9a-f]{16}, sent to approver@example\.com/);
  });

  it('When a link is altered (its claim or its signature) or made up, then it decides nothing (404, "not valid" and no more); once the request is withdrawn, its genuine link finds nothing to decide (409)', async () => {
    const { grantId, email } = await request();
    const links = await linksFor(email);
    const [base, token] = links.approve.split('/decisions/') as [string, string];
    const [payload, signature] = token.split('.') as [string, string];
    // The grantee rewrites the claim to name another grant, keeping the signature.
    const claim = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claim, expiresAt: claim.expiresAt + 86_400_000 })).toString('base64url');
    const flipped = signature.slice(0, -2) + (signature.endsWith('AA') ? 'BB' : 'AA');
    for (const bad of [`${forged}.${signature}`, `${payload}.${flipped}`, 'not-a-token', `${payload}.${signature}x`]) {
      const res = await press(`${base}/decisions/${bad}`, {}, 'application/json');
      assert.equal(res.status, 404, bad);
      const body = (await res.json()) as { error: string; message: string };
      assert.deepEqual([body.error, body.message], ['not_found', 'this link is not valid']);
    }
    assert.equal((await status(grantId)).status, 'PENDING_APPROVAL');
    // Withdrawn: the link then finds nothing pending.
    await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'withdrawn' }, { key: stack.keys.requester });
    await until('REVOKED', async () => (await status(grantId)).status === 'REVOKED', 20_000);
    const late = await press(links.approve, {}, 'application/json');
    assert.equal(late.status, 409);
    assert.match(((await late.json()) as { message: string }).message, /already decided, withdrawn or replaced/);
    assert.equal((await status(grantId)).status, 'REVOKED');
  });

  it('When a decision names a link of another request, then the workflow itself refuses it (the API\'s check is not the only one)', async () => {
    const { grantId } = await request();
    const handle = stack.client.workflow.getHandle(grantId);
    const link = { id: '0123456789abcdef', kind: 'approval' as const, request: '2020-01-01T00:00:00.000Z', email: 'approver@example.com' };
    await assert.rejects(handle.executeUpdate(approveUpdate, { args: [{ actor: 'test-approver', actorEmail: 'approver@example.com', link }] }), (err: Error) => /already decided, withdrawn or replaced/.test(String((err as { cause?: Error }).cause?.message)));
    await assert.rejects(handle.executeUpdate(approveUpdate, { args: [{ actor: 'test-approver', link: { ...link, kind: 'extension' as const, request: (await status(grantId)).requestedAt } }] }));
    assert.equal((await status(grantId)).status, 'PENDING_APPROVAL');
    await stack.call('POST', stack.grantPath(grantId, '/deny'), { reason: 'cleanup' }, { key: stack.keys.admin });
  });

  it('When the approver is the grantee, then their e-mail carries no links (nobody approves their own access), and the request still waits', async () => {
    const { grantId } = await request('approver@example.com');
    const mail = await until('the approval e-mail', async () => stack.components.smtp.messages.find((m) => m.subject.includes('approval needed') && m.text.includes(grantId)), 20_000);
    assert.deepEqual(mail.to, ['approver@example.com']);
    assert.equal(/\/decisions\//.test(mail.text), false, 'no decision link to decide one’s own access');
    assert.equal((await status(grantId)).status, 'PENDING_APPROVAL');
    await stack.call('POST', stack.grantPath(grantId, '/deny'), { reason: 'cleanup' }, { key: stack.keys.admin });
  });

  it('When an ACTIVE grant asks for more time than was approved, then the extension e-mail has its own links; the old approval link cannot decide it, the new one can', async () => {
    const { grantId, email } = await request();
    const first = await linksFor(email);
    assert.equal((await press(first.approve)).status, 200);
    await until('ACTIVE', async () => (await status(grantId)).status === 'ACTIVE', 20_000);
    const to = new Date(Date.now() + 20 * 86_400_000).toISOString().slice(0, 10);
    const asked = await stack.call('POST', stack.grantPath(grantId, '/extend'), { expiresAt: to, reason: 'project slipped' }, { key: stack.keys.requester });
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    const ext = await linksFor(email, 'approval needed: extend');
    assert.notEqual(ext.approve, first.approve);
    // The link of the first request, still within its deadline, is not a link for this one.
    const stale = await press(first.approve, {}, 'application/json');
    assert.equal(stale.status, 409);
    assert.equal((await status(grantId)).pendingExtension?.to.slice(0, 10), to);
    const approved = await press(ext.approve, {}, 'application/json');
    assert.equal(approved.status, 200, JSON.stringify(await approved.clone().json()));
    const state = await status(grantId);
    assert.equal(state.expiresAt.slice(0, 10), to);
    assert.equal(state.pendingExtension, undefined);
    const extended = (await audit.forGrant(grantId)).find((e) => e.event === 'EXTENDED')!;
    assert.match(extended.detail ?? '', /approved by test-approver; decided with one-click link [0-9a-f]{16}, sent to approver@example\.com$/);
    await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'done' }, { key: stack.keys.admin });
  });
});
