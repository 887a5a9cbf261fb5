import { strict as assert } from 'node:assert';

import { authenticate, parseApiKeys } from '../../src/api/plugins/auth';
import { ConfigError } from '../../src/config';

// API keys come from DBACCESS_API_KEYS as `name:key` pairs; the name becomes the
// actor of every grant. Keys are secrets: no message may ever repeat one.

const CI_KEY = 'ci-0123456789abcdefghijklmnop';
const OPS_KEY = 'ops-ZYXWVUTSRQPONMLKJIHGFEDCBA';

function refusedWithout(raw: string | undefined, secret: string | undefined, ...fragments: string[]): string[] {
  try {
    parseApiKeys(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    if (secret) assert.ok(!err.message.includes(secret), `the message repeats the key: ${err.message}`);
    for (const f of fragments) assert.ok(err.message.includes(f), `"${f}" not in: ${err.message}`);
    return err.problems;
  }
  assert.fail('the keys were accepted');
}

describe('api: API keys', () => {
  describe('parseApiKeys', () => {
    it('When one name:key pair is given, then it is read with its name and without keeping the key in clear', () => {
      const keys = parseApiKeys(`ci:${CI_KEY}`);
      assert.equal(keys.length, 1);
      assert.equal(keys[0]!.name, 'ci');
      assert.ok(!JSON.stringify(keys).includes(CI_KEY));
      assert.ok(!keys[0]!.digest.toString('latin1').includes(CI_KEY));
    });

    it('When several pairs are given (rotation), then each is read, spaces around entries ignored', () => {
      const keys = parseApiKeys(` ci:${CI_KEY} , ops@example.com:${OPS_KEY},ci:${OPS_KEY}x`);
      assert.deepEqual(keys.map((k) => k.name), ['ci', 'ops@example.com', 'ci']);
    });

    it('When a key holds a colon, then only the first colon separates the name', () => {
      const key = 'abc:def:0123456789012345678901';
      const keys = parseApiKeys(`ci:${key}`);
      assert.equal(authenticate(`Bearer ${key}`, keys), 'ci');
    });

    it('When the variable is unset or blank, then it is refused', () => {
      refusedWithout(undefined, undefined, 'DBACCESS_API_KEYS must hold at least one name:key pair');
      refusedWithout('', undefined, 'DBACCESS_API_KEYS must hold at least one name:key pair');
      refusedWithout('   ', undefined, 'DBACCESS_API_KEYS must hold at least one name:key pair');
    });

    it('When a key is shorter than 24 characters, then it is refused naming the entry and the name, not the key', () => {
      const short = 'tooShortKey-12345678901';
      assert.equal(short.length, 23);
      const problems = refusedWithout(`ci:${CI_KEY},ops:${short}`, short, 'entry 2:', '24 to 512 characters without spaces');
      assert.equal(problems.length, 1);
      assert.deepEqual(parseApiKeys(`ops:${short}x`).map((k) => k.name), ['ops'], '24 characters are enough');
    });

    it('When a name is missing or malformed, then it is refused without repeating the key', () => {
      for (const [entry, secret] of [
        [CI_KEY, CI_KEY], // no name at all
        [`:${CI_KEY}`, CI_KEY],
        [`bad name:${CI_KEY}`, CI_KEY],
        [`-ci:${CI_KEY}`, CI_KEY],
        [`ci/x:${CI_KEY}`, CI_KEY],
        [`${'n'.repeat(65)}:${CI_KEY}`, CI_KEY],
      ] as const) {
        refusedWithout(entry, secret, 'DBACCESS_API_KEYS entry 1: must be name:key');
      }
    });

    it('When several entries are wrong, then all are reported at once', () => {
      const problems = refusedWithout(`ci:short,:${OPS_KEY},ok:${CI_KEY},`, OPS_KEY);
      assert.deepEqual(problems.map((p) => p.split(':')[0]!.replace(/ \(.*\)$/, '')), [
        'DBACCESS_API_KEYS entry 1',
        'DBACCESS_API_KEYS entry 2',
        'DBACCESS_API_KEYS entry 4',
      ]);
      assert.ok(!problems.join('\n').includes('short'), 'not even a too-short key is repeated');
    });

    it('When a key holds a space or is longer than 512 characters (it could never be presented), then it is refused', () => {
      for (const key of ['aaaaaaaaaaaa bbbbbbbbbbbbbbb', 'k'.repeat(513)]) refusedWithout(`ci:${key}`, key, 'entry 1:');
    });

    it('When the same key is configured twice, then it is refused; the same name with two keys is a rotation and is accepted', () => {
      refusedWithout(`ci:${CI_KEY},ops:${CI_KEY}`, CI_KEY, 'the same key is configured twice');
      assert.equal(parseApiKeys(`ci:${CI_KEY},ci:${OPS_KEY}`).length, 2);
    });

    it('When name and key are written the wrong way round, then the message does not repeat either', () => {
      refusedWithout(`${CI_KEY.slice(0, 30)}:ci`, CI_KEY.slice(0, 30), 'entry 1:');
    });
  });

  describe('authenticate', () => {
    const keys = parseApiKeys(`ci:${CI_KEY},ops:${OPS_KEY}`);

    it('When the right key is presented as Bearer, in any case of the scheme, then its name is returned', () => {
      assert.equal(authenticate(`Bearer ${CI_KEY}`, keys), 'ci');
      assert.equal(authenticate(`bearer ${CI_KEY}`, keys), 'ci');
      assert.equal(authenticate(`BEARER ${CI_KEY}`, keys), 'ci');
    });

    it('When two keys are configured, then each returns its own name (both valid during a rotation)', () => {
      assert.equal(authenticate(`Bearer ${OPS_KEY}`, keys), 'ops');
      assert.equal(authenticate(`Bearer ${CI_KEY}`, keys), 'ci');
      const rotated = parseApiKeys(`ci:${CI_KEY},ci:${OPS_KEY}`);
      assert.equal(authenticate(`Bearer ${CI_KEY}`, rotated), 'ci');
      assert.equal(authenticate(`Bearer ${OPS_KEY}`, rotated), 'ci');
    });

    it('When a wrong key is presented, then nobody is authenticated', () => {
      assert.equal(authenticate(`Bearer ${CI_KEY.slice(0, -1)}X`, keys), undefined);
      assert.equal(authenticate(`Bearer ${CI_KEY.toUpperCase()}`, keys), undefined, 'keys are case-sensitive');
    });

    it('When a key of a different length is presented (a prefix or an extension of a real one), then nobody is authenticated', () => {
      assert.equal(authenticate(`Bearer ${CI_KEY.slice(0, -1)}`, keys), undefined);
      assert.equal(authenticate(`Bearer ${CI_KEY}x`, keys), undefined);
      assert.equal(authenticate('Bearer x', keys), undefined);
      assert.equal(authenticate(`Bearer ${'k'.repeat(512)}`, keys), undefined);
      assert.equal(authenticate(`Bearer ${'k'.repeat(100_000)}`, keys), undefined);
    });

    it('When the header is missing, empty or uses another scheme, then nobody is authenticated', () => {
      assert.equal(authenticate(undefined, keys), undefined);
      assert.equal(authenticate('', keys), undefined);
      assert.equal(authenticate('Bearer', keys), undefined);
      assert.equal(authenticate('Bearer ', keys), undefined);
      assert.equal(authenticate(`Basic ${Buffer.from(`ci:${CI_KEY}`).toString('base64')}`, keys), undefined);
      assert.equal(authenticate(`Basic ${CI_KEY}`, keys), undefined);
      assert.equal(authenticate(`Token ${CI_KEY}`, keys), undefined);
      assert.equal(authenticate(CI_KEY, keys), undefined);
    });

    it('When the header has extra spaces or other characters around the key, then nobody is authenticated', () => {
      for (const header of [`Bearer  ${CI_KEY}`, ` Bearer ${CI_KEY}`, `Bearer ${CI_KEY} `, `Bearer\t${CI_KEY}`, `Bearer ${CI_KEY}\n`, `Bearer ${CI_KEY},Bearer ${OPS_KEY}`, `Bearer "${CI_KEY}"`]) {
        assert.equal(authenticate(header, keys), undefined, JSON.stringify(header));
      }
    });

    it('When no keys are configured, then nobody is authenticated', () => {
      assert.equal(authenticate(`Bearer ${CI_KEY}`, []), undefined);
    });
  });
});
