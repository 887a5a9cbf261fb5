import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, ValueError, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { KEY_ID, type CodecKey } from '../../../config/codec';

// Temporal payload encryption: every payload the API's client and the worker
// send to Temporal (workflow input, activity arguments and results, signals,
// updates, queries, memos, summaries) is replaced by an AES-256-GCM encrypted
// copy of the original Payload protobuf. Temporal stores only ciphertext; the
// key never leaves the processes that hold it.
//
//   metadata: encoding = binary/encrypted, encryption-key-id = <key id>
//   data:     12-byte random IV || ciphertext || 16-byte GCM tag
//
// The key id is also the GCM additional data, so a payload relabelled with
// another key id fails authentication instead of being decrypted. Several keys
// can be configured: the first encrypts, every one decrypts (rotation).

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const METADATA_KEY_ID = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const ALGORITHM = 'aes-256-gcm';
export { KEY_ID, type CodecKey } from '../../../config/codec';

/** A payload that cannot be decrypted. The message names the key id, never key material. */
export class PayloadDecryptionError extends ValueError {
  constructor(
    message: string,
    readonly keyId?: string,
  ) {
    super(message);
  }
}

const utf8 = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);
/** A key id read from a payload, made safe to put in a message (it is not trusted input). */
const printable = (id: string) => (KEY_ID.test(id) ? id : JSON.stringify(id.slice(0, 64)));

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly encryptWith: CodecKey;

  /** `keys[0]` encrypts; all of them decrypt. */
  constructor(keys: readonly CodecKey[]) {
    const first = keys[0];
    if (!first) throw new Error('AesGcmPayloadCodec needs at least one key');
    const map = new Map<string, Buffer>();
    for (const { id, key } of keys) {
      if (!KEY_ID.test(id)) throw new Error(`codec key id ${JSON.stringify(id.slice(0, 64))} is not valid (letters, digits, _ . -; at most 64)`);
      if (key.length !== KEY_BYTES) throw new Error(`codec key ${id} must be ${KEY_BYTES} bytes, not ${key.length}`);
      if (map.has(id)) throw new Error(`codec key ${id} is configured twice`);
      map.set(id, Buffer.from(key));
    }
    this.keys = map;
    this.encryptWith = { id: first.id, key: map.get(first.id)! };
  }

  /** The id of the key new payloads are encrypted with. */
  get keyId(): string {
    return this.encryptWith.id;
  }

  /** Every key id this codec can decrypt. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload));
  }

  private encrypt(payload: Payload): Payload {
    const { id, key } = this.encryptWith;
    const plaintext = temporal.api.common.v1.Payload.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(id, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING, 'utf8'),
        [METADATA_KEY_ID]: Buffer.from(id, 'utf8'),
      },
      data: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]),
    };
  }

  private decrypt(payload: Payload): Payload {
    // Payloads written before encryption was switched on (or by another codec) pass through.
    if (utf8(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const id = utf8(payload.metadata?.[METADATA_KEY_ID]);
    if (id === undefined || id === '') throw new PayloadDecryptionError(`encrypted payload has no ${METADATA_KEY_ID}`);
    const key = this.keys.get(id);
    if (!key) {
      throw new PayloadDecryptionError(`encrypted payload uses key id ${printable(id)}, which is not configured (configured: ${this.keyIds.join(', ')})`, id);
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(`encrypted payload with key id ${id} is too short to be valid`, id);
    const decipher = createDecipheriv(ALGORITHM, key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(id, 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptionError(`encrypted payload with key id ${id} failed authentication: it was altered, or the key with that id is not the one it was encrypted with`, id);
    }
    const decoded = temporal.api.common.v1.Payload.decode(plaintext);
    return { metadata: decoded.metadata, data: decoded.data };
  }
}

/** The data converter of the API's client and the worker: the codec, or Temporal's default when there is none. */
export function codecDataConverter(codec: PayloadCodec | undefined): DataConverter | undefined {
  return codec ? { payloadCodecs: [codec] } : undefined;
}
