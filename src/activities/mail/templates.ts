import { ACCOUNT_NAME, isDowngrade, type GrantEvent, type GrantState, type Person } from '../../domain';
import type { MailMessage } from '../ports';
import { clean, formatUtc, headerSafe, messageIdFor, relativePhrase, shellQuote, uniqueAddresses } from './format';
import { renderHtml, renderText, type Block, type Document, type Fact } from './render';

// The e-mails of a grant's lifecycle. Pure functions of their input: the same
// event renders the same message on every retry (times are taken from the grant,
// never from the clock). The GRANTED mail carries a one-time link to the
// credentials and names the per-grant secret; it carries the password itself only
// when the operator turned CREDENTIALS_IN_EMAIL on (see `credentials`).

export type GrantMailKind = 'GRANTED' | 'LEVEL_CHANGED' | 'EXTENDED' | 'REVOKED' | 'EXPIRED';
/**
 * FAILED: rolled back. REVOKE_RETRYING: a revocation keeps failing. ACCOUNT_RETAINED:
 * access ended but the server refuses the drop (sent once, with the owner in copy).
 * LEVEL_CHANGE_INCOMPLETE: a lowering of access could not finish (it is retried; never undone).
 */
export type AdminMailKind = 'FAILED' | 'REVOKE_RETRYING' | 'ACCOUNT_RETAINED' | 'LEVEL_CHANGE_INCOMPLETE';

export interface GrantMailInput {
  kind: GrantMailKind;
  grant: GrantState;
  /** The project owner: receives a copy (not twice when they are the grantee). */
  owner: Person;
  /** Audit event id of what is announced; makes the Message-ID deterministic. */
  eventId: string;
  /** Region of the per-grant secret, for the ready-to-paste CLI command. */
  awsRegion: string;
  /** Values before a LEVEL_CHANGED or EXTENDED; taken from the grant's history when absent. */
  previous?: { accessLevel?: string; expiresAt?: string; privileges?: string[] };
  /** MySQL schema the privileges are on (GrantState does not carry it); the row is left out when unknown. */
  schema?: string;
  /** Who made the change (REVOKED, EXTENDED, LEVEL_CHANGED); defaults to the actor of the matching history event. */
  actor?: string;
  /** Why (REVOKED, EXTENDED, LEVEL_CHANGED), as the requester wrote it. Shown only when given. */
  reason?: string;
  /** GRANTED only: how the credentials are delivered; without it the mail only names the secret. */
  credentials?: MailCredentials;
}

/** A one-time link to the credentials (the default), or the password itself (CREDENTIALS_IN_EMAIL). */
export type MailCredentials = { kind: 'link'; url: string; linkExpiresAt: string } | { kind: 'password'; password: string };

export interface AdminMailInput {
  kind: AdminMailKind;
  grant: GrantState;
  administrators: Person[];
  eventId: string;
  /** What went wrong, as the workflow knows it (the last error, attempts so far...). */
  detail: string;
  /** The project owner, copied on ACCOUNT_RETAINED (and LEVEL_CHANGE_INCOMPLETE). */
  owner?: Person;
}

const KIND_EVENTS: Record<GrantMailKind, readonly string[]> = {
  GRANTED: ['GRANTED'],
  LEVEL_CHANGED: ['LEVEL_CHANGED'],
  EXTENDED: ['EXTENDED'],
  // The request carries the actor and the reason; the REVOKED event is the system finishing it.
  REVOKED: ['REVOKE_REQUESTED', 'REVOKED'],
  EXPIRED: ['EXPIRED'],
};

/** The latest history event of one of `types`, with the event just before it. */
function findEvent(grant: GrantState, types: readonly string[]): { event?: GrantEvent; before?: GrantEvent } {
  const history = grant.history ?? [];
  for (const type of types) {
    for (let i = history.length - 1; i >= 0; i--) {
      if (history[i]!.event === type) return { event: history[i], before: i > 0 ? history[i - 1] : undefined };
    }
  }
  return {};
}

/**
 * The reason recorded on a history event. GrantEvent has no such field today (its
 * `detail` is a technical description, not what the requester wrote), so this
 * only finds one if the history starts carrying it; until then the caller passes `reason`.
 */
