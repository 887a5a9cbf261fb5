import Type, { type Static, type TSchema } from 'typebox';
import {
  AUDIT_EVENTS,
  ACCESS_LEVEL_NAME,
  DATABASE_KEY,
  DEFAULT_ACCESS_LEVELS,
  DEFAULT_ENGINE,
  ENGINE_KEYS,
  PRIVILEGE_CATALOGUES,
  HOST_PATTERN,
  PROJECT_KEY,
  RECONCILER_MODES,
  SCHEMA_NAME,
  SECRET_ID,
  SECRET_NAME,
  checkEmail,
  isSafeText,
  parseDuration,
} from '../domain';

// The configuration file's schema: every key with its doc (`description`) and its
// default, in one place. `errorMessage` is the reason a problem report gives for a
// value this node refuses (one text, or one per keyword); `requiredMessage` the one
// for a missing key (else "is required"). Checks JSON Schema cannot say are
// refinements (durations, e-mail addresses, privileges); rules across keys are in
// file.ts.

export const ROLES = ['admin', 'requester', 'approver', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** Names of API keys: what DBACCESS_API_KEYS pairs with a key, and audit trails record as the actor. */
export const API_CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
const DOMAIN_NAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

const HOST_RULE = 'must be %, a host name or an address, optionally with % and _ wildcards';
const CONNECTIONS_RULE = 'must be an integer from 1 to 10000';
const DURATION_RULE = 'must be a duration such as 90d, 12h or 1d12h';
const LEVELS_RULE = 'must be a list of access levels such as [ADMIN]';

type Options = Record<string, unknown>;

/** A string without control or invisible characters (it reaches e-mail headers and logs). */
function text(options: Options = {}) {
  const string = Type.String({ minLength: 1, errorMessage: 'must be a non-empty string', ...options });
  const filled = Type.Refine(string, (v) => typeof v !== 'string' || v.trim() !== '', () => 'must be a non-empty string');
  return Type.Refine(filled, (v) => typeof v !== 'string' || isSafeText(v), () => 'must not contain control or invisible characters');
}

/** A string that must match `re`, `rule` saying how. */
function matching(re: RegExp, rule: string, options: Options = {}) {
  return text({ pattern: re.source, errorMessage: rule, ...options });
}

function email(options: Options = {}) {
  return Type.Refine(text(options), (v) => typeof v !== 'string' || !checkEmail(v), (v) => checkEmail(v as string) ?? '');
}

/** A duration such as `90d`; with `range`, between the two, `rule` saying so. */
function duration(options: Options, range?: { min: number; max: number; rule: string }) {
  return Type.Refine(
    Type.String({ errorMessage: DURATION_RULE, ...options }),
    (v) => {
      const ms = typeof v === 'string' ? parseDuration(v) : 0;
      return ms !== undefined && (!range || typeof v !== 'string' || (ms >= range.min && ms <= range.max));
    },
    (v) => (parseDuration(v as string) === undefined ? String(options.errorMessage ?? DURATION_RULE) : range!.rule),
  );
}

/** A map whose keys must match `key`; a key that does not is refused with `keyRule`. */
function keyed<T extends TSchema>(key: RegExp, keyRule: string, value: T, options: Options = {}) {
  return Type.Record(Type.String({ pattern: key.source }), value, { additionalProperties: Type.Never({ errorMessage: keyRule }), ...options });
}

const ms = (d: string) => parseDuration(d)!;

/**
 * Why a list of privileges is refused by every engine (a name none accepts, an empty
 * list): the default engine's reason. Undefined when one engine accepts it, or it is
 * not a list of strings. Whether the engine of each database it applies to accepts
 * it is a rule across keys (file.ts).
 */
function privilegeProblem(list: unknown): string | undefined {
  if (!Array.isArray(list) || !list.every((p) => typeof p === 'string')) return undefined;
  let first: string | undefined;
  for (const key of [DEFAULT_ENGINE, ...ENGINE_KEYS.filter((k) => k !== DEFAULT_ENGINE)]) {
    try {
      PRIVILEGE_CATALOGUES[key].normalize(list);
      return undefined;
    } catch (err) {
      first ??= (err as Error).message;
    }
  }
  return first;
}

const privileges = Type.Refine(
  Type.Array(Type.String({ errorMessage: 'must be a privilege such as SELECT' }), { errorMessage: 'must be a list of privileges' }),
  (v) => privilegeProblem(v) === undefined,
  (v) => privilegeProblem(v)!,
);

function levelTable(description: string, options: Options = {}) {
  return keyed(ACCESS_LEVEL_NAME, 'level names are upper-case letters, digits and _ (READ, READ_WRITE)', privileges, {
    description,
    minProperties: 1,
    errorMessage: { minProperties: 'must define at least one level', _: 'must map level names to lists of privileges' },
    ...options,
  });
}

const levelName = matching(ACCESS_LEVEL_NAME, 'must be an access level such as ADMIN');

const Person = Type.Object(
  {
    name: text({ description: 'Full name, as e-mails address them.' }),
    email: email({ description: 'E-mail address (stored in lower case).' }),
  },
  { errorMessage: 'must be {name, email}' },
);

const Database = Type.Object(
  {
    schema: Type.Optional(matching(SCHEMA_NAME, 'must be a plain schema name (letters, digits, _; at most 64)', { description: 'Schema the grants give access to. Default: the database key.' })),
    engine: Type.Optional(
      Type.Union(
        ENGINE_KEYS.map((k) => Type.Literal(k)),
        { errorMessage: `must be one of ${ENGINE_KEYS.join(', ')}`, description: `Database engine of the server (${ENGINE_KEYS.join(', ')}). Default: ${DEFAULT_ENGINE}.` },
      ),
    ),
    adminSecretId: matching(SECRET_ID, 'must be a Secrets Manager secret name or ARN', {
      description: "Secrets Manager secret (name or ARN) of the admin account that creates and drops grantees' accounts. Not under secretPrefix.",
    }),
    hostPattern: Type.Optional(matching(HOST_PATTERN, HOST_RULE, { description: "Host part of the grantees' accounts. Default: defaults.hostPattern." })),
    maxUserConnections: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 10_000, errorMessage: CONNECTIONS_RULE, description: 'MAX_USER_CONNECTIONS of each account. Default: defaults.maxUserConnections.' }),
    ),
    maxDuration: Type.Optional(duration({ description: 'Longest grant (and extension) allowed, such as 90d. Default: defaults.maxDuration.' })),
    accessLevels: Type.Optional(levelTable('Levels for this database only; they take precedence over the project\'s and the top-level ones.')),
    requireApproval: Type.Optional(
      Type.Union([Type.Boolean(), Type.Array(levelName, { minItems: 1 })], {
        errorMessage: 'must be true (every grant), false, or a list of access levels such as [ADMIN]',
        description: 'true: every grant here needs an approver; a list: grants at these levels do. Default: false.',
      }),
    ),
    standing: Type.Optional(
      Type.Object(
        {
          review: duration(
            { description: 'How often a standing grant is reviewed, such as 90d: each review that keeps it moves its deadline this far. Values below 1h are meant for tests and demos.' },
            { min: ms('20s'), max: ms('366d'), rule: 'must be from 20s to 366d' },
          ),
          decideWithin: Type.Optional(
            duration(
              { description: 'How long before the deadline the review is asked for, less than review. Default: 7d, or half of review when that is shorter.' },
              { min: ms('10s'), max: ms('90d'), rule: 'must be from 10s to 90d' },
            ),
          ),
        },
        {
          additionalProperties: false,
          errorMessage: 'must be {review, decideWithin}',
          requiredMessage: 'must give review',
          description:
            'Allows standing grants here: a request with no end (expiresAt "NA") is granted until its first review, and every review period the owner and the approvers keep or revoke it; undecided, it ends at the deadline. Absent: "NA" is refused.',
        },
      ),
    ),
  },
  { additionalProperties: false, errorMessage: 'must be an object' },
);

