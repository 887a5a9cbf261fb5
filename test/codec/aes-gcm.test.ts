import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import {
  AesGcmPayloadCodec,
  codecDataConverter,
  ENCRYPTED_ENCODING,
  METADATA_KEY_ID,
  granteeHasher,
  payloadCodecFor,
  PayloadDecryptionError,
  type CodecKey,
} from '../../src/adapters/temporal/codec';
import { codecEndpointSettings, codecKeys, ConfigError, Env, parseCodecKeys, parseGranteeHashKey } from '../../src/config';

/** The codec the entry points build from the environment. */
const payloadCodec = (env: Env) => payloadCodecFor(codecKeys(env));

// The payload codec on its own: what it writes, what it reads back, and what it
// refuses, with messages that name a key id and never key material.

const key = (id: string): CodecKey => ({ id, key: randomBytes(32) });
const toPayload = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const fromPayload = (payload: Payload): unknown => defaultPayloadConverter.fromPayload(payload);
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('utf8');

function assertRejectsWith(promise: Promise<unknown>, ...fragments: string[]) {
  return assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof PayloadDecryptionError, `expected a PayloadDecryptionError, got ${String(err)}`);
    for (const f of fragments) assert.ok(err.message.includes(f), `"${f}" not in: ${err.message}`);
    return true;
  });
}

