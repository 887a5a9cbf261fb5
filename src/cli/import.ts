import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import type { AdoptionResult, AdoptionRow } from '../api/routes/adopt';

// `dbaccess import`: adopts the live accesses of the old scripts as grants.
//
// It reads the old tool's DynamoDB table (hash key `newer_email`, range key
// `database_name`, `database_expiry` as YYYY-MM-DD or NA, plus `project`,
// `access_level`, `newer_name`, `newer_username`...), maps each row to an
// adoption, and sends them to the API (POST /grants/adopt, admin key). The API
// checks each row against the configuration and the other grants, and starts a
// grant workflow that verifies the account on the server (it holds the level's
// privileges on the schema and nothing else) before it adopts it; nothing is created.
// Rows it cannot map (no project, no level...) are reported, never guessed.

const USAGE = `usage: dbaccess import [--table NAME] [--region REGION] [--endpoint-url URL]
                       [--url API_URL] [--key KEY] [--dry-run]

Adopts the accesses recorded by the old scripts as dbaccess grants, without
re-creating their accounts. Every row is reported: ADOPTED, WOULD ADOPT (dry run),
EXISTS (already a grant), PENDING (still being verified) or REFUSED (with why).
An account is adopted only when it holds exactly the level's privileges on its
database's schema and nothing else (no global privilege, other schema, table,
column or routine privilege, role or proxy grant), and no other grant holds it;
otherwise it is refused and left as it is.

  --table         the old scripts' DynamoDB table (default user-management-audit)
  --region        its region (default AWS_REGION, else us-east-1)
  --endpoint-url  a DynamoDB endpoint (an emulator); AWS credentials come from the default chain
  --url           the dbaccess API (default DBACCESS_URL)
  --key           an admin API key (default DBACCESS_API_KEY, or the file DBACCESS_API_KEY_FILE)
  --dry-run       check every row against the configuration and print what would be
                  adopted; start nothing and check nothing on the database servers

Exit codes: 0 every row adopted (or already a grant), 2 usage error,
3 some rows refused or still pending, 4 failure (table or API unreachable).`;

export const DEFAULT_OLD_TABLE = 'user-management-audit';
/** Rows per API call: the API accepts 25 in a body of at most 16 KiB. */
const BATCH = 20;
/** Attributes of the old rows that are kept in the audit trail; anything else (a password?) is dropped. */
const KEPT_ATTRIBUTES = ['newer_email', 'newer_name', 'newer_username', 'database_name', 'database_expiry', 'project', 'access_level', 'tool_username', 'mysql_username', 'host'];

type Io = { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; env: NodeJS.ProcessEnv };
type OldRow = Record<string, unknown>;

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : undefined);

/** The account name the old tool gave: `{username with . replaced by _}_mysql`. */
export function oldAccountName(row: OldRow): { account?: string; derived: boolean } {
  const stored = text(row.tool_username) ?? text(row.mysql_username);
  if (stored) return { account: stored, derived: false };
  const email = text(row.newer_email);
  const username = text(row.newer_username) ?? (email?.includes('@') ? email.slice(0, email.lastIndexOf('@')) : undefined);
  return username ? { account: `${username.replace(/\./g, '_')}_mysql`, derived: true } : { derived: true };
}

/** Maps one old row to an adoption, or says why it cannot. */
export function mapOldRow(row: OldRow): { row: AdoptionRow; notes: string[] } | { error: string } {
  const email = text(row.newer_email);
  const database = text(row.database_name);
  const project = text(row.project);
  const accessLevel = text(row.access_level);
  const expiry = text(row.database_expiry);
  const missing = [!email && 'newer_email', !database && 'database_name', !project && 'project', !accessLevel && 'access_level', !expiry && 'database_expiry'].filter(Boolean);
  if (missing.length > 0) return { error: `the row has no ${missing.join(', ')}` };
  const { account, derived } = oldAccountName(row);
  if (!account) return { error: 'the account name cannot be told from the row' };
  const oldRecord: Record<string, string> = {};
  for (const key of KEPT_ATTRIBUTES) {
    const v = text(row[key]);
    if (v !== undefined) oldRecord[key] = v.slice(0, 200);
  }
  const name = text(row.newer_name) ?? email!.slice(0, email!.lastIndexOf('@'));
  const host = text(row.host);
  return {
    row: {
      email: email!,
      name,
      project: project!,
      database: database!,
      accessLevel: accessLevel!.toUpperCase(),
      account,
      expiresAt: expiry!.toUpperCase() === 'NA' ? 'NA' : expiry!,
      ...(host ? { hostPattern: host } : {}),
      oldRecord,
    },
    notes: derived ? [`account name ${account} derived by the old scripts' rule`] : [],
  };
}

function apiKey(values: { key?: string | undefined }, env: NodeJS.ProcessEnv): string | undefined {
  if (values.key) return values.key;
  if (env.DBACCESS_API_KEY) return env.DBACCESS_API_KEY;
  if (env.DBACCESS_API_KEY_FILE) return readFileSync(env.DBACCESS_API_KEY_FILE, 'utf8').trim();
  return undefined;
}

