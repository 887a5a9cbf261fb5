import { ApplicationFailure } from '@temporalio/common';

import { LEFT_BEHIND_LIST_LIMIT, isSafeText, type GrantTarget, type LeftBehindObject } from '../../../domain';
import { ActivityErrorType, activityError } from '../../errors';
import { generatePassword } from '../../password';
import type { AccessEnding, EngineLogger } from '../port';
import { Coalescer, type Outcome } from '../coalesce';
import { ER, dropRefusalText, errnoOf, isPermanentRefusal } from './errors';
import { Code, driverErrorOf, text, type ReadySession, type Runner } from './runner';
import { accountIdOf, refuseAdmin, where, type Sessions } from './sessions';
import { accountsNamedStatement, containStatement, definerOf, disableEventStatement, dropUsersStatement, leftBehindStatement, revokeEverythingStatement, type Statement } from './sql';

// Ending access: contain every account of a batch (lock, a random password nobody
// keeps, every privilege revoked, every session ended), list what they define
// (disabling their events), then drop them; endAccess calls for one server are
// coalesced into batches while its connections are busy (coalesce.ts).

/** One account in a batch of endAccess calls (calls for the same account share one). */
interface Ending {
  readonly target: GrantTarget;
  readonly account: string;
  readonly host: string;
  readonly password: string;
  /** Sticky across a second run of the batch's work (see withSession). */
  existedAtStart?: boolean;
  /** Exists now, as far as this batch knows. */
  present: boolean;
  /** Connection ids killed (counted), kept across a second run. */
  readonly killed: Set<string>;
  containedAt?: string;
  leftBehind: LeftBehindObject[];
  leftBehindCount: number;
  dropped?: boolean;
  refusal?: string;
  /** This account's own failure: the other accounts of the batch go on. */
  failure?: unknown;
}

const EVENT_LEFT_ENABLED =
  'left enabled: the admin account may not keep the grantee as its definer (it lacks SET USER on MariaDB, SET_ANY_DEFINER on MySQL), ' +
  "and a plain ALTER EVENT would make the admin its definer; it runs with the account's own privileges, which are none now";

/** A name the grantee chose, as it may appear in a report, an e-mail or a log: control and invisible characters escaped. */
function shownName(name: string): string {
  if (isSafeText(name)) return name;
  return [...name].map((c) => (isSafeText(c) ? c : `\\u{${c.codePointAt(0)!.toString(16)}}`)).join('');
}

function kindOf(value: string): LeftBehindObject['kind'] {
  const kind = value.toUpperCase();
  return kind === 'VIEW' || kind === 'PROCEDURE' || kind === 'FUNCTION' || kind === 'TRIGGER' || kind === 'EVENT' ? kind : 'OTHER';
}

