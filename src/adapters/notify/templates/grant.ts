import { ACCOUNT_NAME, isDowngrade, type GrantEvent, type GrantState, type LeftBehindObject, type Person } from '../../../domain';
import type { MailMessage } from '../../ports';
import { clean, formatUtc, relativePhrase, shellQuote, uniqueAddresses } from '../format';
import { mailMessage, type Block, type Document, type Fact } from '../render';

// The e-mails of a grant's lifecycle. Pure functions of their input: the same
// event renders the same message on every retry (times are taken from the grant,
// never from the clock). The grantee's GRANTED mail carries a one-time link to the
// credentials and names the per-grant secret; it carries the password itself only
// when the operator turned CREDENTIALS_IN_EMAIL on (see `credentials`). It goes to
// the grantee alone: the owner gets a separate notice (grantOwnerNotice) with
// neither the link, nor the password, nor the way to read the secret.

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
  /** The project owner: receives a copy (GRANTED: a notice of their own), not twice when they are the grantee. */
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

function grantFooter(grant: GrantState, eventId: string, ownerCopied: Person | undefined, ownerToldApart?: Person): string[] {
  return [
    `Grant ${clean(grant.grantId)} - event ${clean(eventId, 120)}`,
    ownerCopied
      ? `Sent by dbaccess to ${clean(grant.email)}, with a copy to ${person(ownerCopied)} as owner of project ${clean(grant.project)}.`
      : ownerToldApart
        ? `Sent by dbaccess to ${clean(grant.email)} only. ${person(ownerToldApart)}, owner of project ${clean(grant.project)}, is told separately, without your credentials.`
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
      text: `At ${formatUtc(grant.expiresAt)} access ends: the account is locked, its open sessions are closed, and it is removed. If you need longer, ask for an extension before then.`,
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
  const retained = grant.retained;
  const accessEndedAt = grant.accessEndedAt ?? retained?.since;
  const objects = leftBehindOf(grant);
  const account = clean(grant.account, 64);
  const rows: Fact[] = [['Project / database', where(grant)]];
  if (revoked) {
    rows.push(['Revoked by', actor || 'unknown']);
    if (reason) rows.push(['Reason', reason]);
    if (endedAt) rows.push(['Revoked at', formatUtc(endedAt)]);
    rows.push(['Was due to expire', formatUtc(grant.expiresAt)]);
  } else {
    rows.push(['Expired at', formatUtc(endedAt ?? grant.expiresAt)]);
  }
  if (accessEndedAt) rows.push(['Access ended at', formatUtc(accessEndedAt), 'strong']);
  rows.push(
    ['Access level', clean(grant.accessLevel, 40)],
    retained ? ['Account (locked, kept)', account, 'code'] : ['Account (removed)', account, 'code'],
  );
  if (objects) rows.push(['Objects left behind', String(objects.count)]);
  rows.push(['Grant id', clean(grant.grantId), 'code']);
  const lead = revoked
    ? `your access to ${where(grant)} was revoked${actor ? ` by ${actor}` : ''}${reason ? ` (reason: ${reason})` : ''}.`
    : `your access to ${where(grant)} expired at ${formatUtc(grant.expiresAt)}, as planned.`;
  const blocks: Block[] = [
    { kind: 'p', text: `Hello ${clean(grant.name, 120) || clean(grant.email)},` },
    { kind: 'p', text: lead },
    { kind: 'facts', rows },
  ];
  if (retained) {
    // Access has ended even though the account exists: say so, and never that it was removed.
    blocks.push(
      {
        kind: 'p',
        text: `Access ended at ${formatUtc(accessEndedAt)}: the account ${account} was locked, its password replaced with one nobody knows, its privileges revoked and its open sessions ended. It cannot log in, and the credentials in its secret no longer work.`,
      },
      {
        kind: 'p',
        text: `The account itself is kept, locked, because the database server refused to drop it: ${clean(retained.reason, 500) || 'no reason given'}. The administrators have been told; it will be dropped once the objects it defines have been dealt with. If you still need access, request a new grant once it is gone.`,
      },
    );
  } else {
    blocks.push({
      kind: 'p',
      text: 'The database account has been locked, its open sessions closed, and it has been removed; the credentials in its secret no longer work. If you still need access, request a new grant.',
    });
  }
  if (objects) blocks.push(...leftBehindBlocks(objects, Boolean(retained), grant, input.owner));
  const title = revoked ? `Access to ${where(grant)} revoked` : `Access to ${where(grant)} expired`;
  return {
    subject: `[dbaccess] ${title}${retained ? '; account kept for its stored objects' : objects ? `; ${objects.count} stored object(s) left behind` : ''}`,
    doc: { title, tone: revoked || retained || objects ? 'warning' : 'info', blocks, footer: [] } satisfies Document,
  };
}

/** What the account left behind, from the retained account or the report of its drop; undefined when nothing. */
function leftBehindOf(grant: GrantState): { objects: LeftBehindObject[]; count: number } | undefined {
  const objects = grant.retained?.objects ?? grant.leftBehind?.objects ?? [];
  const count = Math.max(grant.retained?.objectCount ?? grant.leftBehind?.count ?? 0, objects.length);
  return count > 0 ? { objects, count } : undefined;
}

/** One line per object: names only (grantee-controlled, cleaned), never a definition. */
function objectLines(objects: { objects: LeftBehindObject[]; count: number }): string[] {
  const lines = objects.objects.map((o) => `${clean(o.kind, 20)} ${clean(o.schema, 64)}.${clean(o.name, 64)}${o.note ? ` (${clean(o.note, 200)})` : ''}`);
  if (objects.count > objects.objects.length) lines.push(`... and ${objects.count - objects.objects.length} more (the query in the administrators' alert lists them all).`);
  return lines;
}

function leftBehindBlocks(objects: { objects: LeftBehindObject[]; count: number }, retained: boolean, grant: GrantState, owner: Person): Block[] {
  return [
    { kind: 'h', text: 'What the account left behind' },
    {
      kind: 'p',
      text: retained
        ? `These stored objects have the account ${clean(grant.account, 64)} as their definer. Nothing was deleted: they belong to the project, and ${person(owner)}, its owner, decides with the administrators whether to give each one another definer or to drop it. Its events were disabled so that nothing runs with the account's rights.`
        : `The account was removed, but these stored objects it defined were kept: they belong to the project. Their definer no longer exists, so a view or routine that runs with its definer's rights fails, and a trigger makes writes to its table fail, until someone gives it another definer or drops it. ${person(owner)}, owner of the project, decides.`,
    },
    { kind: 'list', items: objectLines(objects) },
    { kind: 'p', text: 'Tables are not listed: MySQL and MariaDB do not record who created a table. Tables and data the grantee created stay where they are.' },
  ];
}

/** The grantee's e-mail for a lifecycle event: to the grantee; a copy to the project owner, except GRANTED (see grantOwnerNotice). */
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
  // GRANTED carries the credentials: no copy of it goes to anyone else.
  const ownerApart = kind === 'GRANTED' && uniqueAddresses([input.owner.email], to).length > 0;
  const cc = kind === 'GRANTED' ? [] : uniqueAddresses([input.owner.email], to);
  built.doc.footer = grantFooter(grant, input.eventId, cc.length > 0 ? input.owner : undefined, ownerApart ? input.owner : undefined);
  return mailMessage(built.doc, built.subject, to, cc, kind, input.eventId);
}

