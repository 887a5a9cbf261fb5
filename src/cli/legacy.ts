import { grantIdFor } from '../domain';
import { NEVER_EXPIRES, describeGrant, grantPath, type Context } from './commands';
import { clean, expiryPhrase, when } from './format';
import { CliError, EXIT, request, usage } from './http';

// The old script's flags, unchanged, so that existing runbooks keep working:
//
//   dbaccess --action ADD|UPDATE|REMOVE --name NAME --email EMAIL --project PROJECT
//            --access_level LEVEL --database DATABASE --database_expiry YYYY-MM-DD
//
//   ADD     POST /grants
//   UPDATE  PATCH /grants/:id when the level differs, then POST /grants/:id/extend
//           when the expiry differs (the old UPDATE rewrote both)
//   REMOVE  POST /grants/:id/revoke of grant/{project}/{database}/{email}
//
// `--database_expiry NA` (never expires) on ADD is a standing grant, reviewed, where the database allows one.

export const LEGACY_OPTIONS = {
  action: { type: 'string' },
  name: { type: 'string' },
  email: { type: 'string' },
  project: { type: 'string' },
  access_level: { type: 'string' },
  database: { type: 'string' },
  database_expiry: { type: 'string' },
  reason: { type: 'string' },
} as const;

export const LEGACY_HELP = `Usage: dbaccess --action ADD|UPDATE|REMOVE --name NAME --email EMAIL --project PROJECT
                --access_level LEVEL --database DATABASE --database_expiry YYYY-MM-DD
                [--reason TEXT]

The flags of the old function.py script, unchanged, mapped to the API:

  --action ADD     grant access: like dbaccess grant (every flag is required)
  --action UPDATE  change the level (if --access_level differs) and/or move the expiry
                   (if --database_expiry differs; it can only move later) of the open
                   grant of --email on --project/--database
  --action REMOVE  revoke grant/{project}/{database}/{email} now (--name, --access_level
                   and --database_expiry are accepted and ignored)

--database_expiry YYYY-MM-DD means the end of that day (23:59:59 UTC). NA (never
expires) on ADD asks for a standing grant: where the database allows them it is
reviewed every period (dbaccess review), elsewhere it is refused with the databases
that do; on UPDATE NA is refused. --access_level takes the same values as before (READ, READ_WRITE,
ADMIN). --action is case-insensitive.

Examples:
  dbaccess --action ADD --name "John Doe" --email "john.doe@example.com" --project demo \\
      --access_level READ_WRITE --database dev_project --database_expiry 2026-12-31
  dbaccess --action UPDATE --name "John Doe" --email "john.doe@example.com" --project demo \\
      --access_level ADMIN --database dev_project --database_expiry 2026-12-31
  dbaccess --action REMOVE --name "John Doe" --email "john.doe@example.com" --project demo \\
      --access_level READ_WRITE --database dev_project --database_expiry 2026-12-31
`;

type Values = Record<string, string | boolean | undefined>;

function flag(values: Values, name: string, action: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.trim() === '') throw usage(`--action ${action}: --${name} is required (see dbaccess --action ${action} --help)`);
  return v.trim();
}

const optional = (values: Values, name: string): string | undefined => (typeof values[name] === 'string' && (values[name] as string).trim() !== '' ? (values[name] as string).trim() : undefined);

/** `YYYY-MM-DD` → the end of that day in UTC, as the API stores it. NA: on ADD a standing grant (where the database allows it), on UPDATE refused. */
function expiryOf(date: string, action: string): string {
  if (/^na$/i.test(date)) {
    if (action !== 'ADD') throw usage(`--action ${action}: ${NEVER_EXPIRES}`);
    return 'NA';
  }
  return date;
}

export async function legacy(values: Values, ctx: Context): Promise<number> {
  const raw = typeof values.action === 'string' ? values.action : '';
  const action = raw.toUpperCase();
  if (!['ADD', 'UPDATE', 'REMOVE'].includes(action)) throw usage(`--action: must be ADD, UPDATE or REMOVE (got ${clean(raw) || 'nothing'})`);
  const reason = optional(values, 'reason');

  if (action === 'ADD') {
    const body = {
      email: flag(values, 'email', action),
      name: flag(values, 'name', action),
      project: flag(values, 'project', action),
      database: flag(values, 'database', action),
      accessLevel: flag(values, 'access_level', action),
      expiresAt: expiryOf(flag(values, 'database_expiry', action), action),
      ...(reason ? { reason } : {}),
    };
    const { body: state } = await request(ctx.conn(), 'POST', '/grants', body);
    ctx.out(ctx.json ? `${JSON.stringify(state, null, 2)}\n` : describeGrant(state));
    return EXIT.OK;
  }

  const id = grantIdFor(flag(values, 'project', action), flag(values, 'database', action), flag(values, 'email', action));

  if (action === 'REMOVE') {
    const { body } = await request(ctx.conn(), 'POST', grantPath(id, '/revoke'), reason ? { reason } : {});
    ctx.out(ctx.json ? `${JSON.stringify(body, null, 2)}\n` : `Revoking ${clean(body.grantId)}: access ends within seconds.\n`);
    return EXIT.OK;
  }

  // UPDATE: what differs from the grant as it is.
  const level = optional(values, 'access_level');
  const expiry = optional(values, 'database_expiry');
  if (!level && !expiry) throw usage('--action UPDATE: give --access_level and/or --database_expiry');
  const expiresAt = expiry ? expiryOf(expiry, action) : undefined;
  let current: any;
  try {
    current = (await request(ctx.conn(), 'GET', grantPath(id))).body;
  } catch (err) {
    if (err instanceof CliError && err.exitCode === EXIT.NOT_FOUND) throw new CliError(EXIT.NOT_FOUND, `not found: no grant ${id} to update; use --action ADD`, err.body);
    throw err;
  }
  const result: { level: unknown; extend: unknown } = { level: null, extend: null };
  const lines: string[] = [];
  if (level && level !== current.accessLevel) {
    const { body } = await request(ctx.conn(), 'PATCH', grantPath(id), { accessLevel: level, ...(reason ? { reason } : {}) });
    result.level = body;
    lines.push(`Changed ${clean(id)} to ${clean(body.accessLevel)}${body.sessionsKilled ? ` (${clean(body.sessionsKilled)} open sessions ended)` : ''}.`);
  }
  if (expiresAt && !sameExpiry(expiresAt, current.expiresAt)) {
    const { body } = await request(ctx.conn(), 'POST', grantPath(id, '/extend'), { expiresAt, ...(reason ? { reason } : {}) });
    result.extend = body;
    lines.push(`Extended ${clean(id)}: ${expiryPhrase('ACTIVE', body.expiresAt)} (${when(body.expiresAt)}).`);
  }
  if (lines.length === 0) lines.push(`Nothing to change: ${clean(id)} is already ${clean(current.accessLevel)}, ${expiryPhrase(current.status, current.expiresAt)} (${when(current.expiresAt)}).`);
  ctx.out(ctx.json ? `${JSON.stringify(result, null, 2)}\n` : `${lines.join('\n')}\n`);
  return EXIT.OK;
}

/** Whether `given` (a date or a timestamp) names the same instant as the grant's expiry. */
function sameExpiry(given: string, current: string | undefined): boolean {
  if (!current) return false;
  const at = /^\d{4}-\d{2}-\d{2}$/.test(given) ? Date.parse(`${given}T23:59:59.000Z`) : Date.parse(given);
  return !Number.isNaN(at) && Math.floor(at / 1000) === Math.floor(Date.parse(current) / 1000);
}
