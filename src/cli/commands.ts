import { readFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { GRANT_STATUSES, grantIdFor, parseDuration, parseGrantId } from '../domain';
import { CsvError, grantRows } from './csv';
import { clean, expiryPhrase, fields, relative, table, when } from './format';
import { CliError, EXIT, connectionFrom, request, usage, type Answer, type Connection, type Io } from './http';

// The commands of `dbaccess` (except the old script's flags: legacy.ts). Each
// parses its own flags, makes its API calls, and prints either a human summary
// or, with --json, the API's answer unchanged.

export type Options = NonNullable<ParseArgsConfig['options']>;

export const GLOBAL_OPTIONS: Options = {
  url: { type: 'string' },
  key: { type: 'string' },
  'key-file': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export const GLOBAL_HELP = `Connection (every command):
  --url URL          the dbaccess API (env DBACCESS_URL; default http://127.0.0.1:3000)
  --key-file FILE    a file holding the API key (env DBACCESS_API_KEY_FILE)
  --key KEY          the API key (env DBACCESS_API_KEY); prefer a file or the
                     environment: a flag is visible in ps and shell history
  --json             print the API's JSON answer unchanged (one document), for scripts
  -h, --help         this help

Exit codes:
  0  done
  2  usage error: unknown flag, missing argument, unreadable file (nothing was sent)
  3  refused by the API (4xx, e.g. 400 invalid field, 403 not allowed, 409 conflict);
     the message names the field or the rule
  4  failed: the API answered 5xx, or could not be reached (the message says which URL)
  5  not found: the grant does not exist
`;

export interface Context {
  io: Io;
  json: boolean;
  /** The API connection (resolved on first use, so that --help needs no key). */
  conn(): Connection;
  out(text: string): void;
}

export interface Command {
  name: string;
  summary: string;
  help: string;
  options: Options;
  run(values: Record<string, string | boolean | undefined>, positionals: string[], ctx: Context): Promise<number>;
}

type Values = Record<string, string | boolean | undefined>;
const str = (values: Values, name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);

function need(values: Values, name: string, command: string): string {
  const v = str(values, name);
  if (v === undefined || v.trim() === '') throw usage(`${command}: --${name} is required (see dbaccess ${command} --help)`);
  return v;
}

const GRANT_REF_OPTIONS: Options = {
  email: { type: 'string' },
  project: { type: 'string' },
  database: { type: 'string' },
};

const GRANT_REF_HELP = `The grant: its id (grant/{project}/{database}/{email}) as the argument, or
  --email EMAIL --project PROJECT --database DATABASE`;

/** The grant a command is about: a positional id, or --email, --project and --database. */
export function grantRef(values: Values, positionals: string[], command: string): string {
  const [id, ...rest] = positionals;
  if (rest.length > 0) throw usage(`${command}: one grant at a time (unexpected ${clean(rest[0])})`);
  const parts = ['email', 'project', 'database'].filter((n) => str(values, n) !== undefined);
  if (id !== undefined) {
    if (parts.length > 0) throw usage(`${command}: give the grant id or --email/--project/--database, not both`);
    if (!parseGrantId(id)) throw usage(`${command}: ${clean(id)} is not a grant id (grant/{project}/{database}/{email})`);
    return id;
  }
  if (parts.length === 0) throw usage(`${command}: which grant? Give its id, or --email, --project and --database (see dbaccess ${command} --help)`);
  return grantIdFor(need(values, 'project', command), need(values, 'database', command), need(values, 'email', command));
}

export const grantPath = (grantId: string, suffix = '') => `/grants/${encodeURIComponent(grantId)}${suffix}`;

function printJson(ctx: Context, body: unknown): void {
  ctx.out(`${JSON.stringify(body, null, 2)}\n`);
}

/** The expiry flags of grant and extend: --expires DATE|TIMESTAMP, or --duration. */
function expiryOf(values: Values, command: string, durationAsEnd: boolean): { expiresAt?: string; duration?: string } {
  const expires = str(values, 'expires');
  const duration = str(values, 'duration');
  if (expires !== undefined && duration !== undefined) throw usage(`${command}: give --expires or --duration, not both`);
  if (expires === undefined && duration === undefined) throw usage(`${command}: --expires (YYYY-MM-DD or a timestamp) or --duration (8h, 14d) is required`);
  if (expires !== undefined) return { expiresAt: expires };
  if (!durationAsEnd) return { duration: duration! };
  const ms = parseDuration(duration!);
  if (ms === undefined) throw usage(`${command}: --duration must be a duration such as 30m, 8h, 14d or 1d12h`);
  // The API extends to an end: now + duration, to the second.
  return { expiresAt: new Date(Math.floor((Date.now() + ms) / 1000) * 1000).toISOString() };
}

/** What the answer to a grant (or an approval) means, in words. */
export function describeGrant(state: any): string {
  const id = clean(state.grantId);
  const what = `${clean(state.accessLevel)} on ${clean(state.project)}/${clean(state.database)} for ${clean(state.email)}`;
  const expiry = `${expiryPhrase(state.status, state.expiresAt)} (${when(state.expiresAt)})`;
  switch (state.status) {
    case 'ACTIVE':
      return (
        `Granted ${what}: ${expiry}.\n` +
        fields([
          ['grant', id],
          ['account', state.account],
          ['password', state.secretName ? `in the secret ${clean(state.secretName)} (the grantee was e-mailed where)` : undefined],
        ])
      );
    case 'PENDING_APPROVAL':
      return (
        `Waiting for approval: ${what}. Nothing is created until an approver approves.\n` +
        fields([
          ['grant', id],
          ['why', (state.approval?.reasons ?? []).map(clean).join('; ')],
          ['decide by', state.approval?.decideBy ? `${when(state.approval.decideBy)} (${relative(state.approval.decideBy)})` : undefined],
          ['approve', `dbaccess approve ${id}`],
        ])
      );
    default:
      return `${clean(state.status)}: ${what}; check again with: dbaccess show ${id}\n`;
  }
}

const grant: Command = {
  name: 'grant',
  summary: 'give someone time-limited access to a database (or a whole CSV file of people)',
  options: {
    ...GRANT_REF_OPTIONS,
    name: { type: 'string' },
    level: { type: 'string' },
    expires: { type: 'string' },
    duration: { type: 'string' },
    reason: { type: 'string' },
    'from-file': { type: 'string' },
  },
  help: `Usage: dbaccess grant --email EMAIL --name NAME --project PROJECT --database DATABASE
                      --level LEVEL (--expires DATE | --duration DURATION) [--reason TEXT]
       dbaccess grant --from-file grants.csv [--reason TEXT]

Give one person access to one database at one level, until a date or for a while.
The API answers once the account exists (ACTIVE), or at once when the grant needs
approval (PENDING_APPROVAL: an approver runs dbaccess approve).

  --email EMAIL        the person's address (an allowed domain)
  --name NAME          the person's name
  --project PROJECT    the project key
  --database DATABASE  the database key
  --level LEVEL        READ, READ_WRITE, ADMIN, ... (the levels of that database)
  --expires WHEN       YYYY-MM-DD (the end of that day, UTC) or a timestamp with a time zone
  --duration DURATION  instead of --expires: 30m, 8h, 14d, 1d12h, counted from when
                       access is granted (time waiting for approval is not lost)
  --reason TEXT        recorded in the audit trail and the e-mails
  --from-file FILE     a CSV file, one grant per row (see below)

A CSV file has a header row naming its columns: email, name, project, database,
accessLevel (or access_level), expiresAt (or database_expiry) or duration, reason.
Fields may be quoted ("Doe, John"). Every row is checked before anything starts: if
one row is wrong, no grant is started, and each wrong row is named with its line and
field (exit 3). Otherwise every row is started, and each row's grant id or error is
printed (exit 3 if a row could not be started). At most 100 rows per file. --reason
applies to the rows without one.

Examples:
  dbaccess grant --email john.doe@example.com --name "John Doe" --project demo \\
      --database dev_project --level READ_WRITE --expires 2026-12-31 --reason "OPS-4711"
  dbaccess grant --email john.doe@example.com --name "John Doe" --project demo \\
      --database prod_project --level ADMIN --duration 8h --reason "incident 4711"
  dbaccess grant --from-file team.csv --reason "onboarding team blue"
`,
  async run(values, positionals, ctx) {
    if (positionals.length > 0) throw usage(`grant: unexpected argument ${clean(positionals[0])} (see dbaccess grant --help)`);
    const file = str(values, 'from-file');
    if (file !== undefined) {
      const extra = ['email', 'name', 'project', 'database', 'level', 'expires', 'duration'].find((n) => values[n] !== undefined);
      if (extra) throw usage(`grant: --${extra} cannot be combined with --from-file (put it in the file)`);
      return batch(file, str(values, 'reason'), ctx);
    }
    const body = {
      email: need(values, 'email', 'grant'),
      name: need(values, 'name', 'grant'),
      project: need(values, 'project', 'grant'),
      database: need(values, 'database', 'grant'),
      accessLevel: need(values, 'level', 'grant'),
      ...expiryOf(values, 'grant', false),
      ...(str(values, 'reason') !== undefined ? { reason: str(values, 'reason') } : {}),
    };
    const answer = await request(ctx.conn(), 'POST', '/grants', body);
    if (ctx.json) printJson(ctx, answer.body);
    else ctx.out(describeGrant(answer.body));
    return EXIT.OK;
  },
};

/** The rows of a grants file, checked and started in one batch. */
async function batch(file: string, reason: string | undefined, ctx: Context): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw usage(`grant: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let rows;
  try {
    rows = grantRows(text);
  } catch (err) {
    if (err instanceof CsvError) throw usage(`grant: ${file}, ${err.message}`);
    throw err;
  }
  if (rows.length === 0) throw usage(`grant: ${file} has a header but no rows`);
  if (rows.length > 100) throw usage(`grant: ${file} has ${rows.length} rows; at most 100 per file: split it`);
  const na = rows.find((r) => /^na$/i.test(r.grant.expiresAt ?? ''));
  if (na) throw usage(`grant: ${file}, line ${na.line}: ${NEVER_EXPIRES}`);
  const grants = rows.map((r) => (reason !== undefined && r.grant.reason === undefined ? { ...r.grant, reason } : r.grant));
  const lineOf = (row: number) => rows[row - 1]?.line ?? 0;

  let answer: Answer;
  try {
    answer = await request(ctx.conn(), 'POST', '/grants/batch', { grants });
  } catch (err) {
    // Rows refused at validation: name each with its line.
    if (err instanceof CliError && err.exitCode === EXIT.REFUSED && Array.isArray((err.body as any)?.rows)) {
      const bad = (err.body as any).rows.filter((r: any) => r.error);
      const detail = bad.map((r: any) => `  line ${lineOf(r.row)} (row ${r.row}): ${clean(r.message)}`).join('\n');
      throw new CliError(EXIT.REFUSED, `${err.message}\n${detail}`, err.body);
    }
    throw err;
  }
  const results: any[] = answer.body.rows ?? [];
  if (ctx.json) printJson(ctx, answer.body);
  else {
    ctx.out(
      table(
        ['LINE', 'EMAIL', 'DATABASE', 'RESULT'],
        results.map((r) => {
          const g = grants[r.row - 1] ?? {};
          return [String(lineOf(r.row)), g.email ?? '', `${g.project ?? ''}/${g.database ?? ''}`, r.error ? `error: ${r.message}` : `${r.status} ${r.grantId}`];
        }),
      ) + `${answer.body.started} started, ${answer.body.failed} failed\n`,
    );
  }
  return answer.body.failed > 0 ? EXIT.REFUSED : EXIT.OK;
}

export const NEVER_EXPIRES =
  'database_expiry NA (never expires) is not supported: dbaccess only gives time-limited access, and every grant ends at its expiry. ' +
  'Give a date (YYYY-MM-DD, at most the database\'s maximum duration ahead) and extend it when needed (dbaccess extend).';

const show: Command = {
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

const list: Command = {
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
        grants.map((g) => [g.email ?? '', g.project ?? '', g.database ?? '', g.accessLevel ?? '', g.status ?? g.workflowStatus, g.expiresAt ? `${relative(g.expiresAt)} (${when(g.expiresAt)})` : '']),
      ) + `${grants.length} grant${grants.length === 1 ? '' : 's'}\n`,
    );
    return EXIT.OK;
  },
};

const extend: Command = {
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

const update: Command = {
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

const revoke: Command = {
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

const approve: Command = {
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

const deny: Command = {
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

const retryDrop: Command = {
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

export const COMMANDS: Command[] = [grant, show, list, extend, update, revoke, approve, deny, retryDrop];

/** Resolves the API connection once, on first use. */
export function contextFor(io: Io, values: Values): Context {
  let conn: Connection | undefined;
  return {
    io,
    json: values.json === true,
    conn: () => (conn ??= connectionFrom({ url: str(values, 'url'), key: str(values, 'key'), 'key-file': str(values, 'key-file') }, io.env)),
    out: (text) => void io.stdout.write(text),
  };
}
