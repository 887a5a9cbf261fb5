import { formatDuration, type GrantState } from '../../../domain';
import { clean, formatUtc, relativePhrase, shellQuote, uniqueAddresses } from '../format';
import type { Block, Document, Fact } from '../document';
import type { Notification } from '../port';
import type { GranteeNotice, GranteeNoticeKind } from '../../../contract/activities';
import { notification } from './common';

// Notices to the grantee (with the project owner in copy) that are not a change
// of the grant: a reminder before the expiry, and the adoption of an account the
// old scripts created. Pure functions of their input, like the other messages:
// times come from the grant and the event, never from the clock. No password
// has a place here.

export type NoticeMessageKind = GranteeNoticeKind;

/** The contract's grantee notice, plus what the worker adds: the API's public URL. */
export interface NoticeMessageInput extends GranteeNotice {
  /** Public base URL of the API; `$DBACCESS_URL` in the commands when unknown. */
  apiUrl?: string;
}

const DAY = 86_400_000;
const where = (g: GrantState) => `${clean(g.project)}/${clean(g.database)}`;

/**
 * An example date for the extension commands: a week after the expiry, but within
 * the rolling maximum counted from the reminder (a date means the end of that day).
 */
export function suggestedExtension(expiresAt: string, from: string | undefined, maxDurationMs: number): string {
  const expiry = Date.parse(expiresAt);
  const start = from ? Date.parse(from) : expiry;
  let until = expiry + 7 * DAY;
  if (Number.isFinite(start) && maxDurationMs > 0) until = Math.min(until, start + maxDurationMs - DAY);
  if (!Number.isFinite(until) || until <= expiry) until = expiry + DAY;
  return new Date(until).toISOString().slice(0, 10);
}

/** The ready-to-paste ways to extend: the dbaccess CLI and the API. */
export function extendCommands(grantId: string, until: string, apiUrl: string | undefined): { cli: string; curl: string } {
  const base = clean(apiUrl ?? '', 300).replace(/\/+$/, '') || '$DBACCESS_URL';
  const url = `${base}/grants/${encodeURIComponent(grantId)}/extend`;
  return {
    cli: `dbaccess extend ${shellQuote(clean(grantId))} --expires ${until}`,
    curl: `curl -X POST ${base.startsWith('$') ? `"${url}"` : shellQuote(url)} -H "Authorization: Bearer $DBACCESS_API_KEY" --json '{"expiresAt":"${until}"}'`,
  };
}

function rows(input: NoticeMessageInput): Fact[] {
  const g = input.grant;
  const out: Fact[] = [
    ['Grantee', `${clean(g.name, 120)} <${clean(g.email)}>`],
    ['Project / database', where(g)],
  ];
  if (input.schema) out.push(['Schema', clean(input.schema, 64), 'code']);
  out.push(['Access level', clean(g.accessLevel, 40), 'strong'], ['Privileges', g.privileges.map((p) => clean(p, 40)).join(', ')], ['Account', clean(g.account, 64), 'code']);
  const phrase = relativePhrase(input.remindedAt, g.expiresAt);
  out.push(['Expires', phrase ? `${formatUtc(g.expiresAt)} (${phrase})` : formatUtc(g.expiresAt), 'strong'], ['Grant id', clean(g.grantId), 'code']);
  return out;
}

