import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import mysql, { type Connection, type PoolConnection, type RowDataPacket } from 'mysql2/promise';

import { ActivityErrorType, activityError } from '../../errors';
import type { AccountCallOptions, EngineLogger } from '../port';
import type { SqlDialect } from '../../ports';
import { missingAdminPrivileges } from './admin-grants';
import { Code, callFailure, checkCall, driverErrorOf, driverErrors, isConnectionLevel, isLoginRefusal, text, type Call } from './call';
import { ER, errnoOf, isConnectionFailure, toActivityError } from './errors';
import type { PoolRegistry, Server, ServerInfo } from './pools';
import {
  adminGrantsStatement,
  connectionAliveStatement,
  killConnectionStatement,
  performanceSchemaStatement,
  sessionSettingsStatement,
  versionStatement,
  type SessionLimits,
  type Statement,
} from './sql';

// Runs statements: a configured pooled connection per call, every statement
// bounded in time and by the caller's signal, an interrupted one killed on the
// server, every failure mapped to a secret-free activity error. Time bounds,
// from the inside out, with their defaults:
//   server side, per statement (session settings, see sessionSettingsStatement):
//     lock_wait_timeout / innodb_lock_wait_timeout 10 s, MariaDB max_statement_time 15 s
//   client side, per statement: 20 s, then the statement is KILLed from a side
//     connection and its connection destroyed
//   waiting for a pool connection: 10 s
//   per call (every statement of one method call): 25 s, and the caller's AbortSignal
// A statement must never outlive the activity attempt that sent it (the
// workflow's attempt times out at 30 s and then compensates: a CREATE USER or
// GRANT that landed after the compensation would re-create access). Every bound
// ends in DatabaseUnavailable (details.code says which).

/** What an operation runs with: a configured connection of the server's pool and what the server is. */
export interface Session {
  readonly server: Server;
  readonly conn: PoolConnection;
  readonly call: Call;
  info?: ServerInfo;
  /** Interrupted or failed: destroyed instead of going back to the pool. */
  broken: boolean;
  /** Extra secrets that could appear in the driver's text (the account's password). */
  readonly secrets: readonly string[];
  /** The session holds PROCESS (checked once per call, never remembered when false). */
  seesAllSessions?: boolean;
  /** Logged in during this call, so it holds the admin's current global privileges. */
  fresh?: boolean;
}

/** A session that got past detection and configuration. */
export interface ReadySession extends Session {
  info: ServerInfo;
}

export { Code, driverErrorOf, text, withDriverError, type Call } from './call';

export interface RunnerSettings {
  acquireTimeoutMs: number;
  queryTimeoutMs: number;
  operationTimeoutMs: number;
  /** Bound on killing an interrupted statement from a side connection (connect, KILL, wait for it to end). */
  stopTimeoutMs: number;
  limits: SessionLimits;
}

export type Runner = ReturnType<typeof createRunner>;

