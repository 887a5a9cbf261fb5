import type { GrantNotice, GrantNoticeKind } from '../../../contract/activities';
import type { EngineGuide } from '../../../contract/engine-guide';
import { isDowngrade, type GrantEvent, type GrantState, type Person } from '../../../domain';
import type { Block, Document, Fact } from '../document';
import { clean, formatUtc, shellQuote, uniqueAddresses } from '../format';
import type { Notification } from '../port';
import { expiryText, findEvent, leftBehindOf, notification, objectLines, person, privilegeList, sentence, where, type LeftBehind } from './common';

// The grantee's messages of a grant's lifecycle. Pure functions of their input: the
// same event renders the same message on every retry (times are taken from the
// grant, never from the clock). The GRANTED message carries a one-time link to the
// credentials and names the per-grant secret; it carries the password itself only
// when the operator turned CREDENTIALS_IN_EMAIL on (see `credentials`). It goes to
// the grantee alone: the owner gets a message of their own (grantOwnerMessage, in
// ./owner) with neither the link, nor the password, nor the way to read the secret.
// What is said about the database engine comes from `guide`.

/** A one-time link to the credentials (the default), or the password itself (CREDENTIALS_IN_EMAIL). */
export type MessageCredentials = { kind: 'link'; url: string; linkExpiresAt: string } | { kind: 'password'; password: string };

export interface GrantMessageInput extends GrantNotice {
  /** Region of the per-grant secret, for the ready-to-paste CLI command. */
  awsRegion: string;
  /** What the messages say about the grant's database engine. */
  guide: EngineGuide;
  /** GRANTED only: how the credentials are delivered; without it the message only names the secret. */
  credentials?: MessageCredentials;
}

const KIND_EVENTS: Record<GrantNoticeKind, readonly string[]> = {
  GRANTED: ['GRANTED'],
  LEVEL_CHANGED: ['LEVEL_CHANGED'],
  EXTENDED: ['EXTENDED'],
  // The request carries the actor and the reason; the REVOKED event is the system finishing it.
  REVOKED: ['REVOKE_REQUESTED', 'REVOKED'],
  EXPIRED: ['EXPIRED'],
};

/**
 * The reason recorded on a history event. GrantEvent has no such field today (its
 * `detail` is a technical description, not what the requester wrote), so this
 * only finds one if the history starts carrying it; until then the caller passes `reason`.
 */
function eventReason(event: GrantEvent | undefined): string | undefined {
  return event && 'reason' in event && typeof event.reason === 'string' ? event.reason : undefined;
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

function secretCommand(secretName: string, region: string): string {
  return `aws secretsmanager get-secret-value --secret-id ${shellQuote(secretName)} --region ${shellQuote(region)} --query SecretString --output text`;
}

function grantedDocument(input: GrantMessageInput, reference: string | undefined): { subject: string; doc: Document } {
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
      ['Engine', input.guide.displayName(grant.connection.engine)],
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
  const connect = grant.connection
    ? input.guide.connectCommand({ host: grant.connection.host, port: grant.connection.port, username: grant.account, ...(grant.connection.database ? { database: grant.connection.database } : input.schema ? { database: input.schema } : {}) })
    : undefined;
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

function levelChangedDocument(input: GrantMessageInput, found: { event?: GrantEvent; before?: GrantEvent }, actor: string, reason: string) {
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
      ? input.guide.sessions.endedOnLowering
      : downgrade === false
        ? input.guide.sessions.keptOnRaise
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

function extendedDocument(input: GrantMessageInput, found: { event?: GrantEvent; before?: GrantEvent }, reference: string | undefined, actor: string, reason: string) {
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

function endedDocument(input: GrantMessageInput, found: { event?: GrantEvent }, actor: string, reason: string) {
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
  if (objects) blocks.push(...leftBehindBlocks(objects, Boolean(retained), grant, input.owner, input.guide));
  const title = revoked ? `Access to ${where(grant)} revoked` : `Access to ${where(grant)} expired`;
  return {
    subject: `[dbaccess] ${title}${retained ? '; account kept for its stored objects' : objects ? `; ${objects.count} stored object(s) left behind` : ''}`,
    doc: { title, tone: revoked || retained || objects ? 'warning' : 'info', blocks, footer: [] } satisfies Document,
  };
}

function leftBehindBlocks(objects: LeftBehind, retained: boolean, grant: GrantState, owner: Person, guide: EngineGuide): Block[] {
  const { role, disabled, orphaned, notListed } = guide.storedObjects;
  return [
    { kind: 'h', text: 'What the account left behind' },
    {
      kind: 'p',
      text: retained
        ? `These stored objects have the account ${clean(grant.account, 64)} as their ${role}. Nothing was deleted: they belong to the project, and ${person(owner)}, its owner, decides with the administrators whether to give each one another ${role} or to drop it.${disabled ? ` ${sentence(disabled)}.` : ''}`
        : `The account was removed, but these stored objects it defined were kept: they belong to the project. ${orphaned} ${person(owner)}, owner of the project, decides.`,
    },
    { kind: 'list', items: objectLines(objects) },
    { kind: 'p', text: `${notListed} Tables and data the grantee created stay where they are.` },
  ];
}

/** The grantee's message about a lifecycle event: to the grantee; a copy to the project owner, except GRANTED (see grantOwnerMessage). */
export function grantMessage(input: GrantMessageInput): Notification {
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
      throw new Error(`unknown grant notice kind ${String(never)}`);
    }
  }
  const to = uniqueAddresses([grant.email]);
  // GRANTED carries the credentials: no copy of it goes to anyone else.
  const ownerApart = kind === 'GRANTED' && uniqueAddresses([input.owner.email], to).length > 0;
  const cc = kind === 'GRANTED' ? [] : uniqueAddresses([input.owner.email], to);
  built.doc.footer = grantFooter(grant, input.eventId, cc.length > 0 ? input.owner : undefined, ownerApart ? input.owner : undefined);
  return notification(built.doc, built.subject, to, cc, kind, input.eventId);
}