export async function importCommand(argv: string[], io: Io): Promise<number> {
  const out = (line: string) => io.stdout.write(`${line}\n`);
  const err = (line: string) => io.stderr.write(`${line}\n`);
  let values: { table?: string; region?: string; 'endpoint-url'?: string; url?: string; key?: string; 'dry-run'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        table: { type: 'string' },
        region: { type: 'string' },
        'endpoint-url': { type: 'string' },
        url: { type: 'string' },
        key: { type: 'string' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    err(`dbaccess import: ${(e as Error).message}`);
    err(USAGE);
    return 2;
  }
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const url = (values.url ?? io.env.DBACCESS_URL ?? '').replace(/\/+$/, '');
  let key: string | undefined;
  try {
    key = apiKey(values, io.env);
  } catch (e) {
    err(`dbaccess import: cannot read DBACCESS_API_KEY_FILE (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    return 2;
  }
  if (!/^https?:\/\/[^\s]+$/.test(url)) {
    err('dbaccess import: the API URL is required: --url or DBACCESS_URL (http://... or https://...)');
    return 2;
  }
  if (!key) {
    err('dbaccess import: an admin API key is required: --key, DBACCESS_API_KEY or DBACCESS_API_KEY_FILE');
    return 2;
  }
  const table = values.table ?? DEFAULT_OLD_TABLE;
  const region = values.region ?? io.env.AWS_REGION ?? 'us-east-1';
  const dryRun = values['dry-run'] === true;

  // 1. The old table, as the old tool wrote it.
  const rows: OldRow[] = [];
  const dynamo = new DynamoDBClient({ region, ...(values['endpoint-url'] ? { endpoint: values['endpoint-url'] } : {}) });
  try {
    const doc = DynamoDBDocumentClient.from(dynamo);
    for await (const page of paginateScan({ client: doc }, { TableName: table, ConsistentRead: true })) rows.push(...((page.Items ?? []) as OldRow[]));
  } catch (e) {
    err(`dbaccess import: cannot read the table ${table} in ${region}: ${(e as Error).name}: ${(e as Error).message}`);
    return 4;
  } finally {
    dynamo.destroy();
  }
  out(`${dryRun ? 'dry run: ' : ''}${rows.length} row(s) in ${table}`);

  // 2. Rows that cannot be mapped are reported here; the rest go to the API.
  let refused = 0;
  let pending = 0;
  const counts: Record<string, number> = {};
  const label = (r: OldRow) => `${text(r.newer_email) ?? '?'} ${text(r.project) ?? '?'}/${text(r.database_name) ?? '?'}`;
  const mapped: { row: AdoptionRow; notes: string[] }[] = [];
  for (const r of rows) {
    const m = mapOldRow(r);
    if ('error' in m) {
      refused += 1;
      counts.REFUSED = (counts.REFUSED ?? 0) + 1;
      out(`REFUSED      ${label(r)}: ${m.error}`);
    } else mapped.push(m);
  }

  // 3. Adopt (or, in a dry run, check) in batches.
  for (let i = 0; i < mapped.length; i += BATCH) {
    const batch = mapped.slice(i, i + BATCH);
    let results: AdoptionResult[];
    try {
      const res = await fetch(`${url}/grants/adopt`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ dryRun, rows: batch.map((b) => b.row) }),
      });
      const body = (await res.json().catch(() => undefined)) as { results?: AdoptionResult[]; error?: string; message?: string } | undefined;
      if (!res.ok || !body?.results) {
        err(`dbaccess import: the API refused the request: ${res.status} ${body?.error ?? ''} ${body?.message ?? ''}`.trim());
        return 4;
      }
      results = body.results;
    } catch (e) {
      err(`dbaccess import: cannot reach the API at ${url}: ${(e as Error).message}`);
      return 4;
    }
    for (const result of results) {
      const { row, notes } = batch[result.row]!;
      const what = `${row.email} ${row.project}/${row.database} account ${row.account}`;
      const allNotes = [...notes, ...(result.notes ?? [])];
      const noteText = allNotes.length ? ` (${allNotes.join('; ')})` : '';
      counts[result.status] = (counts[result.status] ?? 0) + 1;
      switch (result.status) {
        case 'ADOPTED':
          out(`ADOPTED      ${what} as ${result.grantId} until ${result.expiresAt}${noteText}`);
          break;
        case 'WOULD_ADOPT':
          out(`WOULD ADOPT  ${what} as ${result.grantId} until ${result.expiresAt}, once the account and its ${row.accessLevel} privileges are verified${noteText}`);
          break;
        case 'EXISTS':
          out(`EXISTS       ${what}: ${result.message ?? 'already a grant'} (${result.grantId})`);
          break;
        case 'PENDING':
          pending += 1;
          out(`PENDING      ${what}: ${result.message ?? 'still being verified'}`);
          break;
        default:
          refused += 1;
          out(`REFUSED      ${what}: ${result.error ? `${result.error}: ` : ''}${result.message ?? 'not adopted'}`);
      }
    }
  }
  out(
    `${dryRun ? 'dry run, nothing started: ' : ''}${Object.entries(counts)
      .map(([status, n]) => `${n} ${status.toLowerCase().replace('_', ' ')}`)
      .join(', ') || 'nothing to do'}`,
  );
  return refused > 0 || pending > 0 ? 3 : 0;
}
