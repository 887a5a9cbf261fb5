import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import type { RowDataPacket } from 'mysql2/promise';

import type { GrantTarget } from '../../../domain';
import { ActivityErrorType, activityError } from '../../errors';
import type { EngineLogger } from '../port';
import { ER } from './errors';
import { sessionsOfAccount, type AccountId } from './hosts';
import { text, withDriverError, type ReadySession, type Runner, type Session } from './runner';
import { accountExistsStatement, accountsNamedStatement, killConnectionStatement, listSessionsStatement, processProbeStatement } from './sql';

// What the account operations share: looking an account up, refusing to touch the
// admin itself, and ending an account's sessions (a lowered level, a revocation).

/** Rounds of listing and killing an account's sessions before new ones that keep appearing are a failure. */
const SESSION_ROUNDS = 5;

/** What a session-ending pass works on: one account and the connections already killed for it. */
export interface SessionTarget {
  readonly account: string;
  readonly host: string;
  readonly killed: Set<string>;
}

export function accountIdOf(row: RowDataPacket): AccountId {
  return { user: text(row.user), host: text(row.host).toLowerCase() };
}

/** Fields that say which account a log line is about. */
export const where = (target: GrantTarget, account: string) => ({
  secretId: target.adminSecretId,
  schema: target.schema,
  account,
  host: target.hostPattern,
});

/** The service must never lock, kill or drop the account it works through. */
export function refuseAdmin(session: Session, account: string): void {
  if (session.server.credentials.username === account) {
    throw activityError(ActivityErrorType.InvalidIdentifier, `account ${account} is the admin account itself and is not managed`);
  }
}

export type Sessions = ReturnType<typeof createSessions>;

export function createSessions(runner: Runner, log: EngineLogger) {
  const { run, attempt } = runner;

  async function hasAccount(session: Session, account: string, host: string): Promise<boolean> {
    const rows = await run(session, accountExistsStatement(account, host));
    return Number(rows[0]?.n ?? 0) > 0;
  }

  /**
   * PROCESS is checked when it matters, never remembered as missing: once an
   * operator grants it, the next call works without a restart.
   */
  async function requireSeesAllSessions(session: Session, account: string): Promise<void> {
    if (session.seesAllSessions) return;
    try {
      await run(session, processProbeStatement());
    } catch (err) {
      if (!(err instanceof ApplicationFailure && err.type === ActivityErrorType.AdminPrivilegeMissing)) throw err;
      log.warn({ secretId: session.server.secretId }, 'admin session lacks PROCESS ON *.*: it cannot end sessions');
      throw withDriverError(
        activityError(
          ActivityErrorType.AdminPrivilegeMissing,
          `the admin account of ${session.server.secretId} lacks PROCESS ON *.*: it cannot see the connections of ${account} to end them`,
          err.details?.[0] as Record<string, string | number> | undefined,
        ),
        err,
      );
    }
    session.seesAllSessions = true;
  }

  /**
   * Ends every session of the targets, matched by user name and host (an account
   * of the same name with another host pattern keeps its sessions, see hosts.ts).
   * `untilNone` (the account is locked): lists again until none is left, since a
   * session that logged in just before the lock shows up in a later listing; a
   * killed session may linger in the list for a moment (it cannot run a statement
   * any more), and one still there after SESSION_ROUNDS is accepted as ending;
   * new sessions that keep appearing after that many rounds fail the call.
   * Without it (a lowered level: the account may log in again, with the new
   * privileges), one pass ends what was open. `known`: the accounts of these
   * names, when the caller has read them already.
   */
  async function endSessions(session: ReadySession, targets: readonly SessionTarget[], options: { untilNone: boolean; known?: AccountId[] }): Promise<void> {
    if (targets.length === 0) return;
    await requireSeesAllSessions(session, targets.length === 1 ? targets[0]!.account : `${targets.length} accounts`);
    const { dialect, performanceSchema } = session.info;
    const names = [...new Set(targets.map((t) => t.account))];
    const handled = new Set<string>();
    for (const t of targets) for (const id of t.killed) handled.add(id);
    let accounts = options.known;
    for (let round = 1; ; round += 1) {
      const rows = await run(session, listSessionsStatement(dialect, names, { performanceSchema }));
      if (rows.length === 0) return;
      const sessions = rows.map((r) => ({ id: text(r.id), user: text(r.user), host: text(r.host), killed: text(r.command) === 'Killed' }));
      accounts ??= (await run(session, accountsNamedStatement(names))).map(accountIdOf);
      let remaining = 0;
      let fresh = 0;
      for (const t of targets) {
        for (const s of sessionsOfAccount({ user: t.account, host: t.host }, sessions, accounts)) {
          remaining += 1;
          // A session a KILL has reached already (by an earlier call, or another worker) is ending: not killed again, not counted again.
          if (handled.has(s.id) || s.killed) continue;
          fresh += 1;
          handled.add(s.id);
          // The connection may have ended since it was listed: "unknown thread" means done.
          if (await attempt(session, killConnectionStatement(dialect, s.id), [ER.NO_SUCH_THREAD])) t.killed.add(s.id);
        }
      }
      if (remaining === 0 || !options.untilNone) return;
      if (round >= SESSION_ROUNDS) {
        if (fresh === 0) return;
        throw activityError(
          ActivityErrorType.DatabaseUnavailable,
          `new sessions of ${names.join(', ')} kept appearing on the server of ${session.server.secretId} after ${SESSION_ROUNDS} rounds of ending them`,
        );
      }
      // Only killed sessions still listed: give them a moment to go.
      if (fresh === 0) await sleep(20 * round);
    }
  }
  return { hasAccount, endSessions };
}