function eventReason(event: GrantEvent | undefined): string | undefined {
  return event && 'reason' in event && typeof event.reason === 'string' ? event.reason : undefined;
}

function engineName(engine: string): string {
  return engine === 'mariadb' ? 'MariaDB' : engine === 'mysql' ? 'MySQL' : clean(engine);
}

function where(grant: GrantState): string {
  return `${clean(grant.project)}/${clean(grant.database)}`;
}

function person(p: Person): string {
  const name = clean(p.name, 120);
  const email = clean(p.email, 254);
  return name ? `${name} <${email}>` : email;
}

function privilegeList(privileges: readonly string[] | undefined): string {
  return privileges && privileges.length > 0 ? privileges.map((p) => clean(p, 40)).join(', ') : 'unknown';
}

function expiryText(expiresAt: string, reference: string | undefined): string {
  const phrase = relativePhrase(reference, expiresAt);
  return phrase ? `${formatUtc(expiresAt)} (${phrase})` : formatUtc(expiresAt);
}

function secretCommand(secretName: string, region: string): string {
  return `aws secretsmanager get-secret-value --secret-id ${shellQuote(secretName)} --region ${shellQuote(region)} --query SecretString --output text`;
}

function connectCommand(grant: GrantState, schema: string | undefined): string | undefined {
  if (!grant.connection) return undefined;
  const { host, port } = grant.connection;
  const db = schema ? ` ${shellQuote(clean(schema, 64))}` : '';
  return `mysql --host=${shellQuote(clean(host, 255))} --port=${Number(port)} --user=${shellQuote(clean(grant.account, 64))} --password${db}`;
}

function grantFooter(grant: GrantState, eventId: string, ownerCopied: Person | undefined): string[] {
  return [
    `Grant ${clean(grant.grantId)} - event ${clean(eventId, 120)}`,
    ownerCopied
      ? `Sent by dbaccess to ${clean(grant.email)}, with a copy to ${person(ownerCopied)} as owner of project ${clean(grant.project)}.`
      : `Sent by dbaccess to ${clean(grant.email)}.`,
  ];
}

