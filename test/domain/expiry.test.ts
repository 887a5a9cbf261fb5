import { strict as assert } from 'node:assert';

import { checkExpiryWindow, parseDuration, parseExpiry, resolveExpiry, type ExpiryResult } from '../../src/domain';

// Expiries decide when access ends, so ambiguity is refused rather than guessed:
// a bare date is the end of that day in UTC, a timestamp must carry its zone.

const DAY = 24 * 3600_000;
const NOW = new Date('2026-03-10T12:00:00Z');
const MAX_90D = 90 * DAY;

function ok(result: ExpiryResult): Date {
  assert.ok(result.ok, `expected ok, got ${JSON.stringify(result)}`);
  return result.expiresAt;
}
function refused(result: ExpiryResult): string {
  assert.ok(!result.ok, `expected a refusal, got ${JSON.stringify(result)}`);
  return result.reason;
}

describe('domain: expiry', () => {
  it('When a calendar date is given, then it means 23:59:59 UTC of that day', () => {
    assert.equal(ok(parseExpiry('2026-12-31')).toISOString(), '2026-12-31T23:59:59.000Z');
    assert.equal(ok(parseExpiry('2026-01-01')).toISOString(), '2026-01-01T23:59:59.000Z');
  });

  it('When a leap day is given, then it is accepted in a leap year and refused otherwise', () => {
    assert.equal(ok(parseExpiry('2028-02-29')).toISOString(), '2028-02-29T23:59:59.000Z');
    assert.equal(ok(parseExpiry('2000-02-29')).toISOString(), '2000-02-29T23:59:59.000Z');
    assert.match(refused(parseExpiry('2027-02-29')), /not a calendar date/);
    assert.match(refused(parseExpiry('2100-02-29')), /not a calendar date/);
    assert.match(refused(parseExpiry('2027-02-29T10:00:00Z')), /not a valid timestamp/);
  });

  it('When a date is not on the calendar, then it is refused naming the text', () => {
    for (const text of ['2026-02-30', '2026-04-31', '2026-13-01', '2026-00-10', '2026-01-00', '2026-01-32']) {
      assert.equal(refused(parseExpiry(text)), `${text} is not a calendar date`);
    }
  });

  it('When a timestamp ends in Z, then it is that instant in UTC', () => {
    assert.equal(ok(parseExpiry('2026-12-31T18:00:00Z')).toISOString(), '2026-12-31T18:00:00.000Z');
    assert.equal(ok(parseExpiry('2026-12-31T18:00Z')).toISOString(), '2026-12-31T18:00:00.000Z');
    assert.equal(ok(parseExpiry('2026-12-31T18:00:00.250Z')).toISOString(), '2026-12-31T18:00:00.250Z');
  });

  it('When a timestamp carries an offset, then it is converted to UTC', () => {
    assert.equal(ok(parseExpiry('2026-12-31T18:00:00+02:00')).toISOString(), '2026-12-31T16:00:00.000Z');
    assert.equal(ok(parseExpiry('2026-12-31T18:00:00-05:30')).toISOString(), '2026-12-31T23:30:00.000Z');
    assert.equal(ok(parseExpiry('2026-12-31T23:00:00-02:00')).toISOString(), '2027-01-01T01:00:00.000Z', 'crosses into the next year');
  });

  it('When a timestamp has no time zone, then it is refused with the accepted forms', () => {
    for (const text of ['2026-12-31T18:00:00', '2026-12-31T18:00', '2026-12-31 18:00:00']) {
      const reason = refused(parseExpiry(text));
      assert.match(reason, /YYYY-MM-DD/);
      assert.match(reason, /time zone/);
    }
  });

  it('When the text is not a date at all, then it is refused', () => {
    for (const text of ['', 'tomorrow', '31/12/2026', '2026-1-5', '20261231', '2026-12-31Z', ' 2026-12-31', '2026-12-31\n', '2026-12-31T18:00:00+0200', '1798761600000', '2026-12-31T18:00:00Zjunk']) {
      refused(parseExpiry(text));
    }
  });

  it('When the clock fields are out of range, then the timestamp is refused', () => {
    for (const text of ['2026-12-31T24:00:00Z', '2026-12-31T23:60:00Z', '2026-12-31T23:59:60Z', '2026-12-31T18:00:00+99:00']) {
      assert.match(refused(parseExpiry(text)), /not a valid timestamp/, text);
    }
  });

  it('When the expiry is in the past or exactly now, then it must be in the future', () => {
    assert.equal(checkExpiryWindow(new Date(NOW.getTime() - 1), NOW, MAX_90D), 'must be in the future');
    assert.equal(checkExpiryWindow(new Date(NOW.getTime()), NOW, MAX_90D), 'must be in the future');
    assert.equal(checkExpiryWindow(new Date(NOW.getTime() + 1), NOW, MAX_90D), undefined);
    assert.equal(refused(resolveExpiry('2026-03-09', NOW, MAX_90D)), 'must be in the future');
  });

  it('When the expiry is exactly the maximum duration away, then it is accepted; one millisecond more is refused naming the maximum and the latest time', () => {
    assert.equal(checkExpiryWindow(new Date(NOW.getTime() + MAX_90D), NOW, MAX_90D), undefined);
    const reason = checkExpiryWindow(new Date(NOW.getTime() + MAX_90D + 1), NOW, MAX_90D);
    assert.equal(reason, 'is beyond the maximum duration of 90d for this database (latest allowed: 2026-06-08T12:00:00.000Z)');
  });

  it('When the maximum is written with hours, then the message renders it readably', () => {
    const max = parseDuration('1d12h')!;
    assert.match(checkExpiryWindow(new Date(NOW.getTime() + 2 * DAY), NOW, max)!, /maximum duration of 1d12h .*latest allowed: 2026-03-12T00:00:00\.000Z/);
  });

  it('When a date-only expiry is resolved, then today is still valid until the end of the day and the window counts to 23:59:59', () => {
    assert.equal(ok(resolveExpiry('2026-03-10', NOW, MAX_90D)).toISOString(), '2026-03-10T23:59:59.000Z');
    // 2026-06-08T12:00Z is the latest; the end of 2026-06-07 is inside, the end of 2026-06-08 is not.
    ok(resolveExpiry('2026-06-07', NOW, MAX_90D));
    assert.match(refused(resolveExpiry('2026-06-08', NOW, MAX_90D)), /maximum duration of 90d/);
  });

  it('When resolveExpiry meets a malformed text, then it reports the parse problem, not the window', () => {
    assert.match(refused(resolveExpiry('2026-02-30', NOW, MAX_90D)), /not a calendar date/);
  });
});
