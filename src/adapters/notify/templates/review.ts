import { formatDuration } from '../../../domain';
import type { Block, Fact } from '../document';
import { clean, formatUtc, shellQuote, uniqueAddresses } from '../format';
import type { Notification } from '../port';
import type { ApprovalMessageInput } from './approval';
import { notification, where } from './common';

// A standing grant's review (docs/decisions/0109-standing-grants-reviewed.md): to
// the project owner and the reviewers, one message per reviewer with one-click
// links (Keep, Revoke) of their own, one without links for the others. A pure
// function of its input; it carries no credential.

function rows(input: ApprovalMessageInput): Fact[] {
  const g = input.grant;
  const every = g.standing ? formatDuration(g.standing.reviewEveryMs) : 'unknown';
  const out: Fact[] = [
    ['Grantee', `${clean(g.name, 120)} <${clean(g.email)}>`],
    ['Project / database', where(g)],
    ['Access level', clean(g.accessLevel, 40), 'strong'],
    ['Privileges', g.privileges.map((p) => clean(p, 40)).join(', ')],
    ['Standing since', formatUtc(g.grantedAt ?? g.requestedAt)],
    ['Reviewed every', every],
    ['Last kept', g.standing?.lastReviewedAt ? `${formatUtc(g.standing.lastReviewedAt)} by ${clean(g.standing.lastReviewedBy, 120)}` : 'never (first review)'],
    ['Decide by', formatUtc(input.decideBy ?? g.expiresAt), 'strong'],
    ['Requested by', clean(g.requestedBy, 120)],
  ];
  if (g.reason) out.push(['Reason', clean(g.reason)]);
  out.push(['Grant id', clean(g.grantId), 'code']);
  return out;
}

function command(input: ApprovalMessageInput, decision: 'keep' | 'revoke'): string {
  const base = clean(input.apiUrl ?? '', 300).replace(/\/+$/, '') || '$DBACCESS_URL';
  const url = `${base}/grants/${encodeURIComponent(input.grant.grantId)}/review`;
  const body = decision === 'keep' ? `'{"decision":"keep"}'` : `'{"decision":"revoke","reason":"..."}'`;
  return `dbaccess review ${shellQuote(clean(input.grant.grantId))} --${decision}${decision === 'revoke' ? ' --reason "..."' : ''}\ncurl -X POST ${base.startsWith('$') ? `"${url}"` : shellQuote(url)} -H "Authorization: Bearer $DBACCESS_API_KEY" --json ${body}`;
}

export function reviewMessage(input: ApprovalMessageInput): Notification {
  const g = input.grant;
  const level = clean(g.accessLevel, 40);
  const decideBy = formatUtc(input.decideBy ?? g.expiresAt);
  const reminder = input.kind === 'REVIEW_REMINDER';
  const blocks: Block[] = [
    {
      kind: 'p',
      text: `${reminder ? 'Reminder: ' : ''}${clean(g.name, 120)} <${clean(g.email)}> has standing ${level} access to ${where(g)}. It is reviewed every period: keep it if it is still needed, or revoke it. Without a decision by ${decideBy} the access ends then.`,
    },
    { kind: 'facts', rows: rows(input) },
    { kind: 'h', text: 'Decide' },
  ];
  if (input.decision) {
    blocks.push(
      { kind: 'links', items: [{ label: 'Keep', href: input.decision.approve }, { label: 'Revoke', href: input.decision.deny }] },
      {
        kind: 'p',
        text: `These two links are yours alone (${clean(input.decision.approver.email)}) and decide as ${clean(input.decision.approver.name, 120)}: each opens a page that shows the grant and asks you to confirm; opening it decides nothing. They work for this review only, until it is decided or its deadline; do not forward this e-mail.`,
      },
    );
  }
  blocks.push(
    { kind: 'p', text: `${input.decision ? 'Or decide' : 'Decide'} with an approver or admin key of this project (nobody may keep their own access). Keep:` },
    { kind: 'code', text: command(input, 'keep') },
    { kind: 'p', text: 'Or revoke, with a reason the grantee will read:' },
    { kind: 'code', text: command(input, 'revoke') },
  );
  const to = input.decision ? uniqueAddresses([input.decision.approver.email]) : uniqueAddresses(input.approvers.map((a) => a.email));
  const doc = {
    title: `${reminder ? 'Reminder: review' : 'Review'} standing ${level} on ${where(g)}`,
    tone: 'warning' as const,
    blocks,
    footer: [
      `Grant ${clean(g.grantId)} - event ${clean(input.eventId, 120)}`,
      input.decision ? `Sent by dbaccess to ${clean(input.decision.approver.email)}, a reviewer of project ${clean(g.project)}.` : `Sent by dbaccess to the owner and the reviewers of project ${clean(g.project)}.`,
    ],
  };
  const subject = `[dbaccess] ${reminder ? 'reminder: ' : ''}review standing ${level} on ${where(g)} for ${clean(g.email)} by ${formatUtc(input.decideBy ?? g.expiresAt, 'minutes')}`;
  return notification(doc, subject, to, [], input.kind, input.decision ? `${input.eventId}/${input.decision.approver.email.toLowerCase()}` : input.eventId);
}