function grantedDocument(input: GrantMailInput, reference: string | undefined): { subject: string; doc: Document } {
  const { grant } = input;
  const level = clean(grant.accessLevel, 40);
  const rows: Fact[] = [
    ['Grantee', person({ name: grant.name, email: grant.email })],
    ['Project / database', where(grant)],
  ];
  if (input.schema) rows.push(['Schema', clean(input.schema, 64), 'code']);
  rows.push(['Access level', level, 'strong'], ['Privileges', privilegeList(grant.privileges)]);
  if (grant.connection) {
    rows.push(
      ['Server', `${clean(grant.connection.host, 255)}:${Number(grant.connection.port)}`, 'code'],
      ['Engine', engineName(grant.connection.engine)],
    );
  }
  rows.push(['Account', clean(grant.account, 64), 'code'], ['Expires', expiryText(grant.expiresAt, reference), 'strong']);
  if (grant.reason) rows.push(['Reason', clean(grant.reason)]);
  rows.push(['Requested by', clean(grant.requestedBy, 120)], ['Grant id', clean(grant.grantId), 'code']);

  const blocks: Block[] = [
    { kind: 'p', text: `Hello ${clean(grant.name, 120) || clean(grant.email)},` },
    {
      kind: 'p',
      text: `you now have ${level} access to the database ${clean(grant.database)} of project ${clean(grant.project)}, until ${formatUtc(grant.expiresAt)}.`,
    },
    { kind: 'facts', rows },
  ];
  const secretName = grant.secretName ? clean(grant.secretName, 512) : undefined;
  const region = clean(input.awsRegion, 40);
  const creds = input.credentials;
  if (creds?.kind === 'link') {
    blocks.push(
      { kind: 'h', text: 'Your credentials' },
      {
        kind: 'p',
        text: `Open this link to see your user name and password. It works once, until ${formatUtc(creds.linkExpiresAt)}; after that it shows nothing. The page asks you to press a button before it shows them, so that mail security scanners that open links do not use it up.`,
      },
      { kind: 'code', text: clean(creds.url, 2000) },
      { kind: 'p', text: 'Copy the password into your password manager: the link cannot be opened a second time. This e-mail itself contains no password.' },
    );
  } else if (creds?.kind === 'password') {
    blocks.push(
      { kind: 'h', text: 'Your credentials' },
      {
        kind: 'p',
        text: 'Your administrators chose to send the password by e-mail. Store it in your password manager and delete this e-mail: mail is kept, copied and indexed in many places and outlives the grant.',
      },
      // Code style: one unwrapped line, so it can be copied exactly.
      { kind: 'facts', rows: [['User name', clean(grant.account, 64), 'code'], ['Password', creds.password, 'code']] },
    );
  }
  blocks.push({ kind: 'h', text: creds ? 'Also in AWS Secrets Manager' : 'Where the password is' });
  if (secretName) {
    blocks.push(
      {
        kind: 'p',
        text: creds
          ? `The credentials also stay, until the grant ends, in AWS Secrets Manager, in the secret ${secretName} (region ${region}). If you have AWS access, read them with the AWS CLI, signed in with your own AWS credentials:`
          : `The password is never sent by e-mail. It is in AWS Secrets Manager, in the secret ${secretName} (region ${region}). Read it with the AWS CLI, signed in with your own AWS credentials:`,
      },
      { kind: 'code', text: secretCommand(secretName, region) },
      { kind: 'p', text: 'The secret is a JSON document with the keys engine, host, port, username, password and database.' },
    );
  } else {
    blocks.push({
      kind: 'p',
      text: 'The name of the secret that holds the password was not recorded for this grant; ask your database administrators.',
    });
  }
  const connect = connectCommand(grant, input.schema);
  if (connect) {
    const hint = creds?.kind === 'link' ? 'Enter the password from the link (or the secret) when asked.' : creds?.kind === 'password' ? 'Enter the password above when asked.' : 'Enter the password from the secret when asked.';
    blocks.push({ kind: 'h', text: 'Connect' }, { kind: 'code', text: connect }, { kind: 'p', text: hint });
  }
  blocks.push(
    { kind: 'h', text: 'When it ends' },
    {
      kind: 'p',
      text: `At ${formatUtc(grant.expiresAt)} the account is removed and its open sessions are closed. If you need longer, ask for an extension before then.`,
    },
  );
  return {
    subject: `[dbaccess] ${level} access to ${where(grant)} granted until ${formatUtc(grant.expiresAt, 'minutes')}`,
    doc: { title: `${level} access to ${where(grant)} granted`, tone: 'good', blocks, footer: [] },
  };
}

function levelChangedDocument(input: GrantMailInput, found: { event?: GrantEvent; before?: GrantEvent }, actor: string, reason: string) {
  const { grant } = input;
  const level = clean(grant.accessLevel, 40);
  const previousLevel = clean(input.previous?.accessLevel ?? found.before?.accessLevel, 40);
  const previousPrivileges = input.previous?.privileges;
  const downgrade = previousPrivileges ? isDowngrade(previousPrivileges, grant.privileges) : undefined;

  const rows: Fact[] = [['Project / database', where(grant)]];
  if (input.schema) rows.push(['Schema', clean(input.schema, 64), 'code']);
  if (previousLevel) rows.push(['Previous level', previousPrivileges ? `${previousLevel} (${privilegeList(previousPrivileges)})` : previousLevel]);
  rows.push(
    ['New level', level, 'strong'],
    ['New privileges', privilegeList(grant.privileges)],
    ['Account', clean(grant.account, 64), 'code'],
    ['Expires', formatUtc(grant.expiresAt)],
  );
  if (actor) rows.push(['Changed by', actor]);
  if (reason) rows.push(['Reason', reason]);
  rows.push(['Grant id', clean(grant.grantId), 'code']);

  const sessions =
    downgrade === true
      ? 'This change removed privileges, so your open sessions were ended: a server applies reduced privileges to an open session only when it next selects the database. Reconnect to continue at the new level.'
      : downgrade === false
        ? 'Open sessions were left alone; new connections get the new privileges at once, an open session once it selects the database again (USE).'
        : 'If you have open sessions, reconnect so that the new level applies to them.';
  const blocks: Block[] = [
    { kind: 'p', text: `Hello ${clean(grant.name, 120) || clean(grant.email)},` },
    {
      kind: 'p',
      text: previousLevel
        ? `your access to ${where(grant)} changed from ${previousLevel} to ${level}.`
        : `your access to ${where(grant)} changed to ${level}.`,
    },
    { kind: 'facts', rows },
    { kind: 'p', text: sessions },
    { kind: 'p', text: 'Your account and password are unchanged.' },
  ];
  return {
    subject: previousLevel
      ? `[dbaccess] Access to ${where(grant)} changed from ${previousLevel} to ${level}`
      : `[dbaccess] Access to ${where(grant)} changed to ${level}`,
    doc: { title: `Access level changed to ${level}`, tone: downgrade ? 'warning' : 'info', blocks, footer: [] } satisfies Document,
  };
}