describe('codec: AES-256-GCM payload codec', () => {
  const grant = { email: 'ada.lovelace@example.com', name: 'Ada Lovelace', reason: 'incident 4711' };

  it('When a payload is encoded, then it is binary/encrypted with the key id, holds nothing of the original, and decodes to the original', async () => {
    const codec = new AesGcmPayloadCodec([key('k1')]);
    const original = toPayload(grant);
    const [encrypted] = await codec.encode([original]);
    assert.equal(text(encrypted!.metadata![METADATA_ENCODING_KEY]), ENCRYPTED_ENCODING);
    assert.equal(text(encrypted!.metadata![METADATA_KEY_ID]), 'k1');
    assert.deepEqual(Object.keys(encrypted!.metadata!).sort(), [METADATA_ENCODING_KEY, METADATA_KEY_ID].sort(), 'the original metadata (json/plain) is inside the ciphertext');
    const raw = Buffer.from(encrypted!.data!);
    for (const s of [grant.email, grant.name, grant.reason, 'json/plain']) assert.ok(!raw.includes(Buffer.from(s)), `${s} is visible in the ciphertext`);
    const [decoded] = await codec.decode([encrypted!]);
    assert.deepEqual(fromPayload(decoded!), grant);
    assert.equal(text(decoded!.metadata![METADATA_ENCODING_KEY]), 'json/plain');
  });

  it('When the same payload is encoded twice, then the IVs and ciphertexts differ', async () => {
    const codec = new AesGcmPayloadCodec([key('k1')]);
    const payload = toPayload(grant);
    const outs = await codec.encode([payload, payload, payload]);
    const ivs = new Set(outs.map((p) => Buffer.from(p.data!).subarray(0, 12).toString('hex')));
    const bodies = new Set(outs.map((p) => Buffer.from(p.data!).toString('hex')));
    assert.equal(ivs.size, 3);
    assert.equal(bodies.size, 3);
  });

  it('When a byte of the ciphertext, the IV or the tag is changed, or the key id is relabelled, then decoding fails and names the key id', async () => {
    const k1 = key('k1');
    const k2 = key('k2');
    const codec = new AesGcmPayloadCodec([k1, k2]);
    const [encrypted] = await codec.encode([toPayload(grant)]);
    const length = encrypted!.data!.length;
    for (const at of [0, 11, 12, length - 17, length - 1]) {
      const data = Buffer.from(encrypted!.data!);
      data[at] = data[at]! ^ 0x01;
      await assertRejectsWith(codec.decode([{ metadata: encrypted!.metadata, data }]), 'key id k1', 'failed authentication');
    }
    // The key id is authenticated data: the same bytes under another configured key id fail.
    const relabelled = { metadata: { ...encrypted!.metadata, [METADATA_KEY_ID]: Buffer.from('k2') }, data: encrypted!.data };
    await assertRejectsWith(codec.decode([relabelled]), 'key id k2', 'failed authentication');
    await assertRejectsWith(codec.decode([{ metadata: encrypted!.metadata, data: Buffer.alloc(10) }]), 'key id k1', 'too short');
  });

  it('When keys rotate, then the new first key encrypts and the old key still decrypts what it encrypted', async () => {
    const old = key('2025-01');
    const next = key('2026-01');
    const before = new AesGcmPayloadCodec([old]);
    const [written] = await before.encode([toPayload(grant)]);
    const rotated = new AesGcmPayloadCodec([next, old]);
    assert.deepEqual(fromPayload((await rotated.decode([written!]))[0]!), grant);
    const [fresh] = await rotated.encode([toPayload(grant)]);
    assert.equal(text(fresh!.metadata![METADATA_KEY_ID]), '2026-01');
    // Once the old key is dropped, its payloads cannot be read; the new ones can.
    const dropped = new AesGcmPayloadCodec([next]);
    await assertRejectsWith(dropped.decode([written!]), 'key id 2025-01', 'not configured', 'configured: 2026-01');
    assert.deepEqual(fromPayload((await dropped.decode([fresh!]))[0]!), grant);
  });

  it('When a payload names an unknown key id, then the error names that id and no key material', async () => {
    const k = key('k1');
    const other = key('elsewhere');
    const [foreign] = await new AesGcmPayloadCodec([other]).encode([toPayload(grant)]);
    await assert.rejects(new AesGcmPayloadCodec([k]).decode([foreign!]), (err: Error) => {
      assert.ok(err instanceof PayloadDecryptionError);
      assert.equal(err.keyId, 'elsewhere');
      assert.match(err.message, /key id elsewhere, which is not configured/);
      for (const material of [k.key, other.key]) {
        assert.ok(!err.message.includes(material.toString('base64')));
        assert.ok(!err.message.includes(material.toString('hex')));
      }
      return true;
    });
    await assertRejectsWith(new AesGcmPayloadCodec([k]).decode([{ metadata: { [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING) }, data: Buffer.alloc(40) }]), 'no encryption-key-id');
  });

  it('When a payload is not encrypted (written before encryption was on), then decode returns it unchanged', async () => {
    const codec = new AesGcmPayloadCodec([key('k1')]);
    const plain = toPayload(grant);
    const binary = toPayload(new Uint8Array([1, 2, 3]));
    const bare: Payload = { data: Buffer.from('x') };
    const decoded = await codec.decode([plain, binary, bare]);
    assert.equal(decoded[0], plain);
    assert.equal(decoded[1], binary);
    assert.equal(decoded[2], bare);
  });

  it('When the codec is built, then it refuses bad keys and the data converter holds it', () => {
    assert.throws(() => new AesGcmPayloadCodec([]), /at least one key/);
    assert.throws(() => new AesGcmPayloadCodec([{ id: 'k', key: randomBytes(16) }]), /32 bytes, not 16/);
    assert.throws(() => new AesGcmPayloadCodec([key('k'), key('k')]), /configured twice/);
    assert.equal(codecDataConverter(undefined), undefined);
    const codec = new AesGcmPayloadCodec([key('k')]);
    assert.deepEqual(codecDataConverter(codec), { payloadCodecs: [codec] });
  });
});

