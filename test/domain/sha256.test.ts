import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';

import { base32, sha256, utf8Bytes } from '../../src/domain';
import { prng } from '../support/random';

// The domain carries its own SHA-256 because the workflow sandbox has no
// crypto module; account names depend on it, so it must agree with Node's
// crypto bit for bit, including on UTF-8 encoding and block padding.

const nodeSha256 = (input: string | Uint8Array) => createHash('sha256').update(input).digest('hex');
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');


/** One code point from each UTF-8 length class (1 to 4 bytes). */
function randomChar(rand: () => number): string {
  const r = rand();
  if (r < 0.4) return String.fromCodePoint(0x20 + Math.floor(rand() * 0x5f));
  if (r < 0.6) return String.fromCodePoint(0x80 + Math.floor(rand() * 0x780));
  if (r < 0.8) return String.fromCodePoint(0xe000 + Math.floor(rand() * 0x1000)); // 3 bytes, outside the surrogate range
  return String.fromCodePoint(0x10000 + Math.floor(rand() * 0xfffff));
}

describe('domain: sha256 and base32', () => {
  it('When known vectors are hashed, then the digests are the published ones', () => {
    assert.equal(hex(sha256('')), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(hex(sha256('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(
      hex(sha256('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')),
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('When ASCII strings of every length from 0 to 200 bytes are hashed (across the 55/56/64-byte padding boundaries), then each equals Node crypto', () => {
    for (let n = 0; n <= 200; n++) {
      const text = 'abcdefghij'.repeat(21).slice(0, n);
      assert.equal(hex(sha256(text)), nodeSha256(text), `length ${n}`);
    }
  });

  it('When byte arrays of every length from 0 to 200 with every byte value are hashed, then each equals Node crypto', () => {
    for (let n = 0; n <= 200; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      assert.equal(hex(sha256(bytes)), nodeSha256(bytes), `length ${n}`);
    }
  });

  it('When multi-byte text is padded to land exactly on 55, 56, 63, 64 and 65 UTF-8 bytes, then each equals Node crypto', () => {
    for (const target of [55, 56, 57, 63, 64, 65, 119, 120]) {
      for (const ch of ['é', '€', '😀']) {
        const width = Buffer.byteLength(ch);
        const text = ch.repeat(Math.floor(target / width)) + 'a'.repeat(target % width);
        assert.equal(Buffer.byteLength(text), target);
        assert.equal(hex(sha256(text)), nodeSha256(text), `${target} bytes of ${ch}`);
      }
    }
  });

  it('When 1000 random strings with 1- to 4-byte characters (astral included) are hashed, then each equals Node crypto', () => {
    const rand = prng(42);
    for (let i = 0; i < 1000; i++) {
      const length = Math.floor(rand() * 90);
      let text = '';
      for (let j = 0; j < length; j++) text += randomChar(rand);
      assert.deepEqual(utf8Bytes(text), new Uint8Array(Buffer.from(text, 'utf8')), JSON.stringify(text));
      assert.equal(hex(sha256(text)), nodeSha256(text), JSON.stringify(text));
    }
  });

  it('When text holds the code points at each UTF-8 length boundary, then encoding and digest equal Node', () => {
    for (const cp of [0x00, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff]) {
      const text = `a${String.fromCodePoint(cp)}b`;
      assert.deepEqual(utf8Bytes(text), new Uint8Array(Buffer.from(text, 'utf8')), `U+${cp.toString(16)}`);
      assert.equal(hex(sha256(text)), nodeSha256(text), `U+${cp.toString(16)}`);
    }
  });

  it('When a string holds a lone surrogate, then it is encoded as U+FFFD like Node does', () => {
    for (const text of ['a\ud800b', '\udc00', 'x\ud83d']) {
      assert.deepEqual(utf8Bytes(text), new Uint8Array(Buffer.from(text, 'utf8')));
      assert.equal(hex(sha256(text)), nodeSha256(text));
    }
  });

  it('When a long input (one million bytes of "a") is hashed, then it equals the published digest', () => {
    const text = 'a'.repeat(1_000_000);
    assert.equal(hex(sha256(text)), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('When bytes are base32-encoded, then the output matches the RFC 4648 vectors in lower case without padding', () => {
    const enc = (s: string, chars: number) => base32(utf8Bytes(s), chars);
    // RFC 4648 §10: BASE32("f") = MY======, ("fo") = MZXQ====, ("foob") = MZXW6YQ=, ("fooba") = MZXW6YTB
    assert.equal(enc('f', 1), 'm');
    assert.equal(enc('fo', 3), 'mzx');
    assert.equal(enc('foob', 6), 'mzxw6y');
    assert.equal(enc('fooba', 8), 'mzxw6ytb');
    assert.equal(enc('foobar', 9), 'mzxw6ytbo');
    // Only whole 5-bit groups are emitted: enc('foobar', 10) gives 9 characters,
    // not RFC 4648's 'mzxw6ytboi'. Harmless for account names (6 of 51 groups).
    assert.equal(enc('fooba', 3), 'mzx', 'stops after the requested number of characters');
    assert.equal(base32(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]), 8), '77777777');
    assert.equal(base32(new Uint8Array(5), 8), 'aaaaaaaa');
  });

  it('When a digest is base32-encoded to 6 characters, then they are the digest\'s leading 30 bits', () => {
    const digest = sha256('john.doe@example.com|project|dev_project');
    const bits = [...digest.subarray(0, 4)].map((b) => b.toString(2).padStart(8, '0')).join('');
    const expected = [0, 1, 2, 3, 4, 5].map((i) => 'abcdefghijklmnopqrstuvwxyz234567'[parseInt(bits.slice(i * 5, i * 5 + 5), 2)]).join('');
    assert.equal(base32(digest, 6), expected);
  });
});
