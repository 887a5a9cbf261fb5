import { GRANT_STATUSES, formatDuration } from '../../domain';
import { clean, expiryPhrase, fields, relative, table, when } from '../format';
import { EXIT, request, usage } from '../http';
import { type Command, str, GRANT_REF_OPTIONS, GRANT_REF_HELP, grantRef, grantPath, printJson } from './shared';

// Commands that read: show one grant, list grants.

export const show: Command = {
  name: 'show',
  summary: "a grant's state and history",
  options: GRANT_REF_OPTIONS,
  help: `Usage: dbaccess show GRANT_ID
       dbaccess show --email EMAIL --project PROJECT --database DATABASE

Print a grant: status, level, expiry, account, the secret holding the password, and
its history (every audited event).

${GRANT_REF_HELP}

Examples:
  dbaccess show grant/demo/dev_project/john.doe@example.com
  dbaccess show --email john.doe@example.com --project demo --database dev_project --json
`,
  async run(values, positionals, ctx) {
    const id = grantRef(values, positionals, 'show');
    const { body: g } = await request(ctx.conn(), 'GET', grantPath(id));
    if (ctx.json) {
      printJson(ctx, g);
      return EXIT.OK;
    }
    ctx.out(
      fields([
        ['grant', g.grantId],
        ['status', g.status],
        ['person', `${clean(g.name)} <${clean(g.email)}>`],
        ['database', `${clean(g.project)}/${clean(g.database)} (schema ${clean(g.schema)})`],
        ['level', `${clean(g.accessLevel)} (${(g.privileges ?? []).map(clean).join(', ')})`],
        ['expires', `${when(g.expiresAt)} (${expiryPhrase(g.status, g.expiresAt)})`],
        [
          'review by',
          g.standing
            ? `${when(g.standing.reviewBy)} (${relative(g.standing.reviewBy)}; standing grant, reviewed every ${formatDuration(g.standing.reviewEveryMs)}${g.standing.lastReviewedAt ? `, last kept ${when(g.standing.lastReviewedAt)} by ${clean(g.standing.lastReviewedBy)}` : ''}${g.standing.review ? '; review asked, waiting for a reviewer' : ''})`
            : undefined,
        ],
        ['ended', g.endedAt ? `${when(g.endedAt)} (${relative(g.endedAt)})` : undefined],
        ['account', g.account],
        ['password', g.secretName ? `in the secret ${clean(g.secretName)}` : undefined],
        ['server', g.connection ? `${clean(g.connection.host)}:${clean(g.connection.port)} (${clean(g.connection.engine)})` : undefined],
        ['requested', `${when(g.requestedAt)} (${relative(g.requestedAt)}) by ${clean(g.requestedBy)}${g.reason ? `: ${clean(g.reason)}` : ''}`],
        ['approval', g.approval ? `${(g.approval.reasons ?? []).map(clean).join('; ')}${g.approval.decision ? ` (${clean(g.approval.decision)} by ${clean(g.approval.decidedBy)})` : ` (decide by ${when(g.approval.decideBy)})`}` : undefined],
        ['failure', g.failure ? `step ${clean(g.failure.step)}: ${clean(g.failure.message)}` : undefined],
        ['extension', g.pendingExtension ? `to ${when(g.pendingExtension.to)} asked by ${clean(g.pendingExtension.requestedBy)}, waiting for approval (denied unless decided by ${when(g.pendingExtension.decideBy)})` : undefined],
        ['approved to', g.approvedUntil ? when(g.approvedUntil) : undefined],
        ['access ended', g.accessEndedAt ? `${when(g.accessEndedAt)} (account contained: locked, password replaced, privileges revoked, sessions ended)` : undefined],
        ['retained', g.retained ? `since ${when(g.retained.since)}: the server refused to drop the account (${clean(g.retained.reason)}); an administrator deals with what it defines, then runs dbaccess retry-drop ${clean(g.grantId)}` : undefined],
        ['objects', objectsOf(g.retained ? { objects: g.retained.objects, count: g.retained.objectCount } : g.leftBehind)],
      ]),
    );
    const history: any[] = g.history ?? [];
    if (history.length > 0) {
      ctx.out(
        '\nHistory:\n' +
          table(
            ['WHEN', '', 'EVENT', 'BY', 'LEVEL', 'EXPIRES', 'REASON'],
            history.map((e) => [when(e.at), relative(e.at), e.event, e.actor, e.accessLevel ?? '', when(e.expiresAt), [e.reason, e.detail].filter(Boolean).join(' / ')]),
          ),
      );
    }
    return EXIT.OK;
  },
};

/** "VIEW s.v, TRIGGER s.t (on table x) and 3 more". */
function objectsOf(found: { objects?: any[]; count?: number } | undefined): string | undefined {
  const objects = found?.objects ?? [];
  if (!found || (found.count ?? objects.length) === 0) return undefined;
  const listed = objects.map((o) => `${clean(o.kind)} ${clean(o.schema)}.${clean(o.name)}${o.note ? ` (${clean(o.note)})` : ''}`);
  const more = (found.count ?? objects.length) - objects.length;
  return listed.join(', ') + (more > 0 ? ` and ${more} more` : '');
}

export const list: Command = {
  name: 'list',
  summary: 'grants, filtered by person, project, database or status',
  options: { ...GRANT_REF_OPTIONS, status: { type: 'string' }, limit: { type: 'string' } },
  help: `Usage: dbaccess list [--email EMAIL] [--project PROJECT] [--database DATABASE]
                     [--status STATUS] [--limit N]

List grants, newest first, ended ones included (filter with --status ACTIVE).
The list lags a second or so behind changes.

  --status STATUS  ${GRANT_STATUSES.join(', ')}
  --limit N        1 to 1000 (default 100)

Examples:
  dbaccess list --email john.doe@example.com
  dbaccess list --project demo --database dev_project --status ACTIVE
  dbaccess list --status PENDING_APPROVAL --json
`,
  async run(values, positionals, ctx) {
    if (positionals.length > 0) throw usage(`list: unexpected argument ${clean(positionals[0])} (filters are flags: see dbaccess list --help)`);
    const query = new URLSearchParams();
    for (const name of ['email', 'project', 'database', 'status', 'limit']) {
      const v = str(values, name);
      if (v !== undefined) query.set(name, v);
    }
    const qs = query.toString();
    const { body } = await request(ctx.conn(), 'GET', `/grants${qs ? `?${qs}` : ''}`);
    if (ctx.json) {
      printJson(ctx, body);
      return EXIT.OK;
    }
    const grants: any[] = body.grants ?? [];
    if (grants.length === 0) {
      ctx.out('No grants match.\n');
      return EXIT.OK;
    }
    ctx.out(
      table(
        ['EMAIL', 'PROJECT', 'DATABASE', 'LEVEL', 'STATUS', 'EXPIRES'],
        grants.map((g) => [
          g.email ?? '',
          g.project ?? '',
          g.database ?? '',
          g.accessLevel ?? '',
          g.status ?? g.workflowStatus,
          // A standing grant's expiry is its next review's deadline.
          g.reviewBy ? `review by ${when(g.reviewBy)} (${relative(g.reviewBy)}, standing)` : g.expiresAt ? `${relative(g.expiresAt)} (${when(g.expiresAt)})` : '',
        ]),
      ) + `${grants.length} grant${grants.length === 1 ? '' : 's'}\n`,
    );
    return EXIT.OK;
  },
};
