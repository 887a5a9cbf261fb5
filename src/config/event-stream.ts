import { parseDuration } from '../domain';
import type { RawFile } from './file-schema';
import type { Problem } from './schema-problems';

// The event stream's settings (docs/decisions/0410-signed-event-stream.md) and
// the rules across its keys that the schema cannot say.

type Raw = Record<string, unknown>;

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const entries = (v: unknown): [string, unknown][] => (isObject(v) ? Object.entries(v) : []);

export interface EventEndpointConfig {
  name: string;
  format: 'cloudevents' | 'slack';
  /** The URL, or the secret that holds it. */
  url?: string;
  urlSecretId?: string;
  /** cloudevents: the secret that holds the signing key. */
  secretId?: string;
  /** slack: the approver (an apiClient) whose one-click links approval requests posted there carry. */
  approver?: string;
  /** Only these events; all when absent. */
  events?: string[];
}

export interface EventStreamSettings {
  /** How long one event's delivery to one endpoint is retried. */
  deliverForMs: number;
  endpoints: Record<string, EventEndpointConfig>;
}

const LOOPBACK_HOST = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** An endpoint needs one place to post to (https, http only on loopback); a signed one needs its key. */
export function eventStreamProblems(raw: Raw, ok: (...path: string[]) => boolean): Problem[] {
  const out: Problem[] = [];
  const stream = isObject(raw.eventStream) ? raw.eventStream : {};
  for (const [name, e] of entries(stream.endpoints)) {
    if (!ok('eventStream', 'endpoints', name) || !isObject(e)) continue;
    const path = ['eventStream', 'endpoints', name];
    if ((e.url === undefined) === (e.urlSecretId === undefined)) out.push({ path: [...path, 'url'], reason: 'give url or urlSecretId (one of them)' });
    if (typeof e.url === 'string') {
      let url: URL | undefined;
      try {
        url = new URL(e.url);
      } catch {
        out.push({ path: [...path, 'url'], reason: 'must be an absolute http(s) URL' });
      }
      if (url && (url.username || url.password)) out.push({ path: [...path, 'url'], reason: 'must not contain credentials (use urlSecretId)' });
      if (url && url.protocol === 'http:' && !LOOPBACK_HOST.test(url.hostname)) out.push({ path: [...path, 'url'], reason: 'must use https (http only for localhost)' });
    }
    const format = e.format ?? 'cloudevents';
    if (format === 'cloudevents' && e.secretId === undefined) out.push({ path: [...path, 'secretId'], reason: 'a cloudevents endpoint needs the secret of its signing key' });
    if (format === 'slack' && e.secretId !== undefined) out.push({ path: [...path, 'secretId'], reason: 'a slack endpoint is not signed: remove secretId' });
    if (e.approver !== undefined) {
      const client = isObject(raw.apiClients) ? (raw.apiClients as Raw)[String(e.approver)] : undefined;
      if (format !== 'slack') out.push({ path: [...path, 'approver'], reason: 'only a slack endpoint is an approver channel' });
      else if (!isObject(client) || (client.role !== 'approver' && client.role !== 'admin') || typeof client.email !== 'string') {
        out.push({ path: [...path, 'approver'], reason: `${String(e.approver)} must be an apiClient with role approver or admin and an e-mail address` });
      }
    }
  }
  return out;
}

/** The settings of a file the schema accepted (defaults applied). */
export function eventStreamSettings(raw: RawFile['eventStream']): EventStreamSettings {
  const stream = raw ?? {};
  return {
    deliverForMs: parseDuration(stream.deliverFor ?? '24h')!,
    endpoints: Object.fromEntries(
      Object.entries(stream.endpoints ?? {}).map(([name, e]) => [
        name,
        { name, format: e.format ?? 'cloudevents', ...(e.url ? { url: e.url } : {}), ...(e.urlSecretId ? { urlSecretId: e.urlSecretId } : {}), ...(e.secretId ? { secretId: e.secretId } : {}), ...(e.approver ? { approver: e.approver } : {}), ...(e.events ? { events: [...new Set(e.events)] } : {}) },
      ]),
    ),
  };
}
