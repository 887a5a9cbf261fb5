import { setTimeout as sleep } from 'node:timers/promises';

import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';

import { LEFT_BEHIND_LIST_LIMIT, type GrantTarget, type LeftBehindObject } from '../../../domain';
import { ActivityErrorType, activityError } from '../../errors';
import type { AccessEnding } from '../../ports';
import { Coalescer, type Outcome } from '../coalesce';
import { dropRefusalText, isLoginRefused, isPermanentRefusal, toActivityError } from './errors';
import { definerRightsStatement, disarmStatement, type DefinerRights } from './disarm';
import { shownName } from './footprint';
import type { PgLogger } from './manager';
import { groupsOwningStatement, leaveGroupsStatement, membershipsOfRows, membershipsStatement } from './groups';
import { clientConfig, driverErrors, notOurs, privilegeTransaction, revocationTransactions, run, type PgSession } from './session';
import { ALL, NO_OBJECTS, NOTHING, privilegeStatements, type PrivilegeScope, type SchemaObjects } from './privileges';
import {
  backendsLeftStatement,
  containAllStatement,
  databaseOwnerStatement,
  dependentDatabasesStatement,
  dropRoleStatement,
  isOurs,
  joinRoleStatement,
  ownedObjectsStatement,
  reassignGroupStatement,
  reassignStatements,
  rolesStatement,
  signalSessionsStatement,
  tracedRolesStatement,
  type PgStatement,
} from './sql';

// Ending access on PostgreSQL, for a batch of accounts of one server at a time
// (endAccess calls are coalesced while the server's connections are busy, as on
// MySQL). Contain first: no login and no password (committed at once), then
// every privilege on each grant's database, schema and objects revoked (one
// transaction under the service's privilege lock, one statement per object for
// the whole batch), then every session ended. Roles that leave no trace in any
// database (pg_shdepend) are then dropped together. For the others, one at a
// time, in each database where the role owns objects or holds privileges: list
// what it owns, make what would run with its owner's rights run with its
// caller's (disarm.ts), give it to the owner role (REASSIGN OWNED, never a drop
// of the grantee's data), remove what remains (DROP OWNED); then DROP ROLE.

/** Rounds of signalling the accounts' sessions before the batch gives up (and is retried). */
const SESSION_ROUNDS = 5;
/** How long one round waits for the signalled sessions to exit. */
const SESSION_EXIT_WAIT_MS = 2000;
const SESSION_EXIT_POLL_MS = 5;

export interface EndingDeps {
  /** Runs `work` on one of the server's pooled connections (see the manager's withSession). */
  withSession<T>(secretId: string, signal: AbortSignal, work: (s: PgSession) => Promise<T>): Promise<T>;
  /** Throws for the admin account itself. */
  refuseAdmin(session: PgSession, account: string): void;
  /** Where the grantees of one schema hold privileges, and on which objects. */
  scopeOf(session: PgSession, schema: string, accounts: readonly string[]): Promise<{ scope: PrivilegeScope; objects: SchemaObjects }>;
  ownerRole?: string;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  poolSize: number;
  /** Most accounts in one batch (1 turns coalescing off). */
  maxBatch: number;
  log: PgLogger;
}

/** One account of a batch (calls for the same account share one). */
interface Ending {
  readonly target: GrantTarget;
  readonly account: string;
  /** Sticky across a second run of the batch's work (a lost connection). */
  existedAtStart?: boolean;
  present: boolean;
  killed: number;
  containedAt?: string;
  leftBehind: LeftBehindObject[];
  leftBehindCount: number;
  dropped?: boolean;
  refusal?: string;
  /** This account's own failure: the others of the batch go on. */
  failure?: unknown;
}

/** A step of the take-down the server refused for good: the role stays contained, reported with the reason. */
class Refused extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

const driverError = (err: unknown) => (err instanceof ApplicationFailure ? driverErrors.get(err) : err);

