import { ConfigError } from './errors';

// Every environment variable the service reads, with its default and meaning.
// This table is the single source for the configuration reference in the docs and
// for the test that checks docker-compose.yml against the application.

export interface EnvVar {
  name: string;
  default?: string;
  doc: string;
  /** Which processes read it. */
  usedBy: ('api' | 'worker')[];
  secret?: boolean;
}

export const ENV_VARS = [
  { name: 'DBACCESS_CONFIG', default: 'dbaccess.yaml', doc: 'Path of the configuration file (YAML or JSON).', usedBy: ['api', 'worker'] },
  { name: 'LOG_LEVEL', default: 'info', doc: 'trace, debug, info, warn, error or fatal.', usedBy: ['api', 'worker'] },
  { name: 'TEMPORAL_ADDRESS', default: 'localhost:7233', doc: 'Temporal frontend host:port.', usedBy: ['api', 'worker'] },
  { name: 'TEMPORAL_NAMESPACE', default: 'default', doc: 'Temporal namespace.', usedBy: ['api', 'worker'] },
  { name: 'TEMPORAL_TASK_QUEUE', default: 'dbaccess', doc: 'Task queue of the grant workflows and activities.', usedBy: ['api', 'worker'] },
  { name: 'TEMPORAL_TLS', default: 'false', doc: 'Use TLS to reach Temporal (implied by the certificate settings and by an API key).', usedBy: ['api', 'worker'] },
  { name: 'TEMPORAL_TLS_CERT', doc: 'Path of the client certificate (PEM) for mTLS, e.g. Temporal Cloud.', usedBy: ['api', 'worker'] },
  { name: 'TEMPORAL_TLS_KEY', doc: 'Path of the client private key (PEM) for mTLS.', usedBy: ['api', 'worker'], secret: true },
  { name: 'TEMPORAL_TLS_CA', doc: 'Path of a CA bundle (PEM) for a self-hosted cluster with a private CA.', usedBy: ['api', 'worker'] },
  { name: 'TEMPORAL_TLS_SERVER_NAME', doc: 'Server name to verify, when it differs from the address.', usedBy: ['api', 'worker'] },
  { name: 'TEMPORAL_API_KEY', doc: 'API key for Temporal Cloud (instead of mTLS).', usedBy: ['api', 'worker'], secret: true },
  { name: 'API_HOST', default: '127.0.0.1', doc: 'Address the API listens on (0.0.0.0 in a container).', usedBy: ['api'] },
  { name: 'API_PORT', default: '3000', doc: 'Port the API listens on.', usedBy: ['api'] },
  { name: 'DBACCESS_API_KEYS', doc: 'Comma-separated `name:key` pairs; the name is recorded as the actor. Several may be valid at once (rotation).', usedBy: ['api'], secret: true },
  { name: 'API_GRANT_WAIT_MS', default: '10000', doc: 'How long POST /grants waits for ACTIVE before answering 202.', usedBy: ['api'] },
  { name: 'API_RATE_LIMIT_PER_KEY', default: '300', doc: 'Requests a minute per API key (by key name), in a burst of as many; 0 turns the limit off. Counted per API process.', usedBy: ['api'] },
  { name: 'API_RATE_LIMIT_PER_ADDRESS', default: '300', doc: 'Requests a minute per client address, with or without a valid key (throttles key guessing); 0 turns it off. Counted per API process.', usedBy: ['api'] },
  {
    name: 'API_TRUST_PROXY',
    default: 'false',
    doc:
      'Whose address is the client (per-address rate limit, logs, CREDENTIALS_VIEWED). false = the TCP peer. Behind a load balancer: a comma-separated list of its addresses/CIDRs (e.g. 10.0.0.0/8): the client is the nearest X-Forwarded-For entry that is not a trusted proxy, and what a client writes into the header itself is ignored; a peer that is not listed is the client whatever it sends. Or the number of proxy hops (1): the same, but whoever connects counts as a proxy, so only when nothing else can reach the API. true = the left-most entry (only behind a proxy that overwrites the header: otherwise any client can choose its address).',
    usedBy: ['api'],
  },
  {
    name: 'METRICS_TOKEN',
    doc: 'Bearer token GET /metrics on the API requires. Unset: /metrics needs no token while API_HOST is a loopback address, and is refused (403) when the API listens beyond loopback.',
    usedBy: ['api'],
    secret: true,
  },
  { name: 'API_REQUEST_TIMEOUT_MS', default: '30000', doc: 'The whole request (headers and body) must arrive within this time; a slower client gets 408 and its connection is closed.', usedBy: ['api'] },
  {
    name: 'API_CONNECTION_TIMEOUT_MS',
    default: '150000',
    doc: 'A connection with no traffic either way for this long is closed. At least API_GRANT_WAIT_MS + 10000, so that POST /grants is not cut while it waits for the grant.',
    usedBy: ['api'],
  },
  { name: 'API_HSTS_MAX_AGE', default: '0', doc: 'max-age (seconds) of the Strict-Transport-Security header; 0 sends none (set it when clients reach the API over HTTPS).', usedBy: ['api'] },
  { name: 'DBACCESS_CODEC_KEYS', doc: 'Payload encryption keys, comma-separated `keyId:base64key` (32 random bytes each). The first encrypts, all decrypt (rotation). Unset: payloads are stored in clear.', usedBy: ['api', 'worker'], secret: true },
  { name: 'CODEC_CORS_ORIGINS', doc: 'Comma-separated origins (e.g. the Temporal UI, `https://temporal.example.com`) allowed to call /codec/encode and /codec/decode from a browser.', usedBy: ['api'] },
  { name: 'CODEC_ALLOW_UNAUTHENTICATED', default: 'false', doc: 'Development only: the codec routes need no API key. Refused unless API_HOST is a loopback address.', usedBy: ['api'] },
  { name: 'GRANTEE_SEARCH_HASH_KEY', doc: 'When set, the DbAccessGrantee search attribute holds `h:` + hex HMAC-SHA256(key, lower-cased e-mail) instead of the e-mail (at least 32 characters).', usedBy: ['api'], secret: true },
  { name: 'AWS_REGION', default: 'us-east-1', doc: 'AWS region of Secrets Manager and DynamoDB.', usedBy: ['api', 'worker'] },
  { name: 'AWS_ENDPOINT_URL', doc: 'Endpoint override for Secrets Manager and DynamoDB (a local emulator). Unset in production.', usedBy: ['api', 'worker'] },
  { name: 'AUDIT_TABLE', default: 'dbaccess-audit', doc: 'DynamoDB table of the audit trail (the API writes CREDENTIALS_VIEWED to it).', usedBy: ['api', 'worker'] },
  { name: 'CREDENTIAL_LINKS_TABLE', default: 'dbaccess-credential-links', doc: 'DynamoDB table of the one-time credential links (hashes only).', usedBy: ['api', 'worker'] },
  { name: 'DECISION_LINK_KEY', doc: 'Signs the one-click Approve and Deny links of approval e-mails: 32 or more random bytes, base64 (`openssl rand -base64 32`), the same for the API and the worker. Unset: approval e-mails carry commands only. Rotating it voids the links already sent.', usedBy: ['api', 'worker'], secret: true },
  { name: 'PUBLIC_URL', doc: 'Public base URL of the API (https, or http on loopback), for the one-time credential link in the GRANTED e-mail. Required unless CREDENTIALS_IN_EMAIL is true.', usedBy: ['worker'] },
  { name: 'CREDENTIAL_LINK_TTL', default: '24h', doc: 'How long a one-time credential link works (at most until the grant ends): 24h, 30m, 2d ...', usedBy: ['worker'] },
  { name: 'CREDENTIALS_IN_EMAIL', default: 'false', doc: 'true puts the password in the GRANTED e-mail instead of a one-time link (for teams migrating from scripts that did so). Off by default.', usedBy: ['worker'] },
  { name: 'SMTP_HOST', default: 'localhost', doc: 'SMTP relay host.', usedBy: ['worker'] },
  { name: 'SMTP_PORT', default: '587', doc: 'SMTP relay port.', usedBy: ['worker'] },
  { name: 'SMTP_SECURE', default: 'false', doc: 'true for implicit TLS (port 465); otherwise STARTTLS is used when offered.', usedBy: ['worker'] },
  { name: 'SMTP_REQUIRE_TLS', default: 'false', doc: 'Refuse to send unless STARTTLS succeeds.', usedBy: ['worker'] },
  { name: 'SMTP_USER', doc: 'SMTP user name.', usedBy: ['worker'] },
  { name: 'SMTP_PASSWORD', doc: 'SMTP password.', usedBy: ['worker'], secret: true },
  { name: 'SMTP_SECRET_ID', doc: 'Secrets Manager secret holding {"SMTP_USER","SMTP_PASSWORD"} (as the scripts kept their SES credentials); overrides the two above.', usedBy: ['worker'] },
  { name: 'MAIL_FROM', default: 'dbaccess <dbaccess@localhost>', doc: 'From address of every e-mail.', usedBy: ['worker'] },
  {
    name: 'DBACCESS_ALLOW_EXTRA_ADMIN_PRIVILEGES',
    default: 'false',
    doc: 'true: start even when an admin account holds more privileges than the documentation lists (each extra privilege is logged as a warning); otherwise the worker refuses to start.',
    usedBy: ['worker'],
  },
  { name: 'WORKER_MAX_CACHED_WORKFLOWS', default: '100', doc: 'Grant workflows one worker keeps in memory; a grant outside the cache is replayed from its history when it wakes (expiry, reminder, message). Bounds the worker\'s memory however many grants are open.', usedBy: ['worker'] },
  { name: 'WORKER_MAX_CONCURRENT_ACTIVITIES', default: '50', doc: 'Activities one worker runs at once.', usedBy: ['worker'] },
  { name: 'WORKER_MAX_ARMED_REVOCATIONS', default: '10000', doc: 'Revocations one worker holds while they wait for their expiry (queue `<TEMPORAL_TASK_QUEUE>-expiry`; see revocationLead).', usedBy: ['worker'] },
  { name: 'WORKER_IDENTITY', doc: 'The name Temporal records for this worker\'s task attempts (the Temporal UI\'s "last worker"); a pod or host name in a fleet. Unset: `<pid>@<hostname>`.', usedBy: ['worker'] },
  { name: 'WORKER_METRICS_HOST', default: '127.0.0.1', doc: 'Address the worker serves /metrics, /healthz and /readyz on (0.0.0.0 in a container).', usedBy: ['worker'] },
  { name: 'WORKER_METRICS_PORT', default: '9464', doc: 'Port of the worker\'s /metrics, /healthz and /readyz; 0 turns that server off.', usedBy: ['worker'] },
  {
    name: 'WORKER_SDK_METRICS_PORT',
    default: '9465',
    doc: 'Loopback port of the Temporal SDK\'s own Prometheus exporter, whose metrics the worker\'s /metrics includes; 0 turns the SDK metrics off.',
    usedBy: ['worker'],
  },
] as const satisfies readonly EnvVar[];

export type EnvName = (typeof ENV_VARS)[number]['name'];

/** Typed access to the environment, with the defaults above. */
export class Env {
  constructor(private readonly source: NodeJS.ProcessEnv = process.env) {}

  get(name: EnvName): string | undefined {
    const value = this.source[name];
    if (value !== undefined && value !== '') return value;
    return (ENV_VARS.find((v) => v.name === name) as EnvVar | undefined)?.default;
  }

  require(name: EnvName): string {
    const value = this.get(name);
    if (value === undefined) throw new ConfigError([`${name} must be set`]);
    return value;
  }

  bool(name: EnvName): boolean {
    const value = (this.get(name) ?? 'false').toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(value)) return true;
    if (['0', 'false', 'no', 'off'].includes(value)) return false;
    throw new ConfigError([`${name} must be true or false, not "${value}"`]);
  }

  int(name: EnvName, min: number, max: number): number {
    const raw = this.get(name);
    const value = Number(raw);
    if (raw === undefined || !/^\d+$/.test(raw) || value < min || value > max) {
      throw new ConfigError([`${name} must be an integer from ${min} to ${max}, not "${raw ?? ''}"`]);
    }
    return value;
  }
}
