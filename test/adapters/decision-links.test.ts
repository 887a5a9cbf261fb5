import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DecisionLinks, decisionLinkId, type DecisionClaim } from '../../src/adapters/decision-links';

// The signed claim behind a one-click decision link (pure).

describe('decision links (pure)', () => {
  const key = randomBytes(32);
  const links = new DecisionLinks(key);
  const claim: DecisionClaim = {
    grantId: 'grant/p/db/a@example.com',
    kind: 'approval',
    request: '2026-12-06T01:00:00.000Z',
    decision: 'approve',
    approver: 'alice',
    email: 'Alice@Example.com',
    expiresAt: Date.parse('2026-12-07T00:00:00Z'),
  };
  const at = Date.parse('2026-12-06T12:00:00Z');

  it('When a claim is minted and verified with the same key, then it comes back (address in lower case) with the id of its token; the same claim gives the same token', () => {
    const token = links.mint(claim);
    assert.equal(links.mint(claim), token);
    const verified = links.verify(token, at);
    assert.deepEqual(verified, { ok: true, claim: { ...claim, email: 'alice@example.com' }, linkId: decisionLinkId(token) });
    assert.match(decisionLinkId(token), /^[0-9a-f]{16}$/);
  });

  it('When the deadline has passed, then it is expired; when another key signed it, or a character changed, then it is invalid', () => {
    const token = links.mint(claim);
    assert.deepEqual(links.verify(token, claim.expiresAt + 1), { ok: false, why: 'expired', claim: { ...claim, email: 'alice@example.com' } });
    assert.deepEqual(new DecisionLinks(randomBytes(32)).verify(token, at), { ok: false, why: 'invalid' });
    const [payload, signature] = token.split('.') as [string, string];
    const deny = links.mint({ ...claim, decision: 'deny' }).split('.')[0]!;
    for (const bad of [`${deny}.${signature}`, `${payload}.${signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))}`, `${payload}.`, '', 'x'.repeat(5000), undefined]) {
      assert.deepEqual(links.verify(bad, at), { ok: false, why: 'invalid' }, String(bad).slice(0, 40));
    }
  });

  it('When a key is shorter than 32 bytes, then it is refused', () => {
    assert.throws(() => new DecisionLinks(randomBytes(16)), /at least 32 bytes/);
  });

  it("When a review's claim is minted, then it keeps or revokes and nothing else; a request's claim never keeps or revokes", () => {
    for (const decision of ['keep', 'revoke'] as const) {
      const review: DecisionClaim = { ...claim, kind: 'review', decision };
      assert.equal(links.verify(links.mint(review), at).ok, true, decision);
      // Even signed with the key, a mixed pair is not a claim.
      assert.deepEqual(links.verify(links.mint({ ...claim, decision }), at), { ok: false, why: 'invalid' });
    }
    for (const decision of ['approve', 'deny'] as const) assert.deepEqual(links.verify(links.mint({ ...claim, kind: 'review', decision }), at), { ok: false, why: 'invalid' });
  });

  it("When a break-glass claim is minted, then it acknowledges or flags and nothing else; no other kind acknowledges or flags", () => {
    for (const decision of ['acknowledge', 'flag'] as const) {
      assert.equal(links.verify(links.mint({ ...claim, kind: 'break-glass', decision }), at).ok, true, decision);
      for (const kind of ['approval', 'extension', 'review'] as const) assert.deepEqual(links.verify(links.mint({ ...claim, kind, decision }), at), { ok: false, why: 'invalid' }, `${kind} ${decision}`);
    }
    for (const decision of ['approve', 'deny', 'keep', 'revoke'] as const) assert.deepEqual(links.verify(links.mint({ ...claim, kind: 'break-glass', decision }), at), { ok: false, why: 'invalid' }, decision);
  });
});
