import type { Document, Fact } from '../document';
import { clean, formatUtc, uniqueAddresses } from '../format';
import type { Notification } from '../port';
import { notification, person, privilegeList, where } from './common';
import type { GrantMessageInput } from './grantee';

// The project owner's message about a new grant: who has which access until when.
// The grantee's own message (./grantee) carries the credentials; this one never does.

/**
 * The owner's own message about a GRANTED event: who has which access until when,
 * and nothing that opens the credentials (no link, no password, no secret name or
 * command to read it). Undefined for the other kinds (the owner is copied on the
 * grantee's message) and when the owner is the grantee.
 */
export function grantOwnerMessage(input: GrantMessageInput): Notification | undefined {
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
  if (grant.connection) rows.push(['Server', `${clean(grant.connection.host, 255)}:${Number(grant.connection.port)} (${input.guide.displayName(grant.connection.engine)})`, 'code']);
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
  return notification(doc, `[dbaccess] ${level} access to ${where(grant)} granted to ${clean(grant.email)} until ${formatUtc(grant.expiresAt, 'minutes')}`, to, [], 'GRANTED_OWNER', input.eventId);
}