function extendedDocument(input: GrantMailInput, found: { event?: GrantEvent; before?: GrantEvent }, reference: string | undefined, actor: string, reason: string) {
  const { grant } = input;
  const previousExpiry = input.previous?.expiresAt ?? found.before?.expiresAt;
  const rows: Fact[] = [['Project / database', where(grant)], ['New expiry', expiryText(grant.expiresAt, reference), 'strong']];
  if (previousExpiry) rows.push(['Previous expiry', formatUtc(previousExpiry)]);
  rows.push(['Access level', clean(grant.accessLevel, 40)], ['Account', clean(grant.account, 64), 'code']);
  if (actor) rows.push(['Extended by', actor]);
  if (reason) rows.push(['Reason', reason]);
  rows.push(['Grant id', clean(grant.grantId), 'code']);
  return {
    subject: `[dbaccess] Access to ${where(grant)} extended until ${formatUtc(grant.expiresAt, 'minutes')}`,
    doc: {
      title: `Access to ${where(grant)} extended`,
      tone: 'info',
      blocks: [
        { kind: 'p', text: `Hello ${clean(grant.name, 120) || clean(grant.email)},` },
        {
          kind: 'p',
          text: previousExpiry
            ? `your access to ${where(grant)} now ends at ${formatUtc(grant.expiresAt)} instead of ${formatUtc(previousExpiry)}.`
            : `your access to ${where(grant)} now ends at ${formatUtc(grant.expiresAt)}.`,
        },
        { kind: 'facts', rows },
        { kind: 'p', text: 'Your account, password and privileges are unchanged.' },
      ],
      footer: [],
    } satisfies Document,
  };
}

function endedDocument(input: GrantMailInput, found: { event?: GrantEvent }, actor: string, reason: string) {
  const { grant } = input;
  const revoked = input.kind === 'REVOKED';
  const endedAt = grant.endedAt ?? found.event?.at ?? (revoked ? undefined : grant.expiresAt);
  const rows: Fact[] = [['Project / database', where(grant)]];
  if (revoked) {
    rows.push(['Revoked by', actor || 'unknown']);
    if (reason) rows.push(['Reason', reason]);
    if (endedAt) rows.push(['Revoked at', formatUtc(endedAt)]);
    rows.push(['Was due to expire', formatUtc(grant.expiresAt)]);
  } else {
    rows.push(['Expired at', formatUtc(endedAt ?? grant.expiresAt)]);
  }
  rows.push(['Access level', clean(grant.accessLevel, 40)], ['Account (removed)', clean(grant.account, 64), 'code'], ['Grant id', clean(grant.grantId), 'code']);
  const lead = revoked
    ? `your access to ${where(grant)} was revoked${actor ? ` by ${actor}` : ''}${reason ? ` (reason: ${reason})` : ''}.`
    : `your access to ${where(grant)} expired at ${formatUtc(grant.expiresAt)}, as planned.`;
  return {
    subject: revoked ? `[dbaccess] Access to ${where(grant)} revoked` : `[dbaccess] Access to ${where(grant)} expired`,
    doc: {
      title: revoked ? `Access to ${where(grant)} revoked` : `Access to ${where(grant)} expired`,
      tone: revoked ? 'warning' : 'info',
      blocks: [
        { kind: 'p', text: `Hello ${clean(grant.name, 120) || clean(grant.email)},` },
        { kind: 'p', text: lead },
        { kind: 'facts', rows },
        {
          kind: 'p',
          text: 'The database account has been removed and its open sessions closed; the credentials in its secret no longer work. If you still need access, request a new grant.',
        },
      ],
      footer: [],
    } satisfies Document,
  };
}