export function createRunner(pools: PoolRegistry, settings: RunnerSettings, log: EngineLogger) {
  const { acquireTimeoutMs, queryTimeoutMs, operationTimeoutMs, stopTimeoutMs, limits } = settings;
  /** Pooled connections (the driver's own objects, stable across borrowings) whose session has been configured. */
  const configured = new WeakSet<object>();

  /**
   * A connection of the server's pool within acquireTimeoutMs. mysql2's pool has no
   * acquire timeout: the request stays queued, so a connection that arrives after
   * the timeout (or the cancellation) is given straight back.
   */
  function borrow(server: Server, call: Call): Promise<PoolConnection> {
    const acquire = AbortSignal.timeout(acquireTimeoutMs);
    const stop = AbortSignal.any([call.signal, acquire]);
    return new Promise<PoolConnection>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void): boolean => {
        if (settled) return false;
        settled = true;
        stop.removeEventListener('abort', onStop);
        fn();
        return true;
      };
      const onStop = () =>
        settle(() =>
          reject(
            call.signal.aborted
              ? callFailure(call, 'connect to the database server')
              : activityError(ActivityErrorType.DatabaseUnavailable, `no connection to the database server of ${server.secretId} within ${acquireTimeoutMs} ms`, {
                  code: Code.AcquireTimeout,
                }),
          ),
        );
      if (stop.aborted) onStop();
      else stop.addEventListener('abort', onStop, { once: true });
      server.pool.getConnection().then(
        (conn) => {
          const taken = settle(() => {
            server.inUse += 1;
            resolve(conn);
          });
          if (!taken) {
            try {
              conn.release();
            } catch {
              // The pool has been ended meanwhile.
            }
          }
        },
        (err: unknown) => settle(() => reject(err)),
      );
    });
  }

  function giveBack(session: Session): void {
    const { server, conn } = session;
    try {
      if (session.broken) conn.destroy();
      else conn.release();
    } catch {
      // Already gone.
    }
    pools.returned(server);
  }

  /**
   * Ends the server thread of an interrupted statement from a side connection,
   * then waits (briefly) until the server no longer lists it, so that when the
   * call returns the statement can no longer take effect. The admin may always
   * end its own connections (no privilege needed). Bounded by the driver's own
   * connect and query timeouts; never throws. True when the thread was seen to be gone.
   */
  async function stopOnServer(server: Server, info: ServerInfo | undefined, threadId: number | undefined): Promise<boolean> {
    if (!threadId) return false;
    const dialect: SqlDialect = info?.dialect ?? 'mariadb';
    const performanceSchema = info?.performanceSchema ?? false;
    let side: Connection | undefined;
    const deadline = Date.now() + stopTimeoutMs;
    const left = () => Math.max(1, deadline - Date.now());
    try {
      const { host, port, username, password } = server.credentials;
      side = await mysql.createConnection({ host, port, user: username, password, connectTimeout: stopTimeoutMs, multipleStatements: false });
      const kill = killConnectionStatement(dialect, threadId);
      try {
        await side.query({ sql: kill.sql, timeout: left() });
      } catch (err) {
        if (errnoOf(err) !== ER.NO_SUCH_THREAD) throw err;
      }
      const alive = connectionAliveStatement(dialect, threadId, { performanceSchema });
      while (Date.now() < deadline) {
        const [rows] = await side.query<RowDataPacket[]>({ sql: alive.sql, values: [...alive.values], timeout: left() });
        if (Number(rows[0]?.n ?? 0) === 0) return true;
        await sleep(25);
      }
      return false;
    } catch (err) {
      log.warn({ secretId: server.secretId, threadId, errno: errnoOf(err) ?? null }, 'could not kill an interrupted statement on the server');
      return false;
    } finally {
      side?.destroy();
    }
  }

  /**
   * Runs one statement on the session's connection, bounded by the client-side
   * timeout and the call's signal; when either fires, the statement is killed on
   * the server and the connection destroyed. Driver errors are thrown mapped
   * (secret-free), with the driver error remembered for the retry decision.
   */
  async function exec(session: Session, statement: Statement): Promise<unknown> {
    const { call, conn, server } = session;
    checkCall(call, statement.purpose);
    if (session.broken) throw activityError(ActivityErrorType.DatabaseUnavailable, `the connection to the database server of ${server.secretId} is gone`);
    const threadId = conn.threadId;
    const stop = AbortSignal.any([call.signal, AbortSignal.timeout(queryTimeoutMs)]);
    let unsubscribe = () => undefined as void;
    const interrupted = new Promise<'timeout' | 'abort'>((resolve) => {
      const onStop = () => resolve(call.signal.aborted ? 'abort' : 'timeout');
      stop.addEventListener('abort', onStop, { once: true });
      unsubscribe = () => stop.removeEventListener('abort', onStop);
    });
    const query = conn.query<RowDataPacket[]>(statement.sql, [...statement.values]).then(([rows]) => ({ rows }));
    // Once abandoned, its eventual failure (the killed connection) is expected.
    query.catch(() => undefined);
    try {
      const outcome = await Promise.race([query, interrupted]);
      if (typeof outcome === 'object') return outcome.rows;
      session.broken = true;
      const stopped = await stopOnServer(server, session.info, threadId);
      conn.destroy();
      log.warn({ secretId: server.secretId, purpose: statement.purpose, why: outcome, stopped }, 'statement interrupted');
      if (outcome === 'abort') throw callFailure(call, statement.purpose, { stopped });
      throw activityError(
        ActivityErrorType.DatabaseUnavailable,
        `no answer from the database server of ${server.secretId} within ${queryTimeoutMs} ms while trying to ${statement.purpose}; ` +
          `the statement ${stopped ? 'was killed on the server' : 'could not be confirmed killed (the server ends it at its own time limit)'}`,
        { code: Code.QueryTimeout },
      );
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      if (isConnectionFailure(err)) session.broken = true;
      const mapped = toActivityError(err, { secretId: server.secretId, secrets: [server.credentials.password, ...session.secrets], statement });
      driverErrors.set(mapped, err);
      throw mapped;
    } finally {
      unsubscribe();
    }
  }

  async function run(session: Session, statement: Statement): Promise<RowDataPacket[]> {
    const rows = await exec(session, statement);
    return Array.isArray(rows) ? (rows as RowDataPacket[]) : [];
  }

  /** Runs a statement whose listed errors mean "already done"; false when one of them occurred. */
  async function attempt(session: Session, statement: Statement, done: readonly number[]): Promise<boolean> {
    try {
      await exec(session, statement);
      return true;
    } catch (err) {
      const errno = errnoOf(driverErrorOf(err));
      if (errno !== undefined && done.includes(errno)) return false;
      throw err;
    }
  }

  async function detect(session: Session): Promise<ServerInfo> {
    const { secretId } = session.server;
    const version = String((await run(session, versionStatement()))[0]?.version ?? '');
    const dialect: SqlDialect = /mariadb/i.test(version) ? 'mariadb' : 'mysql';
    const performanceSchema = dialect === 'mysql' && Number((await run(session, performanceSchemaStatement()))[0]?.enabled) === 1;
    log.info({ secretId, dialect, version, performanceSchema }, 'connected to database server');
    return { dialect, performanceSchema };
  }

  /** The dialect, found once per pool (a rebuilt pool may point at a different server). */
  async function infoFor(session: Session): Promise<ServerInfo> {
    const { server } = session;
    const shared = server.info;
    if (shared) {
      try {
        return await shared;
      } catch {
        // Detection on another call's connection failed (or that call was cancelled): detect here.
      }
    }
    const pending = detect(session);
    server.info = pending;
    pending.catch(() => {
      if (server.info === pending) server.info = undefined;
    });
    return pending;
  }

  /** Session limits and sql_mode, once per pooled connection, before its first statement of any work. */
  async function configure(session: ReadySession): Promise<void> {
    const core = session.conn.connection as object;
    if (configured.has(core)) return;
    await run(session, sessionSettingsStatement(session.info.dialect, limits));
    configured.add(core);
    session.fresh = true;
  }

  /** The admin's SHOW GRANTS lines: dynamic privileges (CONNECTION_ADMIN on MySQL) included. */
  async function adminGrants(session: Session): Promise<string[]> {
    return (await run(session, adminGrantsStatement())).map((r) => text(Object.values(r)[0]));
  }

  /**
   * A global privilege refused to a session that logged in before this call, while
   * the admin's grants now list every privilege it needs: the session predates
   * the GRANT (a session keeps the global privileges it logged in with).
   */
  async function refusedForStaleSession(session: ReadySession, err: unknown): Promise<boolean> {
    if (session.fresh || session.broken) return false;
    if (!(err instanceof ApplicationFailure) || err.type !== ActivityErrorType.AdminPrivilegeMissing) return false;
    const errno = errnoOf(driverErrorOf(err));
    if (errno !== ER.SPECIFIC_ACCESS_DENIED && errno !== ER.KILL_DENIED) return false;
    try {
      return missingAdminPrivileges(session.info.dialect, await adminGrants(session), [], { essential: true }).length === 0;
    } catch {
      return false;
    }
  }

  function openFailure(err: unknown, server: Server, afterRefresh: boolean): ApplicationFailure {
    if (afterRefresh && isLoginRefusal(err)) {
      return activityError(ActivityErrorType.AdminAccessDenied, `the server refused the admin credentials of ${server.secretId}, also after re-reading the secret`, {
        errno: ER.ACCESS_DENIED,
        code: 'ER_ACCESS_DENIED_ERROR',
      });
    }
    return toActivityError(err, { secretId: server.secretId, secrets: [server.credentials.password] });
  }

  /**
   * A configured connection of the target's server. A refused login or a
   * connection-level failure re-reads the secret; the connection is tried again
   * (once) only when the secret changed.
   */
  async function open(secretId: string, call: Call, secrets: readonly string[], state: { refreshed: boolean }): Promise<ReadySession> {
    checkCall(call, 'connect to the database server');
    let server = await pools.serverFor(secretId);
    for (;;) {
      checkCall(call, 'connect to the database server');
      let session: Session | undefined;
      try {
        const conn = await borrow(server, call);
        session = { server, conn, call, secrets, broken: false };
        session.info = await infoFor(session);
        const ready = session as ReadySession;
        await configure(ready);
        return ready;
      } catch (err) {
        if (session) {
          session.broken = true;
          giveBack(session);
        }
        const login = isLoginRefusal(err);
        if (state.refreshed || call.signal.aborted || !(login || isConnectionLevel(err, 'open'))) throw openFailure(err, server, state.refreshed);
        state.refreshed = true;
        const next = await pools.refresh(server, login ? 'admin credentials refused' : 'database server unreachable');
        if (next === server) throw openFailure(err, server, true);
        server = next;
      }
    }
  }

  /**
   * Runs `work` on one configured pooled connection; every failure leaves as a
   * secret-free activity error. After a connection-level failure during the work
   * (the connection died: restart, failover), the secret is re-read and the work
   * runs once more on a fresh connection: every operation is idempotent, and the
   * call's time budget still bounds the whole.
   */
  async function withSession<T>(
    secretId: string,
    secrets: readonly string[],
    callOptions: AccountCallOptions | undefined,
    work: (session: ReadySession) => Promise<T>,
  ): Promise<T> {
    if (pools.closed) throw pools.closedFailure();
    const caller = callOptions?.signal;
    const budget = AbortSignal.timeout(operationTimeoutMs);
    const call: Call = { secretId, caller, budgetMs: operationTimeoutMs, signal: caller ? AbortSignal.any([caller, budget]) : budget };
    const state = { refreshed: false };
    for (let round = 0; ; round += 1) {
      const session = await open(secretId, call, secrets, state);
      try {
        return await work(session);
      } catch (err) {
        if (round > 0 || call.signal.aborted) throw err;
        if (isConnectionLevel(err, 'work')) {
          session.broken = true;
          if (!state.refreshed) {
            state.refreshed = true;
            await pools.refreshQuietly(session.server, 'connection to the database server lost');
          }
          log.warn({ secretId }, 'connection lost during an operation; running it once more on a new connection');
        } else if (!state.refreshed && (await refusedForStaleSession(session, err))) {
          state.refreshed = true;
          log.warn({ secretId }, 'the admin account was granted privileges after its connections were opened; reconnecting');
          pools.reconnect(session.server);
        } else {
          throw err;
        }
      } finally {
        giveBack(session);
      }
    }
  }

  return { withSession, exec, run, attempt, adminGrants };
}
