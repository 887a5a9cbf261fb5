import { clean } from '../format';
import { EXIT, request, usage } from '../http';
import { type Command, str, need, GRANT_REF_OPTIONS, GRANT_REF_HELP, grantRef, grantPath, printJson, describeGrant } from './shared';

// Decisions: approve or deny a request, retry the drop of a retained account.

export const approve: Command = {
  name: 'approve',
  summary: 'approve a request, or an extension, waiting for approval (approvers and admins)',
  options: { ...GRANT_REF_OPTIONS, reason: { type: 'string' } },
  help: `Usage: dbaccess approve GRANT_ID [--reason TEXT]

Approve a request in PENDING_APPROVAL; the grant is then provisioned. On an ACTIVE
grant, approve its extension waiting for approval (dbaccess show lists it). Nobody
approves their own request or extension, or their own access. Find waiting requests with:
  dbaccess list --status PENDING_APPROVAL

${GRANT_REF_HELP}

Examples:
  dbaccess approve grant/demo/prod_project/john.doe@example.com --reason "on call this week"
`,
  async run(values, positionals, ctx) {
    const id = grantRef(values, positionals, 'approve');
    const reason = str(values, 'reason');
    const { body } = await request(ctx.conn(), 'POST', grantPath(id, '/approve'), reason !== undefined ? { reason } : {});
    if (ctx.json) printJson(ctx, body);
    else ctx.out(`Approved. ${describeGrant(body)}`);
    return EXIT.OK;
  },
};

export const deny: Command = {
  name: 'deny',
  summary: 'deny a request, or an extension, waiting for approval, with a reason',
  options: { ...GRANT_REF_OPTIONS, reason: { type: 'string' } },
  help: `Usage: dbaccess deny GRANT_ID --reason TEXT

Deny a request in PENDING_APPROVAL (nothing was created), or an ACTIVE grant's
extension waiting for approval (its expiry stays). The reason is required: the person
receives it by e-mail, with the project owner in copy.

${GRANT_REF_HELP}

Examples:
  dbaccess deny grant/demo/prod_project/john.doe@example.com --reason "use the read replica"
`,
  async run(values, positionals, ctx) {
    const id = grantRef(values, positionals, 'deny');
    const reason = need(values, 'reason', 'deny');
    const { body } = await request(ctx.conn(), 'POST', grantPath(id, '/deny'), { reason });
    if (ctx.json) printJson(ctx, body);
    else ctx.out(`Denied ${clean(body.grantId)}: ${clean(body.status)}.\n`);
    return EXIT.OK;
  },
};

export const review: Command = {
  name: 'review',
  summary: 'keep or revoke a standing grant in its review (approvers and admins)',
  options: { ...GRANT_REF_OPTIONS, keep: { type: 'boolean' }, revoke: { type: 'boolean' }, reason: { type: 'string' } },
  help: `Usage: dbaccess review GRANT_ID (--keep | --revoke --reason TEXT)

A standing grant (asked for with --expires NA on a database that allows it) has no
end, but is reviewed every period: before its deadline (dbaccess show: "review by")
the project owner and its approvers are asked to keep or revoke it. Without a keep
by the deadline, access ends then.

  --keep          keep it for another review period, from now
  --revoke        end the access now; --reason is required (the person reads it)
  --reason TEXT   recorded in the audit trail and the e-mails

Nobody keeps their own access.

${GRANT_REF_HELP}

Examples:
  dbaccess review grant/demo/dev_project/john.doe@example.com --keep
  dbaccess review grant/demo/dev_project/john.doe@example.com --revoke --reason "left the team"
`,
  async run(values, positionals, ctx) {
    const id = grantRef(values, positionals, 'review');
    const keep = values.keep === true;
    const revoke = values.revoke === true;
    if (keep === revoke) throw usage('review: give either --keep or --revoke');
    const reason = revoke ? need(values, 'reason', 'review --revoke') : str(values, 'reason');
    const { body } = await request(ctx.conn(), 'POST', grantPath(id, '/review'), { decision: keep ? 'keep' : 'revoke', ...(reason !== undefined ? { reason } : {}) });
    if (ctx.json) printJson(ctx, body);
    else ctx.out(keep ? `Kept ${clean(body.grantId)}: the next review is due by ${clean(body.expiresAt)}.\n` : `Revoking ${clean(body.grantId)}: access ends within seconds.\n`);
    return EXIT.OK;
  },
};

export const retryDrop: Command = {
  name: 'retry-drop',
  summary: 'drop a retained account again, once its stored objects are dealt with (admins)',
  options: { ...GRANT_REF_OPTIONS, reason: { type: 'string' } },
  help: `Usage: dbaccess retry-drop GRANT_ID [--reason TEXT]

When a grant ends, its account is contained first (locked, password replaced, every
privilege revoked, sessions ended): access has ended. If the server then refuses to
drop it (MySQL does while the account is the definer of a view, routine, trigger or
event), the grant shows it as retained (dbaccess show) and stays open: no new grant of
the same person and database can start. Deal with the objects it names (change their
definer, or drop them), then run this to drop the account. The grant also retries by
itself once a day. Administrators only.

  --reason TEXT   recorded in the audit trail

${GRANT_REF_HELP}

Examples:
  dbaccess retry-drop grant/demo/prod_project/john.doe@example.com --reason "views re-created as app_owner"
`,
  async run(values, positionals, ctx) {
    const id = grantRef(values, positionals, 'retry-drop');
    const reason = str(values, 'reason');
    const { body } = await request(ctx.conn(), 'POST', grantPath(id, '/retry-drop'), reason !== undefined ? { reason } : {});
    if (ctx.json) printJson(ctx, body);
    else if (body.outcome === 'dropped') ctx.out(`Dropped the retained account of ${clean(body.grantId)}; the grant is closed.\n`);
    else ctx.out(`Still retained: ${clean(body.detail)}.\n`);
    return body.outcome === 'dropped' ? EXIT.OK : EXIT.REFUSED;
  },
};