/** A refusal by the server itself (not a timeout, a lock or a lost connection): no retry changes it. */
function refused(err: unknown): boolean {
  const raw = driverError(err);
  return raw !== undefined && isPermanentRefusal(raw);
}

async function step<T>(session: PgSession, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (refused(err)) throw new Refused(dropRefusalText(driverError(err), [session.credentials.password]));
    throw err;
  }
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) out.set(key(item), [...(out.get(key(item)) ?? []), item]);
  return out;
}

/**
 * Everything to revoke from the accounts of one schema: their level groups first,
 * then what they hold themselves. With the schema gone (dropped meanwhile), the
 * groups and the database's CONNECT only: containment never waits on the schema.
 * `groupsOf`: the accounts' level groups when the caller has read them already.
 */
export async function revocations(session: PgSession, schema: string, accounts: readonly string[], scopeOf: EndingDeps['scopeOf'], groupsOf?: ReadonlyMap<string, readonly string[]>): Promise<PgStatement[]> {
  const memberships = groupsOf ?? membershipsOfRows(await run(session, membershipsStatement(accounts)));
  const groups = [...new Set(accounts.flatMap((a) => memberships.get(a) ?? []))].sort();
  const leave = groups.length > 0 ? [leaveGroupsStatement(groups, accounts)] : [];
  try {
    const { scope, objects } = await scopeOf(session, schema, accounts);
    return [...leave, ...privilegeStatements('REVOKE', ALL, scope, objects, { database: true })];
  } catch (err) {
    if (!(err instanceof ApplicationFailure && err.type === ActivityErrorType.UnknownDatabase)) throw err;
    const scope = { database: session.credentials.database, schema, account: accounts, creators: [] };
    return [...leave, ...privilegeStatements('REVOKE', NOTHING, scope, NO_OBJECTS, { database: true })];
  }
}

