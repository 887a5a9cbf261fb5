import { strict as assert } from 'node:assert';

import { formatDuration, parseDuration } from '../../src/domain';

// Maximum grant durations are written by operators in the configuration
// (`90d`); a typo must be refused rather than read as zero or as something else.

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('domain: durations', () => {
  it('When a duration uses one unit, then it is that many weeks, days, hours, minutes or seconds', () => {
    assert.equal(parseDuration('90d'), 90 * D);
    assert.equal(parseDuration('12h'), 12 * H);
    assert.equal(parseDuration('2w'), 14 * D);
    assert.equal(parseDuration('30m'), 30 * M);
    assert.equal(parseDuration('45s'), 45 * S);
  });

  it('When units are combined, then their lengths add up', () => {
    assert.equal(parseDuration('1d12h'), 36 * H);
    assert.equal(parseDuration('1w2d3h4m5s'), 9 * D + 3 * H + 4 * M + 5 * S);
    assert.equal(parseDuration('0d12h'), 12 * H, 'a zero part is fine when the total is not zero');
  });

  it('When surrounding spaces are present, then they are ignored', () => {
    assert.equal(parseDuration(' 90d '), 90 * D);
  });

  it('When the text is not a positive whole duration, then it is refused', () => {
    for (const text of ['', ' ', '0d', '0s0m', 'd', '90', '1.5d', '-1d', '+1d', '1 d', '1d 12h', '90D', '1y', 'P90D', '90days', '1e3s', '99999999999999999999w']) {
      assert.equal(parseDuration(text), undefined, JSON.stringify(text));
    }
  });

  it('When a duration is formatted, then it uses d, h, m and s and omits zero parts', () => {
    assert.equal(formatDuration(90 * D), '90d');
    assert.equal(formatDuration(36 * H), '1d12h');
    assert.equal(formatDuration(14 * D), '14d');
    assert.equal(formatDuration(D + 5 * S), '1d5s');
    assert.equal(formatDuration(45 * S), '45s');
    assert.equal(formatDuration(30 * M), '30m');
    assert.equal(formatDuration(H + 30 * M), '1h30m');
    assert.equal(formatDuration(2 * D + 3 * H + 4 * M + 5 * S), '2d3h4m5s');
    assert.equal(formatDuration(1499), '1s', 'rounded to whole seconds');
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(-5), '0s');
  });

  it('When a duration is formatted and parsed again, then the same number of milliseconds comes back', () => {
    for (const text of ['90d', '12h', '1d12h', '2w', '45s', '1w2d3h4m5s', '365d', '59m59s']) {
      const ms = parseDuration(text)!;
      assert.equal(parseDuration(formatDuration(ms)), ms, text);
    }
    for (let seconds = 1; seconds < 200_000; seconds += 997) {
      assert.equal(parseDuration(formatDuration(seconds * S)), seconds * S, `${seconds}s`);
    }
  });
});