function breakGlassCommand(input: ApprovalMessageInput, decision: 'acknowledge' | 'flag'): string {
  const base = clean(input.apiUrl ?? '', 300).replace(/\/+$/, '') || '$DBACCESS_URL';
  const url = `${base}/grants/${encodeURIComponent(input.grant.grantId)}/review`;
  const body = decision === 'acknowledge' ? `'{"decision":"acknowledge"}'` : `'{"decision":"flag","reason":"..."}'`;
  return `dbaccess review ${shellQuote(clean(input.grant.grantId))} --${decision}${decision === 'flag' ? ' --reason "..."' : ''}\ncurl -X POST ${base.startsWith('$') ? `"${url}"` : shellQuote(url)} -H "Authorization: Bearer $DBACCESS_API_KEY" --json ${body}`;
}

/** A break-glass grant's review after the fact (docs/decisions/0110-break-glass.md): Acknowledge or Flag, one message per reviewer with links. */
export function breakGlassReviewMessage(input: ApprovalMessageInput): Notification {
  const g = input.grant;
  const level = clean(g.accessLevel, 40);
  const decideBy = formatUtc(input.decideBy ?? g.expiresAt);
  const facts: Fact[] = [
    ['Grantee', `${clean(g.name, 120)} <${clean(g.email)}>`],
    ['Project / database', where(g)],
    ['Access level', level, 'strong'],
    ['Privileges', g.privileges.map((p) => clean(p, 40)).join(', ')],
    ['Granted at', formatUtc(g.grantedAt ?? g.requestedAt)],
    ['Access ends', formatUtc(g.expiresAt)],
    ['Broken by', clean(g.requestedBy, 120)],
    ['Reason', clean(g.reason) || 'none given', 'strong'],
    ['Review by', decideBy, 'strong'],
    ['Grant id', clean(g.grantId), 'code'],
  ];
  const blocks: Block[] = [
    {
      kind: 'p',
      text: `${clean(g.requestedBy, 120)} broke the glass: ${clean(g.name, 120)} <${clean(g.email)}> was given ${level} access to ${where(g)} without waiting for approval, until ${formatUtc(g.expiresAt)}. Review it after the fact: acknowledge it if it was justified, or flag it (with a reason) so that the administrators look into it. The review stays open after the access has ended, until ${decideBy}.`,
    },
    { kind: 'facts', rows: facts },
    { kind: 'h', text: 'Review' },
  ];
  if (input.decision) {
    blocks.push(
      { kind: 'links', items: [{ label: 'Acknowledge', href: input.decision.approve }, { label: 'Flag', href: input.decision.deny }] },
      {
        kind: 'p',
        text: `These two links are yours alone (${clean(input.decision.approver.email)}) and decide as ${clean(input.decision.approver.name, 120)}: each opens a page that shows the grant and asks you to confirm; opening it decides nothing. They work for this review only, until it is made or its deadline; do not forward this e-mail.`,
      },
    );
  }
  blocks.push(
    { kind: 'p', text: `${input.decision ? 'Or review' : 'Review'} with an approver or admin key of this project (nobody reviews a break-glass they hold or asked for). Acknowledge:` },
    { kind: 'code', text: breakGlassCommand(input, 'acknowledge') },
    { kind: 'p', text: 'Or flag, with a reason:' },
    { kind: 'code', text: breakGlassCommand(input, 'flag') },
  );
  const to = input.decision ? uniqueAddresses([input.decision.approver.email]) : uniqueAddresses(input.approvers.map((a) => a.email));
  const doc = {
    title: `Review break-glass ${level} on ${where(g)}`,
    tone: 'warning' as const,
    blocks,
    footer: [
      `Grant ${clean(g.grantId)} - event ${clean(input.eventId, 120)}`,
      input.decision ? `Sent by dbaccess to ${clean(input.decision.approver.email)}, a reviewer of project ${clean(g.project)}.` : `Sent by dbaccess to the owner and the reviewers of project ${clean(g.project)}.`,
    ],
  };
  const subject = `[dbaccess] review break-glass ${level} on ${where(g)} for ${clean(g.email)} by ${formatUtc(input.decideBy ?? g.expiresAt, 'minutes')}`;
  return notification(doc, subject, to, [], input.kind, input.decision ? `${input.eventId}/${input.decision.approver.email.toLowerCase()}` : input.eventId);
}
