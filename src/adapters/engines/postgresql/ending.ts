import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';

import { LEFT_BEHIND_LIST_LIMIT, type GrantTarget, type LeftBehindObject } from '../../../domain';
import { ActivityErrorType } from '../../errors';
import { generatePassword } from '../../password';
import type { AccessEnding } from '../../ports';
import { dropRefusalText, isLoginRefused, isPermanentRefusal, toActivityError } from './errors';
import { definerRightsStatement, disarmStatement, type DefinerRights } from './disarm';
import { shownName } from './footprint';
import type { PgLogger } from './manager';
import { clientConfig, driverErrors, run, type PgSession, type RoleRow } from './session';
import { ALL, NO_OBJECTS, NOTHING, privilegeStatements, type PrivilegeScope, type SchemaObjects } from './privileges';
import { containStatement, databaseOwnerStatement, dependentDatabasesStatement, dropRoleStatement, joinRoleStatement, ownedObjectsStatement, reassignStatements, type PgStatement } from './sql';

// Ending a PostgreSQL account's access. Contain first: no login, a random
// password nobody keeps, every privilege on the grant's database, schema and its
// objects revoked, every session ended. Then, in each database where the role
// owns objects or holds privileges (pg_shdepend), list what it owns, make what
// would run with its owner's rights run with its caller's (disarm.ts), give it to
// the owner role (REASSIGN OWNED, never a drop of the grantee's data) and remove
// what remains (DROP OWNED: privileges and default privileges). Then DROP ROLE.

export interface EndingTools {
  ownRole(session: PgSession, account: string): Promise<RoleRow | undefined>;
  scopeOf(session: PgSession): Promise<{ scope: PrivilegeScope; objects: SchemaObjects }>;
  endSessions(session: PgSession, account: string): Promise<number>;
  ownerRole?: string;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  log: PgLogger;
}

/** A step of the take-down the server refused for good: the role stays contained, reported with the reason. */
class Refused extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

async function step<T>(session: PgSession, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const raw = err instanceof ApplicationFailure ? driverErrors.get(err) : err;
    if (raw !== undefined && isPermanentRefusal(raw)) throw new Refused(dropRefusalText(raw, [session.credentials.password]));
    throw err;
  }
}

/** Runs `work` on a connection to another database of the same server, as the admin. */
async function inDatabase<T>(session: PgSession, database: string, tools: EndingTools, work: (s: PgSession) => Promise<T>): Promise<T> {
  const client = new pg.Client(clientConfig(session.credentials, database, tools.connectTimeoutMs, tools.statementTimeoutMs));
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    // Refused for good (no CONNECT on that database, say): the role stays contained, and says why.
    if (isPermanentRefusal(err) && !isLoginRefused(err)) throw new Refused(dropRefusalText(err, [session.credentials.password]));
    throw toActivityError(err, { secretId: session.secretId, secrets: [session.credentials.password] });
  }
  try {
    return await work({ ...session, client, broken: false });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Everything to revoke; with the schema gone (dropped meanwhile), the database's CONNECT only: containment never waits on the schema. */
export async function revocations(session: PgSession, target: GrantTarget, account: string, scopeOf: EndingTools['scopeOf']): Promise<PgStatement[]> {
  try {
    const { scope, objects } = await scopeOf(session);
    return privilegeStatements('REVOKE', ALL, scope, objects, { database: true });
  } catch (err) {
    if (!(err instanceof ApplicationFailure && err.type === ActivityErrorType.UnknownDatabase)) throw err;
    const scope = { database: session.credentials.database, schema: target.schema, account, creators: [] };
    return privilegeStatements('REVOKE', NOTHING, scope, NO_OBJECTS, { database: true });
  }
}

export async function endAccessWith(session: PgSession, target: GrantTarget, account: string, tools: EndingTools): Promise<AccessEnding> {
  const role = await tools.ownRole(session, account);
  if (!role) {
    tools.log.info({ secretId: target.adminSecretId, account }, 'access ended; no such account');
    return { existed: false, sessionsKilled: 0, dropped: true, leftBehind: [], leftBehindCount: 0 };
  }
  // Containment: from here on nobody can log in, and what is open holds nothing.
  await run(session, containStatement(account, generatePassword()));
  for (const s of await revocations(session, target, account, tools.scopeOf)) await run(session, s);
  const sessionsKilled = await tools.endSessions(session, account);
  const containedAt = new Date().toISOString();

  const leftBehind: LeftBehindObject[] = [];
  let leftBehindCount = 0;
  let refusal: string | undefined;
  try {
    await step(session, () => run(session, joinRoleStatement(account)));
    const here = session.credentials.database;
    const others = (await run(session, dependentDatabasesStatement(account))).map((r) => ({ name: String(r.name), owner: String(r.owner) })).filter((d) => d.name !== here);
    const handOver = async (s: PgSession, database: string, owner: string) => {
      const to = tools.ownerRole ?? owner;
      const rows = await run(s, ownedObjectsStatement(account, LEFT_BEHIND_LIST_LIMIT));
      leftBehindCount += Number(rows[0]?.total ?? 0);
      const disarmed = new Map<string, string>();
      const report = (note: string) => {
        for (const row of rows) {
          if (leftBehind.length >= LEFT_BEHIND_LIST_LIMIT) break;
          const where = database === here ? '' : `in database ${shownName(database)}; `;
          const made = disarmed.get(`${row.kind} ${row.schema}.${row.name}`);
          leftBehind.push({ kind: String(row.kind) as LeftBehindObject['kind'], schema: shownName(String(row.schema)), name: shownName(String(row.name)), note: where + note + (made ? `; ${made}` : '') });
        }
      };
      try {
        // Nothing handed over may run with the owner role's rights (disarm.ts).
        for (const row of (await run(s, definerRightsStatement(account))) as unknown as DefinerRights[]) {
          const { statement, note } = disarmStatement(row);
          await step(s, () => run(s, statement));
          const key = `${row.kind} ${row.schema}.${row.name}`;
          disarmed.set(key, disarmed.has(key) ? `${disarmed.get(key)}, ${note}` : note);
        }
        for (const statement of reassignStatements(account, to)) await step(s, () => run(s, statement));
      } catch (err) {
        if (err instanceof Refused) report('still owned by the account');
        throw err;
      }
      report(`owner now ${to}`);
    };
    const databaseOwner = String((await run(session, databaseOwnerStatement()))[0]?.owner);
    await handOver(session, here, databaseOwner);
    for (const other of others) await inDatabase(session, other.name, tools, (s) => handOver(s, other.name, other.owner));
    await step(session, () => run(session, dropRoleStatement(account)));
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    refusal = err.reason;
  }
  const fields = { secretId: target.adminSecretId, schema: target.schema, account, sessionsKilled, leftBehind: leftBehindCount };
  if (refusal) tools.log.warn({ ...fields, refusal }, 'access ended (account contained); the server refused to remove it');
  else tools.log.info({ ...fields, dropped: true }, 'access ended; account dropped');
  return {
    existed: true,
    sessionsKilled,
    containedAt,
    dropped: refusal === undefined,
    ...(refusal ? { refusal } : {}),
    leftBehind,
    leftBehindCount,
  };
}
