import type { AuditRecord, EventDecision } from '../../contract/activities';
import { CLOUDEVENTS_CONTENT_TYPE, cloudEvent, parseSigningKey, signatureHeaders, slackMessage } from './envelope';

// Posts an audit event to every endpoint of the event stream that takes it.
// One attempt per endpoint per call; the caller (an activity) is retried by
// Temporal and tells which endpoints already have the event. A 2xx answer is a
// delivery; 408, 429, 5xx and network failures are tried again; any other
// answer is a refusal for good (a wrong URL or key: retrying changes nothing).
// Secrets (the signing keys, the URLs kept as secrets) are read from Secrets
// Manager, cached for a few minutes, and never logged or put in an error.

export interface SinkEndpoint {
  name: string;
  format: 'cloudevents' | 'slack';
  url?: string;
  urlSecretId?: string;
  secretId?: string;
  /** slack: the approver channel's API client (its one-click links go with approval requests). */
  approver?: string;
  events?: readonly string[];
}

/** An approver's one-click links for a request still waiting (undefined: none for this approver, or links are off). */
export type ApproverLinks = (record: AuditRecord, decision: EventDecision, approver: string) => { approve: string; deny: string } | undefined;

export interface EventSinkOptions {
  endpoints: readonly SinkEndpoint[];
  /** A Secrets Manager secret's JSON (string values). */
  readSecret(secretId: string): Promise<Record<string, string>>;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** How long a secret is kept (default 5 minutes). */
  secretTtlMs?: number;
  now?: () => number;
  /** Mints an approver channel's links (DECISION_LINK_KEY and PUBLIC_URL); without it, none. */
  approverLinks?: ApproverLinks;
}

export interface Failure {
  endpoint: string;
  reason: string;
  /** Retrying would not change it. */
  permanent: boolean;
}

export interface EventSink {
  /** The endpoints that take this event (its type passes their filter). */
  endpointsFor(record: AuditRecord): string[];
  /** Posts to each endpoint that takes the event and is not in `done`; `delivered` is called as each succeeds. */
  deliver(record: AuditRecord, done: ReadonlySet<string>, delivered: (endpoint: string) => void, decision?: EventDecision): Promise<Failure[]>;
}

class Refusal extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

export function createEventSink(options: EventSinkOptions): EventSink {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const ttl = options.secretTtlMs ?? 300_000;
  const now = options.now ?? Date.now;
  const secrets = new Map<string, { value: Record<string, string>; at: number }>();

  async function secret(id: string, key: string): Promise<string> {
    let cached = secrets.get(id);
    if (!cached || now() - cached.at > ttl) {
      try {
        cached = { value: await options.readSecret(id), at: now() };
      } catch {
        throw new Refusal(`its secret ${id} could not be read`, false);
      }
      secrets.set(id, cached);
    }
    const value = cached.value[key];
    if (!value) throw new Refusal(`its secret ${id} has no "${key}"`, true);
    return value;
  }

  async function post(endpoint: SinkEndpoint, record: AuditRecord, decision: EventDecision | undefined): Promise<void> {
    const url = endpoint.url ?? (await secret(endpoint.urlSecretId!, 'url'));
    let body: string;
    let headers: Record<string, string>;
    if (endpoint.format === 'slack') {
      const links = endpoint.approver && decision ? options.approverLinks?.(record, decision, endpoint.approver) : undefined;
      body = JSON.stringify(slackMessage(record, links ? { ...links, approver: endpoint.approver! } : undefined));
      headers = { 'content-type': 'application/json' };
    } else {
      const key = parseSigningKey(await secret(endpoint.secretId!, 'key'));
      if (!key) throw new Refusal(`its signing key in ${endpoint.secretId} is not whsec_/base64 of 24 bytes or more`, true);
      body = JSON.stringify(cloudEvent(record));
      headers = { 'content-type': CLOUDEVENTS_CONTENT_TYPE, ...signatureHeaders(key, record.eventId, Math.floor(now() / 1000), body) };
    }
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', headers: { ...headers, 'user-agent': 'dbaccess-events' }, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new Refusal(`not reachable (${String(code).slice(0, 40)})`, false);
    }
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return;
    const retry = res.status === 408 || res.status === 429 || res.status >= 500;
    throw new Refusal(`answered ${res.status}`, !retry);
  }

  const takes = (endpoint: SinkEndpoint, record: AuditRecord) => !endpoint.events || endpoint.events.includes(record.event);

  return {
    endpointsFor: (record) => options.endpoints.filter((e) => takes(e, record)).map((e) => e.name),
    async deliver(record, done, delivered, decision) {
      const failures: Failure[] = [];
      await Promise.all(
        options.endpoints
          .filter((e) => takes(e, record) && !done.has(e.name))
          .map(async (endpoint) => {
            try {
              await post(endpoint, record, decision);
              delivered(endpoint.name);
            } catch (err) {
              const refusal = err instanceof Refusal ? err : new Refusal('failed', false);
              failures.push({ endpoint: endpoint.name, reason: refusal.message, permanent: refusal.permanent });
            }
          }),
      );
      return failures;
    },
  };
}