const Project = Type.Object(
  {
    ownerName: text({ description: 'Name of the project owner, who is told of every grant.' }),
    ownerEmail: email({ description: "The project owner's e-mail address." }),
    accessLevels: Type.Optional(levelTable('Levels for this project only; they take precedence over the top-level ones.')),
    databases: keyed(DATABASE_KEY, 'database keys are letters, digits, _ and - (at most 64)', Database, {
      minProperties: 1,
      errorMessage: 'must define at least one database',
      requiredMessage: 'must define at least one database',
      description: 'The databases of the project, by key (the key is part of grant ids).',
    }),
  },
  { additionalProperties: false, errorMessage: 'must be an object' },
);

const ApiClient = Type.Object(
  {
    role: Type.Union(
      ROLES.map((r) => Type.Literal(r)),
      { errorMessage: `must be one of ${ROLES.join(', ')}`, description: 'admin: everything; requester: asks for grants in its projects; approver: decides on them; auditor: reads.' },
    ),
    projects: Type.Optional(
      Type.Union([Type.Literal('*'), Type.Array(Type.String({ errorMessage: 'must be a project key' }), { minItems: 1 })], {
        errorMessage: 'must be "*" (every project) or a list of project keys',
        description: 'Projects a requester may ask for, or an approver decide on; "*" for all. Admins and auditors act on every project.',
      }),
    ),
    email: Type.Optional(email({ description: 'A person behind the key: approvers are e-mailed here, and may not approve a grant for this address.' })),
  },
  { additionalProperties: false, errorMessage: 'must be {role, projects, email}' },
);