function extendBlocks(input: NoticeMessageInput): Block[] {
  const g = input.grant;
  // A standing grant is not extended: it is kept in its review (docs/decisions/0109-standing-grants-reviewed.md).
  if (g.standing) {
    return [
      { kind: 'h', text: 'How to keep it' },
      {
        kind: 'p',
        text: `This is standing access, reviewed every ${formatDuration(g.standing.reviewEveryMs)}: it is not extended. Its review is due by ${formatUtc(g.standing.reviewBy)}; the project owner and the project's approvers are asked to keep it or let it end. If you still need it, ask one of them to keep it. Nobody can keep their own access.`,
      },
    ];
  }
  const until = suggestedExtension(g.expiresAt, input.remindedAt ?? g.grantedAt, input.maxDurationMs);
  const commands = extendCommands(g.grantId, until, input.apiUrl);
  return [
    { kind: 'h', text: 'How to extend' },
    {
      kind: 'p',
      text: `Ask whoever requested your access (${clean(g.requestedBy, 120)}) or an administrator to extend it, or, with an API key that may, run (${until} is an example: any date later than the current expiry and at most ${formatDuration(input.maxDurationMs)} from now):`,
    },
    { kind: 'code', text: commands.cli },
    { kind: 'p', text: 'or call the API:' },
    { kind: 'code', text: commands.curl },
    { kind: 'p', text: 'You will be reminded again before the new expiry.' },
  ];
}

export function noticeMessage(input: NoticeMessageInput): Notification {
  const g = input.grant;
  const level = clean(g.accessLevel, 40);
  const greeting: Block = { kind: 'p', text: `Hello ${clean(g.name, 120) || clean(g.email)},` };
  let doc: Document;
  let subject: string;
  if (input.kind === 'REMINDER') {
    const phrase = relativePhrase(input.remindedAt, g.expiresAt) ?? (input.beforeMs ? `in ${formatDuration(input.beforeMs)}` : 'soon');
    doc = {
      title: `${level} access to ${where(g)} expires ${phrase}`,
      tone: 'warning',
      blocks: [
        greeting,
        {
          kind: 'p',
          text: `your ${level} access to the database ${clean(g.database)} of project ${clean(g.project)} ends at ${formatUtc(g.expiresAt)} (${phrase}). Then access ends: the account ${clean(g.account, 64)} is locked, its open sessions are closed, and it is removed.`,
        },
        { kind: 'facts', rows: rows(input) },
        ...extendBlocks(input),
        { kind: 'p', text: 'If you no longer need the access, there is nothing to do.' },
      ],
      footer: [],
    };
    subject = `[dbaccess] reminder: ${level} access to ${where(g)} expires ${formatUtc(g.expiresAt, 'minutes')}`;
  } else {
    const blocks: Block[] = [
      greeting,
      {
        kind: 'p',
        text: `your existing ${level} access to ${where(g)}, created by the old database-access scripts, is now managed by dbaccess. Nothing changed on the server: the account ${clean(g.account, 64)} and its password are the same as before.`,
      },
      { kind: 'facts', rows: rows(input) },
      { kind: 'h', text: 'What changes' },
      {
        kind: 'list',
        items: [
          `The access now ends at ${formatUtc(g.expiresAt)}: the account is then locked, its open sessions are closed, and it is removed. You will be reminded before.`,
          'The password stays the one you received from the old scripts. dbaccess did not store it: it is not in any secret, and this e-mail cannot tell you what it is. If you lost it, ask for a new grant once this one ends, or ask an administrator to revoke this one and grant you access again (the new grant stores its password in AWS Secrets Manager).',
          'Extensions, level changes and revocation go through dbaccess from now on.',
        ],
      },
      ...extendBlocks(input),
    ];
    doc = { title: `${level} access to ${where(g)} is now managed by dbaccess`, tone: 'info', blocks, footer: [] };
    subject = `[dbaccess] your ${level} access to ${where(g)} is now managed by dbaccess, until ${formatUtc(g.expiresAt, 'minutes')}`;
  }
  const to = uniqueAddresses([g.email]);
  const cc = uniqueAddresses([input.owner.email], to);
  doc.footer = [
    `Grant ${clean(g.grantId)} - event ${clean(input.eventId, 120)}`,
    `Sent by dbaccess to ${clean(g.email)}${cc.length ? `, with a copy to ${clean(input.owner.email)} as owner of project ${clean(g.project)}` : ''}.`,
  ];
  return notification(doc, subject, to, cc, input.kind, input.eventId);
}
