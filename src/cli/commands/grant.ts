import { readFileSync } from 'node:fs';
import { CsvError, grantRows } from '../csv';
import { clean, table } from '../format';
import { CliError, EXIT, request, usage, type Answer } from '../http';
import { type Context, type Command, str, need, GRANT_REF_OPTIONS, printJson, expiryOf, describeGrant } from './shared';

// The grant command: one person, or a CSV file of people (each row its own request).

export const grant: Command = {
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
    'break-glass': { type: 'boolean' },
  },
  help: `Usage: dbaccess grant --email EMAIL --name NAME --project PROJECT --database DATABASE
                      --level LEVEL (--expires DATE | --duration DURATION) [--reason TEXT]
       dbaccess grant --email EMAIL --name NAME --project PROJECT --database DATABASE
                      --level LEVEL --break-glass --reason TEXT [--duration DURATION]
       dbaccess grant --from-file grants.csv [--reason TEXT]

Give one person access to one database at one level, until a date or for a while.
The API answers once the account exists (ACTIVE), or at once when the grant needs
approval (PENDING_APPROVAL: an approver runs dbaccess approve).

  --email EMAIL        the person's address (an allowed domain)
  --name NAME          the person's name
  --project PROJECT    the project key
  --database DATABASE  the database key
  --level LEVEL        READ, READ_WRITE, ADMIN, ... (the levels of that database)
  --expires WHEN       YYYY-MM-DD (the end of that day, UTC) or a timestamp with a time zone;
                       NA for no end: a standing grant, reviewed every period, where
                       the database allows it (dbaccess review keeps or revokes it)
  --duration DURATION  instead of --expires: 30m, 8h, 14d, 1d12h, counted from when
                       access is granted (time waiting for approval is not lost)
  --reason TEXT        recorded in the audit trail and the e-mails
  --from-file FILE     a CSV file, one grant per row (see below)
  --break-glass        access at once, without waiting for approval, for keys the
                       configuration allows (breakGlass.clients): --reason is required;
                       at most breakGlass.maxDuration (1h by default), which is also the
                       length without --expires or --duration; never extended; the
                       administrators and the owner are alerted and it is reviewed after
                       the fact (dbaccess review --acknowledge | --flag)

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
  dbaccess grant --email john.doe@example.com --name "John Doe" --project demo \\
      --database prod_project --level ADMIN --break-glass --reason "incident 4712: orders stuck"
  dbaccess grant --from-file team.csv --reason "onboarding team blue"
`,
  async run(values, positionals, ctx) {
    if (positionals.length > 0) throw usage(`grant: unexpected argument ${clean(positionals[0])} (see dbaccess grant --help)`);
    const file = str(values, 'from-file');
    if (file !== undefined) {
      const extra = ['email', 'name', 'project', 'database', 'level', 'expires', 'duration', 'break-glass'].find((n) => values[n] !== undefined);
      if (extra) throw usage(`grant: --${extra} cannot be combined with --from-file (put it in the file)`);
      return batch(file, str(values, 'reason'), ctx);
    }
    const breakGlass = values['break-glass'] === true;
    if (breakGlass) need(values, 'reason', 'grant --break-glass');
    const body = {
      email: need(values, 'email', 'grant'),
      name: need(values, 'name', 'grant'),
      project: need(values, 'project', 'grant'),
      database: need(values, 'database', 'grant'),
      accessLevel: need(values, 'level', 'grant'),
      // Break-glass: the cap when no end is given.
      ...(breakGlass && values.expires === undefined && values.duration === undefined ? {} : expiryOf(values, 'grant', false)),
      ...(str(values, 'reason') !== undefined ? { reason: str(values, 'reason') } : {}),
      ...(breakGlass ? { breakGlass: true } : {}),
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
  'database_expiry NA (no end) cannot be given to an existing grant: a grant with an end does not become a standing one. ' +
  'Give a date and extend it when needed (dbaccess extend), or revoke it and ask again with NA on a database that allows standing grants (reviewed every period).';