/** An event stream endpoint's name (it appears in logs and the workflow's activity summaries). */
export const EVENT_ENDPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const EVENT_FORMATS = ['cloudevents', 'slack'] as const;

const EventEndpoint = Type.Object(
  {
    format: Type.Optional(
      Type.Union(
        EVENT_FORMATS.map((f) => Type.Literal(f)),
        { default: 'cloudevents', errorMessage: `must be one of ${EVENT_FORMATS.join(', ')}`, description: 'cloudevents: each audit event as a signed CloudEvents JSON; slack: a readable line for a Slack-compatible incoming webhook.' },
      ),
    ),
    url: Type.Optional(matching(/^https?:\/\/[^\s]+$/, 'must be an http(s) URL', { maxLength: 2000, description: 'Where events are posted (https; http only on loopback).' })),
    urlSecretId: Type.Optional(
      matching(SECRET_ID, 'must be a Secrets Manager secret id', { description: 'Instead of url: a Secrets Manager secret whose JSON holds `url` (an incoming webhook URL is a credential).' }),
    ),
    secretId: Type.Optional(
      matching(SECRET_ID, 'must be a Secrets Manager secret id', { description: 'cloudevents: a Secrets Manager secret whose JSON holds `key`, the signing key (`whsec_` and base64, or base64; 24 bytes or more).' }),
    ),
    approver: Type.Optional(
      matching(API_CLIENT_NAME, 'must be the name of an apiClient', {
        description: 'slack: the channel is this approver\'s (an apiClient with an e-mail address that may decide): approval and extension requests posted there carry its one-click Approve and Deny links (needs DECISION_LINK_KEY).',
      }),
    ),
    events: Type.Optional(
      Type.Array(
        Type.Union(AUDIT_EVENTS.map((e) => Type.Literal(e))),
        { minItems: 1, errorMessage: `must be a list of audit events such as [GRANTED, REVOKED, EXPIRED]`, description: 'Only these events (default: all).' },
      ),
    ),
  },
  { additionalProperties: false, errorMessage: 'must be an object with format, url or urlSecretId, secretId, approver and events' },
);

