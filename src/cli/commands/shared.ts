import type { ParseArgsConfig } from 'node:util';
import { grantIdFor, parseDuration, parseGrantId } from '../../domain';
import { clean, expiryPhrase, fields, relative, when } from '../format';
import { usage, type Connection, type Io } from '../http';

// What the commands share: global flags, the grant reference, expiry flags and
// the words for a grant's state. Each command parses its own flags, makes its API
// calls, and prints either a human summary or, with --json, the API's answer unchanged.

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

export type Values = Record<string, string | boolean | undefined>;
export const str = (values: Values, name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);

export function need(values: Values, name: string, command: string): string {
  const v = str(values, name);
  if (v === undefined || v.trim() === '') throw usage(`${command}: --${name} is required (see dbaccess ${command} --help)`);
  return v;
}

export const GRANT_REF_OPTIONS: Options = {
  email: { type: 'string' },
  project: { type: 'string' },
  database: { type: 'string' },
};

export const GRANT_REF_HELP = `The grant: its id (grant/{project}/{database}/{email}) as the argument, or
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

export function printJson(ctx: Context, body: unknown): void {
  ctx.out(`${JSON.stringify(body, null, 2)}\n`);
}

/** The expiry flags of grant and extend: --expires DATE|TIMESTAMP, or --duration. */
export function expiryOf(values: Values, command: string, durationAsEnd: boolean): { expiresAt?: string; duration?: string } {
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
          ['break-glass', state.breakGlass ? `no approval, never extended; administrators and owner alerted; review ${clean(state.breakGlass.review)}${state.breakGlass.reviewBy ? ` by ${when(state.breakGlass.reviewBy)}` : ''}` : undefined],
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

