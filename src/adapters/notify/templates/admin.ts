import type { AdminAlert } from '../../../contract/activities';
import type { EngineGuide } from '../../../contract/engine-guide';
import type { Person } from '../../../domain';
import type { Block, Document } from '../document';
import { clean, uniqueAddresses } from '../format';
import type { Notification } from '../port';
import { adminFooter, grantRows, notification, person, privilegeList, where } from './common';
import { retainedDocument } from './retained';

// The administrators' alerts about one grant: a grant that failed and was rolled
// back, a revocation that keeps failing, a lowering that could not finish, and an
// account kept after access ended (./retained). What they say about the engine
// (admin secret, privileges, statements to run by hand) comes from `guide`.

export interface AdminMessageInput extends AdminAlert {
  administrators: Person[];
  /** What the alert says about the grant's database engine. */
  guide: EngineGuide;
}

/** Hints for the step that failed; step names are matched loosely so a renamed activity still gets advice. */
function stepHints(step: string, guide: EngineGuide): string[] {
  const secret = `valid JSON (${guide.adminSecretKeys.join(', ')})`;
  const s = step.toLowerCase();
  const hints: string[] = [];
  if (/account|user|password|credential|secret/.test(s)) {
    hints.push(
      `The database server is reachable from the worker and the admin secret of this database exists, is ${secret} and its password still works.`,
      guide.adminNeeds.createAccount,
      'The worker may create and write secrets under the grant secret prefix in Secrets Manager.',
    );
  }
  if (/privilege|grant|permission|level/.test(s)) {
    hints.push(guide.adminNeeds.grantPrivileges);
  }
  if (/audit|dynamo/.test(s)) hints.push('The DynamoDB audit table exists and the worker may write to it.');
  if (/notif|mail|smtp/.test(s)) hints.push('The SMTP relay is reachable and accepts mail from the configured sender.');
  return hints;
}

/** The administrators' alert (see AdminAlertKind); the owner in copy on what concerns the project's objects and the grantee's access. */
export function adminMessage(input: AdminMessageInput): Notification {
  const { grant, kind, guide } = input;
  const grantee = clean(grant.email);
  const level = clean(grant.accessLevel, 40);
  const detail = clean(input.detail, 2000);
  let subject: string;
  let doc: Document;

  if (kind === 'FAILED') {
    const step = clean(grant.failure?.step, 120) || 'unknown';
    const message = clean(grant.failure?.message, 2000) || 'no message recorded';
    // The secret was rolled back with everything else; naming it would suggest it exists.
    const rows = grantRows(grant, false, guide.displayName);
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
            ...stepHints(step, guide),
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
    const rows = grantRows(grant, true, guide.displayName);
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
          `The admin secret of this database exists in Secrets Manager, is valid JSON (${guide.adminSecretKeys.join(', ')}) and its password still works (was it rotated?).`,
          guide.adminNeeds.endAccess,
          'A worker is running and polling the task queue.',
        ],
      },
    ];
    const byHand = guide.manual.endAccess(grant.account);
    if (byHand) {
      blocks.push(
        { kind: 'h', text: 'If access must end right now' },
        { kind: 'p', text: 'Lock the account by hand, take its privileges and end its sessions; the automatic revocation still completes afterwards, it is idempotent:' },
        { kind: 'code', text: byHand },
      );
    }
    subject = `[dbaccess] ACTION NEEDED: revoking ${grantee} on ${where(grant)} keeps failing`;
    doc = { title: `Revocation of ${account} keeps failing`, tone: 'alert', blocks, footer: adminFooter(grant, input.eventId) };
  } else if (kind === 'ACCOUNT_RETAINED') {
    ({ subject, doc } = retainedDocument(input, detail));
  } else if (kind === 'BREAK_GLASS' || kind === 'BREAK_GLASS_FLAGGED' || kind === 'BREAK_GLASS_UNREVIEWED') {
    ({ subject, doc } = breakGlassDocument(input, detail));
  } else {
    ({ subject, doc } = levelChangeIncompleteDocument(input, detail));
  }

  // The owner is copied on what concerns the project's objects and the grantee's access.
  const to = uniqueAddresses(input.administrators.map((a) => a.email));
  const copyOwner = input.owner && (kind === 'ACCOUNT_RETAINED' || kind === 'LEVEL_CHANGE_INCOMPLETE' || kind.startsWith('BREAK_GLASS'));
  const cc = copyOwner ? uniqueAddresses([input.owner!.email], to) : [];
  if (cc.length > 0) doc.footer = [doc.footer[0]!, `Sent by dbaccess to its administrators, with a copy to ${person(input.owner!)} as owner of project ${clean(grant.project)}. Find the workflow in the Temporal UI by its id (the grant id).`];
  return notification(doc, subject, to, cc, kind, input.eventId);
}