export const FileSchema = Type.Object(
  {
    secretPrefix: Type.Optional(
      matching(SECRET_NAME, 'must be a valid secret name prefix', { default: 'dbaccess', description: 'Per-grant secrets are written under {secretPrefix}/{project}/{database}/{account}.' }),
    ),
    accessLevels: Type.Optional(
      levelTable('Access levels: a name (READ) and its privileges, from the whitelist.', { default: DEFAULT_ACCESS_LEVELS }),
    ),
    allowedEmailDomains: Type.Array(matching(DOMAIN_NAME, 'must be a domain name such as example.com'), {
      minItems: 1,
      errorMessage: 'must list at least one e-mail domain',
      requiredMessage: 'must list at least one e-mail domain',
      description: 'Grantees must have an address in one of these domains (compared exactly, without sub-domains).',
    }),
    administrators: Type.Array(Person, {
      minItems: 1,
      errorMessage: 'must list at least one {name, email}: they are told when a grant fails or a revocation keeps failing',
      requiredMessage: 'must list at least one {name, email}: they are told when a grant fails or a revocation keeps failing',
      description: 'Who is told when a grant fails or a revocation keeps failing.',
    }),
    defaults: Type.Optional(
      Type.Object(
        {
          hostPattern: Type.Optional(matching(HOST_PATTERN, HOST_RULE, { default: '%', description: "Host part of the grantees' accounts." })),
          maxUserConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 5, errorMessage: CONNECTIONS_RULE, description: 'MAX_USER_CONNECTIONS of each account.' })),
          maxDuration: Type.Optional(duration({ default: '90d', description: 'Longest grant allowed.' })),
        },
        { additionalProperties: false, default: {}, errorMessage: 'must be an object', description: 'Database settings that apply where a database does not set its own.' },
      ),
    ),
    projects: keyed(PROJECT_KEY, 'project keys are lower-case letters, digits, _ and - (at most 63)', Project, {
      minProperties: 1,
      errorMessage: 'must define at least one project',
      requiredMessage: 'must define at least one project',
      description: 'Projects by key (the key is part of grant ids), each with its owner and databases.',
    }),
    apiClients: Type.Optional(
      keyed(API_CLIENT_NAME, 'names are letters, digits, _ . @ - (at most 64), as in DBACCESS_API_KEYS', ApiClient, {
        default: {},
        errorMessage: 'must map API key names to {role, projects, email}',
        description: 'What each API key (by its name in DBACCESS_API_KEYS) may do.',
      }),
    ),
    approval: Type.Optional(
      Type.Object(
        {
          timeout: Type.Optional(
            duration({ default: '24h', description: 'A request without a decision within this time is DENIED.' }, { min: ms('10s'), max: ms('30d'), rule: 'must be from 10s to 30d' }),
          ),
          levels: Type.Optional(Type.Array(levelName, { default: [], errorMessage: LEVELS_RULE, description: 'Levels that need approval on every database.' })),
        },
        { additionalProperties: false, default: {}, errorMessage: 'must be an object with timeout and levels', description: 'Approval of grants that need it.' },
      ),
    ),
    breakGlass: Type.Optional(
      Type.Object(
        {
          clients: Type.Optional(
            Type.Array(Type.String({ errorMessage: 'must be an API client name' }), {
              default: [],
              errorMessage: 'must be a list of apiClients names',
              description: 'API clients (names of apiClients) that may break the glass: ask for access with breakGlass true and a reason, without waiting for approval.',
            }),
          ),
          maxDuration: Type.Optional(
            duration({ default: '1h', description: 'The longest a break-glass grant runs (and its length when the request gives none); it is never extended.' }, { min: ms('5m'), max: ms('24h'), rule: 'must be from 5m to 24h' }),
          ),
          reviewWithin: Type.Optional(
            duration(
              { default: '7d', description: 'The review after the fact (acknowledge or flag) is due this long after access was granted; without one the grant is audited BREAK_GLASS_UNREVIEWED and the administrators told. Values below 1m are meant for tests.' },
              { min: ms('5s'), max: ms('90d'), rule: 'must be from 5s to 90d' },
            ),
          ),
        },
        { additionalProperties: false, default: {}, errorMessage: 'must be an object with clients, maxDuration and reviewWithin', description: 'Break-glass access: immediate, short, alerted and reviewed after the fact (docs/decisions/0110-break-glass.md).' },
      ),
    ),
    reconciler: Type.Optional(
      Type.Object(
        {
          interval: Type.Optional(duration({ default: '1h', description: 'How often the reconciler runs.' }, { min: ms('1m'), max: ms('7d'), rule: 'must be from 1m to 7d' })),
          mode: Type.Optional(
            Type.Union(
              RECONCILER_MODES.map((m) => Type.Literal(m)),
              { default: 'revoke', errorMessage: `must be one of ${RECONCILER_MODES.join(', ')}`, description: 'revoke: drops orphans and repairs drift; report: only reports both.' },
            ),
          ),
        },
        { additionalProperties: false, default: {}, errorMessage: 'must be an object with interval and mode', description: "The reconciler's Temporal Schedule." },
      ),
    ),
    eventStream: Type.Optional(
      Type.Object(
        {
          deliverFor: Type.Optional(
            duration({ default: '24h', description: 'How long Temporal retries the delivery of one event to an endpoint before giving up on it.' }, { min: ms('1m'), max: ms('30d'), rule: 'must be from 1m to 30d' }),
          ),
          endpoints: Type.Optional(
            keyed(EVENT_ENDPOINT_NAME, 'must be a name of letters, digits, _ and -', EventEndpoint, { default: {}, description: 'Where every audit event of a grant is delivered, in order, by name.' }),
          ),
        },
        { additionalProperties: false, default: {}, errorMessage: 'must be an object with deliverFor and endpoints', description: 'Audit events delivered to HTTP endpoints as they happen.' },
      ),
    ),
    reminders: Type.Optional(
      Type.Array(duration({ errorMessage: 'must be a duration such as 3d, 1d or 12h' }), {
        default: ['3d', '1d'],
        errorMessage: 'must be a list of durations before the expiry, such as [3d, 1d] ([] for none)',
        description: 'When grantees are reminded before their expiry; [] for none.',
      }),
    ),
    revocationLead: Type.Optional(
      Type.Refine(
        Type.Union([Type.String(), Type.Number()], { default: '1m', errorMessage: 'must be a duration from 5s to 1h, such as 1m, or off', description: 'How long before an expiry its revocation is handed to a worker, which drops the account at the exact instant; off for none.' }),
        (v) => revocationLeadMs(v) !== undefined,
        () => 'must be a duration from 5s to 1h, such as 1m, or off',
      ),
    ),
  },
  { additionalProperties: false },
);

export type RawFile = Static<typeof FileSchema>;

/** `revocationLead` in ms: 0 for off; undefined when not valid. */
export function revocationLeadMs(value: unknown): number | undefined {
  if (value === 'off' || value === '0s' || value === 0) return 0;
  const lead = typeof value === 'string' ? parseDuration(value) : undefined;
  return lead !== undefined && lead >= 5000 && lead <= 3600_000 ? lead : undefined;
}
