import assert from 'node:assert/strict';

import { startingPace } from './many-expiries';

// The benchmark's burst stops early, and says which lead would do, when its grants start too
// slowly to all start before their common expiry (rather than failing later on a 400 "expiresAt:
// must be in the future" from the API).

describe('a burst of grants: the pace of their starts against the lead', () => {
  const started = 1_000_000;
  const clock = () => started + 10_000; // 50 grants in 10 s: 5 a second

  it('When the last grant would start after the expiry at the pace so far, then it stops, naming the flag, the pace and a lead that would do', () => {
    const pace = startingPace(1000, started, new Date(started + 100_000), '--lead', clock);
    assert.throws(() => pace(50), (err: Error) => {
      assert.match(err.message, /^--lead 100 is too short: 50 of 1000 grants started in 10\.0 s \(5\.0 a second\), so the last would start 100 s after the expiry;/);
      // 1,000 at 5 a second is 200 s; a quarter to spare and a minute: 310 s.
      assert.match(err.message, /try --lead 310$/);
      return true;
    });
  });

  it('When the last grant would start at least 20 s before the expiry, then it goes on', () => {
    const pace = startingPace(1000, started, new Date(started + 230_000), '--lead', clock);
    assert.doesNotThrow(() => pace(50));
  });

  it('When fewer than 50 grants have started, then the pace is not judged yet', () => {
    const pace = startingPace(1000, started, new Date(started + 100_000), '--lead', clock);
    assert.doesNotThrow(() => pace(49));
  });
});