/**
 * The owner's own message about a GRANTED event: who has which access until when,
 * and nothing that opens the credentials (no link, no password, no secret name or
 * command to read it). Undefined for the other kinds (the owner is copied on the
 * grantee's message) and when the owner is the grantee.
 */
export function grantOwnerNotice(input: GrantMailInput): MailMessage | undefined {
  const { grant } = input;
  if (input.kind !== 'GRANTED') return undefined;
  const to = uniqueAddresses([input.owner.email], [grant.email]);
  if (to.length === 0) return undefined;
  const level = clean(grant.accessLevel, 40);
  const grantee = person({ name: grant.name, email: grant.email });
  const rows: Fact[] = [
    ['Grantee', grantee],
    ['Project / database', where(grant)],
  ];
  if (input.schema) rows.push(['Schema', clean(input.schema, 64), 'code']);
  rows.push(['Access level', level, 'strong'], ['Privileges', privilegeList(grant.privileges)]);
  if (grant.connection) rows.push(['Server', `${clean(grant.connection.host, 255)}:${Number(grant.connection.port)} (${engineName(grant.connection.engine)})`, 'code']);
  rows.push(['Account', clean(grant.account, 64), 'code'], ['Expires', formatUtc(grant.expiresAt), 'strong']);
  if (grant.reason) rows.push(['Reason', clean(grant.reason)]);
  rows.push(['Requested by', clean(grant.requestedBy, 120)], ['Grant id', clean(grant.grantId), 'code']);
  const doc: Document = {
    title: `${level} access to ${where(grant)} granted to ${clean(grant.email)}`,
    tone: 'info',
    blocks: [
      { kind: 'p', text: `Hello ${clean(input.owner.name, 120) || clean(input.owner.email)},` },
      {
        kind: 'p',
        text: `as owner of project ${clean(grant.project)}: ${grantee} now has ${level} access to the database ${clean(grant.database)}, until ${formatUtc(grant.expiresAt)}.`,
      },
      { kind: 'facts', rows },
      {
        kind: 'p',
        text: `The credentials went to ${clean(grant.email)} alone, in a message of their own. This notice holds none of them, and nothing that opens them.`,
      },
      {
        kind: 'p',
        text: `At ${formatUtc(grant.expiresAt)} access ends: the account is locked, its open sessions are closed, and it is removed. You are told when it ends, and of any extension or change of level.`,
      },
    ],
    footer: [
      `Grant ${clean(grant.grantId)} - event ${clean(input.eventId, 120)}`,
      `Sent by dbaccess to ${clean(input.owner.email)} as owner of project ${clean(grant.project)}.`,
    ],
  };
  return mailMessage(doc, `[dbaccess] ${level} access to ${where(grant)} granted to ${clean(grant.email)} until ${formatUtc(grant.expiresAt, 'minutes')}`, to, [], 'GRANTED_OWNER', input.eventId);
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
  } else if (kind === 'REVOKE_RETRYING') {
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
          'The admin account may still lock, change and drop users and end their sessions (CREATE USER, and CONNECTION_ADMIN or SUPER, and PROCESS).',
          'A worker is running and polling the task queue.',
        ],
      },
    ];
    if (ACCOUNT_NAME.test(account)) {
      blocks.push(
        { kind: 'h', text: 'If access must end right now' },
        { kind: 'p', text: 'Lock the account by hand, take its privileges and end its sessions; the automatic revocation still completes afterwards, it is idempotent:' },
        {
          kind: 'code',
          text: [
            `SELECT user, host FROM mysql.user WHERE user = '${account}';`,
            `ALTER USER '${account}'@'<host from the query above>' ACCOUNT LOCK;`,
            `REVOKE ALL PRIVILEGES, GRANT OPTION FROM '${account}'@'<host from the query above>';`,
            `SELECT id FROM information_schema.processlist WHERE user = '${account}';  -- then KILL <id>; for each`,
          ].join('\n'),
        },
      );
    }
    subject = `[dbaccess] ACTION NEEDED: revoking ${grantee} on ${where(grant)} keeps failing`;
    doc = { title: `Revocation of ${account} keeps failing`, tone: 'alert', blocks, footer: adminFooter(grant, input.eventId) };
  } else if (kind === 'ACCOUNT_RETAINED') {
    ({ subject, doc } = retainedDocument(input, detail));
  } else {
    ({ subject, doc } = levelChangeIncompleteDocument(input, detail));
  }

  // The owner is copied on what concerns the project's objects and the grantee's access.
  const to = uniqueAddresses(input.administrators.map((a) => a.email));
  const copyOwner = input.owner && (kind === 'ACCOUNT_RETAINED' || kind === 'LEVEL_CHANGE_INCOMPLETE');
  const cc = copyOwner ? uniqueAddresses([input.owner!.email], to) : [];
  if (cc.length > 0) doc.footer = [doc.footer[0]!, `Sent by dbaccess to its administrators, with a copy to ${person(input.owner!)} as owner of project ${clean(grant.project)}. Find the workflow in the Temporal UI by its id (the grant id).`];
  return mailMessage(doc, subject, to, cc, kind, input.eventId);
}