function levelChangeIncompleteDocument(input: AdminMessageInput, detail: string): { subject: string; doc: Document } {
  const { grant, guide } = input;
  const account = clean(grant.account, 64);
  const level = clean(grant.accessLevel, 40);
  const rows = grantRows(grant, false, guide.displayName);
  rows.push(['Detail', detail || 'none'], ['Grant id', clean(grant.grantId), 'code']);
  const blocks: Block[] = [
    {
      kind: 'p',
      text: `The access of ${person({ name: grant.name, email: grant.email })} to ${where(grant)} was lowered to ${level} (${privilegeList(grant.privileges)}), but the change could not be finished: the account's open sessions could not be ended (or a step after the lowering failed).`,
    },
    {
      kind: 'p',
      text: `The lower level stays: it is never raised back. New connections of ${account} get only ${level}. ${guide.sessions.staleAfterLowering} The service keeps trying to end those sessions, with bounded backoff; it does not hold up the expiry, which ends every session anyway.`,
    },
    { kind: 'facts', rows },
    { kind: 'h', text: 'What to check' },
    {
      kind: 'list',
      items: [
        ...guide.adminNeeds.endSessions,
        'The database server is up and reachable from the worker, and the admin secret of this database still works.',
      ],
    },
  ];
  const byHand = guide.manual.endSessions(grant.account);
  if (byHand) blocks.push({ kind: 'h', text: 'To end the sessions by hand' }, { kind: 'code', text: byHand });
  return {
    subject: `[dbaccess] ACTION NEEDED: lowering ${clean(grant.email)} to ${level} on ${where(grant)} did not finish`,
    doc: { title: `Lowering of ${account} to ${level} did not finish`, tone: 'alert', blocks, footer: adminFooter(grant, input.eventId) },
  };
}

/** Break-glass (docs/decisions/0110-break-glass.md): access granted without approval, a review flagged, or none made in time. */
function breakGlassDocument(input: AdminMessageInput, detail: string): { subject: string; doc: Document } {
  const { grant, guide, kind } = input;
  const grantee = clean(grant.email);
  const level = clean(grant.accessLevel, 40);
  const rows = grantRows(grant, false, guide.displayName);
  rows.push(['Broken by', clean(grant.requestedBy, 120)], ['Reason', clean(grant.reason) || 'none given']);
  if (grant.breakGlass?.reviewBy) rows.push(['Review due by', grant.breakGlass.reviewBy]);
  if (grant.breakGlass?.reviewedBy) rows.push(['Reviewed by', `${clean(grant.breakGlass.reviewedBy, 120)} at ${grant.breakGlass.reviewedAt ?? ''}`]);
  if (grant.breakGlass?.reason) rows.push(['Flagged because', clean(grant.breakGlass.reason)]);
  rows.push(['Detail', detail || 'none'], ['Grant id', clean(grant.grantId), 'code']);
  const who = person({ name: grant.name, email: grant.email });
  const intro =
    kind === 'BREAK_GLASS'
      ? `${clean(grant.requestedBy, 120)} broke the glass: ${who} has ${level} access to ${where(grant)} now, granted without waiting for approval, until ${grant.expiresAt}. It cannot be extended or changed. The owner and the project's reviewers are asked to acknowledge it or flag it.`
      : kind === 'BREAK_GLASS_FLAGGED'
        ? `A reviewer flagged the break-glass access of ${who} to ${where(grant)}: it should not have happened, or not like this. Find out what was done with it.`
        : `Nobody acknowledged or flagged the break-glass access of ${who} to ${where(grant)} by its deadline. It is recorded as unreviewed.`;
  const blocks: Block[] = [
    { kind: 'p', text: intro },
    { kind: 'facts', rows },
    { kind: 'h', text: 'What to do' },
    {
      kind: 'list',
      items:
        kind === 'BREAK_GLASS'
          ? ['Check that the reason holds and that the person is who they say.', 'Revoke it at once if it should not be: dbaccess revoke with the grant id, or POST /grants/{grantId}/revoke.', 'Its audit trail and the review decision are in the workflow history in the Temporal UI (search for the grant id).']
          : ['Read the audit trail of the grant (GET /grants/{grantId}, or the workflow history in the Temporal UI).', 'Check what the account did on the database while it had access.'],
    },
  ];
  const subject =
    kind === 'BREAK_GLASS'
      ? `[dbaccess] BREAK-GLASS: ${grantee} has ${level} on ${where(grant)} without approval`
      : kind === 'BREAK_GLASS_FLAGGED'
        ? `[dbaccess] ACTION NEEDED: break-glass access of ${grantee} on ${where(grant)} was flagged`
        : `[dbaccess] break-glass access of ${grantee} on ${where(grant)} was never reviewed`;
  return { subject, doc: { title: kind === 'BREAK_GLASS' ? `Break-glass access on ${where(grant)}` : kind === 'BREAK_GLASS_FLAGGED' ? 'Break-glass access flagged' : 'Break-glass access unreviewed', tone: 'alert', blocks, footer: adminFooter(grant, input.eventId) } };
}
