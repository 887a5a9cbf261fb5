import { formatDuration, type GrantState, type Person } from '../../../domain';
import { clean, formatUtc, shellQuote, uniqueAddresses } from '../format';
import type { Block, Document, Fact } from '../document';
import type { Notification } from '../port';
import type { ApprovalNotice, ApprovalNoticeKind } from '../../../contract/activities';
import { notification } from './common';
import { breakGlassReviewMessage, reviewMessage } from './review';

// The messages of the approval gate: the request to the approvers, and the
// refusal (denied, timed out or withdrawn) to the grantee and the project owner;
// the same two for an extension beyond what was approved. Pure functions of
// their input, like the lifecycle's; none carries a credential.

/**
 * APPROVAL_REQUESTED / DENIED: the gate before access exists. EXTENSION_REQUESTED /
 * EXTENSION_DENIED: an ACTIVE grant asks for more time than was approved.
 */
export type ApprovalMessageKind = ApprovalNoticeKind;

/** The contract's approval notice, plus what the worker adds: the API's public URL, and one approver's own decision links. */
export interface ApprovalMessageInput extends ApprovalNotice {
  /** Public base URL of the API, for the ready-to-paste commands; placeholders when unknown. */
  apiUrl?: string;
  /** A message for this approver alone, with their one-click links (a request only). */
  decision?: { approver: Person; approve: string; deny: string };
}

const where = (g: GrantState) => `${clean(g.project)}/${clean(g.database)}`;

function requestRows(input: ApprovalMessageInput): Fact[] {
  const g = input.grant;
  const rows: Fact[] = [
    ['Grantee', `${clean(g.name, 120)} <${clean(g.email)}>`],
    ['Project / database', where(g)],
    ['Access level', clean(g.accessLevel, 40), 'strong'],
    ['Privileges', g.privileges.map((p) => clean(p, 40)).join(', ')],
    g.standing
      ? ['Duration', `standing: no end date, reviewed every ${formatDuration(g.standing.reviewEveryMs)} from approval (kept or ended by the owner and approvers)`, 'strong']
      : input.duration
        ? ['Duration', `${clean(input.duration, 40)} from approval`, 'strong']
        : ['Until', formatUtc(g.expiresAt), 'strong'],
    ['Requested by', clean(g.requestedBy, 120)],
  ];
  if (g.reason) rows.push(['Reason', clean(g.reason)]);
  rows.push(['Grant id', clean(g.grantId), 'code']);
  return rows;
}

function decisionCommand(input: ApprovalMessageInput, verb: 'approve' | 'deny'): string {
  const base = clean(input.apiUrl ?? '', 300).replace(/\/+$/, '') || '$DBACCESS_URL';
  const url = `${base}/grants/${encodeURIComponent(input.grant.grantId)}/${verb}`;
  const body = verb === 'deny' ? ` --json '{"reason":"..."}'` : '';
  // The placeholder must expand in the shell: double quotes (the grant id is URL-encoded, so holds no quote or $).
  return `curl -X POST ${base.startsWith('$') ? `"${url}"` : shellQuote(url)} -H "Authorization: Bearer $DBACCESS_API_KEY"${body}`;
}

/** What an EXTENSION_* message is about; the grant's expiry and `unknown` when the input lacks it. */
function extensionOf(input: ApprovalMessageInput): { from: string; to: string; requestedBy: string } {
  const e = input.extension;
  return { from: e?.from ?? input.grant.expiresAt, to: e?.to ?? 'unknown', requestedBy: clean(e?.requestedBy, 120) || 'unknown' };
}

function extensionRows(input: ApprovalMessageInput): Fact[] {
  const g = input.grant;
  const e = extensionOf(input);
  const rows: Fact[] = [
    ['Grantee', `${clean(g.name, 120)} <${clean(g.email)}>`],
    ['Project / database', where(g)],
    ['Access level', clean(g.accessLevel, 40), 'strong'],
    ['Privileges', g.privileges.map((p) => clean(p, 40)).join(', ')],
    ['Current expiry', formatUtc(e.from)],
    ['Requested expiry', formatUtc(e.to), 'strong'],
    ['Asked by', e.requestedBy],
  ];
  if (input.kind === 'EXTENSION_REQUESTED' && input.reason) rows.push(['Reason', clean(input.reason)]);
  rows.push(['Grant id', clean(g.grantId), 'code']);
  return rows;
}