/** A backquoted MySQL identifier; undefined when the name is not printable as it is (it could not be pasted back). */
function quotedIdentifier(name: string): string | undefined {
  if (name.length === 0 || name.length > 64 || clean(name, 64) !== name) return undefined;
  return `\`${name.replace(/`/g, '``')}\``;
}

const SHOW_CREATE: Partial<Record<LeftBehindObject['kind'], string>> = { VIEW: 'VIEW', PROCEDURE: 'PROCEDURE', FUNCTION: 'FUNCTION', TRIGGER: 'TRIGGER', EVENT: 'EVENT' };

/**
 * The statement that lists every stored object the account defines, on MySQL and
 * MariaDB. The account name is checked against the service's own pattern, so the
 * quoted literal is safe to paste; undefined for any other name.
 */
export function definerObjectsQuery(account: string): string | undefined {
  if (!ACCOUNT_NAME.test(account)) return undefined;
  const definedBy = `SUBSTRING_INDEX(DEFINER, '@', 1) = '${account}'`;
  return [
    `SELECT 'VIEW' AS kind, TABLE_SCHEMA AS schema_name, TABLE_NAME AS object_name FROM information_schema.VIEWS WHERE ${definedBy}`,
    `UNION ALL SELECT ROUTINE_TYPE, ROUTINE_SCHEMA, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ${definedBy}`,
    `UNION ALL SELECT 'TRIGGER', TRIGGER_SCHEMA, TRIGGER_NAME FROM information_schema.TRIGGERS WHERE ${definedBy}`,
    `UNION ALL SELECT 'EVENT', EVENT_SCHEMA, EVENT_NAME FROM information_schema.EVENTS WHERE ${definedBy};`,
  ].join('\n');
}

