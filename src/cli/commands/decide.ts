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
  summary: 'keep or revoke a standing grant in its review, or acknowledge or flag a break-glass grant (approvers and admins)',
  options: { ...GRANT_REF_OPTIONS, keep: { type: 'boolean' }, revoke: { type: 'boolean' }, acknowledge: { type: 'boolean' }, flag: { type: 'boolean' }, reason: { type: 'string' } },
  help: `Usage: dbaccess review GRANT_ID (--keep | --revoke --reason TEXT)
       dbaccess review GRANT_ID (--acknowledge | --flag --reason TEXT)

A standing grant (asked for with --expires NA on a database that allows it) has no
end, but is reviewed every period: before its deadline (dbaccess show: "review by")
the project owner and its approvers are asked to keep or revoke it. Without a keep
by the deadline, access ends then.

  --keep          keep it for another review period, from now
  --revoke        end the access now; --reason is required (the person reads it)
  --reason TEXT   recorded in the audit trail and the e-mails

A break-glass grant (dbaccess grant --break-glass) is reviewed after the fact, also
once its access has ended, until its review deadline (dbaccess show):

  --acknowledge   it was justified
  --flag          it was not (or not like this); --reason is required; the
                  administrators are alerted

Nobody keeps their own access, nor reviews a break-glass grant they hold or asked for.

${GRANT_REF_HELP}

Examples:
  dbaccess review grant/demo/dev_project/john.doe@example.com --keep
  dbaccess review grant/demo/dev_project/john.doe@example.com --revoke --reason "left the team"
  dbaccess review grant/demo/prod_project/john.doe@example.com --acknowledge
  dbaccess review grant/demo/prod_project/john.doe@example.com --flag --reason "no incident on record"
`,
  async run(values, positionals, ctx) {
    const id = grantRef(values, positionals, 'review');
    const given = (['keep', 'revoke', 'acknowledge', 'flag'] as const).filter((d) => values[d] === true);
    if (given.length !== 1) throw usage('review: give one of --keep, --revoke (a standing grant), --acknowledge or --flag (a break-glass grant)');
    const decision = given[0]!;
    const reason = decision === 'revoke' || decision === 'flag' ? need(values, 'reason', `review --${decision}`) : str(values, 'reason');
    const { body } = await request(ctx.conn(), 'POST', grantPath(id, '/review'), { decision, ...(reason !== undefined ? { reason } : {}) });
    if (ctx.json) printJson(ctx, body);
    else
      ctx.out(
        {
          keep: `Kept ${clean(body.grantId)}: the next review is due by ${clean(body.expiresAt)}.\n`,
          revoke: `Revoking ${clean(body.grantId)}: access ends within seconds.\n`,
          acknowledge: `Acknowledged the break-glass grant ${clean(body.grantId)} (${clean(body.status)}).\n`,
          flag: `Flagged the break-glass grant ${clean(body.grantId)} (${clean(body.status)}); the administrators are alerted.\n`,
        }[decision],
      );
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