export function approvalMessage(input: ApprovalMessageInput): Notification {
  if (input.kind === 'REVIEW_REQUESTED' || input.kind === 'REVIEW_REMINDER') return reviewMessage(input);
  if (input.kind === 'BREAK_GLASS_REVIEW') return breakGlassReviewMessage(input);
  const g = input.grant;
  const level = clean(g.accessLevel, 40);
  let doc: Document;
  let subject: string;
  let to: string[];
  let cc: string[] = [];
  const toApprovers = (): string[] => (input.decision ? uniqueAddresses([input.decision.approver.email]) : uniqueAddresses(input.approvers.map((a) => a.email)));
  const toGrantee = (): { to: string[]; cc: string[]; footer: string } => {
    const grantee = uniqueAddresses([g.email]);
    const copy = uniqueAddresses([input.owner.email], grantee);
    return { to: grantee, cc: copy, footer: `Sent by dbaccess to ${clean(g.email)}${copy.length ? `, with a copy to the owner of project ${clean(g.project)}` : ''}.` };
  };
  if (input.kind === 'APPROVAL_REQUESTED') {
    const blocks: Block[] = [
      { kind: 'p', text: `${clean(g.requestedBy, 120)} asks for ${level} access to ${where(g)} for ${clean(g.name, 120)} <${clean(g.email)}>. Nothing is created until someone approves.` },
      { kind: 'facts', rows: requestRows(input) },
      { kind: 'h', text: 'Why approval is needed' },
      { kind: 'list', items: input.reasons.map((r) => clean(r)) },
      { kind: 'h', text: 'Decide' },
      ...decisionLinks(input),
      { kind: 'p', text: `${input.decision ? 'Or approve' : 'Approve'} with an approver key of this project (nobody may approve a request made by or for themselves):` },
      { kind: 'code', text: decisionCommand(input, 'approve') },
      { kind: 'p', text: 'Or deny, with a reason the grantee will read:' },
      { kind: 'code', text: decisionCommand(input, 'deny') },
    ];
    if (input.decideBy) blocks.push({ kind: 'p', text: `Without a decision by ${formatUtc(input.decideBy)} the request is denied.` });
    doc = { title: `Approval needed: ${level} on ${where(g)}`, tone: 'warning', blocks, footer: [] };
    subject = `[dbaccess] approval needed: ${level} on ${where(g)} for ${clean(g.email)}`;
    to = toApprovers();
    doc.footer = [`Grant ${clean(g.grantId)} - event ${clean(input.eventId, 120)}`, sentTo(input)];
  } else if (input.kind === 'EXTENSION_REQUESTED') {
    const e = extensionOf(input);
    const id = shellQuote(clean(g.grantId));
    const blocks: Block[] = [
      {
        kind: 'p',
        text: `${e.requestedBy} asks to extend the ${level} access of ${clean(g.name, 120)} <${clean(g.email)}> to ${where(g)} from ${formatUtc(e.from)} to ${formatUtc(e.to)}. That is more time than was approved, so an approver decides. Meanwhile the grant keeps its current expiry, ${formatUtc(e.from)}.`,
      },
      { kind: 'facts', rows: extensionRows(input) },
    ];
    if (input.reasons.length > 0) blocks.push({ kind: 'h', text: 'Why approval is needed' }, { kind: 'list', items: input.reasons.map((r) => clean(r)) });
    blocks.push(
      { kind: 'h', text: 'Decide' },
      ...decisionLinks(input),
      { kind: 'p', text: 'The same commands as for a new request. Approve (with an approver key of this project; nobody may approve an extension they asked for, or of their own access):' },
      { kind: 'code', text: `dbaccess approve ${id}\n${decisionCommand(input, 'approve')}` },
      { kind: 'p', text: 'Or deny, with a reason the grantee will read; the grant then ends at its current expiry:' },
      { kind: 'code', text: `dbaccess deny ${id} --reason "..."\n${decisionCommand(input, 'deny')}` },
    );
    blocks.push({
      kind: 'p',
      text: input.decideBy
        ? `Without a decision by ${formatUtc(input.decideBy)} (or by the current expiry, if that comes first) the extension is denied.`
        : 'Without a decision by the current expiry the extension is denied.',
    });
    doc = { title: `Approval needed: extend ${level} on ${where(g)}`, tone: 'warning', blocks, footer: [] };
    subject = `[dbaccess] approval needed: extend ${level} on ${where(g)} for ${clean(g.email)} until ${formatUtc(e.to, 'minutes')}`;
    to = toApprovers();
    doc.footer = [`Grant ${clean(g.grantId)} - event ${clean(input.eventId, 120)}`, sentTo(input)];
  } else if (input.kind === 'EXTENSION_DENIED') {
    const e = extensionOf(input);
    const byTimeout = input.actor === 'dbaccess';
    const blocks: Block[] = [
      { kind: 'p', text: `Hello ${clean(g.name, 120) || clean(g.email)},` },
      {
        kind: 'p',
        text: byTimeout
          ? `the request to extend your ${level} access to ${where(g)} until ${formatUtc(e.to)} was not decided in time and has been denied.`
          : `the request to extend your ${level} access to ${where(g)} until ${formatUtc(e.to)} was denied by ${clean(input.actor, 120)}.`,
      },
      { kind: 'p', text: `Your access is unchanged and still ends at ${formatUtc(e.from)}.` },
      { kind: 'facts', rows: extensionRows(input) },
    ];
    if (input.reason) blocks.push({ kind: 'h', text: 'Reason' }, { kind: 'p', text: clean(input.reason) });
    doc = { title: `Extension of ${level} on ${where(g)} denied`, tone: 'alert', blocks, footer: [] };
    subject = `[dbaccess] extension of ${level} on ${where(g)} denied; access still ends ${formatUtc(e.from, 'minutes')}`;
    const r = toGrantee();
    to = r.to;
    cc = r.cc;
    doc.footer = [`Grant ${clean(g.grantId)} - event ${clean(input.eventId, 120)}`, r.footer];
  } else {
    const byTimeout = input.actor === 'dbaccess';
    const blocks: Block[] = [
      { kind: 'p', text: `Hello ${clean(g.name, 120) || clean(g.email)},` },
      {
        kind: 'p',
        text: byTimeout
          ? `your request for ${level} access to ${where(g)} was not decided in time and has been denied. Nothing was created. Ask again if you still need access.`
          : `your request for ${level} access to ${where(g)} was denied by ${clean(input.actor, 120)}. Nothing was created.`,
      },
      { kind: 'facts', rows: requestRows(input) },
    ];
    if (input.reason) blocks.push({ kind: 'h', text: 'Reason' }, { kind: 'p', text: clean(input.reason) });
    doc = { title: `Request for ${level} on ${where(g)} denied`, tone: 'alert', blocks, footer: [] };
    subject = `[dbaccess] request for ${level} on ${where(g)} denied`;
    const r = toGrantee();
    to = r.to;
    cc = r.cc;
    doc.footer = [`Grant ${clean(g.grantId)} - event ${clean(input.eventId, 120)}`, r.footer];
  }
  // One message per approver when each has links of their own: each its own Message-ID.
  return notification(doc, subject, to, cc, input.kind, input.decision ? `${input.eventId}/${input.decision.approver.email.toLowerCase()}` : input.eventId);
}

/** The approver's own Approve and Deny links, with what they may and may not do. */
function decisionLinks(input: ApprovalMessageInput): Block[] {
  if (!input.decision) return [];
  return [
    { kind: 'links', items: [{ label: 'Approve', href: input.decision.approve }, { label: 'Deny', href: input.decision.deny }] },
    {
      kind: 'p',
      text: `These two links are yours alone (${clean(input.decision.approver.email)}) and decide as ${clean(input.decision.approver.name, 120)}: each opens a page that shows the request and asks you to confirm; opening it decides nothing. They work once, until the request is decided or times out; do not forward this e-mail.`,
    },
  ];
}

function sentTo(input: ApprovalMessageInput): string {
  return input.decision ? `Sent by dbaccess to ${clean(input.decision.approver.email)}, an approver of project ${clean(input.grant.project)}.` : `Sent by dbaccess to the approvers of project ${clean(input.grant.project)}.`;
}