function retainedDocument(input: AdminMailInput, detail: string): { subject: string; doc: Document } {
  const { grant } = input;
  const account = clean(grant.account, 64);
  const retained = grant.retained;
  const since = retained?.since ?? grant.accessEndedAt;
  const reason = clean(retained?.reason, 500) || detail || 'the server refused to drop the account';
  const objects = leftBehindOf(grant) ?? { objects: [], count: 0 };
  const rows = grantRows(grant, false);
  rows.push(
    ['Access ended at', formatUtc(since), 'strong'],
    ['Account kept', `${account} (locked)`, 'code'],
    ['Drop refused', reason],
    ['Objects it defines', String(objects.count)],
  );
  if (detail && detail !== reason) rows.push(['Detail', detail]);
  rows.push(['Grant id', clean(grant.grantId), 'code']);
  const owner = input.owner ? person(input.owner) : `the owner of project ${clean(grant.project)}`;
  const blocks: Block[] = [
    {
      kind: 'p',
      text: `The access of ${person({ name: grant.name, email: grant.email })} to ${where(grant)} has ended (${clean(grant.status, 40)}) at ${formatUtc(since)}: the account ${account} was locked, its password replaced with one nobody knows, its privileges revoked and its sessions ended. It cannot log in.`,
    },
    {
      kind: 'p',
      text: `The database server refused to drop the account: ${reason}. MySQL refuses to drop an account that is the definer of a view, routine, trigger or event. The account is kept, locked, and shown as retained on the grant, until it can be dropped. You are told once.`,
    },
    { kind: 'facts', rows },
  ];
  if (objects.objects.length > 0) blocks.push({ kind: 'h', text: 'The objects it defines' }, { kind: 'list', items: objectLines(objects) });
  blocks.push(
    { kind: 'h', text: 'What to do' },
    {
      kind: 'list',
      items: [
        `Decide with ${owner} what becomes of each object: they belong to the project, the owner decides. Nothing was deleted, and its events were disabled so that nothing runs with the account's rights.`,
        'To keep an object, give it another definer: read its definition with SHOW CREATE (below) and create it again with DEFINER set to an account that should own it (CREATE OR REPLACE for a view, DROP and CREATE for a procedure, function or trigger, ALTER DEFINER = ... EVENT for an event).',
        'Drop the objects nobody needs.',
        'Then the account is dropped at its next try: the reconciler\'s next run (in revoke mode), the grant\'s own daily retry, or at once with the command below.',
        'Until then the account stays locked and without privileges: it cannot log in.',
      ],
    },
    { kind: 'code', text: `dbaccess retry-drop ${shellQuote(clean(grant.grantId))}` },
  );
  const query = definerObjectsQuery(grant.account);
  if (query) blocks.push({ kind: 'h', text: 'List the objects' }, { kind: 'p', text: 'Every stored object the account defines, on MySQL or MariaDB (run it as the admin account):' }, { kind: 'code', text: query });
  const shows = objects.objects.flatMap((o) => {
    const what = SHOW_CREATE[o.kind];
    const schema = quotedIdentifier(o.schema);
    const name = quotedIdentifier(o.name);
    return what && schema && name ? [`SHOW CREATE ${what} ${schema}.${name};`] : [];
  });
  if (shows.length > 0) blocks.push({ kind: 'p', text: 'Their definitions:' }, { kind: 'code', text: shows.join('\n') });
  return {
    subject: `[dbaccess] ACTION NEEDED: account ${account} on ${where(grant)} kept after access ended: it defines stored objects`,
    doc: { title: `Access ended; account ${account} kept for its stored objects`, tone: 'warning', blocks, footer: adminFooter(grant, input.eventId) },
  };
}