describe('codec: keys from the environment', () => {
  const b64 = () => randomBytes(32).toString('base64');

  function configError(fn: () => unknown, secrets: string[], ...fragments: string[]): void {
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      for (const f of fragments) assert.ok(err.message.includes(f), `"${f}" not in: ${err.message}`);
      for (const s of secrets) assert.ok(!err.message.includes(s), `the message echoes key material: ${err.message}`);
      return true;
    });
  }

  it('When DBACCESS_CODEC_KEYS is unset or empty, then encryption is off', () => {
    assert.equal(parseCodecKeys(undefined), undefined);
    assert.equal(parseCodecKeys('  '), undefined);
    assert.equal(payloadCodec(new Env({})), undefined);
  });

  it('When it holds id:key pairs, then the first encrypts and all decrypt', async () => {
    const [a, b] = [b64(), b64()];
    const keys = parseCodecKeys(` new:${a} , old:${b}`)!;
    assert.deepEqual(keys.map((k) => k.id), ['new', 'old']);
    assert.deepEqual(keys[0]!.key, Buffer.from(a, 'base64'));
    const codec = payloadCodec(new Env({ DBACCESS_CODEC_KEYS: `new:${a},old:${b}` }))!;
    assert.equal(codec.keyId, 'new');
    assert.deepEqual(codec.keyIds, ['new', 'old']);
  });

  it('When an entry is malformed, then the message names the variable and the entry, and never the key', () => {
    const good = b64();
    const short = randomBytes(16).toString('base64');
    const long = randomBytes(48).toString('base64');
    configError(() => parseCodecKeys(`k1:${short}`), [short], 'DBACCESS_CODEC_KEYS entry 1 (key id k1)', '32 random bytes in base64', 'openssl rand -base64 32');
    configError(() => parseCodecKeys(`k1:${good},k2:${long}`), [good, long], 'entry 2 (key id k2)');
    configError(() => parseCodecKeys(`k1:${good.replace(/=$/, '')}`), [good.replace(/=$/, '')], 'entry 1');
    configError(() => parseCodecKeys(`k1:${good.slice(0, 20)}!${good.slice(21)}`), [good.slice(0, 20)], 'entry 1');
    // Written the wrong way round: the "id" is the key; it must not be echoed.
    configError(() => parseCodecKeys(`${good}:k1`), [good, good.slice(0, 12)], 'entry 1: must be keyId:base64key');
    configError(() => parseCodecKeys(good), [good, good.slice(0, 12)], 'entry 1: must be keyId:base64key');
    configError(() => parseCodecKeys(`k1:${good},k1:${b64()}`), [good], 'entry 2: key id k1 is configured twice');
    configError(() => payloadCodec(new Env({ DBACCESS_CODEC_KEYS: `k1:${short}` })), [short], 'DBACCESS_CODEC_KEYS');
  });

  it('When the grantee hash key is set, then the value is h: + HMAC-SHA256 of the lower-cased e-mail; a short key is refused unechoed', () => {
    const secret = 'x'.repeat(40);
    const hash = granteeHasher(parseGranteeHashKey(secret)!);
    assert.match(hash('Ada@Example.com'), /^h:[0-9a-f]{64}$/);
    assert.equal(hash('Ada@Example.com'), hash('ada@example.com'));
    assert.notEqual(hash('ada@example.com'), granteeHasher('y'.repeat(40))('ada@example.com'));
    assert.equal(parseGranteeHashKey(undefined), undefined);
    configError(() => parseGranteeHashKey('tooshort-secret'), ['tooshort-secret'], 'GRANTEE_SEARCH_HASH_KEY must be at least 32 characters');
  });

  it('When the codec endpoint settings are read, then origins are checked and unauthenticated access is refused beyond loopback', () => {
    assert.deepEqual(codecEndpointSettings(new Env({})), { corsOrigins: [], allowUnauthenticated: false });
    assert.deepEqual(codecEndpointSettings(new Env({ CODEC_CORS_ORIGINS: 'http://127.0.0.1:8233, https://temporal.example.com' })).corsOrigins, [
      'http://127.0.0.1:8233',
      'https://temporal.example.com',
    ]);
    configError(() => codecEndpointSettings(new Env({ CODEC_CORS_ORIGINS: 'https://temporal.example.com/' })), [], 'CODEC_CORS_ORIGINS', 'is not an origin');
    configError(() => codecEndpointSettings(new Env({ CODEC_CORS_ORIGINS: 'temporal.example.com' })), [], 'is not an origin');
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) {
      assert.equal(codecEndpointSettings(new Env({ CODEC_ALLOW_UNAUTHENTICATED: 'true', API_HOST: host })).allowUnauthenticated, true, host);
    }
    for (const host of ['0.0.0.0', '10.0.0.5', '::', 'api.internal']) {
      configError(() => codecEndpointSettings(new Env({ CODEC_ALLOW_UNAUTHENTICATED: 'true', API_HOST: host })), [], 'CODEC_ALLOW_UNAUTHENTICATED=true is only allowed when the API listens on a loopback address');
    }
  });
});