export function createPgEnding(deps: EndingDeps) {
  const { log } = deps;

  /** Runs `work` on a connection to another database of the same server, as the admin. */
  async function inDatabase<T>(session: PgSession, database: string, work: (s: PgSession) => Promise<T>): Promise<T> {
    const client = new pg.Client(clientConfig(session.credentials, database, deps.connectTimeoutMs, deps.statementTimeoutMs));
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

  /**
   * Runs `work` for the whole group, and one account at a time when the server
   * refuses it for the group: an account refused alone fails by itself (or, gone
   * meanwhile, is no longer present); a passing failure fails the batch.
   */
  async function eachOrOne(session: PgSession, group: readonly Ending[], what: string, work: (members: readonly Ending[]) => Promise<void>): Promise<Ending[]> {
    if (group.length === 0) return [];
    if (group.length > 1) {
      try {
        await work(group);
        return [];
      } catch (err) {
        if (!refused(err)) throw err;
        log.warn({ secretId: session.secretId, accounts: group.length }, `${what} was refused for several accounts; one account at a time`);
      }
    }
    const refusedOnes: Ending[] = [];
    for (const e of group) {
      try {
        await work([e]);
      } catch (err) {
        if (!refused(err)) throw err;
        e.failure = err;
        refusedOnes.push(e);
      }
    }
    return refusedOnes;
  }

  /** No login and no password for any of them, committed before anything waits on a lock; then every privilege revoked. */
  async function contain(session: PgSession, group: readonly Ending[], groupsOf: ReadonlyMap<string, readonly string[]>): Promise<void> {
    await eachOrOne(session, group, 'NOLOGIN', (members) => run(session, containAllStatement(members.map((e) => e.account))).then(() => undefined));
    const live = group.filter((e) => e.failure === undefined);
    await eachOrOne(session, live, 'a revocation', async (members) => {
      const statements: PgStatement[] = [];
      for (const [schema, ofSchema] of groupBy(members, (e) => e.target.schema)) statements.push(...(await revocations(session, schema, ofSchema.map((e) => e.account), deps.scopeOf, groupsOf)));
      await revocationTransactions(session, statements);
    });
  }

  /**
   * Ends every session of the accounts: signals them all at once, then waits for
   * all of them together (none of them can log in any more); again, until none is left.
   */
  async function endSessions(session: PgSession, group: readonly Ending[]): Promise<void> {
    if (group.length === 0) return;
    const byName = new Map(group.map((e) => [e.account, e]));
    // A backend's pid names it across rounds: each is counted once, however often it is signalled.
    const counted = new Set<number>();
    for (let round = 1; round <= SESSION_ROUNDS; round += 1) {
      const rows = await run(session, signalSessionsStatement([...byName.keys()]));
      if (rows.length === 0) return;
      const pids: number[] = [];
      for (const row of rows) {
        const e = byName.get(String(row.name));
        const pid = Number(row.pid);
        pids.push(pid);
        if (!e || row.signalled !== true || counted.has(pid)) continue;
        counted.add(pid);
        e.killed += 1;
      }
      const until = Date.now() + SESSION_EXIT_WAIT_MS;
      let left = pids;
      while (left.length > 0 && Date.now() < until) {
        await sleep(SESSION_EXIT_POLL_MS);
        left = (await run(session, backendsLeftStatement(left))).map((r) => Number(r.pid));
      }
    }
    if ((await run(session, signalSessionsStatement([...byName.keys()]))).length === 0) return;
    throw activityError(ActivityErrorType.DatabaseUnavailable, `sessions of ${group.length === 1 ? group[0]!.account : `${group.length} accounts`} kept appearing on the server of ${session.secretId}`);
  }

  /**
   * Gives what `role` owns in the session's database to `to` (by `reassign`), after
   * making what would run with the owner role's rights run with its caller's
   * (disarm.ts); lists it on each ending of `into`, each note after `prefix`. Refused
   * for good: listed as still owned by `owner`, and thrown.
   */
  async function handOverOwned(s: PgSession, role: string, to: string, reassign: readonly PgStatement[], prefix: string, owner: string, into: readonly Ending[]): Promise<number> {
    const rows = await run(s, ownedObjectsStatement(role, LEFT_BEHIND_LIST_LIMIT));
    const total = Number(rows[0]?.total ?? 0);
    const disarmed = new Map<string, string>();
    const report = (note: string) => {
      for (const e of into) {
        e.leftBehindCount += total;
        for (const row of rows) {
          if (e.leftBehind.length >= LEFT_BEHIND_LIST_LIMIT) break;
          const made = disarmed.get(`${row.kind} ${row.schema}.${row.name}`);
          e.leftBehind.push({ kind: String(row.kind) as LeftBehindObject['kind'], schema: shownName(String(row.schema)), name: shownName(String(row.name)), note: prefix + note + (made ? `; ${made}` : '') });
        }
      }
    };
    try {
      for (const row of (await run(s, definerRightsStatement(role))) as unknown as DefinerRights[]) {
        const { statement, note } = disarmStatement(row);
        await step(s, () => run(s, statement));
        const key = `${row.kind} ${row.schema}.${row.name}`;
        disarmed.set(key, disarmed.has(key) ? `${disarmed.get(key)}, ${note}` : note);
      }
      await step(s, () => privilegeTransaction(s, reassign));
    } catch (err) {
      if (err instanceof Refused) report(`still owned by ${owner}`);
      throw err;
    }
    report(`owner now ${to}`);
    return total;
  }

  /** `in database <name>; ` for a database other than the admin's, nothing for its own. */
  const elsewhere = (session: PgSession, database: string) => (database === session.credentials.database ? '' : `in database ${shownName(database)}; `);

  /** One account that left traces: in each database, what it made is disarmed and handed over; then the role is dropped. */
  async function handOverAndDrop(session: PgSession, e: Ending): Promise<void> {
    const account = e.account;
    try {
      await step(session, () => run(session, joinRoleStatement(account)));
      const here = session.credentials.database;
      const others = (await run(session, dependentDatabasesStatement(account))).map((r) => ({ name: String(r.name), owner: String(r.owner) })).filter((d) => d.name !== here);
      // REASSIGN and DROP OWNED together, under the privilege lock: DROP OWNED rewrites access lists grants may be changing.
      const handOver = (s: PgSession, database: string, owner: string) => {
        const to = deps.ownerRole ?? owner;
        return handOverOwned(s, account, to, reassignStatements(account, to), elsewhere(session, database), 'the account', [e]);
      };
      const databaseOwner = String((await run(session, databaseOwnerStatement()))[0]?.owner);
      await handOver(session, here, databaseOwner);
      for (const other of others) await inDatabase(session, other.name, (s) => handOver(s, other.name, other.owner));
      await step(session, () => run(session, dropRoleStatement(account)));
      e.dropped = true;
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      e.dropped = false;
      e.refusal = err.reason;
    }
  }

  /**
   * What the batch's level groups came to own (on PostgreSQL 15 a member may act
   * as its group: SET ROLE, then lo_create() or CREATE where PUBLIC may): disarmed
   * and given to the owner role, in each database, and reported on the ending of
   * every member of the batch. The groups keep their privileges (their other members
   * hold them): REASSIGN OWNED only, never DROP OWNED.
   */
  async function handOverGroups(session: PgSession, group: readonly Ending[], groupsOf: ReadonlyMap<string, readonly string[]>): Promise<void> {
    const groups = [...new Set(group.flatMap((e) => groupsOf.get(e.account) ?? []))].sort();
    if (groups.length === 0) return;
    const owning = groupBy(
      (await run(session, groupsOwningStatement(groups))).map((r) => ({ group: String(r.grp), name: String(r.database), owner: String(r.owner) })),
      (r) => r.group,
    );
    for (const [g, places] of owning) {
      const members = group.filter((e) => groupsOf.get(e.account)?.includes(g));
      const handOver = async (s: PgSession, database: string, owner: string) => {
        const to = deps.ownerRole ?? owner;
        const objects = await handOverOwned(s, g, to, [reassignGroupStatement(g, to)], `${elsewhere(session, database)}made as level group ${g} by one of its members; `, 'the level group', members);
        log.warn({ secretId: s.secretId, database, group: g, objects, owner: to }, "a level group's objects were given to the owner role");
      };
      try {
        await step(session, () => run(session, joinRoleStatement(g)));
        for (const place of places) {
          if (place.name === session.credentials.database) await handOver(session, place.name, place.owner);
          else await inDatabase(session, place.name, (s) => handOver(s, place.name, place.owner));
        }
      } catch (err) {
        // The accounts are contained whatever the group owns: the refusal is logged, the endings go on.
        if (!(err instanceof Refused)) throw err;
        log.warn({ secretId: session.secretId, group: g, refusal: err.reason }, "a level group's objects could not be handed over");
      }
    }
  }

  /** Drops the contained roles: those without a trace together, the others one at a time after their hand-over. */
  async function dropContained(session: PgSession, group: readonly Ending[]): Promise<void> {
    if (group.length === 0) return;
    const traced = new Set((await run(session, tracedRolesStatement(group.map((e) => e.account)))).map((r) => String(r.name)));
    const clean = group.filter((e) => !traced.has(e.account));
    // Something made meanwhile refuses the drop: that role takes the long way.
    const refusedOnes = await eachOrOne(session, clean, 'DROP ROLE', (members) => run(session, dropRoleStatement(members.map((e) => e.account))).then(() => undefined));
    for (const e of clean) if (e.failure === undefined) e.dropped = true;
    for (const e of refusedOnes) e.failure = undefined;
    for (const e of [...group.filter((e) => traced.has(e.account)), ...refusedOnes]) {
      try {
        await handOverAndDrop(session, e);
      } catch (err) {
        // Contained already; this account's activity tries its take-down again, the others go on.
        if (session.broken) throw err;
        e.failure = err;
      }
    }
  }

  /** Ends the access of every account of a batch on one server; one outcome per request, in order. */
  async function endBatch(secretId: string, requests: readonly { target: GrantTarget; account: string }[], signal: AbortSignal): Promise<Outcome<AccessEnding>[]> {
    const entries: Ending[] = [];
    const entryOf = requests.map((r) => {
      const index = entries.findIndex((e) => e.account === r.account);
      if (index >= 0) return index;
      entries.push({ target: r.target, account: r.account, present: false, killed: 0, leftBehind: [], leftBehindCount: 0 });
      return entries.length - 1;
    });
    // When each step of the batch ended, in ms from the call (logged with each account: where a burst's time goes).
    const started = Date.now();
    const steps: Record<string, number> = {};
    const mark = (step: string) => {
      steps[step] = Date.now() - started;
    };
    await deps.withSession(secretId, signal, async (session) => {
      mark('connected');
      for (const e of entries) {
        e.failure = undefined;
        try {
          deps.refuseAdmin(session, e.account);
        } catch (err) {
          e.failure = err;
        }
      }
      let live = entries.filter((e) => e.failure === undefined);
      if (live.length === 0) return;
      const roles = new Map((await run(session, rolesStatement(live.map((e) => e.account)))).map((r) => [String(r.name), r]));
      for (const e of live) {
        const role = roles.get(e.account);
        e.present = role !== undefined;
        e.existedAtStart ??= e.present;
        if (role && (role.super === true || !isOurs(role.comment as string | null))) e.failure = notOurs(session, e.account);
      }
      live = live.filter((e) => e.failure === undefined && e.present);
      const groupsOf = live.length > 0 ? membershipsOfRows(await run(session, membershipsStatement(live.map((e) => e.account)))) : new Map<string, string[]>();
      // Containment: from here on nobody can log in, and what is open holds nothing.
      await contain(session, live, groupsOf);
      mark('revoked');
      live = live.filter((e) => e.failure === undefined);
      await endSessions(session, live);
      mark('sessionsEnded');
      const containedAt = new Date().toISOString();
      for (const e of live) {
        e.containedAt = containedAt;
        e.leftBehind = [];
        e.leftBehindCount = 0;
      }
      await handOverGroups(session, live, groupsOf);
      await dropContained(session, live);
      mark('dropped');
    });
    for (const e of entries) {
      if (e.failure !== undefined) continue;
      const fields = { secretId, schema: e.target.schema, account: e.account, sessionsKilled: e.killed, leftBehind: e.leftBehindCount, batch: entries.length, batchMs: steps };
      if (!e.existedAtStart) log.info({ secretId, account: e.account }, 'access ended; no such account');
      else if (e.dropped === false) log.warn({ ...fields, refusal: e.refusal }, 'access ended (account contained); the server refused to remove it');
      else log.info({ ...fields, dropped: true }, 'access ended; account dropped');
    }
    return requests.map((_, i) => {
      const e = entries[entryOf[i]!]!;
      if (e.failure !== undefined) return { ok: false, error: e.failure };
      const existed = e.existedAtStart ?? false;
      return {
        ok: true,
        value: {
          existed,
          sessionsKilled: e.killed,
          ...(existed && e.containedAt ? { containedAt: e.containedAt } : {}),
          dropped: e.dropped ?? !e.present,
          ...(e.refusal ? { refusal: e.refusal } : {}),
          leftBehind: e.leftBehind,
          leftBehindCount: e.leftBehindCount,
        },
      };
    });
  }

  const endings = new Coalescer<{ target: GrantTarget; account: string }, AccessEnding>({
    concurrency: Math.max(1, deps.poolSize - 1),
    maxBatch: deps.maxBatch,
    process: endBatch,
    cancelled: (secretId, _request, started) =>
      activityError(ActivityErrorType.DatabaseUnavailable, `database server of ${secretId}: cancelled ${started ? 'while' : 'before'} trying to end access`, { code: 'CANCELLED' }),
  });

  return (target: GrantTarget, account: string, signal: AbortSignal | undefined): Promise<AccessEnding> => endings.run(target.adminSecretId, { target, account }, signal);
}
