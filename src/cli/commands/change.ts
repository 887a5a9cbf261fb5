import { clean, expiryPhrase, when } from '../format';
import { EXIT, request } from '../http';
import { type Command, str, need, GRANT_REF_OPTIONS, GRANT_REF_HELP, grantRef, grantPath, printJson, expiryOf } from './shared';

// Commands that change an active grant: extend, change level, revoke.

export const extend: Command = {
  name: 'extend',
  summary: 'move the expiry of an active grant later (beyond an approval: asks the approvers)',
  options: { ...GRANT_REF_OPTIONS, expires: { type: 'string' }, duration: { type: 'string' }, reason: { type: 'string' } },
  help: `Usage: dbaccess extend GRANT_ID (--expires WHEN | --duration DURATION) [--reason TEXT]

Move the expiry later: at most the database's maximum duration from now. For a
grant whose level needed approval, going beyond what the approver agreed to asks the
approvers again (unless you are one, or an admin): the grant keeps its expiry until
one of them runs dbaccess approve (or deny) on it, or until the time to decide runs out.

  --expires WHEN       YYYY-MM-DD (the end of that day, UTC) or a timestamp with a time zone
  --duration DURATION  the new expiry is now + DURATION (8h, 14d, 1d12h)
  --reason TEXT        recorded in the audit trail

${GRANT_REF_HELP}

Examples:
  dbaccess extend grant/demo/dev_project/john.doe@example.com --expires 2027-01-15 --reason "project slipped"
  dbaccess extend --email john.doe@example.com --project demo --database dev_project --duration 14d
`,
  async run(values, positionals, ctx) {
    const id = grantRef(values, positionals, 'extend');
    const { expiresAt } = expiryOf(values, 'extend', true);
    const reason = str(values, 'reason');
    const { body } = await request(ctx.conn(), 'POST', grantPath(id, '/extend'), { expiresAt, ...(reason !== undefined ? { reason } : {}) });
    if (ctx.json) printJson(ctx, body);
    else if (body.pending) {
      ctx.out(
        `Asked the approvers: ${clean(body.grantId)} to ${when(body.pending.requestedExpiresAt)} is beyond what was approved. ` +
          `Until one of them approves (by ${when(body.pending.decideBy)}), it still ${expiryPhrase('ACTIVE', body.expiresAt)} (${when(body.expiresAt)}).\n`,
      );
    } else ctx.out(`Extended ${clean(body.grantId)}: ${expiryPhrase('ACTIVE', body.expiresAt)} (${when(body.expiresAt)}).\n`);
    return EXIT.OK;
  },
};

export const update: Command = {
  name: 'update',
  summary: 'change the access level of an active grant',
  options: { ...GRANT_REF_OPTIONS, level: { type: 'string' }, reason: { type: 'string' } },
  help: `Usage: dbaccess update GRANT_ID --level LEVEL [--reason TEXT]

Change the access level; the account is kept. A downgrade also ends the account's
open sessions, and is never undone: if it cannot finish, the lower level stays,
administrators are alerted, and the rest is retried. A level that needs approval
cannot be reached this way (revoke and ask for a new grant).

  --level LEVEL   READ, READ_WRITE, ADMIN, ... (the levels of that database)
  --reason TEXT   recorded in the audit trail

${GRANT_REF_HELP}

Examples:
  dbaccess update grant/demo/dev_project/john.doe@example.com --level READ
  dbaccess update --email john.doe@example.com --project demo --database dev_project --level READ_WRITE
`,
  async run(values, positionals, ctx) {
    const id = grantRef(values, positionals, 'update');
    const accessLevel = need(values, 'level', 'update');
    const reason = str(values, 'reason');
    const { body } = await request(ctx.conn(), 'PATCH', grantPath(id), { accessLevel, ...(reason !== undefined ? { reason } : {}) });
    if (ctx.json) printJson(ctx, body);
    else {
      ctx.out(`Changed ${clean(body.grantId)} to ${clean(body.accessLevel)}${body.sessionsKilled ? ` (${clean(body.sessionsKilled)} open session${body.sessionsKilled === 1 ? '' : 's'} ended)` : ''}.\n`);
      if (body.incomplete) ctx.out(`Not finished yet: ${clean(body.incomplete)}.\n`);
    }
    return EXIT.OK;
  },
};

export const revoke: Command = {
  name: 'revoke',
  summary: 'end access now (or withdraw a request waiting for approval)',
  options: { ...GRANT_REF_OPTIONS, reason: { type: 'string' } },
  help: `Usage: dbaccess revoke GRANT_ID [--reason TEXT]

End access now, within seconds: first the account is contained (locked, its password
replaced with one nobody knows, every privilege revoked, its sessions ended), then it
is dropped. If the server refuses the drop (the account defines stored objects), access
has still ended: the account stays contained and is listed as retained until an
administrator deals with the objects (see dbaccess retry-drop). A request still
waiting for approval is withdrawn.

${GRANT_REF_HELP}

Examples:
  dbaccess revoke grant/demo/dev_project/john.doe@example.com --reason "left the team"
  dbaccess revoke --email john.doe@example.com --project demo --database dev_project
`,
  async run(values, positionals, ctx) {
    const id = grantRef(values, positionals, 'revoke');
    const reason = str(values, 'reason');
    const { body } = await request(ctx.conn(), 'POST', grantPath(id, '/revoke'), reason !== undefined ? { reason } : {});
    if (ctx.json) printJson(ctx, body);
    else ctx.out(`Revoking ${clean(body.grantId)}: access ends within seconds (dbaccess show ${clean(body.grantId)} to follow it).\n`);
    return EXIT.OK;
  },
};
