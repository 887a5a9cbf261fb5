import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { ENCRYPTED_ENCODING } from '../../src/adapters/temporal/codec';

// Reading raw Temporal data (histories, descriptions) as Temporal stores it.

const isPayload = (v: unknown): v is Payload =>
  typeof v === 'object' && v !== null && 'metadata' in v && (v as Payload).metadata !== null && typeof (v as Payload).metadata === 'object' && (v as Payload).data instanceof Uint8Array;

export const isEncrypted = (p: Payload) => Buffer.from(p.metadata?.[METADATA_ENCODING_KEY] ?? new Uint8Array()).toString('utf8') === ENCRYPTED_ENCODING;

/** Every payload anywhere in a raw proto object (history, description), with its path. */
export function payloadsIn(value: unknown, path = '$', out: { path: string; payload: Payload }[] = []): { path: string; payload: Payload }[] {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return out;
  if (isPayload(value)) {
    out.push({ path, payload: value });
    return out;
  }
  for (const [k, v] of Object.entries(value)) payloadsIn(v, `${path}.${k}`, out);
  return out;
}

/** The whole object as text, byte arrays read as UTF-8: what a person with database access to Temporal would see. */
export function rawText(value: unknown): string {
  // Not JSON.stringify's replacer: a Buffer's toJSON would run first and turn its bytes into numbers.
  const walk = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return JSON.stringify(walk(value));
}

/** A deep copy with every encrypted payload decoded by `codec`. */
export async function decodeAll<T>(value: T, codec: PayloadCodec): Promise<T> {
  const walk = async (v: unknown): Promise<unknown> => {
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
    if (isPayload(v) && isEncrypted(v)) return (await codec.decode([v]))[0];
    if (Array.isArray(v)) return Promise.all(v.map(walk));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = await walk(x);
    return out;
  };
  return (await walk(value)) as T;
}