/** endAccess of one account, served in batches per admin secret. */
export function createEnding(runner: Runner, sessions: Sessions, log: EngineLogger, settings: { poolSize: number; maxBatch: number }) {
  const { withSession, exec, run } = runner;
  const { hasAccount, endSessions } = sessions;
  const { poolSize, maxBatch } = settings;

  /** A refusal by the server itself (not a timeout, a lock or a lost connection): no retry of the statement changes it. */
  function refused(err: unknown): boolean {
    return err instanceof ApplicationFailure && isPermanentRefusal(driverErrorOf(err));
  }

  /**
   * Runs a statement for a group of accounts as one statement, and one account at
   * a time when the server refuses the group (MySQL refuses all of it for one
   * account; MariaDB applies it to the others and names that one). An account the
   * server refuses alone fails by itself, unless it no longer exists (another
   * revocation dropped it meanwhile); a transient failure, or one about the admin's
   * own privileges (maybe a session older than a GRANT: see withSession), fails the batch.
   */
  async function eachOrOne(session: ReadySession, group: readonly Ending[], build: (accounts: readonly Ending[]) => Statement): Promise<void> {
    const live = group.filter((e) => e.failure === undefined && e.present);
    if (live.length === 0) return;
    if (live.length > 1) {
      try {
        await exec(session, build(live));
        return;
      } catch (err) {
        if (!refused(err)) throw err;
        log.warn({ secretId: session.server.secretId, accounts: live.length, errno: errnoOf(driverErrorOf(err)) ?? null }, 'a statement for several accounts was refused; one account at a time');
      }
    }
    for (const e of live) {
      try {
        await exec(session, build([e]));
      } catch (err) {
        if (!refused(err) || (err instanceof ApplicationFailure && err.type === ActivityErrorType.AdminPrivilegeMissing)) throw err;
        if (!(await hasAccount(session, e.account, e.host))) {
          e.present = false;
          continue;
        }
        e.failure = err;
      }
    }
  }

  /** Disables one enabled event of the account, keeping the account as its definer; says what happened. */
  async function disableEvent(session: ReadySession, e: Ending, schema: string, name: string): Promise<string> {
    let statement: Statement;
    try {
      statement = disableEventStatement(e.account, e.host, schema, name);
    } catch {
      return 'left enabled: its name cannot be used in a statement safely';
    }
    try {
      await exec(session, statement);
      return 'disabled';
    } catch (err) {
      const errno = errnoOf(driverErrorOf(err));
      if (errno === ER.SPECIFIC_ACCESS_DENIED) return EVENT_LEFT_ENABLED;
      if (!refused(err)) throw err;
      return `left enabled: the server refused to disable it (error ${errno})`;
    }
  }

  /**
   * Lists what the accounts define (capped per account, counted exactly) and
   * disables their enabled events. Tables are not among them: neither server
   * records who created a table.
   */
  async function collectLeftBehind(session: ReadySession, group: readonly Ending[]): Promise<void> {
    const live = group.filter((e) => e.failure === undefined);
    if (live.length === 0) return;
    const rows = await run(session, leftBehindStatement(live, LEFT_BEHIND_LIST_LIMIT));
    const byDefiner = new Map(live.map((e) => [definerOf(e.account, e.host), e]));
    for (const e of live) {
      e.leftBehind = [];
      e.leftBehindCount = 0;
    }
    for (const row of rows) {
      const e = byDefiner.get(text(row.definer).toLowerCase());
      if (!e) continue;
      e.leftBehindCount = Number(row.total) || 0;
      const kind = kindOf(text(row.kind));
      const schema = text(row.db);
      const name = text(row.name);
      let note: string | undefined;
      if (kind === 'TRIGGER') note = `on table ${shownName(text(row.note))}`;
      if (kind === 'EVENT') note = text(row.note) === 'ENABLED' ? await disableEvent(session, e, schema, name) : 'disabled';
      if (Number(row.n) <= LEFT_BEHIND_LIST_LIMIT && e.leftBehind.length < LEFT_BEHIND_LIST_LIMIT) {
        e.leftBehind.push({ kind, schema: shownName(schema), name: shownName(name), ...(note !== undefined ? { note } : {}) });
      }
    }
  }

  /** Drops the contained accounts; a permanent refusal is reported per account, not thrown. */
  async function dropContained(session: ReadySession, group: readonly Ending[]): Promise<void> {
    const live = group.filter((e) => e.failure === undefined && e.present);
    for (const e of live) {
      e.dropped = undefined;
      e.refusal = undefined;
    }
    if (live.length === 0) return;
    if (live.length > 1) {
      try {
        await exec(session, dropUsersStatement(live));
        for (const e of live) e.dropped = true;
        return;
      } catch (err) {
        if (!refused(err)) throw err;
        log.warn({ secretId: session.server.secretId, accounts: live.length, errno: errnoOf(driverErrorOf(err)) ?? null }, 'a DROP USER of several accounts was refused; one account at a time');
      }
    }
    for (const e of live) {
      try {
        await exec(session, dropUsersStatement([e]));
        e.dropped = true;
      } catch (err) {
        if (!refused(err)) throw err;
        e.dropped = false;
        e.refusal = dropRefusalText(driverErrorOf(err), [session.server.credentials.password]);
      }
    }
  }

  /**
   * Ends the access of every account of a batch on one server: contain them all
   * (lock and a new random password, every privilege revoked, every session
   * ended), then list what they define (disabling their events), then drop them.
   * A few statements for the whole batch; one account at a time only where the
   * server refuses the group. Returns one outcome per request, in order.
   */
  async function endBatch(secretId: string, requests: readonly { target: GrantTarget; account: string }[], signal: AbortSignal): Promise<Outcome<AccessEnding>[]> {
    const entries: Ending[] = [];
    const entryOf = requests.map((r) => {
      const host = r.target.hostPattern;
      const index = entries.findIndex((e) => e.account === r.account && e.host.toLowerCase() === host.toLowerCase());
      if (index >= 0) return index;
      entries.push({ target: r.target, account: r.account, host, password: generatePassword(), present: false, killed: new Set(), leftBehind: [], leftBehindCount: 0 });
      return entries.length - 1;
    });
    const live = () => entries.filter((e) => e.failure === undefined);
    await withSession(
      secretId,
      entries.map((e) => e.password),
      { signal },
      async (session) => {
        for (const e of entries) {
          try {
            refuseAdmin(session, e.account);
          } catch (err) {
            e.failure = err;
          }
        }
        if (live().length === 0) return;
        // Which accounts exist, and every account of these names (whose sessions are whose).
        const accounts = (await run(session, accountsNamedStatement([...new Set(live().map((e) => e.account))]))).map(accountIdOf);
        for (const e of live()) {
          e.present = accounts.some((a) => a.user === e.account && a.host === e.host.toLowerCase());
          e.existedAtStart ??= e.present;
        }
        // Containment: from here on nobody can log in, and what is open holds nothing.
        await eachOrOne(session, live(), (group) => containStatement(group));
        await eachOrOne(session, live(), (group) => revokeEverythingStatement(group));
        // A dropped account's open sessions live on: they are ended whether it still exists or not.
        await endSessions(session, live(), { untilNone: true, known: accounts });
        const containedAt = new Date().toISOString();
        for (const e of live()) if (e.existedAtStart) e.containedAt = containedAt;
        await collectLeftBehind(session, live());
        await dropContained(session, live());
      },
    );
    const outcomes: Outcome<AccessEnding>[] = requests.map((_, i) => {
      const e = entries[entryOf[i]!]!;
      if (e.failure !== undefined) return { ok: false, error: e.failure };
      return {
        ok: true,
        value: {
          existed: e.existedAtStart ?? false,
          sessionsKilled: e.killed.size,
          ...(e.existedAtStart && e.containedAt ? { containedAt: e.containedAt } : {}),
          dropped: e.dropped ?? !e.present,
          ...(e.refusal ? { refusal: e.refusal } : {}),
          leftBehind: e.leftBehind,
          leftBehindCount: e.leftBehindCount,
        },
      };
    });
    for (const e of entries) {
      if (e.failure !== undefined) continue;
      const fields = { ...where(e.target, e.account), existed: e.existedAtStart ?? false, sessionsKilled: e.killed.size, leftBehind: e.leftBehindCount, batch: entries.length };
      if (e.dropped === false) log.warn({ ...fields, refusal: e.refusal }, 'access ended (account contained); the server refused the drop');
      else log.info({ ...fields, dropped: true }, 'access ended; account dropped');
    }
    return outcomes;
  }

  /** endAccess calls per admin secret, coalesced while the server's connections are busy (see coalesce.ts). */
  const endings = new Coalescer<{ target: GrantTarget; account: string }, AccessEnding>({
    concurrency: Math.max(1, poolSize - 1),
    maxBatch,
    process: endBatch,
    cancelled: (secretId, _request, started) =>
      activityError(ActivityErrorType.DatabaseUnavailable, `database server of ${secretId}: cancelled ${started ? 'while' : 'before'} trying to end access`, {
        code: Code.Cancelled,
      }),
  });

  return (target: GrantTarget, account: string, signal: AbortSignal | undefined): Promise<AccessEnding> => endings.run(target.adminSecretId, { target, account }, signal);
}