/** The grantee's e-mail for a lifecycle event: to the grantee, a copy to the project owner. */
export function grantMail(input: GrantMailInput): MailMessage {
  const { grant, kind } = input;
  const found = findEvent(grant, KIND_EVENTS[kind]);
  const reference = found.event?.at ?? grant.grantedAt ?? grant.requestedAt;
  const actor = clean(input.actor ?? found.event?.actor, 120);
  const reason = clean(input.reason ?? eventReason(found.event));

  let built: { subject: string; doc: Document };
  switch (kind) {
    case 'GRANTED':
      built = grantedDocument(input, reference);
      break;
    case 'LEVEL_CHANGED':
      built = levelChangedDocument(input, found, actor, reason);
      break;
    case 'EXTENDED':
      built = extendedDocument(input, found, reference, actor, reason);
      break;
    case 'REVOKED':
    case 'EXPIRED':
      built = endedDocument(input, found, actor, reason);
      break;
    default: {
      const never: never = kind;
      throw new Error(`unknown grant mail kind ${String(never)}`);
    }
  }
  const to = uniqueAddresses([grant.email]);
  const cc = uniqueAddresses([input.owner.email], to);
  built.doc.footer = grantFooter(grant, input.eventId, cc.length > 0 ? input.owner : undefined);
  const subject = headerSafe(built.subject);
  return {
    to,
    ...(cc.length > 0 ? { cc } : {}),
    subject,
    text: renderText(built.doc),
    html: renderHtml(built.doc, subject),
    messageId: messageIdFor(kind, input.eventId),
  };
}

function grantRows(grant: GrantState, withSecret: boolean): Fact[] {
  const rows: Fact[] = [
    ['Grantee', person({ name: grant.name, email: grant.email })],
    ['Project / database', where(grant)],
    ['Access level', `${clean(grant.accessLevel, 40)} (${privilegeList(grant.privileges)})`],
    ['Account', clean(grant.account, 64), 'code'],
    ['Expiry', formatUtc(grant.expiresAt)],
    ['Status', clean(grant.status, 40)],
    ['Requested by', `${clean(grant.requestedBy, 120)} at ${formatUtc(grant.requestedAt)}`],
  ];
  if (grant.reason) rows.push(['Reason', clean(grant.reason)]);
  if (grant.connection) rows.push(['Server', `${clean(grant.connection.host, 255)}:${Number(grant.connection.port)} (${engineName(grant.connection.engine)})`, 'code']);
  if (withSecret && grant.secretName) rows.push(['Grant secret', clean(grant.secretName, 512), 'code']);
  return rows;
}

/** Hints for the step that failed; step names are matched loosely so a renamed activity still gets advice. */
function stepHints(step: string): string[] {
  const s = step.toLowerCase();
  const hints: string[] = [];
  if (/account|user|password|credential|secret/.test(s)) {
    hints.push(
      'The database server is reachable from the worker and the admin secret of this database exists, is valid JSON (MYSQL_HOST, MYSQL_PORT, MYSQL_USERNAME, MYSQL_PASSWORD) and its password still works.',
      'The admin account may create users (CREATE USER) and the schema exists.',
      'The worker may create and write secrets under the grant secret prefix in Secrets Manager.',
    );
  }
  if (/privilege|grant|permission|level/.test(s)) {
    hints.push('The admin account holds the privileges it grants, WITH GRANT OPTION, on the schema.');
  }
  if (/audit|dynamo/.test(s)) hints.push('The DynamoDB audit table exists and the worker may write to it.');
  if (/notif|mail|smtp/.test(s)) hints.push('The SMTP relay is reachable and accepts mail from the configured sender.');
  return hints;
}

function adminFooter(grant: GrantState, eventId: string): string[] {
  return [
    `Grant ${clean(grant.grantId)} - event ${clean(eventId, 120)}`,
    'Sent by dbaccess to its administrators. Find the workflow in the Temporal UI by its id (the grant id) for the full event history.',
  ];
}