function levelChangeIncompleteDocument(input: AdminMailInput, detail: string): { subject: string; doc: Document } {
  const { grant } = input;
  const account = clean(grant.account, 64);
  const level = clean(grant.accessLevel, 40);
  const rows = grantRows(grant, false);
  rows.push(['Detail', detail || 'none'], ['Grant id', clean(grant.grantId), 'code']);
  const blocks: Block[] = [
    {
      kind: 'p',
      text: `The access of ${person({ name: grant.name, email: grant.email })} to ${where(grant)} was lowered to ${level} (${privilegeList(grant.privileges)}), but the change could not be finished: the account's open sessions could not be ended (or a step after the lowering failed).`,
    },
    {
      kind: 'p',
      text: `The lower level stays: it is never raised back. New connections of ${account} get only ${level}. A session opened before the change may keep the higher privileges until it ends or selects the database again (USE). The service keeps trying to end those sessions, with bounded backoff; it does not hold up the expiry, which ends every session anyway.`,
    },
    { kind: 'facts', rows },
    { kind: 'h', text: 'What to check' },
    {
      kind: 'list',
      items: [
        'On MySQL: the admin account holds CONNECTION_ADMIN (or SUPER) to end the sessions of other accounts, and PROCESS to see them (SHOW GRANTS FOR CURRENT_USER()).',
        'On MariaDB: the admin account holds CONNECTION ADMIN (or SUPER) and PROCESS.',
        'The database server is up and reachable from the worker, and the admin secret of this database still works.',
      ],
    },
  ];
  if (ACCOUNT_NAME.test(account)) {
    blocks.push(
      { kind: 'h', text: 'To end the sessions by hand' },
      {
        kind: 'code',
        text: `SELECT id, host, db, time FROM information_schema.processlist WHERE user = '${account}';  -- then KILL <id>; for each`,
      },
    );
  }
  return {
    subject: `[dbaccess] ACTION NEEDED: lowering ${clean(grant.email)} to ${level} on ${where(grant)} did not finish`,
    doc: { title: `Lowering of ${account} to ${level} did not finish`, tone: 'alert', blocks, footer: adminFooter(grant, input.eventId) },
  };
}