/** The administrators' alert: a grant that failed and was rolled back, or a revocation that keeps failing. */
export function adminMail(input: AdminMailInput): MailMessage {
  const { grant, kind } = input;
  const grantee = clean(grant.email);
  const level = clean(grant.accessLevel, 40);
  const detail = clean(input.detail, 2000);
  let subject: string;
  let doc: Document;

  if (kind === 'FAILED') {
    const step = clean(grant.failure?.step, 120) || 'unknown';
    const message = clean(grant.failure?.message, 2000) || 'no message recorded';
    // The secret was rolled back with everything else; naming it would suggest it exists.
    const rows = grantRows(grant, false);
    rows.push(['Failed step', step, 'code'], ['Error', message]);
    if (detail && detail !== message) rows.push(['Detail', detail]);
    rows.push(['Grant id', clean(grant.grantId), 'code']);
    subject = `[dbaccess] Grant FAILED and rolled back: ${grantee} ${level} on ${where(grant)}`;
    doc = {
      title: `Grant failed at step ${step}`,
      tone: 'alert',
      blocks: [
        {
          kind: 'p',
          text: `Granting ${level} access on ${where(grant)} to ${person({ name: grant.name, email: grant.email })} failed at step ${step}. Every step that had completed was rolled back in reverse order: the grantee has no access, and no account, privilege or grant secret of this request remains.`,
        },
        { kind: 'facts', rows },
        { kind: 'h', text: 'What to check' },
        {
          kind: 'list',
          items: [
            ...stepHints(step),
            'The error above and the workflow history in the Temporal UI (search for the grant id).',
            'Whether the compensations themselves succeeded: a failed compensation is logged by the worker and shows in the workflow history.',
            'Once the cause is fixed, the request can simply be made again.',
          ],
        },
      ],
      footer: adminFooter(grant, input.eventId),
    };
  } else {
    const account = clean(grant.account, 64);
    const rows = grantRows(grant, true);
    rows.push(['Detail', detail || 'none'], ['Grant id', clean(grant.grantId), 'code']);
    const blocks: Block[] = [
      {
        kind: 'p',
        text: `Revoking the access of ${person({ name: grant.name, email: grant.email })} to ${where(grant)} keeps failing. Until it succeeds the account ${account} may still be able to log in.`,
      },
      {
        kind: 'p',
        text: 'The service keeps retrying, with bounded backoff and no attempt limit, until the revocation succeeds; nothing needs to be restarted. Once the cause below is fixed, the next attempt completes it.',
      },
      { kind: 'facts', rows },
      { kind: 'h', text: 'What to check' },
      {
        kind: 'list',
        items: [
          'The database server is up and reachable from the worker (network, DNS, security groups, max connections).',
          'The admin secret of this database exists in Secrets Manager, is valid JSON (MYSQL_HOST, MYSQL_PORT, MYSQL_USERNAME, MYSQL_PASSWORD) and its password still works (was it rotated?).',
          'The admin account may still drop users and end their sessions (CREATE USER, and CONNECTION_ADMIN or SUPER / PROCESS).',
          'A worker is running and polling the task queue.',
        ],
      },
    ];
    if (ACCOUNT_NAME.test(account)) {
      blocks.push(
        { kind: 'h', text: 'If access must end right now' },
        { kind: 'p', text: 'Lock the account by hand and end its sessions; the automatic revocation still completes afterwards, it is idempotent:' },
        {
          kind: 'code',
          text: [
            `SELECT user, host FROM mysql.user WHERE user = '${account}';`,
            `ALTER USER '${account}'@'<host from the query above>' ACCOUNT LOCK;`,
            `SELECT id FROM information_schema.processlist WHERE user = '${account}';  -- then KILL <id>; for each`,
          ].join('\n'),
        },
      );
    }
    subject = `[dbaccess] ACTION NEEDED: revoking ${grantee} on ${where(grant)} keeps failing`;
    doc = { title: `Revocation of ${account} keeps failing`, tone: 'alert', blocks, footer: adminFooter(grant, input.eventId) };
  }

  const safeSubject = headerSafe(subject);
  return {
    to: uniqueAddresses(input.administrators.map((a) => a.email)),
    subject: safeSubject,
    text: renderText(doc),
    html: renderHtml(doc, safeSubject),
    messageId: messageIdFor(kind, input.eventId),
  };
}
